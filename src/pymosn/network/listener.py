"""A listening socket that picks a filter chain for every accepted client and builds a
Connection with that chain's transport (TLS or plaintext) and read filters.

Two accept paths. A listener with one chain that serves every connection uses the loop's own
server (`create_server`): nothing is decided per connection, so nothing is added to it. Any
other listener accepts itself: it reads what choosing a chain needs (addresses; the first bytes,
peeked, when a chain matches on SNI, ALPN or TLS-vs-plaintext), picks the chain
(network/chain_match.py) and hands the socket to the loop with that chain's TLS context."""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from pymosn.network import client_hello
from pymosn.network import original_dst as original_dst_mod
from pymosn.network.chain_match import ChainSelector, ConnectionFacts
from pymosn.network.connection import Connection
from pymosn.network.filter_chain import FilterChain
from pymosn.network.peek import PeerClosed, peek_client_hello
from pymosn.network.tls_session import TlsSession

log = logging.getLogger("pymosn.listener")

_ACCEPT_BATCH = 32  # connections accepted per readiness event before others get the loop
_ACCEPT_PAUSE = 1.0  # seconds to stop accepting when out of file descriptors (as asyncio)


class ListenerStatsSink(Protocol):
    """The counters a listener touches; metrics.ListenerStats satisfies it."""

    downstream_cx_total: int
    downstream_cx_active: int
    downstream_cx_destroy: int
    downstream_cx_overflow: int
    downstream_cx_idle_timeout: int
    downstream_cx_rx_bytes_total: int
    downstream_cx_tx_bytes_total: int
    no_filter_chain_match: int
    downstream_pre_cx_timeout: int
    downstream_pre_cx_active: int


