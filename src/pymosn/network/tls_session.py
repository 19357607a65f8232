"""TLS termination for accepted connections: OpenSSL (Python's `ssl.SSLObject` over memory
BIOs) between the TCP transport and the proxy's `Connection`, which sees plaintext.

Why not the loop's own TLS (`create_server(ssl=...)`, uvloop's SSLProtocol): it tries one more
`SSLObject.read` after every record until OpenSSL raises SSLWantReadError (an exception object
with a formatted message, per read), keeps a state machine and its own buffers in front of the
protocol, and adds several interpreted calls per record each way. HTTPS keep-alive cost pymosn
47 µs of CPU per request over plain HTTP against Envoy's 15 (BENCHMARKS.md, 2026-12-04). Here a
read stops when neither the incoming BIO nor OpenSSL holds more bytes, and a write is one
`SSLObject.write` and one transport write.

One `TlsSession` is both the protocol of the TCP transport and the transport of the
Connection: `connection_made` reaches the Connection once the handshake is done, within
`handshake_timeout` seconds (aborted after). A handshake that fails sends OpenSSL's alert and
closes; the Connection never exists, and `handshake` (a future) says why. The peer's
close_notify ends the connection as a FIN does (TLS has no half-close here, as asyncio's SSL
transports); `close()` sends our close_notify after what is queued."""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

# One TLS record holds at most 16 KiB of plaintext (RFC 8446 5.1): a read takes one record.
_RECORD = 16384


