"""Client side of an HTTP/2 upstream connection: one h2 connection, many streams.

The pool hands each request an `Http2ClientStream`, which offers what the proxy's downstream
stream calls on an HTTP/1.1 client connection (send_headers/data/trailers, reset, `conn`,
`reused`), so HTTP/1.1 requests are converted here and not in the proxy. Flow control both
ways: request bytes the upstream's windows cannot take yet wait in a bounded per-stream
buffer (above it, the stream's watermark listener pauses the downstream), and response DATA
is acknowledged only while the downstream keeps up, so a slow client throttles its own stream
and no other. An upstream that sends frames we must answer (PING, SETTINGS) but does not read
the answers is cut off past Envoy's outbound bounds (protocol/http2/flood.py)."""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any, NamedTuple

from pymosn.api.errors import ResetKind, ResetSource, StreamReset, UpstreamFailure
from pymosn.api.filter import FilterStatus
from pymosn.api.streams import ClientStream, WatermarkListener
from pymosn.network.connection import Connection
from pymosn.protocol.http1 import BODY_NONE
from pymosn.protocol.http2.fast_client import FastClientCodec
from pymosn.protocol.http2.flood import Flood, OutboundQueue
from pymosn.protocol.http2.frame_writer import Http2ConnectionError, SendError
from pymosn.protocol.http2.frames import CANCEL, ENHANCE_YOUR_CALM, PROTOCOL_ERROR, REFUSED_STREAM, error_name
from pymosn.protocol.http2.headers import MalformedHeaders
from pymosn.protocol.http2.upstream_conversion import (
    request_headers,
    response_head,
    response_trailers,
    trailer_fields,
)

# Per-stream receive window: what one stream may have in flight towards a slow client.
STREAM_WINDOW = 256 * 1024
CONNECTION_WINDOW = 4 * 1024 * 1024


class Http2ClientSettings(NamedTuple):
    """What a cluster asks of its HTTP/2 connections."""

    max_concurrent_streams: int = 0  # our cap per connection, below the server's; 0 = none
    stream_window: int = STREAM_WINDOW
    connection_window: int = CONNECTION_WINDOW
    max_frame_size: int = 16384  # the largest frame we accept
    max_headers_count: int = 100  # fields a response (or its trailers) may have; over it, a reset
    max_outbound_frames: int = 10000  # queued above the write watermark (Envoy's bounds)
    max_outbound_control_frames: int = 1000
    max_empty_frames: int = 1  # consecutive DATA/HEADERS/CONTINUATION without payload or end (Envoy's)


DEFAULT_SETTINGS = Http2ClientSettings()
_UNLIMITED = 2**31
_FLOOD_CLOSE_DELAY = 1.0  # as the downstream side: Envoy's delayed_close_timeout
_NO_TUNNELS = StreamReset(ResetSource.LOCAL, ResetKind.UNSUPPORTED,
                          "upgrade tunnels are not supported to an HTTP/2 upstream")


def _upstream(kind: ResetKind, detail: str) -> StreamReset:
    return StreamReset(ResetSource.UPSTREAM, kind, detail)


