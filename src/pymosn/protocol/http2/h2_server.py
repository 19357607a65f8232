"""The server side of an HTTP/2 connection over h2 (or jh2), with the interface of
`fast_server.FastServerCodec`: the stream layer's other codec (PYMOSN_HTTP2_SERVER=h2), and
the oracle the fast one is tested against.

h2's own behaviour is corrected where the proxy needs otherwise: its stream limit is lifted
so that the stream layer can refuse extra streams with REFUSED_STREAM rather than end the
connection; HPACK failures are COMPRESSION_ERROR (RFC 9113 4.3), not PROTOCOL_ERROR; and a
client's GOAWAY(NO_ERROR) leaves the connection open for the streams it still waits for."""

from __future__ import annotations

from pymosn.protocol.http2 import _lib as h2
from pymosn.protocol.http2.fast_server import Http2ConnectionError
from pymosn.protocol.http2.settings import Http2Settings

_events = h2.events
_NO_ERROR = h2.ErrorCodes.NO_ERROR
_INITIAL_WINDOW_SIZE = h2.SettingCodes.INITIAL_WINDOW_SIZE


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
            raise Http2ConnectionError(code, str(error) or type(error).__name__) from error
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
        self.handler.on_goaway(int(event.error_code))
