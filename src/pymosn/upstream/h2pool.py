"""Per-host HTTP/2 connection pools: requests are streams multiplexed on few connections.

A connection takes streams up to the server's SETTINGS_MAX_CONCURRENT_STREAMS at a time and
up to the cluster's max_request_per_conn over its life; when every connection is full (or
draining after a GOAWAY), a new one is dialled, within the cluster's max_connections, and
requests wait (up to max_pending_requests) for a free stream. A connection counts as up once
the server's first SETTINGS arrive: only then is its stream limit known, and a server that does
not speak HTTP/2 fails the dial instead of the requests sent on it.

`AlpnPool` serves TLS clusters offering both h2 and http/1.1: HTTP/2 until a server picks
http/1.1, then HTTP/1.1."""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pymosn.api.errors import CONNECTION_OVERFLOW, PENDING_OVERFLOW, FailureKind, UpstreamFailure
from pymosn.api.filter import FilterStatus
from pymosn.network.connection import Connection
from pymosn.stream.http2.client import Http2ClientConnection
from pymosn.stream.http2.client_stream import Http2ClientStream
from pymosn.upstream.errors import UpstreamConnectError
from pymosn.upstream.host import Host
from pymosn.upstream.pool import Http1Pool
from pymosn.upstream.waiting import WaitingRequesters

if TYPE_CHECKING:
    from pymosn.upstream.cluster import Cluster

_CLOSED_AT_ONCE = UpstreamFailure(FailureKind.CONNECTION_CLOSED, "upstream closed the connection at once")
_CLOSED_BEFORE_SETTINGS = UpstreamFailure(FailureKind.CONNECTION_CLOSED, "upstream closed before HTTP/2 SETTINGS")
_NO_SETTINGS = UpstreamFailure(FailureKind.CONNECT_TIMEOUT, "upstream sent no HTTP/2 SETTINGS in time")


