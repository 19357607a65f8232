"""Server side of a downstream HTTP/2 connection: one h2 state machine, many streams, each a
request/response exchange driven by its own receiver (a `proxy.ActiveStream`).

`Http2Stream` implements api.streams.ServerStream for one stream, with per-stream meaning
where the shared connection would be wrong:

- `pause_reading()` stops acknowledging the stream's request DATA, so its window closes and
  the client stops sending on it; the connection window is credited at once, so a stream whose
  upstream is slow never stalls the others (the memory it can hold is its own window).
- response DATA the client's windows cannot take yet (or that the TCP connection cannot, above
  its write watermark) waits in the stream's buffer; above a high mark the stream's watermark
  listener (the receiver) pauses its upstream connection, below a low mark it resumes it
  (`stream/http2/server_stream.py`).

The HTTP/2 framing is a sans-IO codec: `protocol.http2.fast_server` (ours, the default) or
`protocol.http2.h2_server` (over h2, the oracle), chosen by PYMOSN_HTTP2_SERVER=fast|h2.

Drain (SIGTERM, hot upgrade) is the two-step GOAWAY: first "stop opening streams" with the
largest stream id and a PING; once the PING comes back every stream the client opened before
it saw the GOAWAY has arrived, and the final GOAWAY names the last one we serve. Those
finish; then the connection closes."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any, Final

from pymosn.api.errors import (
    DOWNSTREAM_CLOSED,
    DOWNSTREAM_RESET,
    ProtocolError,
    StreamReset,
    downstream_protocol_error,
)
from pymosn.api.filter import FilterStatus
from pymosn.network.connection import Connection
from pymosn.protocol.http1.head import BODY_LENGTH
from pymosn.protocol.http2 import (
    Http2Settings,
    MalformedHeaders,
    checked_trailers,
    request_head,
)
from pymosn.protocol.http2.fast_server import FastServerCodec, Http2ConnectionError
from pymosn.protocol.http2.frames import MAX_STREAM_ID, goaway
from pymosn.protocol.http2.h2_server import H2ServerCodec
from pymosn.stream.http2.flood_guard import FloodGuard
from pymosn.stream.http2.server_stream import INTERNAL_ERROR, NO_ERROR, SEND_ERRORS, Http2Stream

log = logging.getLogger("pymosn.http2")
CODECS = {"fast": FastServerCodec, "h2": H2ServerCodec}
_CHOICE = os.environ.get("PYMOSN_HTTP2_SERVER", "fast").strip().lower() or "fast"
if _CHOICE not in CODECS:
    raise ValueError(f"PYMOSN_HTTP2_SERVER={_CHOICE!r}: must be one of {', '.join(CODECS)}")
DEFAULT_CODEC = CODECS[_CHOICE]
_PROTOCOL_ERROR: Final = 0x1
_REFUSED_STREAM: Final = 0x7
_ENHANCE_YOUR_CALM: Final = 0xB

_DRAIN_PING: Final = b"pymosnDR"  # opaque data of the drain PING (8 bytes)
_DRAIN_PING_TIMEOUT: Final = 2.0
# Rapid reset (CVE-2023-44487): streams opened and reset before any response each cost an
# upstream request. Past this many, if they are most of the connection's streams, it ends.
_PREMATURE_RESETS: Final = 100  # a client that never answers the PING still gets the final GOAWAY


class Http2ServerConnection:
    """Read filter on a downstream connection speaking HTTP/2. stream_factory(stream, head)
    -> receiver with on_headers(head, end_stream), on_data(data, end_stream),
    on_trailers(trailers) and on_reset(reset: StreamReset). A request refused before it could
    start (malformed or oversized head, CONNECT) gets a receiver too, told
    on_bad_request(head or None, reset): it answers when reset.status says the stream can
    still take a response, and accounts the request as one stream either way."""

    def __init__(
        self,
        conn: Connection,
        stream_factory: Callable[[Http2Stream, Any], Any],
        settings: Http2Settings,
        stats: Any = None,
        on_protocol_error: Callable[[ProtocolError], None] | None = None,
        codec: type | None = None,
    ) -> None:
        self.conn = conn
        self.stream_factory = stream_factory
        self.settings = settings
        self.stats = stats
        self.on_protocol_error = on_protocol_error
        self.codec = (codec or DEFAULT_CODEC)(settings, self)
        self.streams: dict[int, Http2Stream] = {}
        self.blocked: dict[int, Http2Stream] = {}  # streams holding DATA the windows cannot take
        self.write_blocked = False  # the TCP connection is above its write watermark
        self.draining = False
        self.last_stream_id: int | None = None  # after the final GOAWAY: newer streams are refused
        self.peer_gone = False  # the client sent GOAWAY
        self.closing = False
        self._in_receive = False
        self._flush_scheduled = False
        self.deferred: list[Http2Stream] = []  # streams holding a DATA chunk for the next flush
        self._ping_timer: Any = None
        self._counted = False  # in downstream_cx_http2_active
        self.opened = 0  # streams that reached a receiver
        self.premature_resets = 0  # of those, reset by the client before a response started
        self.flood_guard = FloodGuard(self, settings)
        conn.close_callbacks.append(self._on_close)
        conn.watermark_listener = self

    # --- read filter -------------------------------------------------------------------------

    def on_new_connection(self) -> FilterStatus:
        self.codec.start()
        self._flush()
        stats = self.stats
        if stats is not None:
            self._counted = True
            stats.downstream_cx_http2_total += 1
            stats.downstream_cx_http2_active += 1
        return FilterStatus.CONTINUE

    def on_data(self, data: bytes) -> FilterStatus:
        if self.closing:
            return FilterStatus.STOP
        self._in_receive = True
        try:
            try:
                self.codec.receive(data)
            except Http2ConnectionError as error:
                self._connection_error(error)
                return FilterStatus.STOP
        except Exception:  # a bug of ours must cost this connection only, and be seen
            log.exception("HTTP/2 connection %s: unexpected error, closing it", self.conn.id)
            self._flush()
            self.conn.write(goaway(self.codec.highest_inbound_stream_id, INTERNAL_ERROR))
            self._close()
            return FilterStatus.STOP
        finally:
            self._in_receive = False
        self._flush_all()
        return FilterStatus.STOP

    def on_eof(self) -> bool:
        return False

    # --- codec events ------------------------------------------------------------------------

    def on_request(self, sid: int, fields: list, end_stream: bool) -> None:
        if (
            self.closing
            or (self.last_stream_id is not None and sid > self.last_stream_id)
            or len(self.streams) >= self.settings.max_concurrent_streams
        ):
            self.codec.reset_stream(sid, _REFUSED_STREAM)
            return
        try:
            settings = self.settings
            head = request_head(fields, end_stream, settings.max_header_list_size, settings.max_headers_count)
        except MalformedHeaders as error:
            self._stream_error(sid, error)
            self._bad_request(sid, None, downstream_protocol_error(error, answerable=False), end_stream)
            return
        except ProtocolError as over_limit:  # (its own name: see tests/unit/test_build.py)
            self._answer_locally(sid, None, over_limit, end_stream)
            return
        stats = self.stats
        if stats is not None:
            stats.downstream_rq_http2_total += 1
        if head.method == b"CONNECT":
            self._answer_locally(sid, head, ProtocolError("CONNECT is not supported", 501, "http2.codec_error"),
                                 end_stream)
            return
        stream = Http2Stream(self, sid, head)
        stream.remote_ended = end_stream
        if head.body_kind == BODY_LENGTH:
            stream.expected = head.content_length
        self.streams[sid] = stream
        self.opened += 1
        receiver = stream.receiver = self.stream_factory(stream, head)
        receiver.on_headers(head, end_stream)

    def on_request_data(self, sid: int, data: bytes, size: int, end_stream: bool) -> None:
        stream = self.streams.get(sid)
        codec = self.codec
        if stream is None or stream.remote_ended:
            if size:
                codec.acknowledge_received_data(size, sid)
            return
        if end_stream:
            stream.remote_ended = True
        if stream.expected >= 0:
            # 8.1.1: a body other than its content-length is malformed (h2 checks it itself)
            received = stream.received = stream.received + len(data)
            if received > stream.expected or (end_stream and received != stream.expected):
                if size:
                    codec.acknowledge_received_data(size, sid)
                self._malformed_body(stream, "request body length differs from its content-length")
                return
        stream.receiver.on_data(data, end_stream)
        if not size:
            return
        if stream.reading_paused and not stream.closed:
            # the connection window is credited now, the stream's once its upstream catches up
            codec.increment_flow_control_window(size)
            stream.unacked += size
        else:
            codec.acknowledge_received_data(size, sid)

    def on_request_trailers(self, sid: int, fields: list) -> None:
        stream = self.streams.get(sid)
        if stream is None or stream.remote_ended:
            return
        stream.remote_ended = True
        if stream.expected >= 0 and stream.received != stream.expected:
            self._malformed_body(stream, "request body shorter than its content-length")
            return
        try:
            trailers = checked_trailers(fields)
        except MalformedHeaders as error:
            self._malformed_body(stream, error.reason, error)
            return
        stream.receiver.on_trailers(trailers)

    def _malformed_body(self, stream: Http2Stream, reason: str, error: MalformedHeaders | None = None) -> None:
        # a body its content-length does not describe: Envoy's HTTP/2 codec logs the reset it
        # sends for it as a remote one
        error = error or MalformedHeaders(reason, DOWNSTREAM_RESET.details)
        self._stream_error(stream.stream_id, error)
        stream.closed = True
        self._stream_done(stream).on_reset(downstream_protocol_error(error, answerable=False))

    def on_stream_reset(self, sid: int, code: int) -> None:
        stream = self.streams.get(sid)
        if stream is None:
            return
        stream.closed = True
        self._stream_done(stream).on_reset(DOWNSTREAM_RESET)
        if not stream.responded:
            self.premature_resets += 1
            if self.premature_resets >= _PREMATURE_RESETS and 2 * self.premature_resets > self.opened:
                self._flush()
                self.conn.write(goaway(self.codec.highest_inbound_stream_id, _ENHANCE_YOUR_CALM,
                                       b"too many streams reset before their response"))
                self._close()

    def on_window_updated(self, sid: int) -> None:
        if sid == 0:
            self._push_blocked()
        else:
            stream = self.blocked.get(sid)
            if stream is not None:
                try:
                    stream._push()
                except SEND_ERRORS:
                    stream._lost()

    def on_header_block_started(self) -> None:
        self.flood_guard.header_block_started()

    def on_header_block_ended(self) -> None:
        self.flood_guard.header_block_ended()

    def on_ping_ack(self, data: bytes) -> None:
        if data == _DRAIN_PING:
            self._final_goaway()

    def on_goaway(self, last_stream_id: int, code: int) -> None:
        """The client is leaving. With NO_ERROR the streams it already opened still get their
        responses."""
        self.peer_gone = True
        if code == NO_ERROR and self.streams:
            return
        self._close()

    # --- errors ------------------------------------------------------------------------------

    def _stream_error(self, sid: int, error: ProtocolError) -> None:
        """A malformed request: RST_STREAM PROTOCOL_ERROR, the connection lives on (8.1.1)."""
        try:
            self.codec.reset_stream(sid, _PROTOCOL_ERROR)
        except SEND_ERRORS:
            pass  # closed already in the codec's view (the response had ended it)
        if self.on_protocol_error is not None:
            self.on_protocol_error(error)

    def _answer_locally(self, sid: int, head: Any, error: ProtocolError, end_stream: bool) -> None:
        """A request that never reaches the proxy (header list too large, CONNECT): its
        receiver answers with the error (the request body, if any, is refused once the
        response has ended)."""
        if self.on_protocol_error is not None:
            self.on_protocol_error(error)
        self._bad_request(sid, head, downstream_protocol_error(error), end_stream)

    def _bad_request(self, sid: int, head: Any, reset: StreamReset, end_stream: bool) -> None:
        stream = Http2Stream(self, sid, head)
        stream.remote_ended = end_stream
        if reset.status:
            self.streams[sid] = stream
        else:
            stream.closed = True  # reset already: there is nothing to answer on
        receiver = stream.receiver = self.stream_factory(stream, head)
        receiver.on_bad_request(head, reset)

    def _connection_error(self, error: Http2ConnectionError) -> None:
        """The codec found a connection error and queued its GOAWAY: send it, end every stream."""
        if error.flood is not None:
            self.flood_guard.count(error.flood)
            self.flood_guard.close_soon()  # the GOAWAY leaves with _close's flush
            return
        # (Envoy wrote no access-log line for a stream open at a connection error in our runs:
        # the details name is pymosn's, in its codec's style)
        protocol_error = ProtocolError("HTTP/2 connection error: " + error.reason, 400, "http2.codec_error")
        if self.on_protocol_error is not None:
            self.on_protocol_error(protocol_error)
        self._flush()
        self._close(downstream_protocol_error(protocol_error, answerable=False))

    # --- flow control ------------------------------------------------------------------------

    def _push_blocked(self) -> None:
        """Windows opened: streams with waiting DATA take turns, one frame each, so the first
        does not take the whole connection window."""
        blocked = self.blocked
        while blocked and not self.write_blocked and self.codec.outbound_flow_control_window > 0:
            progressed = False
            for stream in list(blocked.values()):
                try:
                    if stream._push(one_frame=True):
                        progressed = True
                except SEND_ERRORS:
                    stream._lost()
            if not progressed:
                break
        self._flush_unless_receiving()

    def on_above_write_high_watermark(self) -> None:
        self.write_blocked = True

    def on_below_write_low_watermark(self) -> None:
        self.write_blocked = False
        self.flood_guard.queue.drained()
        self._push_blocked()

    # --- drain -------------------------------------------------------------------------------

    def drain(self, close_idle: bool = True) -> None:
        """Graceful shutdown: GOAWAY, finish the streams in flight, close. HTTP/2 says "no more
        streams" explicitly, so an idle connection is told and closed the same way whatever
        `close_idle` asks (it matters for HTTP/1.1, where only a response can say it)."""
        if self.draining or self.closing:
            return
        self.draining = True
        self._flush()
        self.conn.write(goaway(MAX_STREAM_ID))
        self.codec.ping(_DRAIN_PING)
        self._flush_unless_receiving()
        self._ping_timer = self.conn.loop.call_later(_DRAIN_PING_TIMEOUT, self._final_goaway)

    def quiesce(self) -> None:
        """Hot upgrade: HTTP/2 connections are not handed over; GOAWAY sends the client to the
        new process for its next streams."""
        self.drain()

    def migration_state(self) -> None:
        return None  # HPACK tables and stream states live here: such a connection cannot move

    def _final_goaway(self) -> None:
        if self.last_stream_id is not None or self.closing:
            return
        if self._ping_timer is not None:
            self._ping_timer.cancel()
            self._ping_timer = None
        self.last_stream_id = self.codec.highest_inbound_stream_id
        self._flush()
        self.conn.write(goaway(self.last_stream_id))
        if not self.streams:
            self._close()

    # --- streams -----------------------------------------------------------------------------

    def _reap(self, stream: Http2Stream) -> None:
        if self.streams.get(stream.stream_id) is stream:
            self._stream_done(stream).on_reset(DOWNSTREAM_RESET)

    def _stream_done(self, stream: Http2Stream) -> Any:
        """The stream leaves the connection; returns its receiver, whom nothing of the stream's
        reaches any more, for a last word. (The receiver points back at the stream: kept, the
        pair would be a reference cycle, each request garbage for the cycle collector.)"""
        receiver = stream.receiver
        sid = stream.stream_id
        if self.streams.pop(sid, None) is None:
            return receiver
        stream.receiver = None
        self.blocked.pop(sid, None)
        if not self.streams and (self.last_stream_id is not None or self.peer_gone):
            self._close()
        return receiver

    def _flush(self) -> None:
        data = self.codec.data_to_send()
        if data:
            if self.write_blocked and not self.closing and self.flood_guard.floods(data):
                return
            self.conn.write(data)

    def _flush_unless_receiving(self) -> None:
        """Frames produced outside our own read (responses, from upstream reads) leave once
        per loop turn: the responses of many streams share one write."""
        if not self._in_receive and not self._flush_scheduled:
            self._flush_scheduled = True
            self.conn.loop.call_soon(self._scheduled_flush)

    def _scheduled_flush(self) -> None:
        self._flush_scheduled = False
        self._flush_all()

    def _flush_all(self) -> None:
        deferred = self.deferred
        if deferred:
            self.deferred = []
            for stream in deferred:
                stream._send_deferred()
        self._flush()

    def _close(self, reset: StreamReset = DOWNSTREAM_CLOSED) -> None:
        if self.closing:
            return
        self.closing = True
        self.codec.stop()
        self._flush()
        self.conn.close()  # pending writes (the GOAWAY) leave first
        self._reset_all(reset)

    def _reset_all(self, reset: StreamReset) -> None:
        streams = list(self.streams.values())
        self.streams.clear()
        self.blocked.clear()
        for stream in streams:
            stream.closed = True
            receiver, stream.receiver = stream.receiver, None  # (see _stream_done)
            receiver.on_reset(reset)

    def _on_close(self, conn: Connection, exc: Exception | None) -> None:
        self.closing = True
        if self._ping_timer is not None:
            self._ping_timer.cancel()
            self._ping_timer = None
        self.flood_guard.closed()
        self._reset_all(DOWNSTREAM_CLOSED)
        if self._counted:
            self._counted = False
            self.stats.downstream_cx_http2_active -= 1
