"""A listening socket that builds a Connection and its read filters for every accepted client."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable

from pymosn.network.connection import Connection

FilterChainFactory = Callable[[Connection], list]


class ListenerStatsSink:
    """The counters a listener touches; metrics.ListenerStats satisfies it."""

    downstream_cx_total: int
    downstream_cx_active: int
    downstream_cx_destroy: int
    downstream_cx_overflow: int
    downstream_cx_idle_timeout: int
    downstream_cx_rx_bytes_total: int
    downstream_cx_tx_bytes_total: int


class Listener:
    def __init__(
        self,
        name: str,
        host: str,
        port: int,
        filter_chain_factory: FilterChainFactory,
        stats: ListenerStatsSink,
        *,
        backlog: int = 1024,
        max_connections: int = 0,
        buffer_limit: int = 1024 * 1024,
        idle_timeout: float = 0.0,
        reuse_port: bool = False,
        ssl_context=None,
        handshake_timeout: float = 10.0,
    ) -> None:
        self.name = name
        self.host = host
        self.port = port
        self.filter_chain_factory = filter_chain_factory
        self.stats = stats
        self.backlog = backlog
        self.max_connections = max_connections
        self.buffer_limit = buffer_limit
        self.idle_timeout = idle_timeout
        self.reuse_port = reuse_port
        self.ssl_context = ssl_context  # None: plaintext
        self.handshake_timeout = handshake_timeout
        self.connections: set[Connection] = set()
        self._server: asyncio.base_events.Server | None = None

    async def start(self, sock: socket.socket | None = None) -> tuple[str, int]:
        loop = asyncio.get_running_loop()
        tls = {}
        if self.ssl_context is not None:
            tls = {"ssl": self.ssl_context, "ssl_handshake_timeout": self.handshake_timeout}
        if sock is not None:
            self._server = await loop.create_server(self._new_connection, sock=sock, backlog=self.backlog, **tls)
        else:
            self._server = await loop.create_server(
                self._new_connection,
                self.host,
                self.port,
                backlog=self.backlog,
                reuse_address=True,
                reuse_port=self.reuse_port or None,
                **tls,
            )
        bound = self._server.sockets[0].getsockname()
        self.port = bound[1]
        return bound[0], bound[1]

    @property
    def sockets(self) -> list[socket.socket]:
        return list(self._server.sockets) if self._server is not None else []

    def stop_accepting(self) -> None:
        if self._server is not None:
            self._server.close()

    def drain(self) -> None:
        """Stop accepting and ask every connection's filters to finish and close."""
        self.stop_accepting()
        for conn in list(self.connections):
            for f in conn.read_filters:
                drain = getattr(f, "drain", None)
                if drain is not None:
                    drain()

    def close_all(self) -> None:
        self.stop_accepting()
        for conn in list(self.connections):
            conn.close()

    def _new_connection(self) -> Connection:
        loop = asyncio.get_running_loop()
        conn = Connection(loop, buffer_limit=self.buffer_limit, idle_timeout=self.idle_timeout)
        stats = self.stats
        if self.max_connections and len(self.connections) >= self.max_connections:
            stats.downstream_cx_overflow += 1
            conn.read_filters = [_RejectOverflow(conn)]
            return conn
        stats.downstream_cx_total += 1
        stats.downstream_cx_active += 1
        self.connections.add(conn)
        conn.close_callbacks.append(self._on_close)
        conn.on_idle_timeout = self._on_idle_timeout
        conn.read_filters = self.filter_chain_factory(conn)
        return conn

    async def adopt(
        self,
        sock: socket.socket,
        *,
        initial_data: bytes = b"",
        chain_index: int | None = None,
        inherited: dict | None = None,
    ) -> Connection:
        """Serve an already-accepted socket as if this listener had accepted it. `initial_data`:
        bytes a previous owner read from it and did not use; `inherited`: filter state handed
        over by the previous process in a hot upgrade (see network/handoff.py)."""
        loop = asyncio.get_running_loop()

        def build() -> Connection:
            conn = self._new_connection()
            conn.inherited = inherited
            return conn

        _, conn = await loop.connect_accepted_socket(build, sock=sock)
        if initial_data and not conn.closed:
            conn.data_received(initial_data)
        return conn

    def _on_close(self, conn: Connection, exc: Exception | None) -> None:
        self.connections.discard(conn)
        stats = self.stats
        stats.downstream_cx_active -= 1
        stats.downstream_cx_destroy += 1
        stats.downstream_cx_rx_bytes_total += conn.bytes_received
        stats.downstream_cx_tx_bytes_total += conn.bytes_sent

    def _on_idle_timeout(self, conn: Connection) -> None:
        self.stats.downstream_cx_idle_timeout += 1


class _RejectOverflow:
    """Closes a connection accepted over the listener's connection limit."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def on_new_connection(self) -> int:
        self.conn.abort()
        return 1

    def on_data(self, data: bytes) -> int:
        return 1