class H2Pool(WaitingRequesters):
    def __init__(
        self,
        host: Host,
        cluster: Cluster,
        ssl_context: ssl.SSLContext | None = None,
        on_http1: Callable[[Connection], None] | None = None,
    ) -> None:
        self.host = host
        self.cluster = cluster
        self.ssl_context = ssl_context  # None: the cluster's (plaintext: h2c prior knowledge)
        self.on_http1 = on_http1  # set: ALPN may settle on http/1.1, and that connection goes there
        self.conns: list[Http2ClientConnection] = []  # up, taking new streams
        self.waiters: deque[Any] = deque()
        self.connecting = 0  # dials and handshakes in flight
        self.total = 0  # open connections, draining ones included
        self.peer_limit: int | None = None  # the host's last stream limit; None: unknown or unbounded
        self.closed = False
        self.authority = host.address.encode()
        self.scheme = b"https" if cluster.ssl_context is not None else b"http"

    # --- requester side ---------------------------------------------------------------------

    def acquire(self, requester: Any) -> Http2ClientStream | None:
        for client in self.conns:
            if client.available() > 0:
                return client.new_stream()
        cluster = self.cluster
        if self._needs_dial(1) and cluster.can_open_connection():
            self._queue(requester)
            self._dial()
            return None
        if self.pending_full():
            cluster.stats.upstream_rq_pending_overflow += 1
            requester.on_pool_failure(PENDING_OVERFLOW)
            return None
        if not self.connecting and not self.conns:
            cluster.stats.upstream_cx_overflow += 1
            requester.on_pool_failure(CONNECTION_OVERFLOW)
            return None
        self._queue(requester)
        return None

    def take_waiters(self) -> list:
        waiters = list(self.waiters)
        self.waiters.clear()
        self.cluster.pending -= len(waiters)
        return waiters

    def _needs_dial(self, arriving: int = 0) -> bool:
        """More waiters (with those `arriving`) than the dials in flight are expected to carry."""
        if self.peer_limit == 0:
            return False  # the server takes no streams now; another connection would not either
        if not self.connecting:
            return True
        if self.peer_limit is None:
            return False  # one dial, limit unknown: wait to learn it
        return len(self.waiters) + arriving > self.connecting * self.peer_limit

    def _serve(self, client: Http2ClientConnection) -> None:
        waiters = self.waiters
        while waiters and client.available() > 0:
            self._next_waiter().on_pool_ready(client.new_stream())
        self._dial_for_waiters()

    def _dial_for_waiters(self) -> None:
        while self.waiters and not self.closed and self._needs_dial() and self.cluster.can_open_connection():
            self._dial()

    # --- connections ------------------------------------------------------------------------

    def _dial(self) -> None:
        self.connecting += 1
        self.cluster.connections += 1
        asyncio.get_running_loop().create_task(self._connect())

    async def _connect(self) -> None:
        cluster = self.cluster
        host = self.host
        loop = asyncio.get_running_loop()

        early = _EarlyBytes()

        def factory() -> Connection:
            # No byte-idle timer: the HTTP/2 client times out on having no streams instead.
            conn = Connection(loop, buffer_limit=cluster.buffer_limit, idle_timeout=0.0)
            conn.read_filters = [early]
            return conn

        try:
            conn = await cluster.connect(host, factory, self.ssl_context)
        except UpstreamConnectError as error:
            self._dial_failed(error.failure)
            return
        if conn.closed:
            cluster.stats.upstream_cx_connect_fail += 1
            host.stats.cx_connect_fail += 1
            self._dial_failed(_CLOSED_AT_ONCE)
            return
        if self.on_http1 is not None and _alpn(conn) != "h2":
            self.connecting -= 1
            conn.set_idle_timeout(cluster.idle_timeout)  # HTTP/1.1's: no bytes for that long
            self.on_http1(conn)
            return
        self.total += 1
        cluster.stats.upstream_cx_active += 1
        cluster.stats.upstream_cx_http2_total += 1
        host.stats.cx_active += 1
        client = Http2ClientConnection(
            conn, self, scheme=self.scheme, authority=self.authority, max_streams=cluster.max_request_per_conn,
            settings=cluster.h2_settings, idle_timeout=cluster.idle_timeout, stats=cluster.stats,
        )
        conn.read_filters = [client]
        conn.close_callbacks.append(self._on_close)
        client.start()
        for data in early.data:
            client.on_data(data)
        # The server's SETTINGS must come within the connect timeout.
        client.settings_timer = loop.call_later(cluster.connect_timeout, self._settings_timeout, client)

    def _dial_failed(self, failure: UpstreamFailure) -> None:
        self.connecting -= 1
        self.cluster.connections -= 1
        if self.conns:
            return  # the waiters get streams as those connections free them
        # Waiters beyond what the dials still in flight will carry have nothing to wait for.
        if not self.connecting:
            keep = 0
        elif self.peer_limit:
            keep = self.connecting * self.peer_limit
        else:
            keep = len(self.waiters)
        while len(self.waiters) > keep:
            self._next_waiter().on_pool_failure(failure)

    def _settings_timeout(self, client: Http2ClientConnection) -> None:
        if not client.ready and not client.closed:
            client.handshake_failure = _NO_SETTINGS
            client.conn.abort()

    def on_h2_ready(self, client: Http2ClientConnection) -> None:
        if client.settings_timer is not None:
            client.settings_timer.cancel()
        self.connecting -= 1
        self._learn_limit(client)
        if self.closed:
            client.goaway()
            client.conn.close()
            return
        self.conns.append(client)
        self._serve(client)
        client.arm_idle_timer()

    def _learn_limit(self, client: Http2ClientConnection) -> None:
        limit = client.codec.remote_max_concurrent_streams
        cap = self.cluster.h2_settings.max_concurrent_streams
        if cap:
            limit = min(limit, cap)
        self.peer_limit = limit if limit < 2**31 else None

    def on_h2_capacity(self, client: Http2ClientConnection, settings_changed: bool = False) -> None:
        if settings_changed:
            self._learn_limit(client)
        if client in self.conns:
            self._serve(client)

    def on_h2_goaway(self, client: Http2ClientConnection) -> None:
        self._forget(client)
        self._dial_for_waiters()

    def _forget(self, client: Http2ClientConnection) -> None:
        try:
            self.conns.remove(client)
        except ValueError:
            pass

    def _on_close(self, conn: Connection, exc: Exception | None) -> None:
        client = conn.read_filters[0] if conn.read_filters else None
        cluster = self.cluster
        self.total -= 1
        cluster.stats.upstream_cx_active -= 1
        cluster.stats.upstream_cx_destroy += 1
        cluster.stats.upstream_cx_rx_bytes_total += conn.bytes_received
        cluster.stats.upstream_cx_tx_bytes_total += conn.bytes_sent
        self.host.stats.cx_active -= 1
        if client is not None:
            if client.settings_timer is not None:
                client.settings_timer.cancel()
            if not client.ready:
                # Closed during the handshake: a connect failure for those waiting on it.
                cluster.stats.upstream_cx_connect_fail += 1
                self.host.stats.cx_connect_fail += 1
                self._dial_failed(client.handshake_failure or _CLOSED_BEFORE_SETTINGS)
                return
            self._forget(client)
        cluster.connections -= 1
        self._dial_for_waiters()

    def close(self) -> None:
        self.closed = True
        for client in list(self.conns):
            client.draining = True
            if not client.reserved:
                client.goaway()
                client.conn.close()
        self.conns.clear()


class AlpnPool:
    """A host reached over TLS offering h2 and http/1.1. Until a server picks http/1.1 (or
    offers no ALPN), requests go to the HTTP/2 pool; that connection, the requests waiting for
    it and all later ones go to the HTTP/1.1 pool."""

    def __init__(self, host: Host, cluster: Cluster) -> None:
        self.h1 = Http1Pool(host, cluster)
        self.h2 = H2Pool(host, cluster, on_http1=self._http1_connection)
        self.http1 = False  # a connection settled on http/1.1

    def acquire(self, requester: Any) -> Any:
        return (self.h1 if self.http1 else self.h2).acquire(requester)

    def cancel(self, requester: Any) -> None:
        self.h1.cancel(requester)
        self.h2.cancel(requester)

    def _http1_connection(self, conn: Connection) -> None:
        self.http1 = True
        self.h1.adopt(conn)
        for requester in self.h2.take_waiters():
            client = self.h1.acquire(requester)
            if client is not None:
                requester.on_pool_ready(client)

    def close(self) -> None:
        self.h1.close()
        self.h2.close()


class _EarlyBytes:
    """Holds what the server sends before the dialling task resumes: an HTTP/2 server speaks
    first (its SETTINGS), and can do so between connection_made and the await returning."""

    def __init__(self) -> None:
        self.data: list[bytes] = []

    def on_new_connection(self) -> FilterStatus:
        return FilterStatus.CONTINUE

    def on_data(self, data: bytes) -> FilterStatus:
        self.data.append(data)
        return FilterStatus.STOP


def _alpn(conn: Connection) -> str | None:
    transport = conn.transport
    ssl_object = transport.get_extra_info("ssl_object") if transport is not None else None
    return ssl_object.selected_alpn_protocol() if ssl_object is not None else None
