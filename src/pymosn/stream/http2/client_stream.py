"""One request/response exchange on an HTTP/2 upstream connection (stream/http2/client.py
holds the connection): what the proxy sends, converted from its HTTP/1.1 form; what the
server answers, checked and converted back; per-stream flow control both ways."""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any

from pymosn.api.errors import ResetKind, ResetSource, StreamReset
from pymosn.api.streams import ClientStream, WatermarkListener
from pymosn.protocol.http1 import BODY_NONE
from pymosn.protocol.http2.frame_writer import SendError
from pymosn.protocol.http2.frames import CANCEL, PROTOCOL_ERROR, REFUSED_STREAM, error_name
from pymosn.protocol.http2.headers import MalformedHeaders
from pymosn.protocol.http2.upstream_conversion import (
    request_headers,
    response_head,
    response_trailers,
    trailer_fields,
)

if TYPE_CHECKING:
    from pymosn.stream.http2.client import Http2ClientConnection

_NO_TUNNELS = StreamReset(ResetSource.LOCAL, ResetKind.UNSUPPORTED,
                          "upgrade tunnels are not supported to an HTTP/2 upstream")


def upstream_reset(kind: ResetKind, detail: str) -> StreamReset:
    return StreamReset(ResetSource.UPSTREAM, kind, detail)


