"""The HTTP/2 client connection against an h2 server object, no sockets: per-stream flow
control in both directions."""

from __future__ import annotations

import h2.config
import h2.connection
import h2.events

from pymosn.protocol.http1 import BODY_LENGTH, BODY_NONE
from pymosn.stream.http2.client import STREAM_WINDOW, Http2ClientConnection
from tests.support.fakes import connection_on


class Owner:
    def __init__(self) -> None:
        self.ready = []

    def on_h2_ready(self, client) -> None:
        self.ready.append(client)

    def on_h2_capacity(self, client, settings_changed=False) -> None:
        pass

    def on_h2_goaway(self, client) -> None:
        pass


class Receiver:
    def __init__(self) -> None:
        self.heads = []
        self.data = b""
        self.ended = False

    def on_response_head(self, head, end_stream) -> None:
        self.heads.append(head)

    def on_response_data(self, data, end_stream) -> None:
        self.data += data
        self.ended = end_stream


class Watermarks:
    def __init__(self) -> None:
        self.calls = []

    def on_above_write_high_watermark(self) -> None:
        self.calls.append("above")

    def on_below_write_low_watermark(self) -> None:
        self.calls.append("below")


def connected():
    (conn, _), owner = connection_on(), Owner()
    client = Http2ClientConnection(conn, owner, scheme=b"http", authority=b"origin")
    client.start()
    server = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False, header_encoding=None))
    server.initiate_connection()
    server.receive_data(conn.transport.take())
    client.on_data(server.data_to_send())
    server.receive_data(conn.transport.take())
    assert owner.ready == [client]
    return conn, client, server


def exchange(conn, client, server) -> list:
    events = server.receive_data(conn.transport.take())
    client.on_data(server.data_to_send())
    return events + server.receive_data(conn.transport.take())


def test_a_paused_stream_stops_acknowledging_its_data_but_not_the_connections():
    conn, client, server = connected()
    stream = client.new_stream()
    receiver = Receiver()
    stream.send_headers(receiver, b"GET", b"/", [(b"Host", b"x")], BODY_NONE, True)
    server.receive_data(conn.transport.take())
    server.send_headers(1, [(b":status", b"200")])
    stream.pause_reading()  # the downstream client is slow
    for _ in range(4):
        server.send_data(1, b"d" * 16384)
    client.on_data(server.data_to_send())
    server.receive_data(conn.transport.take())
    assert receiver.heads[0].status == 200 and len(receiver.data) == 4 * 16384
    assert server.local_flow_control_window(1) == STREAM_WINDOW - 4 * 16384  # held
    connection_window = server.local_flow_control_window(1)  # min(stream, connection)
    assert server.outbound_flow_control_window >= connection_window  # the connection moves on
    stream.resume_reading()
    server.receive_data(conn.transport.take())
    assert server.local_flow_control_window(1) == STREAM_WINDOW


def test_request_bytes_beyond_the_window_wait_bounded_and_pause_the_sender():
    conn, client, server = connected()
    stream = client.new_stream()
    stream.send_headers(Receiver(), b"POST", b"/", [(b"Host", b"x"), (b"Content-Length", b"200000")],
                        BODY_LENGTH, False)
    watermarks = Watermarks()
    stream.watermark_listener = watermarks
    stream.send_data(b"u" * 200000, False)  # the server's window is the default 65535
    events = exchange(conn, client, server)
    received = sum(len(e.data) for e in events if isinstance(e, h2.events.DataReceived))
    assert received == 65535
    assert watermarks.calls == ["above"]
    server.acknowledge_received_data(65535, 1)
    server.increment_flow_control_window(200000, 1)
    server.increment_flow_control_window(200000)
    client.on_data(server.data_to_send())
    events = server.receive_data(conn.transport.take())
    assert sum(len(e.data) for e in events if isinstance(e, h2.events.DataReceived)) == 200000 - 65535
    assert watermarks.calls == ["above", "below"]
    stream.send_data(b"", True)
    events = server.receive_data(conn.transport.take())
    assert any(isinstance(e, h2.events.StreamEnded) for e in events)


def test_reset_sends_cancel():
    conn, client, server = connected()
    stream = client.new_stream()
    stream.send_headers(Receiver(), b"GET", b"/", [(b"Host", b"x")], BODY_NONE, True)
    server.receive_data(conn.transport.take())
    server.send_headers(1, [(b":status", b"200")])
    server.send_data(1, b"late")
    stream.reset()
    client.on_data(server.data_to_send())  # crossed the reset on the wire: dropped, not an error
    events = server.receive_data(conn.transport.take())
    assert [(type(e), e.error_code) for e in events if isinstance(e, h2.events.StreamReset)] == [
        (h2.events.StreamReset, h2.errors.ErrorCodes.CANCEL)]
    assert client.reserved == 0 and not client.closed and not conn.closed


