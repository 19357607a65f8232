"""Per-host pools of X-Protocol (TCP RPC) upstream connections, in the codec's pool mode:

- MULTIPLEX: every request shares the host's connection (MOSN's default of one per host);
  a further connection opens only when the busiest one carries `streams_per_connection`.
- PINGPONG: one request at a time per connection; idle connections are reused, more are dialled
  up to the cluster's connection limit, then requests wait.
- BOUND: each downstream connection gets its own upstream connection, closed with it.

Requesters are told once: on_pool_ready(client) or on_pool_failure(failure: UpstreamFailure)."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

from pymosn.api.errors import (
    CLUSTER_REMOVED,
    CONNECTION_OVERFLOW,
    PENDING_OVERFLOW,
    FailureKind,
    UpstreamFailure,
)
from pymosn.network.connection import Connection
from pymosn.protocol.xprotocol.api import PoolMode, XCodec
from pymosn.stream.xprotocol import KeepAlive, XClientConnection
from pymosn.upstream.errors import UpstreamConnectError
from pymosn.upstream.waiting import WaitingRequesters

_CLOSED_AT_ONCE = UpstreamFailure(FailureKind.CONNECTION_CLOSED, "upstream connection closed")

STREAMS_PER_CONNECTION = 4096


class XPool(WaitingRequesters):
    def __init__(self, host: Any, cluster: Any, codec: XCodec, *, keepalive: KeepAlive | None, on_late_response=None) -> None:
        self.host = host
        self.cluster = cluster
        self.codec = codec
        self.mode = codec.pool_mode
        self.keepalive = keepalive
        self.on_late_response = on_late_response
        self.clients: list[XClientConnection] = []  # connected
        self.idle: list[XClientConnection] = []  # PINGPONG: connected and free
        self.bound: dict[int, XClientConnection] = {}  # BOUND: downstream connection id -> client
        self.binding: dict[int, list] = {}  # BOUND: requesters waiting for their connection
        self.waiters: deque = deque()
        self.connecting = 0
        self.closed = False

    def acquire(self, requester: Any, downstream: Connection | None = None) -> XClientConnection | None:
        """A connection to send on now, or None after queueing the requester."""
        mode = self.mode
        if mode == PoolMode.MULTIPLEX:
            clients = self.clients
            if clients:
                client = clients[0] if len(clients) == 1 else min(clients, key=_load)
                if client.active < STREAMS_PER_CONNECTION or not self._may_dial():
                    return client
            elif self.connecting:
                return self._queue(requester)
        elif mode == PoolMode.PINGPONG:
            idle = self.idle
            while idle:
                client = idle.pop()
                if not client.closed:
                    return client
            if self.connecting > len(self.waiters):
                # A dial whose requester was served by a released connection is still on
                # its way: this requester takes it, so connections never outnumber requests.
                return self._queue(requester)
            if not self._may_dial():
                return self._overflow(requester) if not self.clients and not self.connecting else self._queue(requester)
        else:
            key = downstream.id if downstream is not None else 0
            client = self.bound.get(key)
            if client is not None and not client.closed:
                return client
            waiting = self.binding.get(key)
            if waiting is not None:  # its connection is being dialled
                waiting.append(requester)
                return None
            if not self._may_dial():
                return self._overflow(requester)
            self.binding[key] = [requester]
            self._dial(downstream)
            return None
        if not self._may_dial():
            return self._overflow(requester)
        self._queue(requester)
        self._dial(None)
        return None

    def release(self, client: XClientConnection) -> None:
        """PINGPONG: the request on `client` is done; hand it to a waiter or keep it idle."""
        if self.mode != PoolMode.PINGPONG or client.closed:
            return
        if self.closed:
            client.close()
        elif self.waiters:
            self._next_waiter().on_pool_ready(client)
        else:
            self.idle.append(client)

    def _may_dial(self) -> bool:
        return self.cluster.can_open_connection()

    def _overflow(self, requester: Any) -> None:
        self.cluster.stats.upstream_cx_overflow += 1
        requester.on_pool_failure(CONNECTION_OVERFLOW)
        return None

    def _queue(self, requester: Any) -> None:
        """Queues the requester, or fails it when the pending-requests breaker is full."""
        if self.pending_full():
            self.cluster.stats.upstream_rq_pending_overflow += 1
            requester.on_pool_failure(PENDING_OVERFLOW)
            return None
        super()._queue(requester)
        return None

    def _dial(self, downstream: Connection | None) -> None:
        self.connecting += 1
        self.cluster.connections += 1
        asyncio.get_running_loop().create_task(self._connect(downstream))

    async def _connect(self, downstream: Connection | None) -> None:
        cluster, host = self.cluster, self.host
        loop = asyncio.get_running_loop()

        def factory() -> Connection:
            conn = Connection(loop, buffer_limit=cluster.buffer_limit)
            XClientConnection(
                conn, self.codec, keepalive=self.keepalive, on_late_response=self.on_late_response, on_close=self._on_close
            )
            return conn

        try:
            conn = await cluster.connect(host, factory)
        except UpstreamConnectError as error:
            self.connecting -= 1
            cluster.connections -= 1
            self._fail_waiters(error.failure, downstream)
            return
        self.connecting -= 1
        client: XClientConnection = conn.read_filters[0]
        if self.closed or client.closed:
            client.close()
            self._fail_waiters(_CLOSED_AT_ONCE, downstream)
            return
        cluster.stats.upstream_cx_active += 1
        host.stats.cx_active += 1
        self.clients.append(client)
        if self.mode == PoolMode.MULTIPLEX:
            while self.waiters:
                self._next_waiter().on_pool_ready(client)
        elif self.mode == PoolMode.PINGPONG:
            self.release(client)
        else:
            key = downstream.id if downstream is not None else 0
            waiting = self.binding.pop(key, [])
            if downstream is not None and downstream.closed:
                client.close()
                return
            self.bound[key] = client
            if downstream is not None:
                downstream.close_callbacks.append(lambda _conn, _exc, key=key: self._unbind(key))
            for requester in waiting:
                requester.on_pool_ready(client)

    def _unbind(self, key: int) -> None:
        client = self.bound.pop(key, None)
        if client is not None:
            client.close()

    def _fail_waiters(self, failure: UpstreamFailure, downstream: Connection | None = None) -> None:
        if self.mode == PoolMode.BOUND:
            key = downstream.id if downstream is not None else 0
            for requester in self.binding.pop(key, []):
                requester.on_pool_failure(failure)
            return
        # Waiters beyond the dials still in flight have nothing left to wait for.
        while len(self.waiters) > self.connecting:
            self._next_waiter().on_pool_failure(failure)

    def _on_close(self, client: XClientConnection) -> None:
        cluster = self.cluster
        if client in self.clients:
            self.clients.remove(client)
            cluster.stats.upstream_cx_active -= 1
            self.host.stats.cx_active -= 1
        cluster.connections -= 1
        cluster.stats.upstream_cx_destroy += 1
        cluster.stats.upstream_cx_rx_bytes_total += client.conn.bytes_received
        cluster.stats.upstream_cx_tx_bytes_total += client.conn.bytes_sent
        if client in self.idle:
            self.idle.remove(client)

    def close(self) -> None:
        self.closed = True
        for client in list(self.clients):
            client.close()
        for waiting in self.binding.values():
            for requester in waiting:
                requester.on_pool_failure(CLUSTER_REMOVED)
        self.binding.clear()
        self._fail_waiters(CLUSTER_REMOVED)


def _load(client: XClientConnection) -> int:
    return client.active


class XPools:
    """Every X-Protocol pool of one cluster, by (host, codec), made on first use."""

    def __init__(self, cluster: Any, keepalive: KeepAlive | None) -> None:
        self.cluster = cluster
        self.keepalive = keepalive
        self.pools: dict[tuple[int, str], XPool] = {}

    def get(self, host: Any, codec: XCodec, on_late_response=None) -> XPool:
        key = (id(host), codec.name)
        pool = self.pools.get(key)
        if pool is None:
            pool = self.pools[key] = XPool(
                host, self.cluster, codec, keepalive=self.keepalive, on_late_response=on_late_response
            )
        return pool

    def close(self) -> None:
        for pool in self.pools.values():
            pool.close()
