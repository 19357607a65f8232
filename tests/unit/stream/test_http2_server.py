"""The HTTP/2 server connection against an h2 client, no sockets: flow control both ways,
coalesced writes, resets, trailers and the two-step GOAWAY, frame by frame; every test runs
over both server codecs (fast and h2)."""

from __future__ import annotations

import h2.config
import h2.connection
import h2.events
import h2.settings
import pytest

from pymosn.api.errors import DOWNSTREAM_RESET
from pymosn.network.connection import Connection
from pymosn.protocol.http1.head import BODY_CHUNKED, BODY_LENGTH, BODY_NONE
from pymosn.protocol.http2 import Http2Settings
from pymosn.stream.http2 import server as server_module
from pymosn.stream.http2.server import Http2ServerConnection
from tests.support.fakes import RecordingTransport, connection_on


@pytest.fixture(autouse=True, params=sorted(server_module.CODECS))
def codec(request, monkeypatch):
    monkeypatch.setattr(server_module, "DEFAULT_CODEC", server_module.CODECS[request.param])
    return request.param


class FakeLoop:
    def __init__(self) -> None:
        self.soon: list = []
        self.later: list = []

    def call_soon(self, fn, *args):
        self.soon.append((fn, args))

    def time(self) -> float:
        return 0.0

    def call_later(self, delay, fn, *args):
        handle = _Handle(fn, args)
        self.later.append(handle)
        return handle

    def run(self) -> None:
        while self.soon:
            fn, args = self.soon.pop(0)
            fn(*args)


class _Handle:
    def __init__(self, fn, args) -> None:
        self.fn, self.args, self.cancelled = fn, args, False

    def cancel(self) -> None:
        self.cancelled = True


def fake_connection() -> tuple[Connection, RecordingTransport]:
    """A real network.Connection on a recording transport, with this file's loop."""
    return connection_on(FakeLoop())


class Receiver:
    """Records what the server delivers; tests answer through `stream`."""

    def __init__(self, stream, head) -> None:
        self.stream = stream
        self.head = head
        self.events: list = []
        stream.watermark_listener = self

    def on_headers(self, head, end_stream):
        self.events.append(("headers", end_stream))

    def on_data(self, data, end_stream):
        self.events.append(("data", bytes(data), end_stream))

    def on_trailers(self, trailers):
        self.events.append(("trailers", trailers))

    def on_reset(self, reason):
        self.events.append(("reset", reason))

    def on_above_write_high_watermark(self):
        self.events.append(("above",))

    def on_below_write_low_watermark(self):
        self.events.append(("below",))


class Pair:
    """A server connection and an h2 client wired back to back."""

    def __init__(self, settings: Http2Settings | None = None, client_settings: dict | None = None) -> None:
        self.conn, self.transport = fake_connection()
        self.receivers: dict[int, Receiver] = {}

        def factory(stream, head):
            receiver = Receiver(stream, head)
            self.receivers[stream.stream_id] = receiver
            return receiver

        self.server = Http2ServerConnection(self.conn, factory, settings or Http2Settings())
        self.server.on_new_connection()
        config = h2.config.H2Configuration(client_side=True, header_encoding=None)
        self.client = h2.connection.H2Connection(config=config)
        if client_settings:
            self.client.local_settings = h2.settings.Settings(client=True, initial_values=client_settings)
        self.client.initiate_connection()
        self.events: list = []
        self.pump()

    def pump(self) -> list:
        """Moves bytes both ways until both sides are quiet; returns the client's new events."""
        new = []
        for _ in range(50):
            self.conn.loop.run()
            moved = False
            data = self.client.data_to_send()
            if data:
                self.server.on_data(data)
                moved = True
            self.conn.loop.run()
            if self.transport.out:
                out = self.transport.take()
                new += self.client.receive_data(out)
                moved = True
            if not moved:
                break
        self.events += new
        return new

    def request(self, path="/", end_stream=True, extra=()):
        sid = self.client.get_next_available_stream_id()
        block = [(b":method", b"POST" if not end_stream else b"GET"), (b":scheme", b"http"),
                 (b":authority", b"t"), (b":path", path.encode()), *extra]
        self.client.send_headers(sid, block, end_stream=end_stream)
        self.pump()
        return sid, self.receivers[sid]


def of(events, kind, sid=None):
    return [e for e in events if isinstance(e, kind) and (sid is None or e.stream_id == sid)]


