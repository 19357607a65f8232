"""One stream of a downstream HTTP/2 connection (`Http2Stream`): the api.streams.ServerStream
its receiver sends the response through, with per-stream flow control (the connection,
`stream/http2/server.py`, owns the codec and the streams; its docstring tells how pausing and
buffering work per stream)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from pymosn.api.streams import ServerStream, WatermarkListener
from pymosn.protocol.http2 import response_block, trailer_block
from pymosn.protocol.http2.fast_server import FastServerCodec
from pymosn.protocol.http2.h2_server import H2ServerCodec

if TYPE_CHECKING:
    from pymosn.stream.http2.server import Http2ServerConnection

SEND_ERRORS: Final = FastServerCodec.send_errors + H2ServerCodec.send_errors
NO_ERROR: Final = 0x0
INTERNAL_ERROR: Final = 0x2

_BUFFER_HIGH: Final = 256 * 1024  # response bytes one stream holds before its upstream is paused
_BUFFER_LOW: Final = 64 * 1024
_COALESCE_LIMIT: Final = 16 * 1024  # DATA held for the end that usually follows in the same read


class Http2Stream:
    """One stream: the ServerStream a receiver sends its response through and flow-controls
    (see the module docstring); `connection` is the TCP connection's record."""

    protocol = "HTTP/2"  # for a receiver that has no request head to read it from

    __slots__ = (
        "owner",
        "stream_id",
        "head",
        "receiver",
        "connection",
        "loop",
        "watermark_listener",
        "reading_paused",
        "unacked",
        "expected",
        "received",
        "buffer",
        "end_pending",
        "trailers_pending",
        "above_high",
        "deferred",
        "remote_ended",
        "local_ended",
        "responded",
        "closed",
    )

    def __init__(self, owner: Http2ServerConnection, stream_id: int, head: Any) -> None:
        self.owner = owner
        self.stream_id = stream_id
        self.head = head
        self.receiver: Any = None
        self.connection = owner.conn.info
        self.loop = owner.conn.loop
        self.watermark_listener: WatermarkListener | None = None
        self.reading_paused = False
        self.unacked = 0  # request bytes received while paused, not yet acknowledged
        self.expected = -1  # the request's content-length, if it has one
        self.received = 0  # request body bytes so far
        self.buffer = bytearray()
        self.end_pending = False  # the response ends once the buffer has gone out
        self.trailers_pending: list | None = None
        self.above_high = False
        self.deferred = False  # a _send_deferred is scheduled
        self.remote_ended = False  # the request has ended (END_STREAM received)
        self.local_ended = False  # the response has ended (END_STREAM sent)
        self.responded = False  # a response (or 1xx) head has gone out
        self.closed = False  # reset, either way

    # --- flow control and watermarks, per stream ----------------------------------------------

    def pause_reading(self) -> None:
        self.reading_paused = True

    def resume_reading(self) -> None:
        if not self.reading_paused:
            return
        self.reading_paused = False
        unacked, self.unacked = self.unacked, 0
        if unacked and not self.closed and not self.remote_ended:
            owner = self.owner
            try:
                # the stream's credit only: the connection's was given as the bytes came
                owner.codec.increment_flow_control_window(unacked, self.stream_id)
            except SEND_ERRORS:
                return  # the stream has ended meanwhile
            owner._flush_unless_receiving()

    def set_watermark_listener(self, listener: WatermarkListener | None) -> None:
        self.watermark_listener = listener

    def clear_watermark_listener(self, listener: WatermarkListener) -> None:
        if self.watermark_listener is listener:
            self.watermark_listener = None

    def close_after_response(self) -> None:
        """Nothing to do: HTTP/2 ends this stream, never the connection its neighbours use."""

    def close(self) -> None:
        self.reset()

    # --- the server surface ------------------------------------------------------------------

    def send_continue(self) -> None:
        if not self.closed:
            self.responded = True
            try:
                self.owner.codec.send_headers(self.stream_id, [(b":status", b"100")])
            except SEND_ERRORS:
                self._lost()
                return
            self.owner._flush_unless_receiving()

    def send_headers(
        self,
        status: int,
        headers: list[tuple[bytes, bytes]],
        body_kind: int,
        end_stream: bool,
        reason: bytes = b"",
    ) -> None:
        if self.closed:
            return
        if status == 101:
            self.reset()  # HTTP/2 has no Upgrade: the tunnel the upstream offers cannot be had
            return
        owner = self.owner
        self.responded = True
        try:
            if status < 200:
                owner.codec.send_headers(self.stream_id, response_block(status, headers))
            else:
                owner.codec.send_headers(self.stream_id, response_block(status, headers), end_stream)
                if end_stream:
                    self._response_sent()
        except SEND_ERRORS:
            self._lost()
            return
        owner._flush_unless_receiving()

    def send_data(self, data: bytes, end_stream: bool) -> None:
        if self.closed:
            return
        owner = self.owner
        if not end_stream and data and not self.buffer and len(data) <= _COALESCE_LIMIT:
            # An HTTP/1.1 upstream delivers a body and its end in separate calls, usually from
            # one read: held until the loop's next turn, they leave as one DATA frame with
            # END_STREAM instead of two, which costs h2 a whole send_data.
            self.buffer += data
            if not self.deferred:
                self.deferred = True
                owner.deferred.append(self)
                owner._flush_unless_receiving()
            return
        try:
            if not self.buffer and not owner.write_blocked:
                machine = owner.codec
                size = len(data)
                if size <= machine.max_outbound_frame_size and size <= machine.local_flow_control_window(self.stream_id):
                    machine.send_data(self.stream_id, data, end_stream)
                    if end_stream:
                        self._response_sent()
                    owner._flush_unless_receiving()
                    return
            self.buffer += data
            if end_stream:
                self.end_pending = True
            self._push()
        except SEND_ERRORS:
            self._lost()
            return
        if self.buffer:
            if end_stream:
                self._upstream_done()
            elif not self.above_high and len(self.buffer) > _BUFFER_HIGH:
                self.above_high = True
                listener = self.watermark_listener
                if listener is not None:
                    listener.on_above_write_high_watermark()
        owner._flush_unless_receiving()

    def send_trailers(self, trailers: list[tuple[bytes, bytes]]) -> None:
        if self.closed:
            return
        block = trailer_block(trailers)
        if not block:
            self.send_data(b"", True)
            return
        if self.buffer:
            self.trailers_pending = block  # trailers follow the last DATA frame
            self._upstream_done()
            try:
                self._push()
            except SEND_ERRORS:
                self._lost()
                return
            self.owner._flush_unless_receiving()
            return
        try:
            self.owner.codec.send_headers(self.stream_id, block, True)
            self._response_sent()
        except SEND_ERRORS:
            self._lost()
            return
        self.owner._flush_unless_receiving()

    def send_raw(self, data: bytes) -> None:
        self.reset()  # tunnel bytes: see send_headers(101)

    def reset(self) -> None:
        """The response cannot be completed (the upstream failed after the head was sent)."""
        self._reset(INTERNAL_ERROR)

    # --- internals ---------------------------------------------------------------------------

    def _reset(self, code) -> None:
        if self.closed:
            return
        self.closed = True
        self.buffer = bytearray()
        owner = self.owner
        try:
            owner.codec.reset_stream(self.stream_id, code)
        except SEND_ERRORS:
            pass  # already closed in h2's view: nothing to tell the client
        owner._stream_done(self)
        owner._flush_unless_receiving()

    def _push(self, one_frame: bool = False) -> bool:
        """Sends what the windows allow of the buffer (and the end after it); True if any."""
        owner = self.owner
        machine = owner.codec
        sid = self.stream_id
        buffer = self.buffer
        sent = False
        while buffer and not owner.write_blocked:
            size = min(len(buffer), machine.local_flow_control_window(sid), machine.max_outbound_frame_size)
            if size <= 0:
                break
            whole = size == len(buffer)
            last = whole and self.end_pending and self.trailers_pending is None
            if whole:  # (the usual case: no slice made, and no bytes moved down)
                chunk = bytes(buffer)
                buffer = self.buffer = bytearray()
            else:
                chunk = bytes(buffer[:size])
                del buffer[:size]
            machine.send_data(sid, chunk, last)
            sent = True
            if last:
                self._response_sent()
                return True
            if one_frame:
                break
        if buffer:
            owner.blocked[sid] = self
        else:
            owner.blocked.pop(sid, None)
            if self.trailers_pending is not None:
                machine.send_headers(sid, self.trailers_pending, True)
                self.trailers_pending = None
                self._response_sent()
                return True
            if self.end_pending and not self.local_ended:
                machine.send_data(sid, b"", True)
                self._response_sent()
                return True
        if self.above_high and len(buffer) < _BUFFER_LOW:
            self.above_high = False
            listener = self.watermark_listener
            if listener is not None:
                listener.on_below_write_low_watermark()
        return sent

    def _send_deferred(self) -> None:
        self.deferred = False
        if self.closed or not self.buffer or self.local_ended:
            return
        try:
            self._push()
        except SEND_ERRORS:
            self._lost()

    def _lost(self) -> None:
        """h2 refused to send: the client reset the stream in frames not dispatched yet. The
        receiver hears of it from that StreamReset event, or, should none come, just after."""
        self.closed = True
        self.buffer = bytearray()
        self.owner.blocked.pop(self.stream_id, None)
        self.loop.call_soon(self.owner._reap, self)

    def _upstream_done(self) -> None:
        """The whole response is in our buffer: its upstream connection must not stay paused
        (it goes back to the pool, and the receiver forgets it)."""
        if self.above_high:
            self.above_high = False
            listener = self.watermark_listener
            if listener is not None:
                listener.on_below_write_low_watermark()

    def _response_sent(self) -> None:
        self.local_ended = True
        self.end_pending = False
        owner = self.owner
        if not self.remote_ended:
            # 8.1: a complete response ends the exchange; the rest of the body is not wanted
            self.closed = True
            owner.codec.reset_stream(self.stream_id, NO_ERROR)
        owner._stream_done(self)


if TYPE_CHECKING:  # mypy checks that the class keeps the contract

    def _keeps_contract(stream: Http2Stream) -> ServerStream:
        return stream
