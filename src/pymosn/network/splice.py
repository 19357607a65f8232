"""Zero-copy L4 relay: socket -> pipe -> socket with os.splice, bytes never enter Python.

Used by tcp_proxy when neither side is TLS. The two connections' transports are paused and the
relay works on duplicates of their file descriptors, driven by the loop's reader/writer
callbacks. Each direction moves at most one pipe's worth of data at a time and stops reading
its source while its destination cannot take more, so memory stays bounded by the pipes."""

from __future__ import annotations

import asyncio
import fcntl
import os
import socket
from collections.abc import Callable

AVAILABLE = hasattr(os, "splice") and os.environ.get("PYMOSN_DISABLE_SPLICE", "") in ("", "0")

_CHUNK = 256 * 1024
_FLAGS = getattr(os, "SPLICE_F_MOVE", 1) | getattr(os, "SPLICE_F_NONBLOCK", 2)
_F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)


class _Direction:
    """One direction of the relay."""

    def __init__(self, relay: SpliceRelay, src: socket.socket, dst: socket.socket) -> None:
        self.relay = relay
        self.loop = relay.loop
        self.src = src.fileno()
        self.dst = dst.fileno()
        self.dst_sock = dst
        self.pipe_r, self.pipe_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            fcntl.fcntl(self.pipe_w, _F_SETPIPE_SZ, _CHUNK)
        except OSError:
            pass  # the default 64 KiB pipe works, just with more wakeups
        self.in_pipe = 0
        self.prefix = b""  # bytes read by the transport before the switch, sent first
        self.bytes = 0  # spliced bytes (the prefix is the caller's to count)
        self.eof = False
        self.reading = False
        self.writing = False

    def start(self, prefix: bytes) -> None:
        self.prefix = prefix
        if prefix and not self._send_prefix():
            return
        self._read_on()

    def _send_prefix(self) -> bool:
        try:
            n = os.write(self.dst, self.prefix)
        except BlockingIOError:
            n = 0
        except OSError as exc:
            self.relay.fail(exc)
            return False
        self.prefix = self.prefix[n:]
        if self.prefix:
            self._write_on()
            return False
        return True

    def _read_on(self) -> None:
        if not self.reading and not self.eof:
            self.reading = True
            self.loop.add_reader(self.src, self._on_readable)

    def _read_off(self) -> None:
        if self.reading:
            self.reading = False
            self.loop.remove_reader(self.src)

    def _write_on(self) -> None:
        if not self.writing:
            self.writing = True
            self.loop.add_writer(self.dst, self._on_writable)

    def _write_off(self) -> None:
        if self.writing:
            self.writing = False
            self.loop.remove_writer(self.dst)

    def _on_readable(self) -> None:
        try:
            n = os.splice(self.src, self.pipe_w, _CHUNK, flags=_FLAGS)
        except BlockingIOError:
            return
        except OSError as exc:
            self.relay.fail(exc)
            return
        if n == 0:
            self.eof = True
            self._read_off()
            if not self.in_pipe:
                self._finish()
            return
        self.in_pipe += n
        self.bytes += n
        self.relay.touch()
        self._drain()

    def _drain(self) -> None:
        while self.in_pipe:
            try:
                n = os.splice(self.pipe_r, self.dst, self.in_pipe, flags=_FLAGS)
            except BlockingIOError:
                # The destination is full: stop reading the source until it drains.
                self._read_off()
                self._write_on()
                return
            except OSError as exc:
                self.relay.fail(exc)
                return
            self.in_pipe -= n
        if self.eof:
            self._finish()

    def _on_writable(self) -> None:
        self._write_off()
        if self.prefix:
            if not self._send_prefix():
                return
        self._drain()
        if not self.in_pipe and not self.eof:
            self._read_on()

    def _finish(self) -> None:
        """Source ended and everything was passed on: half-close the destination."""
        self._write_off()
        try:
            self.dst_sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        self.relay.direction_done()

    def stop(self) -> None:
        self._read_off()
        self._write_off()
        for fd in (self.pipe_r, self.pipe_w):
            try:
                os.close(fd)
            except OSError:
                pass


class SpliceRelay:
    """Relays two connected sockets both ways. `on_done(error)` is called once: with None when
    both directions ended cleanly, or with the error that stopped the relay."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        a: socket.socket,
        b: socket.socket,
        on_done: Callable[[OSError | None], None],
        on_activity: Callable[[], None],
    ) -> None:
        self.loop = loop
        # Duplicates: the transports keep their own descriptors, paused, until we close them.
        self.a = socket.socket(fileno=os.dup(a.fileno()))
        self.b = socket.socket(fileno=os.dup(b.fileno()))
        self.a_to_b = _Direction(self, self.a, self.b)
        self.b_to_a = _Direction(self, self.b, self.a)
        self.on_done = on_done
        self.on_activity = on_activity
        self.finished = 0
        self.closed = False

    def start(self, a_prefix: bytes = b"", b_prefix: bytes = b"") -> None:
        """a_prefix: bytes read from `a` already, to be sent to `b` first (and vice versa)."""
        self.a_to_b.start(a_prefix)
        if not self.closed:
            self.b_to_a.start(b_prefix)

    def touch(self) -> None:
        self.on_activity()

    def direction_done(self) -> None:
        self.finished += 1
        if self.finished == 2:
            self.close(None)

    def fail(self, exc: OSError) -> None:
        self.close(exc)

    @property
    def idle(self) -> bool:
        """Nothing held in our pipes or prefixes, and neither direction has ended."""
        return not any(d.in_pipe or d.prefix or d.eof for d in (self.a_to_b, self.b_to_a))

    def detach(self) -> None:
        """Stop relaying without touching the connections (they move to another process)."""
        if self.closed:
            return
        self.closed = True
        for direction in (self.a_to_b, self.b_to_a):
            direction.stop()
        self.a.close()
        self.b.close()

    def close(self, error: OSError | None) -> None:
        if self.closed:
            return
        self.closed = True
        for direction in (self.a_to_b, self.b_to_a):
            direction.stop()
        self.a.close()
        self.b.close()
        self.on_done(error)

    @property
    def bytes_a_to_b(self) -> int:
        return self.a_to_b.bytes

    @property
    def bytes_b_to_a(self) -> int:
        return self.b_to_a.bytes