class TlsSession(asyncio.Protocol):
    """The server end of one TLS connection; `app` is the Connection it serves."""

    def __init__(self, context: ssl.SSLContext, app: asyncio.Protocol, handshake_timeout: float,
                 loop: asyncio.AbstractEventLoop) -> None:
        self.app = app
        self.loop = loop
        self.incoming = ssl.MemoryBIO()
        self.outgoing = ssl.MemoryBIO()
        self.ssl_object = context.wrap_bio(self.incoming, self.outgoing, server_side=True)
        self.context = context
        self.handshake_timeout = handshake_timeout
        self.handshake: asyncio.Future[None] = loop.create_future()
        self.raw: asyncio.Transport | None = None
        self.established = False
        self.closing = False
        self.reading_paused = False  # the Connection's: records already read wait in the BIO
        self.error: Exception | None = None  # what ended the session from inside, for the Connection
        self._timer: asyncio.TimerHandle | None = None

    @classmethod
    def accepting(cls, context: ssl.SSLContext, app: asyncio.Protocol, handshake_timeout: float,
                  loop: asyncio.AbstractEventLoop) -> TlsSession:
        """A session nobody awaits the handshake of (a failed one leaves no trace)."""
        session = cls(context, app, handshake_timeout, loop)
        session.handshake.add_done_callback(_forget_outcome)
        return session

    # --- the TCP transport's protocol ---------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.raw = transport  # type: ignore[assignment]
        if self.handshake_timeout > 0:
            self._timer = self.loop.call_later(self.handshake_timeout, self._handshake_timed_out)

    def data_received(self, data: bytes) -> None:
        self.incoming.write(data)
        if self.established:
            if not self.reading_paused:
                self._read()
        elif not self.handshake.done():
            self._handshake()

    def eof_received(self) -> bool:
        if self.established:
            self.app.eof_received()
        elif not self.handshake.done():
            self._handshake_failed(ConnectionResetError("the client closed during the TLS handshake"))
        return False  # the transport closes: TLS has no half-close here

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timer()
        if self.established:
            self.established = False
            self.app.connection_lost(exc or self.error)
        elif not self.handshake.done():
            self.handshake.set_exception(exc or ConnectionResetError("connection lost during the TLS handshake"))

    def pause_writing(self) -> None:
        if self.established:
            self.app.pause_writing()

    def resume_writing(self) -> None:
        if self.established:
            self.app.resume_writing()

    # --- handshake ----------------------------------------------------------------------------

    def _handshake(self) -> None:
        try:
            self.ssl_object.do_handshake()
        except ssl.SSLWantReadError:
            self._send_outgoing()
            return
        except (ssl.SSLError, ssl.CertificateError) as error:
            self._send_outgoing()  # OpenSSL's alert tells the client why
            self._handshake_failed(error)
            return
        self._cancel_timer()
        self._send_outgoing()  # the server's last flight (and TLS 1.3 session tickets)
        self.established = True
        self.handshake.set_result(None)
        self.app.connection_made(self)  # type: ignore[arg-type]
        if self.established and not self.closing and not self.reading_paused and self.incoming.pending:
            self._read()  # records behind the client's Finished, unless the Connection refused itself

    def _handshake_failed(self, error: BaseException) -> None:
        self._cancel_timer()
        if not self.handshake.done():
            self.handshake.set_exception(error)
        raw = self.raw
        if raw is not None:
            raw.close()

    def _handshake_timed_out(self) -> None:
        self._timer = None
        if not self.handshake.done():
            self.handshake.set_exception(TimeoutError("TLS handshake timed out"))
        raw = self.raw
        if raw is not None:
            raw.abort()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    # --- records ------------------------------------------------------------------------------

    def _read(self) -> None:
        ssl_object = self.ssl_object
        incoming = self.incoming
        app = self.app
        while True:
            try:
                data = ssl_object.read(_RECORD)
            except ssl.SSLWantReadError:
                break  # the rest of a record is still on its way
            except ssl.SSLError as error:
                self._fatal(error)
                return
            if not data:  # over memory BIOs, the client's close_notify reads as b""
                app.eof_received()
                self.close()
                return
            app.data_received(data)
            if self.closing or self.reading_paused or not self.established \
                    or not incoming.pending and not ssl_object.pending():
                break
        if self.outgoing.pending:  # a KeyUpdate's answer, or an alert
            self._send_outgoing()

    def _send_outgoing(self) -> None:
        raw = self.raw
        if self.outgoing.pending and raw is not None and not raw.is_closing():
            raw.write(self.outgoing.read())

    def _fatal(self, error: Exception) -> None:
        self.error = error  # first: a transport may call connection_lost inside abort()
        self._send_outgoing()
        raw = self.raw
        if raw is not None:
            raw.abort()  # connection_lost follows, with the error for the Connection

    # --- the Connection's transport -----------------------------------------------------------

    def write(self, data: bytes | bytearray | memoryview) -> None:
        raw = self.raw
        if self.closing or raw is None or raw.is_closing():
            return
        ssl_object = self.ssl_object
        try:
            written = ssl_object.write(data)  # over a memory BIO, all of it: the BIO grows
            if written < len(data):
                view = memoryview(data)[written:]
                while view:
                    view = view[ssl_object.write(view):]
        except ssl.SSLError as error:
            self._fatal(error)
            return
        raw.write(self.outgoing.read())

    def writelines(self, chunks: Any) -> None:
        self.write(b"".join(chunks))

    def is_closing(self) -> bool:
        raw = self.raw
        return self.closing or raw is None or raw.is_closing()

    def close(self) -> None:
        if self.closing:
            return
        self.closing = True
        raw = self.raw
        if raw is None:
            return
        if self.established and not raw.is_closing():
            try:
                self.ssl_object.unwrap()  # queues our close_notify
            except (ssl.SSLWantReadError, ssl.SSLError):
                pass  # the client's close_notify is not awaited
            self._send_outgoing()
        raw.close()

    def abort(self) -> None:
        self.closing = True
        if self.raw is not None:
            self.raw.abort()

    def can_write_eof(self) -> bool:
        return False

    def write_eof(self) -> None:
        raise NotImplementedError("TLS connections cannot half-close")

    def pause_reading(self) -> None:
        self.reading_paused = True
        if self.raw is not None:
            self.raw.pause_reading()

    def resume_reading(self) -> None:
        self.reading_paused = False
        if self.raw is not None:
            self.raw.resume_reading()
        if self.established and (self.incoming.pending or self.ssl_object.pending()):
            # what arrived before the pause: on the next turn, not inside the caller's callback
            self.loop.call_soon(self._read_held)

    def _read_held(self) -> None:
        if self.established and not self.reading_paused and not self.closing:
            self._read()

    def is_reading(self) -> bool:
        return self.raw is not None and self.raw.is_reading()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        if self.raw is not None:
            self.raw.set_write_buffer_limits(high, low)

    def get_write_buffer_size(self) -> int:
        return self.raw.get_write_buffer_size() if self.raw is not None else 0

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name == "ssl_object":
            return self.ssl_object
        if name == "peercert":
            return self.ssl_object.getpeercert()
        if name == "sslcontext":
            return self.context
        if name == "cipher":
            return self.ssl_object.cipher()
        if name == "compression":
            return self.ssl_object.compression()
        return self.raw.get_extra_info(name, default) if self.raw is not None else default


def _forget_outcome(handshake: asyncio.Future[None]) -> None:
    if not handshake.cancelled():
        handshake.exception()  # retrieved: the loop does not log it as never retrieved