def test_request_head_and_body_kinds():
    p = Pair()
    sid, r = p.request("/a")
    assert r.head.body_kind == BODY_NONE and r.events == [("headers", True)]
    sid, r = p.request("/b", end_stream=False, extra=[(b"content-length", b"3")])
    assert r.head.body_kind == BODY_LENGTH
    p.client.send_data(sid, b"abc", end_stream=True)
    p.pump()
    assert r.events[-1] == ("data", b"abc", True)
    sid, r = p.request("/c", end_stream=False)
    assert r.head.body_kind == BODY_CHUNKED


def test_body_and_end_leave_as_one_data_frame():
    p = Pair()
    sid, r = p.request()
    r.stream.send_headers(200, [(b"Content-Type", b"text/plain"), (b"Connection", b"keep-alive")], BODY_CHUNKED, False)
    r.stream.send_data(b"hello", False)
    r.stream.send_data(b"", True)
    events = p.pump()
    (response,) = of(events, h2.events.ResponseReceived, sid)
    assert response.headers == [(b":status", b"200"), (b"content-type", b"text/plain")]
    (data,) = of(events, h2.events.DataReceived, sid)
    assert data.data == b"hello" and data.stream_ended is not None
    assert not p.server.streams


def test_response_waits_for_the_client_window_and_pauses_the_upstream():
    p = Pair()
    sid, r = p.request()
    r.stream.send_headers(200, [], BODY_CHUNKED, False)
    body = b"x" * (400 * 1024)  # the client's window is 65535: most of it waits
    for i in range(0, len(body), 16384):
        r.stream.send_data(body[i:i + 16384], False)
    p.pump()
    assert ("above",) in r.events
    received = sum(len(e.data) for e in of(p.events, h2.events.DataReceived, sid))
    assert received == 65535
    r.stream.send_trailers([(b"X-Trailer", b"done")])
    assert r.events.count(("below",)) == 1  # the whole response is buffered: upstream resumes
    got = received
    while not of(p.events, h2.events.TrailersReceived, sid):
        for e in of(p.events, h2.events.DataReceived, sid):
            if e.flow_controlled_length:
                p.client.acknowledge_received_data(e.flow_controlled_length, sid)
        p.events.clear()
        p.client.increment_flow_control_window(65535)
        p.client.increment_flow_control_window(65535, sid)
        p.pump()
        got += sum(len(e.data) for e in of(p.events, h2.events.DataReceived, sid))
    assert got == len(body)
    (trailers,) = of(p.events, h2.events.TrailersReceived, sid)
    assert trailers.headers == [(b"x-trailer", b"done")]


def test_paused_stream_withholds_its_credit_only():
    p = Pair(Http2Settings(initial_stream_window_size=65535, initial_connection_window_size=65535))
    sid, r = p.request("/upload", end_stream=False)
    r.stream.pause_reading()
    for _ in range(4):
        p.client.send_data(sid, b"a" * 15000)
    p.pump()
    assert p.client.local_flow_control_window(sid) == 65535 - 60000  # stream credit withheld
    assert p.client.outbound_flow_control_window >= 60000  # the connection's given back
    other, r2 = p.request("/other", end_stream=False)
    p.client.send_data(other, b"b" * 15000)
    p.client.send_data(other, b"b" * 15000, end_stream=True)
    p.pump()
    assert r2.events[-1] == ("data", b"b" * 15000, True)
    r.stream.resume_reading()
    p.pump()
    assert p.client.local_flow_control_window(sid) > 65535 - 60000


def test_complete_response_before_the_request_ends_resets_with_no_error():
    p = Pair()
    sid, r = p.request("/upload", end_stream=False)
    r.stream.send_headers(413, [(b"content-length", b"0")], BODY_LENGTH, True)
    events = p.pump()
    (reset,) = of(events, h2.events.StreamReset, sid)
    assert reset.error_code == 0
    assert sid not in p.server.streams
    assert [e for e in r.events if e[0] == "reset"] == []


def test_client_reset_reaches_the_receiver_once():
    p = Pair()
    sid, r = p.request("/slow")
    p.client.reset_stream(sid, 8)
    p.pump()
    assert r.events[-1] == ("reset", DOWNSTREAM_RESET)
    assert not p.server.streams
    r.stream.send_headers(200, [], BODY_NONE, True)  # a late answer is dropped
    assert not of(p.pump(), h2.events.ResponseReceived, sid)


def test_upstream_failure_after_headers_is_internal_error():
    p = Pair()
    sid, r = p.request()
    r.stream.send_headers(200, [], BODY_CHUNKED, False)
    r.stream.reset()
    (reset,) = of(p.pump(), h2.events.StreamReset, sid)
    assert reset.error_code == 2


def test_informational_then_final():
    p = Pair()
    sid, r = p.request(end_stream=False)
    r.stream.send_continue()
    r.stream.send_headers(103, [(b"Link", b"</s>")], BODY_NONE, False)
    events = p.pump()
    assert [dict(e.headers)[b":status"] for e in of(events, h2.events.InformationalResponseReceived, sid)] == [b"100", b"103"]


