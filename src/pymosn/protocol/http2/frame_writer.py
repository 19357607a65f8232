"""The sending half of an HTTP/2 connection, either end: frames appended to one output buffer
the connection takes once per loop turn (`data_to_send`), the peer's flow-control windows, and
the credit we give back. The receiving half, and why neither is h2, is frame_codec.py."""

from __future__ import annotations

from typing import ClassVar, Final

from pymosn.protocol.http2.flood import Flood
from pymosn.protocol.http2.frames import (
    CONTINUATION,
    DATA,
    DEFAULT_WINDOW,
    END_HEADERS,
    END_STREAM,
    FRAME,
    FRAME_U32,
    HEADERS,
    NO_ERROR,
    PING,
    RST_STREAM,
    SETTING,
    SETTINGS,
    WINDOW_UPDATE,
    frame_header,
    goaway,
)
from pymosn.protocol.http2.hpack_encoder import HeaderEncoder

_RESET_MEMORY: Final = 4096  # streams we reset whose late frames are ignored, not answered


class Http2ConnectionError(Exception):
    """A connection error (RFC 9113 5.4.1); its GOAWAY is queued in the codec's output.
    `flood` names the flood bound it is, if it is one."""

    def __init__(self, code: int, reason: str, flood: Flood | None = None) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason
        self.flood = flood


class SendError(Exception):
    """A frame for a stream that is closed on our side, or beyond its windows."""


class Stream:
    """One stream's state. `head_seen`: the peer's head has arrived (a server's streams are
    made by one; a client's wait for the final response head), so DATA may follow (8.1)."""

    __slots__ = ("send", "recv", "pending", "remote_open", "local_open", "head_seen")

    def __init__(self, send: int, recv: int, remote_open: bool, head_seen: bool) -> None:
        self.send = send  # what the peer's windows let us send on it (stream part)
        self.recv = recv  # what the peer may still send on it
        self.pending = 0  # received and consumed, not yet credited back
        self.remote_open = remote_open
        self.local_open = True
        self.head_seen = head_seen


