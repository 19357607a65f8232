"""The server side of an HTTP/2 connection over h2 (or jh2), with the interface of
`fast_server.FastServerCodec`: the stream layer's other codec (PYMOSN_HTTP2_SERVER=h2), and
the oracle the fast one is tested against.

h2's own behaviour is corrected where the proxy needs otherwise: its stream limit is lifted
so that the stream layer can refuse extra streams with REFUSED_STREAM rather than end the
connection; HPACK failures are COMPRESSION_ERROR (RFC 9113 4.3), not PROTOCOL_ERROR; and a
client's GOAWAY(NO_ERROR) leaves the connection open for the streams it still waits for; the
fast codec's flood bounds are kept in h2's frame splitter, the one place that sees every
frame (CONTINUATION included)."""

from __future__ import annotations

from pymosn.protocol.http2 import _lib as h2
from pymosn.protocol.http2.flood import Flood
from pymosn.protocol.http2.frame_writer import Http2ConnectionError
from pymosn.protocol.http2.settings import Http2Settings

_events = h2.events
_NO_ERROR = h2.ErrorCodes.NO_ERROR
_INITIAL_WINDOW_SIZE = h2.SettingCodes.INITIAL_WINDOW_SIZE
_DATA, _HEADERS, _CONTINUATION = h2.DataFrame, h2.HeadersFrame, h2.ContinuationFrame


class _Flooded(h2.H2ProtocolError):
    """A flood bound, raised inside h2's frame loop so that h2 queues the GOAWAY."""

    error_code = h2.ErrorCodes.ENHANCE_YOUR_CALM

    def __init__(self, reason: str, flood: Flood) -> None:
        super().__init__(reason)
        self.flood = flood


class _BoundedFrameBuffer(h2.FrameBuffer):
    """h2's frame splitter, which gathers a header block's frames before h2 sees it, with the
    fast codec's bounds applied in the same order as it applies them."""

    def __init__(self, codec: H2ServerCodec) -> None:
        super().__init__(server=True)
        self.handler = codec.handler
        self.empty_frames = 0
        self.max_empty_frames = codec.settings.max_consecutive_inbound_frames_with_empty_payload
        self.max_block_frames = 1 + codec.settings.max_continuation_frames

    def _empty_frame(self) -> None:
        self.empty_frames += 1
        if self.empty_frames > self.max_empty_frames:
            raise _Flooded("too many frames with an empty payload", Flood.INBOUND_EMPTY_FRAMES)

    def _update_header_buffer(self, f):
        kind = type(f)
        block = self._headers_buffer
        if block:
            if kind is not _CONTINUATION or f.stream_id != block[0].stream_id:
                return super()._update_header_buffer(f)  # h2's PROTOCOL_ERROR
            if not f.data:
                self._empty_frame()
            elif self.empty_frames:
                self.empty_frames = 0
            if len(block) >= self.max_block_frames:
                raise _Flooded("header block of too many CONTINUATION frames", Flood.HEADER_BLOCK_FRAMES)
            f = super()._update_header_buffer(f)
            if not self._headers_buffer:
                self.handler.on_header_block_ended()
            return f
        if kind is _DATA or kind is _HEADERS:
            if not f.data and "END_STREAM" not in f.flags:
                self._empty_frame()
            elif self.empty_frames:
                self.empty_frames = 0
            if kind is _DATA:
                return f
            if "END_HEADERS" not in f.flags:
                f = super()._update_header_buffer(f)
                self.handler.on_header_block_started()
                return f
        return super()._update_header_buffer(f)