def test_drain_is_two_goaways_around_a_ping():
    p = Pair()
    sid, r = p.request("/in-flight")
    p.server.drain()
    p.conn.loop.run()
    frames = bytes(p.transport.out)
    assert frames[3] == 0x07 and frames[9:13] == b"\x7f\xff\xff\xff"  # GOAWAY(2^31-1) first
    p.transport.out.clear()
    while frames:  # the client answers the PING (frame by frame: h2 closes itself on GOAWAY)
        size = 9 + int.from_bytes(frames[:3], "big")
        p.client.receive_data(frames[:size])
        frames = frames[size:]
        p.client.state_machine.state = h2.connection.ConnectionState.CLIENT_OPEN
    p.server.on_data(p.client.data_to_send())
    assert p.server.last_stream_id == sid
    assert not p.conn.closed
    r.stream.send_headers(200, [], BODY_NONE, True)
    p.conn.loop.run()
    assert p.conn.closed  # the last stream ended


def test_new_streams_after_the_final_goaway_are_refused():
    p = Pair()
    sid, r = p.request("/first")
    p.server.drain()
    p.server._final_goaway()  # as when the PING does not come back in time
    assert p.server.last_stream_id == sid and not p.conn.closed
    p.transport.out.clear()
    late = sid + 2
    p.client.state_machine.state = h2.connection.ConnectionState.CLIENT_OPEN
    p.client.send_headers(late, [(b":method", b"GET"), (b":scheme", b"http"), (b":authority", b"t"), (b":path", b"/")],
                          end_stream=True)
    p.server.on_data(p.client.data_to_send())
    assert late not in p.receivers
    assert b"\x00\x00\x04\x03\x00" + late.to_bytes(4, "big") + b"\x00\x00\x00\x07" in bytes(p.transport.out)  # REFUSED_STREAM
    r.stream.send_headers(204, [], BODY_NONE, True)
    p.conn.loop.run()
    assert p.conn.closed


def test_streams_over_the_advertised_limit_are_refused_not_fatal():
    p = Pair(Http2Settings(max_concurrent_streams=2))
    assert p.client.remote_settings.max_concurrent_streams == 2
    p.client.remote_settings = h2.settings.Settings(client=False, initial_values={h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: 100})
    first, _ = p.request("/1")
    second, _ = p.request("/2")
    sid = p.client.get_next_available_stream_id()
    p.client.send_headers(sid, [(b":method", b"GET"), (b":scheme", b"http"), (b":authority", b"t"), (b":path", b"/3")],
                          end_stream=True)
    events = p.pump()
    (reset,) = of(events, h2.events.StreamReset, sid)
    assert reset.error_code == 7 and sid not in p.receivers
    assert not of(events, h2.events.ConnectionTerminated)
    p.receivers[first].stream.send_headers(204, [], BODY_NONE, True)
    p.pump()
    fourth, r = p.request("/4")  # room again
    assert r.events == [("headers", True)]


def test_configured_max_frame_size_is_accepted_inbound():
    p = Pair(Http2Settings(max_frame_size=32768), client_settings=None)
    assert p.client.remote_settings.max_frame_size == 32768
    sid, r = p.request("/upload", end_stream=False)
    p.client.max_outbound_frame_size = 32768
    p.client.send_data(sid, b"z" * 30000, end_stream=True)
    p.pump()
    assert r.events[-1] == ("data", b"z" * 30000, True)


def test_rapid_reset_ends_the_connection():
    p = Pair(Http2Settings(max_concurrent_streams=1000))
    for _ in range(99):
        sid, _ = p.request("/r")
        p.client.reset_stream(sid, 8)
    p.pump()
    assert not p.conn.closed  # under the threshold
    answered, r = p.request("/ok")
    r.stream.send_headers(200, [], BODY_NONE, True)
    p.pump()
    sid, _ = p.request("/r")
    p.client.reset_stream(sid, 8)
    events = p.pump()
    (goaway,) = of(events, h2.events.ConnectionTerminated)
    assert goaway.error_code == 11 and p.conn.closed
    assert p.server.premature_resets == 100 and p.server.opened == 101


def test_resets_after_responses_started_are_not_premature():
    p = Pair(Http2Settings(max_concurrent_streams=1000))
    for _ in range(150):
        sid, r = p.request("/stream", end_stream=False)
        r.stream.send_headers(200, [], BODY_CHUNKED, False)
        p.client.reset_stream(sid, 8)
    p.pump()
    assert not p.conn.closed and p.server.premature_resets == 0
