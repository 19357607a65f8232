"""Client side of an HTTP/2 upstream connection: one connection (our FastClientCodec), many
streams.

The pool hands each request an `Http2ClientStream` (client_stream.py), which offers what the
proxy's downstream stream calls on an HTTP/1.1 client connection (send_headers/data/trailers,
reset, `conn`, `reused`), so HTTP/1.1 requests are converted there and not in the proxy. Flow
control both ways: request bytes the upstream's windows cannot take yet wait in a bounded
per-stream buffer (above it, the stream's watermark listener pauses the downstream), and
response DATA is acknowledged only while the downstream keeps up, so a slow client throttles
its own stream and no other. An upstream that sends frames we must answer (PING, SETTINGS) but
does not read the answers is cut off past Envoy's outbound bounds (protocol/http2/flood.py)."""

from __future__ import annotations

from typing import Any, Final, NamedTuple

from pymosn.api.errors import ResetKind, StreamReset, UpstreamFailure
from pymosn.api.filter import FilterStatus
from pymosn.network.connection import Connection
from pymosn.protocol.http2.fast_client import FastClientCodec
from pymosn.protocol.http2.flood import Flood, OutboundQueue
from pymosn.protocol.http2.frame_writer import Http2ConnectionError
from pymosn.protocol.http2.frames import ENHANCE_YOUR_CALM, REFUSED_STREAM
from pymosn.stream.http2.client_stream import Http2ClientStream, upstream_reset

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
_UNLIMITED: Final = 2**31
_FLOOD_CLOSE_DELAY: Final = 1.0  # as the downstream side: Envoy's delayed_close_timeout
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
        conn.loop.call_soon(self._reset_all, upstream_reset(ResetKind.PROTOCOL_ERROR, "upstream HTTP/2 flood: " + flood.name))

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
            self._fail(upstream_reset(ResetKind.PROTOCOL_ERROR, f"upstream HTTP/2 protocol error: {error.reason}"))
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
        self._reset_all(upstream_reset(ResetKind.CONNECTION_CLOSED, detail))