class Listener:
    def __init__(
        self,
        name: str,
        host: str,
        port: int,
        chains: Sequence[FilterChain],
        stats: ListenerStatsSink,
        *,
        default_chain: FilterChain | None = None,
        backlog: int = 1024,
        max_connections: int = 0,
        buffer_limit: int = 1024 * 1024,
        idle_timeout: float = 0.0,
        reuse_port: bool = False,
        inspector: bool = False,
        inspect_timeout: float = 10.0,
        continue_on_inspect_timeout: bool = True,
        original_dst: str = "",
        transparent: bool = False,
    ) -> None:
        self.name = name
        self.host = host
        self.port = port
        self.stats = stats
        self.backlog = backlog
        self.max_connections = max_connections
        self.buffer_limit = buffer_limit
        self.idle_timeout = idle_timeout
        self.reuse_port = reuse_port
        self.inspector = inspector  # MOSN's: TLS chains also serve clients that do not speak TLS
        self.inspect_timeout = inspect_timeout
        self.continue_on_inspect_timeout = continue_on_inspect_timeout
        self.chains = [*chains, *([default_chain] if default_chain is not None else [])]
        self.selector: ChainSelector[FilterChain] = ChainSelector([(c.match, c) for c in chains], default_chain)
        tls_optional = inspector and any(c.ssl_context is not None for c in self.chains)
        self.inspects = self.selector.needs_inspection or tls_optional
        # The one chain the loop's own server can serve everything with, or None.
        self.only_chain: FilterChain | None = None
        if not tls_optional:
            if len(chains) == 1 and chains[0].matches_everything:
                self.only_chain = chains[0]
            elif not chains and default_chain is not None:
                self.only_chain = default_chain
        # Transparent interception: "redirect" or "tproxy" (IP_TRANSPARENT implies the latter).
        self.original_dst = original_dst or (original_dst_mod.TPROXY if transparent else "")
        self.transparent = transparent or self.original_dst == original_dst_mod.TPROXY
        # Given the original destination, the listener that should serve the connection (set
        # by the runtime for use_original_dst listeners), or None to serve it here.
        self.handoff: Callable[[tuple[str, int]], Listener | None] | None = None
        if self.original_dst or self.transparent:
            self.only_chain = None  # every accepted socket is looked at before it is served
        self.connections: set[Connection] = set()
        self.pending: set[asyncio.Task] = set()  # accepted sockets whose chain is being chosen
        # asyncio's Server or uvloop's (typeshed says sockets is a tuple; uvloop's is a list)
        self._server: Any = None
        self._listening: list[socket.socket] = []

    @property
    def ssl_contexts(self) -> list[ssl.SSLContext]:
        return [c.ssl_context for c in self.chains if c.ssl_context is not None]

    # --- accepting ---------------------------------------------------------------------------

    async def start(self, sock: socket.socket | None = None) -> tuple[str, int]:
        if self.only_chain is not None:
            bound = await self._start_server(self.only_chain, sock)
        else:
            self._listening = [sock] if sock is not None else self._bind()
            loop = asyncio.get_running_loop()
            for listening in self._listening:
                listening.setblocking(False)
                listening.listen(self.backlog)
                loop.add_reader(listening.fileno(), self._accept_ready, listening)
            bound = self._listening[0].getsockname()
        self.port = bound[1]
        return bound[0], bound[1]

    async def _start_server(self, chain: FilterChain, sock: socket.socket | None) -> tuple:
        loop = asyncio.get_running_loop()
        context = chain.ssl_context

        def build() -> asyncio.Protocol:
            conn = self._new_connection(chain, chain.factory)
            if context is None:
                return conn
            return TlsSession.accepting(context, conn, chain.handshake_timeout, loop)

        if sock is not None:
            self._server = await loop.create_server(build, sock=sock, backlog=self.backlog)
        else:
            self._server = await loop.create_server(
                build, self.host, self.port, backlog=self.backlog, reuse_address=True,
                reuse_port=self.reuse_port or None,
            )
        return self._server.sockets[0].getsockname()

    def _bind(self) -> list[socket.socket]:
        """Listening sockets for every address `host` resolves to, as create_server binds."""
        infos = socket.getaddrinfo(self.host or None, self.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        bound: list[socket.socket] = []
        try:
            for family, kind, proto, _, address in dict.fromkeys(infos):
                sock = socket.socket(family, kind, proto)
                bound.append(sock)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if self.reuse_port:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
                if family == socket.AF_INET6:
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                if self.transparent:
                    original_dst_mod.make_transparent(sock)
                sock.bind(address)
        except OSError:
            for sock in bound:
                sock.close()
            raise
        return bound

    def _accept_ready(self, listening: socket.socket) -> None:
        for _ in range(_ACCEPT_BATCH):
            try:
                sock, _ = listening.accept()
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                return
            except OSError as error:  # EMFILE and friends: back off instead of spinning
                log.error("listener %s: accept failed: %s; pausing accepts", self.name, error)
                loop = asyncio.get_running_loop()
                loop.remove_reader(listening.fileno())
                loop.call_later(_ACCEPT_PAUSE, self._resume_accepting, listening)
                return
            sock.setblocking(False)
            if self.max_connections and len(self.connections) + len(self.pending) >= self.max_connections:
                self.stats.downstream_cx_overflow += 1
                _reset(sock)
                continue
            self._spawn(self._serve(sock))

    def _resume_accepting(self, listening: socket.socket) -> None:
        if listening in self._listening and listening.fileno() != -1:
            asyncio.get_running_loop().add_reader(listening.fileno(), self._accept_ready, listening)

    def _spawn(self, coroutine) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self.pending.add(task)
        task.add_done_callback(self.pending.discard)

    async def _serve(self, sock: socket.socket) -> None:
        try:
            destination = None
            if self.original_dst:
                destination = original_dst_mod.original_destination(sock, self.original_dst)
                if destination is not None and destination[1] == self.port and self.original_dst == "tproxy":
                    destination = None  # came to our own port, not steered here: no loop back into us
                target = self.handoff(destination) if destination is not None and self.handoff else None
                if target is not None and target is not self:
                    await target.adopt(sock, original_destination=destination)
                    return
            await self.adopt(sock, original_destination=destination)
        except OSError as error:
            log.debug("listener %s: connection not served: %s", self.name, error)

    # --- serving a socket --------------------------------------------------------------------

    async def adopt(
        self,
        sock: socket.socket,
        *,
        initial_data: bytes = b"",
        chain_index: int | None = None,
        inherited: dict | None = None,
        original_destination: tuple[str, int] | None = None,
    ) -> Connection:
        """Serve an already-accepted socket as if this listener had accepted it.

        `chain_index` None: choose the chain (peeking at the first bytes when a chain matches
        on them); given: serve it with that chain. `initial_data`: bytes a previous owner read
        from the socket and did not use; the filters get them right after the connection is
        made. A socket with initial data or `inherited` filter state (a hot upgrade, see
        network/handoff.py) is past its first bytes and so stays plaintext. Raises OSError
        (after closing the socket) when the connection cannot be served: no chain matches, the
        client went away or sent an oversized ClientHello, or the TLS handshake failed."""
        try:
            chain, secure = await self._choose(sock, initial_data, chain_index, inherited is not None,
                                               original_destination)
        except BaseException:
            sock.close()
            raise
        return await self._connect(sock, chain, secure, initial_data, inherited, original_destination)

    async def _choose(self, sock: socket.socket, initial_data: bytes, chain_index: int | None,
                      resumed: bool, destination: tuple[str, int] | None = None) -> tuple[FilterChain, bool]:
        """The chain for `sock`, and whether it speaks TLS on it."""
        mid_stream = bool(initial_data) or resumed
        inspection: client_hello.Inspection | None = None
        if chain_index is not None:
            chain = self.chains[chain_index]
        else:
            if self.inspects:
                inspection = await self._inspect(sock, initial_data)
            selected = self.selector.select(self._facts(sock, inspection, destination))
            if selected is None:
                self.stats.no_filter_chain_match += 1
                raise ConnectionRefusedError(f"listener {self.name}: no filter chain matches the connection")
            chain = selected
        if chain.ssl_context is None or mid_stream:
            return chain, False
        if self.inspector:
            if inspection is None:
                inspection = await self._inspect(sock, b"")
            return chain, inspection.outcome is client_hello.Outcome.TLS
        return chain, True

    async def _inspect(self, sock: socket.socket, initial_data: bytes) -> client_hello.Inspection:
        if initial_data:
            # Bytes another owner read are gone from the socket: a TLS server could never see them.
            found = client_hello.inspect(initial_data)
            if found.outcome is client_hello.Outcome.NOT_TLS:
                return found
            raise ConnectionAbortedError("the bytes already read start a TLS handshake; cannot serve it")
        stats = self.stats
        stats.downstream_pre_cx_active += 1
        try:
            found = await peek_client_hello(sock, self.inspect_timeout)
        except TimeoutError:
            stats.downstream_pre_cx_timeout += 1
            if not self.continue_on_inspect_timeout:
                raise ConnectionAbortedError("no ClientHello before listener_filters_timeout") from None
            return client_hello.NOT_TLS  # as Envoy with continue_on_listener_filters_timeout
        except PeerClosed as closed:
            raise ConnectionAbortedError(str(closed)) from None
        finally:
            stats.downstream_pre_cx_active -= 1
        if found.outcome is client_hello.Outcome.TOO_LARGE:
            raise ConnectionAbortedError("ClientHello too large")
        return found

    def _facts(self, sock: socket.socket, inspection: client_hello.Inspection | None,
               destination: tuple[str, int] | None = None) -> ConnectionFacts:
        source = sock.getpeername()
        if destination is None:
            destination = self.destination_of(sock)
        if inspection is None:
            return ConnectionFacts(destination[:2], source[:2])
        return ConnectionFacts(destination[:2], source[:2], inspection.transport, inspection.server_name,
                               inspection.alpn)

    def destination_of(self, sock: socket.socket) -> tuple:
        """The address the client connected to, for destination_port / prefix_ranges."""
        return sock.getsockname()

    async def _connect(self, sock: socket.socket, chain: FilterChain, secure: bool, initial_data: bytes,
                       inherited: dict | None, original_destination: tuple[str, int] | None = None) -> Connection:
        loop = asyncio.get_running_loop()
        built: list[Connection] = []

        def build() -> Connection:
            conn = self._new_connection(chain, chain.factory if secure else chain.plaintext_factory)
            conn.inherited = inherited
            conn.original_destination = original_destination  # filters may need it on arrival
            built.append(conn)
            return conn

        context = chain.ssl_context
        sessions: list[TlsSession] = []

        def build_secure() -> TlsSession:
            assert context is not None
            session = TlsSession(context, build(), chain.handshake_timeout, loop)
            sessions.append(session)
            return session

        try:
            await loop.connect_accepted_socket(build_secure if secure else build, sock=sock)
        except OSError as error:
            _close_quietly(sock)
            raise ConnectionAbortedError(f"connection failed: {error}") from error
        if sessions:
            try:
                await sessions[0].handshake  # the transport closes the socket when it fails
            except OSError as error:  # ssl.SSLError and TimeoutError included
                raise ConnectionAbortedError(f"TLS handshake failed: {error}") from error
        conn = built[0]
        if initial_data and not conn.closed:
            conn.data_received(initial_data)
        return conn

    # --- connections -------------------------------------------------------------------------

    def _new_connection(self, chain: FilterChain, factory) -> Connection:
        idle_timeout = self.idle_timeout if chain.idle_timeout is None else chain.idle_timeout
        conn = _AcceptedConnection(self, asyncio.get_running_loop(), buffer_limit=self.buffer_limit,
                                   idle_timeout=idle_timeout)
        conn.filter_chain_index = chain.index
        conn.read_filters = factory(conn)
        return conn

    def _on_made(self, conn: Connection) -> None:
        """Counted once made (after the TLS handshake): a failed handshake leaves no trace."""
        stats = self.stats
        if self.max_connections and len(self.connections) >= self.max_connections:
            stats.downstream_cx_overflow += 1
            conn.read_filters = [_RejectOverflow(conn)]
            return
        stats.downstream_cx_total += 1
        stats.downstream_cx_active += 1
        self.connections.add(conn)
        conn.close_callbacks.append(self._on_close)
        conn.on_idle_timeout = self._on_idle_timeout

    def _on_close(self, conn: Connection, exc: Exception | None) -> None:
        self.connections.discard(conn)
        stats = self.stats
        stats.downstream_cx_active -= 1
        stats.downstream_cx_destroy += 1
        stats.downstream_cx_rx_bytes_total += conn.bytes_received
        stats.downstream_cx_tx_bytes_total += conn.bytes_sent

    def _on_idle_timeout(self, conn: Connection) -> None:
        self.stats.downstream_cx_idle_timeout += 1

    # --- stopping ----------------------------------------------------------------------------

    @property
    def sockets(self) -> list[socket.socket]:
        if self._server is not None:
            return list(self._server.sockets)
        return [s for s in self._listening if s.fileno() != -1]

    def stop_accepting(self) -> None:
        if self._server is not None:
            self._server.close()
        if self._listening:
            loop = asyncio.get_running_loop()
            for listening in self._listening:
                if listening.fileno() != -1:
                    loop.remove_reader(listening.fileno())
                    listening.close()
            self._listening = []

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
        for task in list(self.pending):
            task.cancel()
        for conn in list(self.connections):
            conn.close()

    def abort_all(self) -> None:
        """Ends the connections a close could not (their peer reads nothing)."""
        for conn in list(self.connections):
            conn.abort()


class _AcceptedConnection(Connection):
    """A connection of a listener: the listener counts it when its transport is up."""

    def __init__(
        self, listener: Listener, loop: asyncio.AbstractEventLoop, *, buffer_limit: int, idle_timeout: float
    ) -> None:
        super().__init__(loop, buffer_limit=buffer_limit, idle_timeout=idle_timeout)
        self.listener = listener

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self.listener._on_made(self)
        super().connection_made(transport)


class _RejectOverflow:
    """Closes a connection accepted over the listener's connection limit."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def on_new_connection(self) -> int:
        self.conn.abort()
        return 1

    def on_data(self, data: bytes) -> int:
        return 1


def _reset(sock: socket.socket) -> None:
    """Close with a RST: the client learns at once that it was not served."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    except OSError:
        pass
    sock.close()


def _close_quietly(sock: socket.socket) -> None:
    try:
        sock.close()
    except OSError:
        pass