class H2ServerCodec(h2.H2Connection):
    send_errors = (h2.H2Error,)

    def __init__(self, settings: Http2Settings, handler) -> None:
        super().__init__(config=h2.SERVER_CONFIG)
        self.handler = handler
        self.settings = settings
        self._stopped = False
        self._advertised = {h2.SettingCodes(k): v for k, v in settings.local_settings().items()}
        self.local_settings = h2.settings.Settings(client=False, initial_values=self._advertised)
        # given as initial values, h2 never sees them change, so it must be told the frame size
        self.max_inbound_frame_size = settings.max_frame_size
        self._decoder_limit = 2 * settings.max_header_list_size
        self.decoder.max_header_list_size = self._decoder_limit
        self.incoming_buffer = _BoundedFrameBuffer(self)
        self._dispatch = {
            _events.RequestReceived: self._on_request,
            _events.DataReceived: self._on_data,
            _events.TrailersReceived: self._on_trailers,
            _events.StreamReset: self._on_stream_reset,
            _events.WindowUpdated: self._on_window_updated,
            _events.RemoteSettingsChanged: self._on_settings_changed,
            _events.SettingsAcknowledged: self._on_settings_acked,
            _events.PingAckReceived: self._on_ping_ack,
            _events.ConnectionTerminated: self._on_goaway,
        }

    def start(self) -> None:
        self.initiate_connection()
        # h2's own stream limit stays as a hard cap against a client ignoring the refusals
        enforced = dict(self._advertised)
        enforced[h2.SettingCodes.MAX_CONCURRENT_STREAMS] = 2 * self.settings.max_concurrent_streams + 100
        self.local_settings = h2.settings.Settings(client=False, initial_values=enforced)
        extra = self.settings.initial_connection_window_size - 65_535
        if extra > 0:
            self.increment_flow_control_window(extra)

    def receive(self, data: bytes) -> None:
        try:
            events = self.receive_data(data)
        except h2.H2ProtocolError as error:
            code = int(error.error_code)
            if isinstance(error.__cause__ or error.__context__, h2.HPACKError):
                code = self._correct_goaway(int(h2.ErrorCodes.COMPRESSION_ERROR))
            flood = error.flood if isinstance(error, _Flooded) else None
            raise Http2ConnectionError(code, str(error) or type(error).__name__, flood) from error
        dispatch = self._dispatch
        for event in events:
            if self._stopped:
                return
            handler = dispatch.get(type(event))
            if handler is not None:
                handler(event)

    def stop(self) -> None:
        """The connection is closing: the events of what was received are not told."""
        self._stopped = True

    def _correct_goaway(self, code: int) -> int:
        """h2's GOAWAY is the last frame queued: give it `code`."""
        data = self._data_to_send
        if len(data) >= 17 and data[-14] == 0x07 and data[-17:-14] == b"\x00\x00\x08":
            data[-4:] = code.to_bytes(4, "big")
        return code

    def _on_request(self, event) -> None:
        self.handler.on_request(event.stream_id, event.headers, event.stream_ended is not None)

    def _on_data(self, event) -> None:
        self.handler.on_request_data(event.stream_id, event.data, event.flow_controlled_length, event.stream_ended is not None)

    def _on_trailers(self, event) -> None:
        self.handler.on_request_trailers(event.stream_id, event.headers)

    def _on_stream_reset(self, event) -> None:
        self.handler.on_stream_reset(event.stream_id, int(event.error_code))

    def _on_window_updated(self, event) -> None:
        self.handler.on_window_updated(event.stream_id)

    def _on_settings_changed(self, event) -> None:
        if _INITIAL_WINDOW_SIZE in event.changed_settings:
            self.handler.on_window_updated(0)

    def _on_settings_acked(self, event) -> None:
        # h2 sets the decoder's limit to what we advertised once the client acknowledges it
        self.decoder.max_header_list_size = self._decoder_limit

    def _on_ping_ack(self, event) -> None:
        self.handler.on_ping_ack(event.ping_data)

    def _on_goaway(self, event) -> None:
        if event.error_code == _NO_ERROR:
            # h2 moved its state machine to CLOSED, which would refuse the streams still open
            self.state_machine.state = h2.ConnectionState.SERVER_OPEN
        self.handler.on_goaway(int(event.last_stream_id), int(event.error_code))
