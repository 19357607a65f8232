"""Client side of a pooled HTTP/1.1 upstream connection: one request at a time (ping-pong).

The owner (a connection pool) gets the connection back through `on_idle` once a response has
completed on a connection that can be reused; otherwise the connection is closed."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from pymosn.api.errors import ProtocolError, ResetKind, ResetSource, StreamReset
from pymosn.api.filter import FilterStatus
from pymosn.api.streams import ClientStream
from pymosn.network.connection import Connection
from pymosn.protocol.http1 import BODY_CHUNKED, BODY_NONE, ResponseDecoder, ResponseHead
from pymosn.protocol.http1.decoder import DEFAULT_MAX_HEADERS
from pymosn.protocol.http1.encoder import encode_chunk, encode_last_chunk, encode_request_head
from pymosn.stream.http1.whole_connection import WholeConnectionStream

# Final, so compiled code holds them: FilterStatus.STOP is an enum class attribute lookup per read
_FILTER_STOP: Final = FilterStatus.STOP
_FILTER_CONTINUE: Final = FilterStatus.CONTINUE


class ClientStreamConnection(WholeConnectionStream):
    """Read filter on an upstream connection. The receiver of the current request gets
    on_response_head(head, end_stream), on_response_data(data, end_stream),
    on_response_trailers(trailers), on_response_raw(data) (tunnel bytes after a 101) and
    on_upstream_reset(reset: StreamReset)."""

    def __init__(
        self, conn: Connection, on_idle: Callable[[ClientStreamConnection], None], max_headers: int = DEFAULT_MAX_HEADERS
    ) -> None:
        self.conn = conn
        self.on_idle = on_idle
        self.decoder = ResponseDecoder(self, max_headers=max_headers)
        self.receiver: Any = None
        self.requests = 0  # requests sent on this connection
        self.reused = False  # at least one earlier response completed on this connection
        self._request_done = True
        self._response_done = True
        self._chunked = False
        self._reusable = True
        self._head: ResponseHead | None = None
        self.host: Any = None  # the upstream host this connection belongs to (set by the pool)
        conn.close_callbacks.append(self._on_close)

    @property
    def busy(self) -> bool:
        return self.receiver is not None

    # --- the ClientStream contract (api.streams): one request at a time owns the connection ---

    @property
    def write_paused(self) -> bool:
        return self.conn.write_paused

    # --- request side ------------------------------------------------------------------------

    def send_headers(
        self,
        receiver: Any,
        method: bytes,
        target: bytes,
        headers: list[tuple[bytes, bytes]],
        body_kind: int,
        end_stream: bool,
    ) -> None:
        self.receiver = receiver
        self.requests += 1
        self._request_done = end_stream
        self._response_done = False
        self._reusable = True
        self._chunked = body_kind == BODY_CHUNKED and not end_stream
        if self._chunked:
            headers.append((b"transfer-encoding", b"chunked"))
        self.decoder.expect(method == b"HEAD")
        self.conn.write(encode_request_head(method, target, headers))

    def send_data(self, data: bytes, end_stream: bool) -> None:
        if data:
            self.conn.write(encode_chunk(data) if self._chunked else data)
        if end_stream:
            if self._chunked:
                self.conn.write(b"0\r\n\r\n")
            self._request_finished()

    def send_trailers(self, trailers: list[tuple[bytes, bytes]]) -> None:
        self.conn.write(encode_last_chunk(trailers) if self._chunked else b"")
        self._request_finished()

    def send_raw(self, data: bytes) -> None:
        self.conn.write(data)

    def _request_finished(self) -> None:
        self._request_done = True
        if self._response_done:
            self._finish()

    def reset(self) -> None:
        """Abandon the current request: the connection cannot be reused."""
        self.receiver = None
        self._reusable = False
        self.conn.abort()

    # --- read filter -------------------------------------------------------------------------

    def on_new_connection(self) -> FilterStatus:
        return _FILTER_CONTINUE

    def on_data(self, data: bytes) -> FilterStatus:
        try:
            self.decoder.feed(data)
        except ProtocolError as error:
            self._fail(StreamReset(ResetSource.UPSTREAM, ResetKind.PROTOCOL_ERROR, error.reason))
        return _FILTER_STOP

    def on_eof(self) -> bool:
        try:
            self.decoder.feed_eof()
        except ProtocolError as error:  # closed mid-response: a termination, not bad bytes
            self._fail(StreamReset(ResetSource.UPSTREAM, ResetKind.CONNECTION_CLOSED, error.reason))
        return False

    # --- decoder sink ------------------------------------------------------------------------

    def on_response_head(self, head: ResponseHead) -> None:
        self._head = head
        if not head.keep_alive:
            self._reusable = False
        receiver = self.receiver
        if receiver is None:
            self._reusable = False
            self.conn.abort()  # a response nobody asked for: the connection is out of sync
            return
        receiver.on_response_head(head, head.body_kind == BODY_NONE and head.status != 101)

    def on_response_body(self, data: bytes) -> None:
        receiver = self.receiver
        if receiver is not None:
            receiver.on_response_data(data, False)

    def on_response_end(self, trailers: list | None, last: bytes) -> None:
        head = self._head
        receiver = self.receiver
        if head is not None and head.status == 101:
            self._reusable = False
            return  # the connection is a tunnel now; the receiver already has the head
        self._response_done = True
        if receiver is not None:
            if head is not None and head.body_kind == BODY_NONE:
                pass  # ended with the head
            elif trailers:
                receiver.on_response_trailers(trailers)
            else:
                receiver.on_response_data(last, True)
        if not self._request_done:
            # The server answered before reading the whole request: reuse would desynchronise.
            self._reusable = False
            self.receiver = None
            self.conn.close()
            return
        self._finish()

    def on_upgrade_data(self, data: bytes) -> None:
        receiver = self.receiver
        if receiver is not None:
            receiver.on_response_raw(data)

    def _finish(self) -> None:
        self.receiver = None
        # the exchange is over: its request's listener must not hear of the next one's
        # writes (the next try sets its own only if it sends a body)
        self.conn.watermark_listener = None
        if self._reusable and not self.conn.closed:
            self.reused = True
            if self.conn.reading_paused:
                # paused for a slow client whose response ended in the same read: the next
                # request's response must be read
                self.conn.resume_reading()
            self.on_idle(self)
        else:
            self.conn.close()

    def _fail(self, reset: StreamReset) -> None:
        receiver = self.receiver
        self.receiver = None
        self._reusable = False
        self.conn.abort()
        if receiver is not None:
            receiver.on_upstream_reset(reset)

    def _on_close(self, conn: Connection, exc: Exception | None) -> None:
        receiver = self.receiver
        self.receiver = None
        if receiver is not None:
            detail = "tunnel closed" if self.decoder.upgraded else "upstream connection closed" + (f": {exc}" if exc else "")
            receiver.on_upstream_reset(StreamReset(ResetSource.UPSTREAM, ResetKind.CONNECTION_CLOSED, detail))


if TYPE_CHECKING:  # mypy checks that the class keeps the contract

    def _keeps_contract(client: ClientStreamConnection) -> ClientStream:
        return client
