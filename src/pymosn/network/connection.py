"""A TCP connection as an asyncio.Protocol with a read filter chain, watermarks and idle timeout.

No StreamReader and no task per read: the loop calls data_received, which hands the bytes
straight to the filters. Flow control uses the transport's own write-buffer watermarks: when our
write buffer passes the high watermark, asyncio calls pause_writing and we tell the watermark
listener (typically the peer connection's owner, which then stops reading from its side)."""

from __future__ import annotations

import asyncio
import itertools
import socket
from collections.abc import Callable
from typing import Any, Final

from pymosn.api.connection import ConnectionInfo
from pymosn.api.filter import FilterStatus
from pymosn.api.streams import WatermarkListener
from pymosn.network.tls import peer_sans, requested_server_name

_STOP: Final = FilterStatus.STOP  # looked up once: an attribute of an interpreted class is a dict lookup per read

_next_id = itertools.count(1)

# Write batching (MOSN's writev lesson). While the loop is inside a data_received callback,
# writes to any connection are collected and flushed once when the outermost callback returns:
# a response head and body decoded from one upstream read leave in one syscall.
class _WriteBatch:
    """The loop's batching state, in one object behind a Final name: a compiled module's plain
    globals are dict lookups, several per read and write."""

    __slots__ = ("depth", "dirty", "now")

    def __init__(self) -> None:
        self.depth = 0  # data_received callbacks the loop is inside
        self.dirty: list[Connection] = []  # connections holding writes to flush
        # the loop's time when the outermost callback began: the idle clock of the writes made
        # inside it (a clock call per write was a tenth of the writes' cost)
        self.now = 0.0


_BATCH: Final = _WriteBatch()


def _flush_batches() -> None:
    dirty = _BATCH.dirty
    while dirty:
        conns = dirty[:]
        dirty.clear()
        for conn in conns:
            conn._flush()