class FrameWriter:
    """What one connection sends, and the windows it sends within."""

    send_errors: ClassVar[tuple[type[Exception], ...]] = (SendError,)

    def __init__(self, *, stream_window: int, connection_window: int) -> None:
        self.encoder = HeaderEncoder()
        self.streams: dict[int, Stream] = {}
        self.highest_inbound_stream_id = 0
        self.max_outbound_frame_size = 16_384
        self.outbound_flow_control_window = DEFAULT_WINDOW  # the connection part of our send window
        self._peer_initial_window = DEFAULT_WINDOW
        self._stream_window = stream_window
        self._stream_threshold = stream_window // 2
        self._recv_window = DEFAULT_WINDOW  # what the peer may still send on the connection
        self._conn_window = max(DEFAULT_WINDOW, connection_window)
        self._recv_pending = 0
        self._reset_by_us: set[int] = set()
        # the frames to send, in pieces joined once per flush (appending to a list costs less
        # than growing a bytearray, compiled or not)
        self._out: list[bytes | memoryview] = []
        self._failed = False

    def _start(self, settings: dict[int, int]) -> None:
        """Our SETTINGS, and the connection window beyond the default."""
        payload = b"".join(SETTING.pack(k, v) for k, v in settings.items())
        out = self._out
        out.append(frame_header(len(payload), SETTINGS, 0, 0))
        out.append(payload)
        extra = self._conn_window - DEFAULT_WINDOW
        if extra > 0:
            out.append(FRAME_U32.pack(0, 4, WINDOW_UPDATE, 0, 0, extra))
            self._recv_window += extra

    def data_to_send(self) -> bytes:
        out = self._out
        if not out:
            return b""
        self._out = []
        return b"".join(out)

    def _write_headers(self, stream_id: int, stream: Stream, headers: list[tuple[bytes, bytes]],
                       end_stream: bool) -> None:
        flags = END_STREAM if end_stream else 0
        out = self._out
        at = len(out)
        out.append(b"")  # the frame header, once the block's size is known
        size = self.encoder.encode_into(out, headers)
        limit = self.max_outbound_frame_size
        if size <= limit:
            out[at] = frame_header(size, HEADERS, flags | END_HEADERS, stream_id)
        else:
            block = b"".join(out[at + 1 :])
            del out[at:]
            kind = HEADERS
            for pos in range(0, size, limit):
                piece = block[pos : pos + limit]
                last = END_HEADERS if pos + limit >= size else 0
                out.append(frame_header(len(piece), kind, flags | last, stream_id))
                out.append(piece)
                kind, flags = CONTINUATION, 0
        if end_stream:
            self._end_local(stream_id, stream)

    def send_headers(self, stream_id: int, headers: list[tuple[bytes, bytes]], end_stream: bool = False) -> None:
        """Headers (or trailers, with end_stream) on a stream already open."""
        stream = self.streams.get(stream_id)
        if stream is None or not stream.local_open:
            raise SendError(f"stream {stream_id} is closed")
        self._write_headers(stream_id, stream, headers, end_stream)

    def send_data(self, stream_id: int, data: bytes | memoryview, end_stream: bool = False) -> None:
        stream = self.streams.get(stream_id)
        if stream is None or not stream.local_open:
            raise SendError(f"stream {stream_id} is closed")
        size = len(data)
        if size > stream.send or size > self.outbound_flow_control_window or size > self.max_outbound_frame_size:
            raise SendError(f"{size} bytes are beyond the windows of stream {stream_id}")
        stream.send -= size
        self.outbound_flow_control_window -= size
        out = self._out
        out.append(FRAME.pack(size >> 16, size & 0xFFFF, DATA, END_STREAM if end_stream else 0, stream_id))
        if size:
            out.append(data)
        if end_stream:
            self._end_local(stream_id, stream)

    def end_stream(self, stream_id: int) -> None:
        """An empty DATA frame with END_STREAM: our side of the stream is done."""
        self.send_data(stream_id, b"", True)

    def local_flow_control_window(self, stream_id: int) -> int:
        stream = self.streams.get(stream_id)
        if stream is None or not stream.local_open:
            raise SendError(f"stream {stream_id} is closed")
        window = self.outbound_flow_control_window
        return stream.send if stream.send < window else window

    def reset_stream(self, stream_id: int, error_code: int = 0) -> None:
        if self.streams.pop(stream_id, None) is None:
            raise SendError(f"stream {stream_id} is closed")
        self._write_reset(stream_id, error_code)

    def acknowledge_received_data(self, size: int, stream_id: int) -> None:
        """The stream layer consumed `size` bytes: both windows get them back, once enough
        have gathered that a WINDOW_UPDATE is worth its frame (half a window)."""
        pending = self._recv_pending + size
        if pending >= self._conn_window >> 1:
            self._recv_pending = 0
            self._recv_window += pending
            self._out.append(FRAME_U32.pack(0, 4, WINDOW_UPDATE, 0, 0, pending))
        else:
            self._recv_pending = pending
        stream = self.streams.get(stream_id)
        if stream is not None and stream.remote_open:
            pending = stream.pending + size
            if pending >= self._stream_threshold:
                stream.pending = 0
                stream.recv += pending
                self._out.append(FRAME_U32.pack(0, 4, WINDOW_UPDATE, 0, stream_id, pending))
            else:
                stream.pending = pending

    def increment_flow_control_window(self, increment: int, stream_id: int | None = None) -> None:
        """Credit now, on the connection (no stream_id) or one stream only."""
        if stream_id:
            stream = self.streams.get(stream_id)
            if stream is None:
                raise SendError(f"stream {stream_id} is closed")
            if not stream.remote_open:
                return
            stream.recv += increment
        else:
            stream_id = 0
            self._recv_window += increment
        self._out.append(FRAME_U32.pack(0, 4, WINDOW_UPDATE, 0, stream_id, increment))

    def ping(self, opaque_data: bytes) -> None:
        out = self._out
        out.append(frame_header(8, PING, 0, 0))
        out.append(opaque_data)

    def goaway(self, code: int = NO_ERROR, debug: bytes = b"") -> None:
        """GOAWAY naming the last stream the peer opened that we take."""
        self._out.append(goaway(self.highest_inbound_stream_id, code, debug))

    def _end_local(self, sid: int, stream: Stream) -> None:
        stream.local_open = False
        if not stream.remote_open:
            del self.streams[sid]

    def _end_remote(self, sid: int, stream: Stream) -> None:
        stream.remote_open = False
        if not stream.local_open:
            del self.streams[sid]

    def _write_reset(self, sid: int, code: int) -> None:
        reset = self._reset_by_us
        if len(reset) >= _RESET_MEMORY:
            reset.clear()
        reset.add(sid)
        self._out.append(FRAME_U32.pack(0, 4, RST_STREAM, 0, sid, code))
