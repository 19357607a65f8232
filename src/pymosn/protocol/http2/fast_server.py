"""The server side of an HTTP/2 connection, sans-IO, written for the proxy's hot path (the
frame layer both ends share is protocol/http2/frame_codec.py, which says why not h2).

The method names that send (`send_headers`, `send_data`, `reset_stream`,
`acknowledge_received_data`, ...) are h2's, so the stream layer drives either codec; the
h2-based codec (`h2_server.py`) is kept as the oracle of tests/unit/protocol/
test_http2_fast_vs_h2.py.

Beyond frame_codec's calls, the handler receives on_request(sid, fields, end_stream) (fields
are (name, value, never-indexed) tuples), on_request_data(sid, data, flow_controlled_length,
end_stream) and on_request_trailers(sid, fields). A list of fields may be handed again for a
block repeated byte for byte (frame_codec.FrameCodec._decode): read it, never change it."""

from __future__ import annotations

from typing import Final

from pymosn.protocol.http2.frame_codec import FrameCodec
from pymosn.protocol.http2.frame_writer import Http2ConnectionError, SendError, Stream
from pymosn.protocol.http2.frames import END_STREAM, PROTOCOL_ERROR, STREAM_CLOSED
from pymosn.protocol.http2.settings import Http2Settings

__all__ = ["FastServerCodec", "Http2ConnectionError", "SendError"]

_PREFACE: Final = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


class FastServerCodec(FrameCodec):
    """One downstream connection's HTTP/2 state: frames in, handler calls and frames out."""

    def __init__(self, settings: Http2Settings, handler) -> None:
        super().__init__(
            handler, handler.on_request_data,
            stream_window=settings.initial_stream_window_size,
            connection_window=settings.initial_connection_window_size,
            max_frame_size=settings.max_frame_size,
            max_header_list_size=settings.max_header_list_size,
            max_continuation_frames=settings.max_continuation_frames,
            max_empty_frames=settings.max_consecutive_inbound_frames_with_empty_payload,
            max_enable_push=1,
        )
        self.settings = settings
        # a client ignoring REFUSED_STREAM must still not open streams without bound
        self._stream_cap = 2 * settings.max_concurrent_streams + 100
        self._preface = True  # the client preface is still expected

    def start(self) -> None:
        self._start(self.settings.local_settings())

    def _expect_preface(self, data: bytes) -> int:
        if len(data) < 24:
            if not _PREFACE.startswith(data):
                self._fail(PROTOCOL_ERROR, "invalid HTTP/2 preface")
            self._held += data
            return -1
        if data[:24] != _PREFACE:
            self._fail(PROTOCOL_ERROR, "invalid HTTP/2 preface")
        self._preface = False
        return 24

    def _closed_or_idle(self, sid: int, what: str) -> bool:
        if sid > self.highest_inbound_stream_id or not sid & 1:
            self._fail(PROTOCOL_ERROR, f"{what} on idle stream {sid}")
        return True

    def _settings_received(self, window_changed: bool) -> None:
        if window_changed:
            self.handler.on_window_updated(0)

    def _header_block(self, sid: int, flags: int, block: bytes) -> None:
        decoded = self._decode(block)  # first, whatever the stream: the HPACK state is shared
        end_stream = bool(flags & END_STREAM)
        stream = self.streams.get(sid)
        if stream is None:
            if not sid & 1:
                self._fail(PROTOCOL_ERROR, f"HEADERS on even stream {sid}")
            if sid <= self.highest_inbound_stream_id:
                if sid in self._reset_by_us:
                    return
                if sid in self._reset_by_peer:  # a stream error then (5.1), not the connection's
                    self._stream_error(sid, STREAM_CLOSED)
                    return
                self._fail(STREAM_CLOSED, f"HEADERS on closed stream {sid}")
            self.highest_inbound_stream_id = sid
            if len(self.streams) >= self._stream_cap:
                self._fail(PROTOCOL_ERROR, "too many streams open")
            self.streams[sid] = Stream(self._peer_initial_window, self._stream_window, not end_stream, True)
            # (name, value, never-indexed) as decoded: request_head reads the first two
            self.handler.on_request(sid, decoded, end_stream)
            return
        if not stream.remote_open:
            self._stream_error(sid, STREAM_CLOSED)
        elif not end_stream:
            self._stream_error(sid, PROTOCOL_ERROR)  # trailers end the stream (8.1)
        else:
            self._end_remote(sid, stream)
            self.handler.on_request_trailers(sid, decoded)
