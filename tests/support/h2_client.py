"""A blocking HTTP/2 client on a raw socket, built on h2, for tests that need to see frames: the
server's SETTINGS, RST_STREAM and GOAWAY codes, trailers, 1xx, and windows left unacknowledged.

`H2Client(port, validate=False)` sends whatever header blocks it is given (h2's outbound checks
off), so tests can send malformed requests; `send_raw` writes bytes as they are. For floods:
`receive_buffer` shrinks the socket's receive buffer (a client that reads little), `flood`
sends raw frames over and over without reading, and `goaway_codes_raw` reads whatever the
server queued, without h2, for its GOAWAY codes."""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Callable

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings


class Response:
    def __init__(self, stream_id: int) -> None:
        self.stream_id = stream_id
        self.headers: list[tuple[bytes, bytes]] = []
        self.informational: list[list[tuple[bytes, bytes]]] = []
        self.body = bytearray()
        self.trailers: list[tuple[bytes, bytes]] = []
        self.ended = False
        self.reset_code: int | None = None

    @property
    def status(self) -> int:
        return int(dict(self.headers)[b":status"])

    @property
    def done(self) -> bool:
        return self.ended or self.reset_code is not None


class H2Client:
    def __init__(
        self,
        port: int,
        *,
        validate: bool = True,
        auto_ack: bool = True,
        ssl_context: ssl.SSLContext | None = None,
        timeout: float = 20.0,
        local_settings: dict | None = None,
        receive_buffer: int | None = None,
    ) -> None:
        raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if receive_buffer is not None:  # before connect: the window it offers follows from it
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        raw.settimeout(timeout)
        raw.connect(("127.0.0.1", port))
        self.sock = ssl_context.wrap_socket(raw, server_hostname="localhost") if ssl_context else raw
        self.timeout = timeout
        self.auto_ack = auto_ack  # acknowledge received DATA (False: let the windows close)
        self.hold: set[int] = set()  # streams whose DATA credits only the connection window
        config = h2.config.H2Configuration(
            client_side=True,
            header_encoding=None,
            validate_outbound_headers=validate,
            normalize_outbound_headers=validate,
            validate_inbound_headers=False,
        )
        self.conn = h2.connection.H2Connection(config=config)
        if local_settings:
            self.conn.local_settings = h2.settings.Settings(client=True, initial_values=local_settings)
        self.conn.initiate_connection()
        self._unread = b""
        self.responses: dict[int, Response] = {}
        self.events: list = []
        self.goaway: h2.events.ConnectionTerminated | None = None
        self.remote_settings: dict = {}
        self.closed = False
        self.flush()

    # --- sending -----------------------------------------------------------------------------

    def flush(self) -> None:
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def flood(self, unit: bytes, stop: Callable[[], bool], duration: float = 8.0) -> int:
        """Sends `unit` (raw frames) over and over without reading, until stop() (asked every
        0.1 s) is true, the server stops taking bytes or closes, or `duration` has passed.
        Returns the bytes sent."""
        batch = unit * max(1, 65536 // len(unit))
        sent = 0
        now = time.monotonic()
        deadline, asked = now + duration, now
        self.sock.settimeout(1.0)
        while now < deadline:
            try:
                self.sock.sendall(batch)
            except OSError:  # timed out (nothing read any more), reset or closed
                break
            sent += len(batch)
            now = time.monotonic()
            if now - asked >= 0.1:
                asked = now
                if stop():
                    break
        return sent

    def goaway_codes_raw(self, timeout: float = 10.0) -> list[int]:
        """Reads until the server closes (or `timeout`), frame headers only, and returns the
        error codes of the GOAWAY frames among them."""
        codes: list[int] = []
        held = b""
        deadline = time.monotonic() + timeout
        self.sock.settimeout(0.5)
        while time.monotonic() < deadline:
            try:
                data = self.sock.recv(1 << 20)
            except TimeoutError:
                continue
            except OSError:
                break
            if not data:
                break
            held += data
            pos = 0
            while len(held) - pos >= 9:
                end = pos + 9 + int.from_bytes(held[pos:pos + 3], "big")
                if end > len(held):
                    break
                if held[pos + 3] == 0x7 and end - pos >= 17:
                    codes.append(int.from_bytes(held[pos + 13:pos + 17], "big"))
                pos = end
            held = held[pos:]
        self.closed = True
        return codes

    def request(
        self,
        path: str = "/echo",
        method: str = "GET",
        headers: list | None = None,
        body: bytes | None = None,
        end_stream: bool | None = None,
        authority: str = "localhost",
    ) -> int:
        sid = self.conn.get_next_available_stream_id()
        block = [(b":method", method.encode()), (b":scheme", b"http"), (b":authority", authority.encode()), (b":path", path.encode())]
        block += [(n.encode() if isinstance(n, str) else n, v.encode() if isinstance(v, str) else v) for n, v in headers or []]
        self.send_block(sid, block, end_stream=(not body) if end_stream is None else end_stream)
        if body:
            self.send_body(sid, body, end_stream=True)
        return sid

    def send_block(self, sid: int, block: list, end_stream: bool = False) -> None:
        self.responses.setdefault(sid, Response(sid))
        self.conn.send_headers(sid, block, end_stream=end_stream)
        self.flush()

    def send_body(self, sid: int, body: bytes, end_stream: bool = True) -> None:
        """Sends as the windows allow, reading the server's WINDOW_UPDATEs meanwhile."""
        view = memoryview(body)
        while view:
            window = self.conn.local_flow_control_window(sid)
            size = min(window, self.conn.max_outbound_frame_size, len(view))
            if size <= 0:
                self.read_once()
                continue
            self.conn.send_data(sid, bytes(view[:size]))
            view = view[size:]
            self.flush()
        if end_stream:
            self.conn.end_stream(sid)
            self.flush()

    def trailers(self, sid: int, block: list) -> None:
        self.conn.send_headers(sid, block, end_stream=True)
        self.flush()

    def reset(self, sid: int, code: int = 8) -> None:
        self.conn.reset_stream(sid, code)
        self.flush()

    def ping(self, data: bytes = b"12345678") -> None:
        self.conn.ping(data)
        self.flush()

    # --- receiving ---------------------------------------------------------------------------

    def read_once(self, timeout: float | None = None) -> bool:
        """Reads what arrives (waiting up to `timeout`); False once the server closed."""
        if self.closed:
            return False
        self.sock.settimeout(timeout if timeout is not None else self.timeout)
        try:
            data = self.sock.recv(65536)
        except TimeoutError:
            return True
        except (ConnectionResetError, ssl.SSLError, OSError):
            data = b""
        if not data:
            self.closed = True
            return False
        self._unread += data
        # One frame at a time: h2 closes its state machine on GOAWAY and would refuse the
        # frames after it in the same read, which a graceful drain still sends.
        while len(self._unread) >= 9:
            size = 9 + int.from_bytes(self._unread[:3], "big")
            if len(self._unread) < size:
                break
            frame, self._unread = self._unread[:size], self._unread[size:]
            try:
                events = self.conn.receive_data(frame)
            except h2.exceptions.ProtocolError:
                events = []
            for event in events:
                self._on_event(event)
        try:
            self.flush()
        except OSError:
            pass
        return True

    def _on_event(self, event) -> None:
        self.events.append(event)
        sid = getattr(event, "stream_id", None)
        response = self.responses.get(sid) if sid else None
        if isinstance(event, h2.events.ResponseReceived):
            response.headers = event.headers
        elif isinstance(event, h2.events.InformationalResponseReceived):
            response.informational.append(event.headers)
        elif isinstance(event, h2.events.DataReceived):
            if response is not None:
                response.body += event.data
            if self.auto_ack and event.flow_controlled_length:
                if event.stream_id in self.hold:
                    self.held = getattr(self, "held", 0) + event.flow_controlled_length
                    self.conn.increment_flow_control_window(event.flow_controlled_length)
                else:
                    self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
        elif isinstance(event, h2.events.TrailersReceived):
            response.trailers = event.headers
        elif isinstance(event, h2.events.StreamEnded):
            if response is not None:
                response.ended = True
        elif isinstance(event, h2.events.StreamReset):
            if response is not None:
                response.reset_code = event.error_code
        elif isinstance(event, h2.events.ConnectionTerminated):
            self.goaway = event
            if event.error_code == 0:  # in-flight streams still end: keep the state machine open
                self.conn.state_machine.state = h2.connection.ConnectionState.CLIENT_OPEN
        elif isinstance(event, h2.events.RemoteSettingsChanged):
            self.remote_settings.update({k: v.new_value for k, v in event.changed_settings.items()})

    def wait(self, predicate, timeout: float | None = None) -> None:
        deadline = time.monotonic() + (timeout or self.timeout)
        while not predicate():
            if time.monotonic() > deadline:
                raise TimeoutError("condition not met in time")
            if not self.read_once(timeout=0.2) and not predicate():
                raise ConnectionError("server closed the connection")

    def response(self, sid: int, timeout: float | None = None) -> Response:
        self.wait(lambda: self.responses[sid].done, timeout)
        return self.responses[sid]

    def wait_closed(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while self.read_once(timeout=0.2):
            if time.monotonic() > deadline:
                raise TimeoutError("server did not close")

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self) -> H2Client:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