class Connection(asyncio.Protocol):
    """One TCP connection. `read_filters` receive bytes in order until one returns STOP."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        *,
        buffer_limit: int = 1024 * 1024,
        idle_timeout: float = 0.0,
    ) -> None:
        self.id = next(_next_id)
        self.loop = loop
        self._clock: Callable[[], float] = loop.time  # bound once: read on every read when idle times out
        self.transport: asyncio.Transport | None = None
        self.read_filters: list[Any] = []
        self.watermark_listener: WatermarkListener | None = None
        self.close_callbacks: list[Callable[[Connection, Exception | None], None]] = []
        self.buffer_limit = buffer_limit
        self.idle_timeout = idle_timeout
        self.closed = False
        self.write_paused = False  # our write buffer is above the high watermark
        self.reading_paused = False
        self.local_address = ""
        self.remote_address = ""
        self.bytes_received = 0
        self.bytes_sent = 0
        self.secure = False  # TLS
        self.peer_uri_san: str | None = None  # the TLS peer's identity (a SPIFFE ID in a mesh)
        self.filter_chain_index = 0  # which of its listener's filter chains serves it
        # (ip, port) the client was going to before REDIRECT/TPROXY steered it here, or None
        self.original_destination: tuple[str, int] | None = None
        self.info: ConnectionInfo  # set once established (connection_made)
        self._last_activity = 0.0
        self._idle_timer: asyncio.TimerHandle | None = None
        self.on_idle_timeout: Callable[[Connection], None] | None = None
        # Hot upgrade: told when a request/response exchange ends and nothing waits, the moment
        # an HTTP/1.1 keep-alive connection can move to the new process.
        self.on_idle: Callable[[Connection], None] | None = None
        self.inherited: dict | None = None  # filter state handed over by the previous process
        self.migrated = False  # handed to another process: closing here ends nothing
        self._batch: list[bytes | bytearray] | None = None

    # --- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
        sockname = transport.get_extra_info("sockname")
        peername = transport.get_extra_info("peername")
        self.local_address = _format_address(sockname)
        self.remote_address = _format_address(peername)
        ssl_object = transport.get_extra_info("ssl_object")
        uri_sans: tuple[str, ...] = ()
        dns_sans: tuple[str, ...] = ()
        if ssl_object is not None:
            self.secure = True
            uri_sans, dns_sans = peer_sans(transport)
            self.peer_uri_san = uri_sans[0] if uri_sans else None
        # made here, once: with TLS the loop calls this after the handshake
        self.info = ConnectionInfo(
            self.id, self.loop, _pair(peername), _pair(sockname), ssl_object is not None, self.peer_uri_san,
            requested_server_name(ssl_object) if ssl_object is not None else None,
            ssl_object.selected_alpn_protocol() if ssl_object is not None else None,
            self.original_destination, self.remote_address, self.local_address, ssl_object, uri_sans, dns_sans,
        )
        transport.set_write_buffer_limits(high=self.buffer_limit, low=self.buffer_limit // 2)
        if self.idle_timeout > 0:
            self._last_activity = self.loop.time()
            self._idle_timer = self.loop.call_later(self.idle_timeout, self._check_idle)
        for f in self.read_filters:
            if f.on_new_connection() == _STOP:
                break

    def data_received(self, data: bytes) -> None:
        self.bytes_received += len(data)
        batch = _BATCH
        if not batch.depth:
            batch.now = self._clock()
        if self._idle_timer is not None:
            self._last_activity = batch.now
        batch.depth += 1
        try:
            for f in self.read_filters:
                if f.on_data(data) == _STOP:
                    break
        finally:
            batch.depth -= 1
            if not batch.depth and batch.dirty:
                _flush_batches()

    def eof_received(self) -> bool:
        for f in self.read_filters:
            on_eof = getattr(f, "on_eof", None)
            if on_eof is not None and on_eof():
                return True  # keep the write side open (half-close)
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
        callbacks, self.close_callbacks = self.close_callbacks, []
        for cb in callbacks:
            cb(self, exc)

    def pause_writing(self) -> None:
        self.write_paused = True
        if self.watermark_listener is not None:
            self.watermark_listener.on_above_write_high_watermark()

    def resume_writing(self) -> None:
        self.write_paused = False
        if self.watermark_listener is not None:
            self.watermark_listener.on_below_write_low_watermark()

    # --- API ---------------------------------------------------------------------------------

    def write(self, data: bytes | bytearray) -> None:
        if self.closed:
            return
        self.bytes_sent += len(data)
        if self._idle_timer is not None:
            self._last_activity = _BATCH.now if _BATCH.depth else self.loop.time()
        if _BATCH.depth:
            batch = self._batch
            if batch is None:
                self._batch = [data]
                _BATCH.dirty.append(self)
            else:
                batch.append(data)
        else:
            self._connected().write(data)

    def _connected(self) -> asyncio.Transport:
        transport = self.transport
        if transport is None:
            raise RuntimeError(f"connection {self.id} is used before it is connected")
        return transport

    def _flush(self) -> None:
        batch = self._batch
        self._batch = None
        if batch:
            transport = self.transport  # (not _connected(): a call less per flush)
            if transport is None:
                raise RuntimeError(f"connection {self.id} is used before it is connected")
            if not transport.is_closing():
                transport.write(batch[0] if len(batch) == 1 else b"".join(batch))

    def pause_reading(self) -> None:
        if not self.reading_paused and not self.closed:
            self.reading_paused = True
            self._connected().pause_reading()

    def resume_reading(self) -> None:
        if self.reading_paused and not self.closed:
            self.reading_paused = False
            self._connected().resume_reading()

    def close(self) -> None:
        """Close after pending writes are flushed."""
        if not self.closed and self.transport is not None:
            self.closed = True
            self._flush()
            self.transport.close()

    def abort(self) -> None:
        """Close now, dropping pending writes (RST where the kernel does so)."""
        if self.transport is not None:
            self.closed = True
            self._batch = None
            self.transport.abort()

    def write_eof(self) -> None:
        if not self.closed and self.transport is not None and self.transport.can_write_eof():
            self._flush()
            self.transport.write_eof()

    def set_idle_timeout(self, seconds: float) -> None:
        """Restarts the idle timer with a new timeout; 0 stops it."""
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
        self.idle_timeout = seconds
        if seconds > 0 and self.transport is not None and not self.closed:
            self._last_activity = self.loop.time()
            self._idle_timer = self.loop.call_later(seconds, self._check_idle)

    def _check_idle(self) -> None:
        if self.closed:
            return
        idle_for = self.loop.time() - self._last_activity
        if idle_for >= self.idle_timeout:
            self._idle_timer = None
            if self.on_idle_timeout is not None:
                self.on_idle_timeout(self)
            self.close()
        else:
            self._idle_timer = self.loop.call_later(self.idle_timeout - idle_for, self._check_idle)


def _pair(addr: Any) -> tuple[str, int]:
    return (addr[0], addr[1]) if isinstance(addr, tuple) else (str(addr or ""), 0)


def _format_address(addr: Any) -> str:
    if not addr:
        return ""
    if isinstance(addr, tuple):
        host, port = addr[0], addr[1]
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return str(addr)