class Http2ClientStream:
    """One request/response exchange on an HTTP/2 upstream connection (api.streams'
    ClientStream): `connection` is the TCP connection's record; pause_reading /
    resume_reading and the watermark listener concern this stream only."""

    __slots__ = (
        "client",
        "connection",
        "receiver",
        "stream_id",
        "reused",
        "released",
        "request_done",
        "response_done",
        "pending",
        "pending_bytes",
        "pending_end",
        "pending_trailers",
        "above_limit",
        "paused",
        "unacked",
        "watermark_listener",
    )

    def __init__(self, client: Http2ClientConnection) -> None:
        self.client = client
        self.connection = client.conn.info
        self.receiver: Any = None
        self.stream_id = 0
        self.reused = False  # the server never processed it: safe to retry elsewhere
        self.released = False
        self.request_done = False
        self.response_done = False
        self.pending: deque[bytes | memoryview] = deque()
        self.pending_bytes = 0
        self.pending_end = False
        self.pending_trailers: list | None = None
        self.above_limit = False
        self.paused = False
        self.unacked = 0
        self.watermark_listener: WatermarkListener | None = None

    # --- request side (called by the proxy) ---------------------------------------------------

    def send_headers(self, receiver: Any, method: bytes, target: bytes, headers: list, body_kind: int,
                     end_stream: bool) -> None:
        self.receiver = receiver
        client = self.client
        if client.closed:
            self._fail_soon(upstream_reset(ResetKind.CONNECTION_CLOSED, "upstream connection closed"))
            return
        if body_kind == BODY_NONE and not end_stream:
            # Only an Upgrade request has no body yet does not end: a tunnel HTTP/2 has no form for.
            self._fail_soon(_NO_TUNNELS)
            return
        try:
            fields = request_headers(method, target, headers, client.scheme, client.authority)
            stream_id = client.codec.open_stream(fields, end_stream)
        except SendError as error:
            # this connection cannot take the stream (ids spent, or its state forbids one)
            self._fail_soon(StreamReset(ResetSource.LOCAL, ResetKind.REFUSED, f"upstream HTTP/2 error: {error}"))
            return
        self.stream_id = stream_id
        client.streams[stream_id] = self
        self.request_done = end_stream
        client.flush()

    def send_data(self, data: bytes, end_stream: bool) -> None:
        if self.released or not self.stream_id:
            return
        if data:
            self.pending.append(data)
            self.pending_bytes += len(data)
        if end_stream:
            self.pending_end = True
        self.send_pending()
        self.client.flush()

    def send_trailers(self, trailers: list) -> None:
        if self.released or not self.stream_id:
            return
        self.pending_trailers = trailer_fields(trailers)
        self.pending_end = True
        self.send_pending()
        self.client.flush()

    def send_raw(self, data: bytes) -> None:
        # Tunnels (Upgrade) have no HTTP/2 form here: the request cannot go on.
        receiver = self.receiver
        self.reset()
        if receiver is not None:
            receiver.on_upstream_reset(_NO_TUNNELS)

    def send_pending(self) -> None:
        """Sends what the windows allow; what is left waits, bounded."""
        client = self.client
        codec = client.codec
        stream_id = self.stream_id
        pending = self.pending
        try:
            if pending and not client.conn.write_paused:
                window = codec.local_flow_control_window(stream_id)
                frame = codec.max_outbound_frame_size
                while pending and window > 0:
                    chunk = pending[0]
                    size = min(len(chunk), window, frame)
                    if size < len(chunk):
                        # memoryview: a big chunk sent frame by frame is not copied per frame
                        view = chunk if type(chunk) is memoryview else memoryview(chunk)
                        pending[0] = view[size:]
                        chunk = view[:size]
                    else:
                        pending.popleft()
                    last = not pending and self.pending_end and self.pending_trailers is None
                    codec.send_data(stream_id, chunk, last)
                    self.pending_bytes -= size
                    window -= size
                    if last:
                        self.request_done = True
            if not pending and self.pending_end and not self.request_done:
                if self.pending_trailers is not None:
                    codec.send_headers(stream_id, self.pending_trailers, True)
                else:
                    codec.end_stream(stream_id)
                self.request_done = True
        except SendError:  # the stream was reset meanwhile
            pending.clear()
            self.pending_bytes = 0
            self.request_done = True
        self._watermarks()
        if self.request_done and self.response_done:
            client.release(self)

    def _watermarks(self) -> None:
        limit = self.client.conn.buffer_limit
        if self.pending:
            self.client.blocked.add(self)
        else:
            self.client.blocked.discard(self)
        listener = self.watermark_listener
        if self.pending_bytes > limit:
            # Level-triggered: whoever resumed the sender since (the proxy does after replaying
            # a held body) is paused again as more bytes arrive.
            self.above_limit = True
            if listener is not None:
                listener.on_above_write_high_watermark()
        elif self.above_limit and self.pending_bytes <= limit // 2:
            self.above_limit = False
            if listener is not None:
                listener.on_below_write_low_watermark()

    def reset(self) -> None:
        """The proxy abandons the request: the upstream sees RST_STREAM(CANCEL)."""
        self.receiver = None
        if self.released:
            return
        client = self.client
        if self.stream_id and not client.closed:
            try:
                client.codec.reset_stream(self.stream_id, CANCEL)
            except SendError:
                pass  # closed at both ends already
            client.flush()
        client.release(self)

    def on_idle(self, _stream: Any) -> None:
        """The requester was gone when the stream was handed to it."""
        self.reset()

    # --- per-stream flow control and watermarks -------------------------------------------------

    @property
    def write_paused(self) -> bool:
        return self.above_limit

    def set_watermark_listener(self, listener: WatermarkListener | None) -> None:
        self.watermark_listener = listener

    def pause_reading(self) -> None:
        self.paused = True

    def resume_reading(self) -> None:
        if not self.paused:
            return
        self.paused = False
        unacked, self.unacked = self.unacked, 0
        client = self.client
        if unacked and not self.released and not client.closed:
            try:
                client.codec.increment_flow_control_window(unacked, self.stream_id)
            except SendError:
                return
            client.flush()

    # --- response side (called by the connection) ---------------------------------------------

    def on_head(self, fields: list, end_stream: bool) -> None:
        if len(fields) > self.client.settings.max_headers_count:
            self._over_header_limit("header")
            return
        try:
            head = response_head(fields, end_stream)
        except MalformedHeaders as error:
            self._malformed(error.reason)
            return
        receiver = self.receiver
        if end_stream:
            self._response_ended()
        if receiver is not None:
            receiver.on_response_head(head, end_stream)

    def on_data(self, data: bytes, flow_length: int, end_stream: bool) -> None:
        receiver = self.receiver
        if end_stream:
            self._response_ended()
        if receiver is not None:
            receiver.on_response_data(data, end_stream)
        if flow_length:
            codec = self.client.codec
            if self.paused and not end_stream:
                # The client is slow: give the connection window back (other streams go on)
                # but hold this stream's until it catches up.
                self.unacked += flow_length
                codec.increment_flow_control_window(flow_length)
            else:
                codec.acknowledge_received_data(flow_length, self.stream_id)

    def on_trailers(self, fields: list) -> None:
        if len(fields) > self.client.settings.max_headers_count:
            self._over_header_limit("trailer")
            return
        try:
            trailers = response_trailers(fields)
        except MalformedHeaders as error:
            self._malformed(error.reason)
            return
        receiver = self.receiver
        self._response_ended()
        if receiver is not None:
            receiver.on_response_trailers(trailers)

    def _response_ended(self) -> None:
        self.response_done = True
        self.receiver = None
        if self.request_done:
            self.client.release(self)
        else:
            self.reset()  # the server answered without reading the whole request: stop sending it

    def on_reset(self, error_code: int) -> None:
        kind = ResetKind.RESET
        if error_code == REFUSED_STREAM:
            self.reused = True  # RFC 9113 8.7: not processed, safe to retry
            kind = ResetKind.REFUSED
        self.fail(upstream_reset(kind, f"upstream reset stream: {error_name(error_code)}"))

    def fail(self, reset: StreamReset) -> None:
        receiver = self.receiver
        self.receiver = None
        self.client.release(self)
        if receiver is not None and not self.response_done:
            receiver.on_upstream_reset(reset)

    def _over_header_limit(self, kind: str) -> None:
        """More fields than the cluster's max_response_headers_count: an upstream protocol
        error (as Envoy's codec treats it); the stream is reset, the proxy answers 502."""
        receiver = self.receiver
        self.reset()
        if receiver is not None:
            limit = self.client.settings.max_headers_count
            receiver.on_upstream_reset(upstream_reset(ResetKind.PROTOCOL_ERROR,
                                                 f"upstream response has more than {limit} {kind} fields"))

    def _malformed(self, reason: str) -> None:
        """A response RFC 9113 calls malformed: RST_STREAM(PROTOCOL_ERROR) to the server, and
        the proxy answers 502 (Envoy's upstream protocol error)."""
        receiver = self.receiver
        self.receiver = None
        client = self.client
        if not self.released and not client.closed:
            try:
                client.codec.reset_stream(self.stream_id, PROTOCOL_ERROR)
            except SendError:
                pass
            client.flush()
        client.release(self)
        if receiver is not None:
            receiver.on_upstream_reset(upstream_reset(ResetKind.PROTOCOL_ERROR, f"malformed upstream response: {reason}"))

    def _fail_soon(self, reset: StreamReset) -> None:
        # Not from inside send_headers: the proxy is still setting this stream up.
        self.client.conn.loop.call_soon(self.fail, reset)


if TYPE_CHECKING:  # mypy checks that the class keeps the contract

    def _keeps_contract(stream: Http2ClientStream) -> ClientStream:
        return stream
