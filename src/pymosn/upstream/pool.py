"""A per-host HTTP/1.1 connection pool: idle keep-alive connections reused LIFO, new ones
dialled on demand up to the cluster's connection limit, waiters queued up to the pending limit.

Acquiring an idle connection is synchronous (no task, no future): that is the common case under
load. Only dialling a new connection runs a task."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import TYPE_CHECKING, Any

from pymosn.api.errors import CONNECTION_OVERFLOW, PENDING_OVERFLOW, UpstreamFailure
from pymosn.network.connection import Connection
from pymosn.stream.http1 import ClientStreamConnection
from pymosn.upstream.errors import UpstreamConnectError
from pymosn.upstream.host import Host
from pymosn.upstream.waiting import WaitingRequesters

if TYPE_CHECKING:
    from pymosn.upstream.cluster import Cluster


class PoolRequester:
    """Whoever waits for a connection: told once, with a connection or a failure."""

    def on_pool_ready(self, client: ClientStreamConnection) -> None: ...

    def on_pool_failure(self, failure: UpstreamFailure) -> None: ...


class Http1Pool(WaitingRequesters):
    def __init__(self, host: Host, cluster: Cluster) -> None:
        self.host = host
        self.cluster = cluster
        self.idle: list[ClientStreamConnection] = []
        self.waiters: deque[Any] = deque()
        self.connecting = 0
        self.total = 0  # open connections of this pool, busy or idle
        self.closed = False

    def acquire(self, requester: Any) -> ClientStreamConnection | None:
        """Returns an idle connection now, or None after queueing the requester (it will be
        told through on_pool_ready / on_pool_failure)."""
        idle = self.idle
        while idle:
            client = idle.pop()
            if not client.conn.closed:
                return client
        cluster = self.cluster
        if len(self.waiters) >= self.connecting and cluster.can_open_connection():
            self._queue(requester)
            self._dial()
            return None
        if self.pending_full():
            cluster.stats.upstream_rq_pending_overflow += 1
            requester.on_pool_failure(PENDING_OVERFLOW)
            return None
        if not self.connecting and not self.total:
            cluster.stats.upstream_cx_overflow += 1
            requester.on_pool_failure(CONNECTION_OVERFLOW)
            return None
        self._queue(requester)
        return None

    def _dial(self) -> None:
        self.connecting += 1
        self.cluster.connections += 1
        asyncio.get_running_loop().create_task(self._connect())

    async def _connect(self) -> None:
        cluster = self.cluster
        host = self.host
        loop = asyncio.get_running_loop()

        def factory() -> Connection:
            return Connection(loop, buffer_limit=cluster.buffer_limit, idle_timeout=cluster.idle_timeout)

        try:
            conn = await cluster.connect(host, factory)
        except UpstreamConnectError as error:
            self.connecting -= 1
            cluster.connections -= 1
            self._fail_waiters(error.failure)
            return
        self.connecting -= 1
        self.adopt(conn)

    def adopt(self, conn: Connection) -> None:
        """Takes an established connection (dialled here, or by the HTTP/2 pool when ALPN
        settled on http/1.1) already counted in the cluster's connections."""
        self.total += 1
        self.cluster.stats.upstream_cx_active += 1
        self.host.stats.cx_active += 1
        client = ClientStreamConnection(conn, self._on_idle, self.cluster.max_response_headers)
        client.host = self.host
        conn.read_filters = [client]
        conn.close_callbacks.append(self._on_close)
        self._on_idle(client)

    def _fail_waiters(self, failure: UpstreamFailure) -> None:
        # Waiters beyond the dials still in flight have nothing left to wait for.
        while len(self.waiters) > self.connecting:
            requester = self._next_waiter()
            requester.on_pool_failure(failure)

    def _on_idle(self, client: ClientStreamConnection) -> None:
        limit = self.cluster.max_request_per_conn
        if self.closed or (limit and client.requests >= limit):
            client.conn.close()
            return
        if self.waiters:
            requester = self._next_waiter()
            requester.on_pool_ready(client)
        else:
            self.idle.append(client)

    def _on_close(self, conn: Connection, exc: Exception | None) -> None:
        self.total -= 1
        cluster = self.cluster
        cluster.connections -= 1
        cluster.stats.upstream_cx_active -= 1
        cluster.stats.upstream_cx_destroy += 1
        cluster.stats.upstream_cx_rx_bytes_total += conn.bytes_received
        cluster.stats.upstream_cx_tx_bytes_total += conn.bytes_sent
        self.host.stats.cx_active -= 1
        self.idle = [c for c in self.idle if c.conn is not conn]
        if len(self.waiters) > self.connecting and not self.closed and self.cluster.can_open_connection():
            self._dial()  # waiters that no dial in flight will serve

    def close(self) -> None:
        self.closed = True
        for client in self.idle:
            client.conn.close()
        self.idle.clear()
