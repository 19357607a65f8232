"""The client side of an HTTP/2 connection, sans-IO, for the proxy's upstream connections
(the frame layer both ends share, and why it is not h2, is protocol/http2/frame_codec.py).

Streams are opened by `open_stream(headers, end_stream)`, which returns the stream id; the
rest of the sending side (`send_data`, `send_headers` for trailers, `end_stream`,
`reset_stream`, flow-control credit) is frame_codec's. Beyond frame_codec's calls the handler
receives on_response(sid, fields, end_stream) for the final response head (1xx heads are
read and dropped: the proxy answers 100-continue itself), on_response_data(sid, data,
flow_controlled_length, end_stream), on_response_trailers(sid, fields), and
on_remote_settings(first, window_changed) for each SETTINGS frame of the server (the first
makes the connection ready). Fields are (name, value, ...) tuples as HPACK decoded them (a list
that may be handed again for a repeated block: read, never changed); the stream layer checks
them (upstream_conversion.response_head).

After the server's GOAWAY the streams it promised to finish (up to its last_stream_id) go on;
those above it are forgotten here (the handler is told on_goaway(last_stream_id, code) and
retries them elsewhere)."""

from __future__ import annotations

from typing import Final

from pymosn.protocol.http2.frame_codec import FrameCodec
from pymosn.protocol.http2.frame_writer import SendError, Stream
from pymosn.protocol.http2.frames import END_STREAM, MAX_WINDOW, PROTOCOL_ERROR, STREAM_CLOSED
from pymosn.protocol.http2.settings import (
    ENABLE_PUSH,
    INITIAL_WINDOW_SIZE,
    MAX_FRAME_SIZE_SETTING,
    MAX_HEADER_LIST_SIZE,
    MIN_CONTINUATIONS,
    MIN_FRAME_SIZE,
)

PREFACE: Final = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
UNLIMITED_STREAMS: Final = MAX_WINDOW  # SETTINGS_MAX_CONCURRENT_STREAMS before the server says (6.5.2)


class FastClientCodec(FrameCodec):
    """One upstream connection's HTTP/2 state: requests out, handler calls in."""

    def __init__(self, handler, *, stream_window: int, connection_window: int, max_frame_size: int,
                 max_header_list_size: int = 64 * 1024, max_empty_frames: int = 1) -> None:
        super().__init__(
            handler, handler.on_response_data,
            stream_window=stream_window,
            connection_window=connection_window,
            max_frame_size=max_frame_size,
            max_header_list_size=max_header_list_size,
            max_continuation_frames=max(MIN_CONTINUATIONS, -(-2 * max_header_list_size // MIN_FRAME_SIZE)),
            max_empty_frames=max_empty_frames,
            max_enable_push=0,
        )
        self.next_stream_id = 1
        self.remote_max_concurrent_streams = UNLIMITED_STREAMS
        self._settings_seen = False
        self._local_settings = {
            ENABLE_PUSH: 0,
            INITIAL_WINDOW_SIZE: stream_window,
            MAX_FRAME_SIZE_SETTING: max_frame_size,
            MAX_HEADER_LIST_SIZE: max_header_list_size,
        }

    def start(self) -> None:
        """The client preface, our SETTINGS and the connection window beyond the default."""
        self._out.append(PREFACE)
        self._start(self._local_settings)

    def open_stream(self, headers: list[tuple[bytes, bytes]], end_stream: bool) -> int:
        """A new stream with its request headers; SendError when the ids are spent."""
        sid = self.next_stream_id
        if sid > MAX_WINDOW:
            raise SendError("stream ids are spent on this connection")
        self.next_stream_id = sid + 2
        stream = self.streams[sid] = Stream(self._peer_initial_window, self._stream_window, True, False)
        self._write_headers(sid, stream, headers, end_stream)
        return sid

    def _closed_or_idle(self, sid: int, what: str) -> bool:
        # push is off: a server opens no stream, so even ids are idle too
        if sid >= self.next_stream_id or not sid & 1:
            self._fail(PROTOCOL_ERROR, f"{what} on idle stream {sid}")
        return True

    def _on_max_concurrent_streams(self, value: int) -> None:
        self.remote_max_concurrent_streams = value

    def _settings_received(self, window_changed: bool) -> None:
        first = not self._settings_seen
        self._settings_seen = True
        self.handler.on_remote_settings(first, window_changed)

    def _header_block(self, sid: int, flags: int, block: bytes) -> None:
        decoded = self._decode(block)  # first, whatever the stream: the HPACK state is shared
        end_stream = bool(flags & END_STREAM)
        stream = self.streams.get(sid)
        if stream is None:
            self._closed_or_idle(sid, "HEADERS")
            if sid not in self._reset_by_us:
                self._stream_error(sid, STREAM_CLOSED)
            return
        if not stream.remote_open:
            self._stream_error(sid, STREAM_CLOSED)
            return
        if not stream.head_seen:
            if decoded:
                first: tuple = decoded[0]
                name: bytes = first[0]
                status: bytes = first[1]
                if name == b":status" and len(status) == 3 and status[0] == 49 and status != b"101":
                    if end_stream:  # an interim response cannot end the stream (8.1)
                        self._stream_error(sid, PROTOCOL_ERROR)
                    return  # 1xx: the final head is still to come
            stream.head_seen = True
            if end_stream:
                self._end_remote(sid, stream)
            self.handler.on_response(sid, decoded, end_stream)
            return
        if not end_stream:
            self._stream_error(sid, PROTOCOL_ERROR)  # trailers end the stream (8.1)
            return
        self._end_remote(sid, stream)
        self.handler.on_response_trailers(sid, decoded)

    def _goaway_received(self, last_stream_id: int, code: int) -> None:
        # Streams above last_stream_id were never processed: their late frames are ignored.
        for above in [sid for sid in self.streams if sid > last_stream_id]:
            del self.streams[above]
            self._reset_by_us.add(above)
        self.handler.on_goaway(last_stream_id, code)