class Http2ClientConnection:
    """Read filter of one upstream connection. `owner` (the pool) is told on_h2_ready(client)
    when the server's first SETTINGS arrive, on_h2_capacity(client, settings_changed) when a
    stream slot frees or the server changes its SETTINGS, and on_h2_goaway(client) when no new
    stream may start."""

    def __init__(self, conn: Connection, owner: Any, *, scheme: bytes, authority: bytes, max_streams: int = 0,
                 settings: Http2ClientSettings = DEFAULT_SETTINGS, idle_timeout: float = 0.0,
                 stats: Any = None) -> None:
        self.conn = conn
        self.owner = owner
        self.scheme = scheme
        self.authority = authority  # for requests without a Host header
        self.max_streams = max_streams  # streams over the connection's life; 0 = unlimited
        self.settings = settings
        self.codec = FastClientCodec(self, stream_window=settings.stream_window,
                                     connection_window=settings.connection_window,
                                     max_frame_size=settings.max_frame_size,
                                     max_empty_frames=settings.max_empty_frames)
        self.streams: dict[int, Http2ClientStream] = {}  # started streams by id
        self.reserved = 0  # streams handed out and not yet released, started or not
        self.started = 0  # streams ever handed out
        self.ready = False
        self.draining = False  # GOAWAY received or sent, or the stream budget spent
        self.closed = False
        self.goaway_sent = False
        self.windows_grew = False  # a window grew while reading: blocked streams go on after it
        self.blocked: set[Http2ClientStream] = set()  # streams with request bytes waiting
        self.settings_timer: Any = None  # the pool's deadline for the server's SETTINGS
        # Envoy's meaning of an upstream idle timeout: no stream for that long, not no bytes
        # (a quiet gRPC stream must not lose its connection)
        self.idle_timeout = idle_timeout
        self._idle_timer: Any = None
        self.handshake_failure: UpstreamFailure | None = None  # set by the pool's SETTINGS deadline
        self.stats = stats  # the cluster's
        self.outbound = OutboundQueue(settings.max_outbound_frames, settings.max_outbound_control_frames)
        conn.watermark_listener = self
        conn.close_callbacks.append(self._on_close)

    def start(self) -> None:
        self.codec.start()
        self.flush()

    def flush(self) -> None:
        data = self.codec.data_to_send()
        if data:
            if self.conn.write_paused and not self.draining:
                flood = self.outbound.queue(data)
                if flood is not None:
                    self._flooded(flood)
                    return
            self.conn.write(data)

    def _flooded(self, flood: Flood) -> None:
        """The upstream does not read what its frames make us send: GOAWAY behind what is
        queued, and the connection closed within a second. The streams hear of it on the next
        loop turn (this may run inside a stream's send)."""
        if self.stats is not None:
            setattr(self.stats, flood.value, getattr(self.stats, flood.value) + 1)
        self.draining = True
        conn = self.conn
        self.goaway_sent = True
        self.codec.goaway(ENHANCE_YOUR_CALM, b"frames not read")
        conn.write(self.codec.data_to_send())  # behind what is queued: the queue is not flushed
        conn.close()
        conn.loop.call_later(_FLOOD_CLOSE_DELAY, conn.abort)
        conn.loop.call_soon(self._reset_all, _upstream(ResetKind.PROTOCOL_ERROR, "upstream HTTP/2 flood: " + flood.name))

    # --- capacity -----------------------------------------------------------------------------

    def available(self) -> int:
        """Streams that may start on this connection now."""
        if not self.ready or self.draining or self.closed:
            return 0
        limit = min(self.codec.remote_max_concurrent_streams, _UNLIMITED)
        if self.settings.max_concurrent_streams:
            limit = min(limit, self.settings.max_concurrent_streams)
        free = limit - self.reserved
        if self.max_streams:
            free = min(free, self.max_streams - self.started)
        return free

    def new_stream(self) -> Http2ClientStream:
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
        self.reserved += 1
        self.started += 1
        if self.max_streams and self.started >= self.max_streams:
            self.draining = True  # the budget is spent: close once these streams finish
        return Http2ClientStream(self)

    def release(self, stream: Http2ClientStream) -> None:
        if stream.released:
            return
        stream.released = True
        stream.watermark_listener = None  # the upstream request, which holds the stream: no cycle left
        self.reserved -= 1
        if stream.stream_id:
            self.streams.pop(stream.stream_id, None)
        self.blocked.discard(stream)
        if self.closed:
            return
        if self.draining and not self.reserved:
            self.goaway()
            self.conn.close()
            return
        self.owner.on_h2_capacity(self)
        self.arm_idle_timer()

    def arm_idle_timer(self) -> None:
        if self.idle_timeout and not self.reserved and not self.closed and self._idle_timer is None:
            self._idle_timer = self.conn.loop.call_later(self.idle_timeout, self._idle)

    def _idle(self) -> None:
        self._idle_timer = None
        if not self.reserved and not self.closed:
            self.draining = True
            self.goaway()
            self.conn.close()

    def goaway(self) -> None:
        if not self.closed and not self.conn.closed and not self.goaway_sent:
            self.goaway_sent = True
            self.codec.goaway()
            self.flush()

    # --- read filter ------------------------------------------------------------------------

    def on_new_connection(self) -> FilterStatus:
        return FilterStatus.CONTINUE

    def on_data(self, data: bytes) -> FilterStatus:
        try:
            self.codec.receive(data)
        except Http2ConnectionError as error:
            self.goaway_sent = True
            self.flush()  # the codec has queued the GOAWAY telling the server why
            self._fail(_upstream(ResetKind.PROTOCOL_ERROR, f"upstream HTTP/2 protocol error: {error.reason}"))
            return FilterStatus.STOP
        if self.windows_grew:
            # once per read, not per WINDOW_UPDATE: a stream's and the connection's often
            # arrive together, and the first alone would leave the stream blocked again
            self.windows_grew = False
            self._unblock()
        self.flush()
        return FilterStatus.STOP

    def on_eof(self) -> bool:
        return False

    # --- what the codec tells (FastClientCodec's handler) ---------------------------------------

    def on_response(self, sid: int, fields: list, end_stream: bool) -> None:
        stream = self.streams.get(sid)
        if stream is not None:
            stream.on_head(fields, end_stream)

    def on_response_data(self, sid: int, data: bytes, flow_length: int, end_stream: bool) -> None:
        stream = self.streams.get(sid)
        if stream is None:
            if flow_length:
                self.codec.acknowledge_received_data(flow_length, sid)
            return
        stream.on_data(data, flow_length, end_stream)

    def on_response_trailers(self, sid: int, fields: list) -> None:
        stream = self.streams.get(sid)
        if stream is not None:
            stream.on_trailers(fields)

    def on_stream_reset(self, sid: int, code: int) -> None:
        stream = self.streams.get(sid)
        if stream is not None:
            stream.on_reset(code)

    def on_window_updated(self, sid: int) -> None:
        if self.blocked:
            self.windows_grew = True

    def on_remote_settings(self, first: bool, window_changed: bool) -> None:
        if first:
            self.ready = True
            self.owner.on_h2_ready(self)
        else:
            self.windows_grew = window_changed or self.windows_grew  # INITIAL_WINDOW_SIZE grew them all
            self.owner.on_h2_capacity(self, settings_changed=True)

    def on_ping_ack(self, data: bytes) -> None:
        pass  # we send no PING

    def on_header_block_started(self) -> None:
        pass  # the upstream's header blocks are bounded by the response timeouts

    def on_header_block_ended(self) -> None:
        pass

    def on_goaway(self, last_stream_id: int, code: int) -> None:
        """The server takes no new streams. Those it promised to finish go on; those above
        last_stream_id it never processed, so they are safe to retry elsewhere."""
        first = not self.draining
        self.draining = True
        for stream_id in [s for s in self.streams if s > last_stream_id]:
            stream = self.streams[stream_id]
            stream.reused = True
            stream.on_reset(REFUSED_STREAM)
        if first and not self.closed:
            self.owner.on_h2_goaway(self)
        if not self.reserved and not self.closed:
            self.conn.close()

    def _unblock(self) -> None:
        """Blocked streams send what the windows now allow."""
        if not self.blocked or self.conn.write_paused:
            return
        for stream in list(self.blocked):
            stream.send_pending()
        self.flush()

    # --- upstream write watermarks ----------------------------------------------------------

    def on_above_write_high_watermark(self) -> None:
        pass  # DATA stops: send_pending checks conn.write_paused, so bytes wait per stream

    def on_below_write_low_watermark(self) -> None:
        self.outbound.drained()
        self._unblock()

    # --- failure ------------------------------------------------------------------------------

    def _fail(self, reset: StreamReset) -> None:
        self.draining = True
        self.conn.close()  # not abort: the GOAWAY h2 queued tells the server why
        self._reset_all(reset)

    def _reset_all(self, reset: StreamReset) -> None:
        for stream in list(self.streams.values()):
            stream.fail(reset)

    def _on_close(self, conn: Connection, exc: Exception | None) -> None:
        self.closed = True
        self.draining = True
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
        detail = "upstream connection closed" + (f": {exc}" if exc else "")
        self._reset_all(_upstream(ResetKind.CONNECTION_CLOSED, detail))


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
            self._fail_soon(_upstream(ResetKind.CONNECTION_CLOSED, "upstream connection closed"))
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
        self.fail(_upstream(kind, f"upstream reset stream: {error_name(error_code)}"))

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
            receiver.on_upstream_reset(_upstream(ResetKind.PROTOCOL_ERROR,
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
            receiver.on_upstream_reset(_upstream(ResetKind.PROTOCOL_ERROR, f"malformed upstream response: {reason}"))

    def _fail_soon(self, reset: StreamReset) -> None:
        # Not from inside send_headers: the proxy is still setting this stream up.
        self.client.conn.loop.call_soon(self.fail, reset)


if TYPE_CHECKING:  # mypy checks that the class keeps the contract

    def _keeps_contract(stream: Http2ClientStream) -> ClientStream:
        return stream