def test_goaway_drains_promised_streams_and_refuses_the_rest_as_retryable():
    conn, client, server = connected()
    first, second = Receiver(), Receiver()
    failed = []
    second.on_upstream_reset = failed.append
    streams = [client.new_stream(), client.new_stream()]
    streams[0].send_headers(first, b"GET", b"/a", [(b"Host", b"x")], BODY_NONE, True)
    streams[1].send_headers(second, b"GET", b"/b", [(b"Host", b"x")], BODY_NONE, True)
    server.receive_data(conn.transport.take())
    goaway = (8).to_bytes(3, "big") + bytes([7, 0]) + bytes(4) + (1).to_bytes(4, "big") + bytes(4)
    client.on_data(goaway)
    assert client.draining and failed and streams[1].reused  # stream 3 was never processed
    server.send_headers(1, [(b":status", b"200"), (b"content-length", b"2")])
    server.send_data(1, b"ok", end_stream=True)
    client.on_data(server.data_to_send())  # h2 would reject this after a GOAWAY it had seen
    assert first.data == b"ok" and first.ended
    assert conn.closed  # nothing left in flight


# --- hostile servers ---------------------------------------------------------------------

import hpack  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_ENCODER_HEADERS = [[(b":status", b"200")], [(b":status", b"200"), (b"content-length", b"3")],
                    [(b"grpc-status", b"0")], [(b":status", b"103")], [(b"Bad", b"x")], [(b"connection", b"x")]]


_TYPES = {"data": 0, "headers": 1, "rst": 3, "settings": 4, "ping": 6, "goaway": 7, "window": 8, "continuation": 9}


def _frame(kind: str, stream_id: int, flags: int, data: bytes, number: int, headers: int) -> bytes:
    """Raw frames, valid or not: hyperframe would refuse to build the invalid ones."""
    if kind == "headers" and number % 3:
        payload = hpack.Encoder().encode(_ENCODER_HEADERS[headers])
    elif kind == "rst":
        payload = (number % 14).to_bytes(4, "big")
    elif kind == "settings":
        payload = b"" if flags & 1 else (4 if number % 2 else 3).to_bytes(2, "big") + number.to_bytes(4, "big")
    elif kind == "ping":
        payload = data[:8].ljust(8, b"\0")
    elif kind == "goaway":
        payload = stream_id.to_bytes(4, "big") + (number % 14).to_bytes(4, "big")
        stream_id = 0
    elif kind == "window":
        payload = number.to_bytes(4, "big")
    else:
        payload = data
    return len(payload).to_bytes(3, "big") + bytes([_TYPES[kind], flags]) + stream_id.to_bytes(4, "big") + payload


frames = st.lists(
    st.builds(
        _frame,
        st.sampled_from(["data", "headers", "rst", "settings", "ping", "goaway", "window", "continuation"]),
        st.sampled_from([0, 1, 3, 5, 7, 9]),
        st.sampled_from([0, 1, 4, 5]),  # END_STREAM / ACK, END_HEADERS
        st.binary(max_size=24),
        st.integers(0, 2**20),
        st.integers(0, len(_ENCODER_HEADERS) - 1),
    ),
    max_size=25,
)


class Tracking(Receiver):
    def __init__(self) -> None:
        super().__init__()
        self.resets = 0
        self.trailers = None

    def on_response_head(self, head, end_stream) -> None:
        self.heads.append(head)
        self.ended = end_stream

    def on_response_trailers(self, trailers) -> None:
        self.trailers = trailers
        self.ended = True

    def on_upstream_reset(self, reason) -> None:
        self.resets += 1


@settings(max_examples=300, deadline=None)
@given(frames, st.integers(1, 20))
def test_any_frames_from_the_server_never_crash_or_leak_streams(sequence, cut):
    conn, client, server = connected()
    receivers = [Tracking() for _ in range(3)]
    streams = [client.new_stream() for _ in receivers]
    for stream, receiver in zip(streams, receivers):
        stream.send_headers(receiver, b"GET", b"/", [(b"Host", b"x")], BODY_NONE, True)
    data = b"".join(sequence)
    for i in range(0, len(data), cut):
        client.on_data(data[i : i + cut])
    for callback in conn.close_callbacks:  # then the connection ends, whatever state it is in
        callback(conn, None)
    assert client.reserved == 0 and not client.streams and not client.blocked
    for receiver in receivers:
        assert receiver.resets <= 1
        assert receiver.ended or receiver.resets == 1, "every request gets an answer or a reset"
        assert not (receiver.ended and receiver.resets)
