"""The HTTP/2 flood bounds at the server connection, raw frames in, over both server codecs:
frames queued while the transport is above its write watermark (PING, SETTINGS and RST_STREAM
floods), consecutive empty frames, a header block's CONTINUATION count and its time. Each is
GOAWAY ENHANCE_YOUR_CALM, its counter, and the connection closed."""

from __future__ import annotations

import hpack
import pytest

from pymosn.metrics.stats import ClusterStats, ListenerStats
from pymosn.protocol.http2 import Http2Settings
from pymosn.protocol.http2.flood import Flood, OutboundQueue, count_frames
from pymosn.stream.http2 import server as server_module
from pymosn.stream.http2.client import Http2ClientConnection, Http2ClientSettings
from pymosn.stream.http2.server import Http2ServerConnection
from tests.support.fakes import connection_on
from tests.support.h2_frames import (
    ACK,
    CONTINUATION,
    DATA,
    END_HEADERS,
    END_STREAM,
    GOAWAY,
    HEADERS,
    PING,
    PREFACE,
    RST_STREAM,
    SETTINGS,
    frame,
    frames,
)
from tests.unit.stream.test_http2_client import Owner
from tests.unit.stream.test_http2_server import FakeLoop, fake_connection

GET = [(b":method", b"GET"), (b":scheme", b"http"), (b":authority", b"t"), (b":path", b"/")]
POST = [(b":method", b"POST"), *GET[1:]]
ENHANCE_YOUR_CALM = 0xB


@pytest.fixture(params=sorted(server_module.CODECS))
def codec(request):
    return server_module.CODECS[request.param]


class Server:
    """A server connection fed raw client bytes; its receivers answer nothing."""

    def __init__(self, codec, settings: Http2Settings | None = None) -> None:
        self.conn, self.transport = fake_connection()
        self.stats = ListenerStats()
        self.requests: list = []
        self.resets: list = []
        self.server = Http2ServerConnection(self.conn, self._receiver, settings or Http2Settings(), self.stats,
                                            codec=codec)
        self.server.on_new_connection()
        self.send(PREFACE + frame(SETTINGS, 0, 0))
        self.transport.out.clear()

    def _receiver(self, stream, head):
        server = self

        class Receiver:
            def on_headers(self, head, end_stream):
                server.requests.append(stream.stream_id)

            def on_data(self, data, end_stream):
                pass

            def on_reset(self, reason):
                server.resets.append(stream.stream_id)

        return Receiver()

    def send(self, data: bytes) -> list:
        """Feeds `data` (one frame per read, as the h2 codec dispatches a read's events only
        after parsing all of it); returns the frames written back."""
        start = len(self.transport.out)
        pos = 0
        if data.startswith(PREFACE):
            self.server.on_data(PREFACE)
            pos = len(PREFACE)
        while pos < len(data) and not self.conn.closed:
            end = pos + 9 + int.from_bytes(data[pos:pos + 3], "big")
            self.server.on_data(data[pos:end])
            pos = end
        self.conn.loop.run()
        return frames(bytes(self.transport.out[start:]))

    def goaway_codes(self) -> list[int]:
        return [int.from_bytes(p[4:8], "big") for kind, _, _, p in frames(bytes(self.transport.out)) if kind == GOAWAY]

    def counted(self) -> dict[str, int]:
        return {flood.value: getattr(self.stats, flood.value) for flood in Flood if getattr(self.stats, flood.value)}


def headers(sid: int, fields, flags: int, encoder: hpack.Encoder | None = None) -> bytes:
    return frame(HEADERS, flags, sid, (encoder or hpack.Encoder()).encode(fields))


def assert_flood(s: Server, flood: Flood) -> None:
    assert s.conn.closed
    assert s.goaway_codes()[-1:] == [ENHANCE_YOUR_CALM]
    assert s.counted() == {flood.value: 1}
    assert s.stats.downstream_rq_protocol_error == 0  # a flood, not a protocol error


# --- frames counted in what is written ---------------------------------------------------------


def test_count_frames_counts_acks_and_resets_as_control_frames():
    data = (frame(PING, ACK, 0, b"12345678") + frame(SETTINGS, ACK, 0) + frame(RST_STREAM, 0, 1, b"\0\0\0\x08")
            + frame(PING, 0, 0, b"12345678") + frame(SETTINGS, 0, 0) + frame(DATA, 0, 1, b"body")
            + frame(HEADERS, END_HEADERS, 1, b"\x88"))
    assert count_frames(data) == (7, 3)
    assert count_frames(b"") == (0, 0)


def test_outbound_queue_names_the_bound_passed_and_forgets_once_drained():
    queue = OutboundQueue(max_frames=4, max_control=2)
    assert queue.queue(frame(PING, ACK, 0, b"12345678") * 2) is None
    assert queue.queue(frame(PING, ACK, 0, b"12345678")) is Flood.OUTBOUND_CONTROL
    queue.drained()
    assert queue.queue(frame(DATA, 0, 1, b"x") * 4) is None
    assert queue.queue(frame(DATA, 0, 1, b"x")) is Flood.OUTBOUND


# --- outbound: frames queued while the client does not read -----------------------------------


@pytest.mark.parametrize(("flood_frame", "answer"), [
    (frame(PING, 0, 0, b"12345678"), PING),
    (frame(SETTINGS, 0, 0), SETTINGS),
])
def test_acks_are_unbounded_below_the_watermark_and_bounded_above_it(codec, flood_frame, answer):
    s = Server(codec, Http2Settings(max_outbound_control_frames=10))
    assert len(s.send(flood_frame * 50)) == 50  # the client reads: nothing is queued
    s.server.on_above_write_high_watermark()
    assert [f[0] for f in s.send(flood_frame * 10)] == [answer] * 10
    s.server.on_below_write_low_watermark()  # drained: the count starts again
    s.server.on_above_write_high_watermark()
    assert len(s.send(flood_frame * 10)) == 10 and not s.conn.closed
    out = s.send(flood_frame)
    assert [f[0] for f in out] == [GOAWAY]  # the eleventh ack is not queued; GOAWAY is
    assert_flood(s, Flood.OUTBOUND_CONTROL)
    assert s.server.flood_guard._abort_timer is None  # cancelled: the connection closed


def test_a_flood_closes_within_a_second_even_if_never_flushed(codec):
    s = Server(codec, Http2Settings(max_outbound_control_frames=1))
    s.transport.close = lambda: None  # the transport never finishes flushing to a client that does not read
    s.server.on_above_write_high_watermark()
    s.send(frame(PING, 0, 0, b"12345678") * 2)
    (timer,) = [h for h in s.conn.loop.later if not h.cancelled and h.fn == s.conn.abort]
    timer.fn(*timer.args)
    assert s.transport.aborted


def test_resets_count_as_control_frames(codec):
    s = Server(codec, Http2Settings(max_outbound_control_frames=3))
    encoder = hpack.Encoder()
    for sid in range(1, 9, 2):
        s.send(headers(sid, GET, END_HEADERS | END_STREAM, encoder))
    s.server.on_above_write_high_watermark()
    for sid in range(1, 9, 2):  # DATA after END_STREAM: each answered RST_STREAM(STREAM_CLOSED)
        s.send(frame(DATA, END_STREAM, sid, b"x"))
    assert_flood(s, Flood.OUTBOUND_CONTROL)


def test_all_frames_are_bounded(codec):
    """Responses queue too: a client that opens streams and never reads their answers."""
    s = Server(codec, Http2Settings(max_outbound_frames=3, max_outbound_control_frames=100))
    encoder = hpack.Encoder()
    s.send(headers(1, GET, END_HEADERS | END_STREAM, encoder))  # left waiting for its upstream
    s.server.on_above_write_high_watermark()
    for sid in range(3, 13, 2):
        s.send(headers(sid, GET, END_HEADERS | END_STREAM, encoder))
        stream = s.server.streams.get(sid)
        if stream is not None:
            stream.send_headers(204, [], 0, True)
            s.conn.loop.run()
    assert_flood(s, Flood.OUTBOUND)
    assert s.resets == [1]  # the stream still open was ended


# --- inbound: empty frames -----------------------------------------------------------------------


def test_consecutive_empty_data_frames(codec):
    s = Server(codec)
    s.send(headers(1, POST, END_HEADERS))
    s.send(frame(DATA, 0, 1) + frame(DATA, 0, 1, b"x") + frame(DATA, 0, 1))  # one empty at a time
    assert not s.conn.closed
    s.send(frame(DATA, 0, 1))
    assert_flood(s, Flood.INBOUND_EMPTY_FRAMES)
    assert s.resets == [1]


def test_empty_data_with_end_stream_and_padding_only_frames(codec):
    s = Server(codec)
    s.send(headers(1, POST, END_HEADERS))
    s.send(frame(DATA, END_STREAM, 1))  # the usual end of a body: not empty-without-end
    s.send(headers(3, POST, END_HEADERS))
    s.send(frame(DATA, 0x8, 3, b"\x02\0\0"))  # padding only: empty
    assert not s.conn.closed
    s.send(frame(DATA, 0x8, 3, b"\x00"))
    assert_flood(s, Flood.INBOUND_EMPTY_FRAMES)


def test_empty_frames_limit_is_configurable(codec):
    s = Server(codec, Http2Settings(max_consecutive_inbound_frames_with_empty_payload=3))
    s.send(headers(1, POST, END_HEADERS) + frame(DATA, 0, 1) * 3)
    assert not s.conn.closed
    s.send(frame(DATA, 0, 1))
    assert_flood(s, Flood.INBOUND_EMPTY_FRAMES)


def test_empty_continuation_flood(codec):
    block = hpack.Encoder().encode(GET)
    s = Server(codec)
    s.send(frame(HEADERS, END_STREAM, 1, block) + frame(CONTINUATION, 0, 1))
    assert not s.conn.closed
    s.send(frame(CONTINUATION, 0, 1))
    assert_flood(s, Flood.INBOUND_EMPTY_FRAMES)
    assert not s.requests


# --- inbound: a header block's frames and time ---------------------------------------------------


def block_in(pieces: int, fields=GET) -> bytes:
    block = hpack.Encoder().encode(fields)
    size = -(-len(block) // pieces)
    parts = [block[i:i + size] for i in range(0, len(block), size)]
    assert len(parts) == pieces
    out = frame(HEADERS, END_STREAM if len(parts) > 1 else END_STREAM | END_HEADERS, 1, parts[0])
    for i, part in enumerate(parts[1:], 1):
        out += frame(CONTINUATION, END_HEADERS if i == len(parts) - 1 else 0, 1, part)
    return out


def test_header_block_of_eight_continuations_is_a_request(codec):
    s = Server(codec)
    s.send(block_in(9, GET + [(b"x-long", b"v" * 40)]))
    assert s.requests == [1] and not s.conn.closed


def test_header_block_of_nine_continuations_is_a_flood(codec):
    s = Server(codec)
    s.send(block_in(10, GET + [(b"x-long", b"v" * 40)]))
    assert_flood(s, Flood.HEADER_BLOCK_FRAMES)
    assert not s.requests


def test_continuation_bound_grows_with_the_header_list_limit():
    assert Http2Settings().max_continuation_frames == 8
    assert Http2Settings(max_header_list_size=96 * 1024).max_continuation_frames == 12


def open_block_timers(s: Server) -> list:
    return [h for h in s.conn.loop.later if not h.cancelled and h.fn == s.server.flood_guard._header_block_expired]


def test_header_block_left_open_past_its_time(codec):
    s = Server(codec, Http2Settings(header_block_timeout=7.0))
    block = hpack.Encoder().encode(GET)
    s.send(frame(HEADERS, END_STREAM, 1, block[:2]))
    (timer,) = open_block_timers(s)
    timer.fn(*timer.args)  # seven seconds later, the block still open
    assert_flood(s, Flood.HEADER_BLOCK_TIMEOUT)


def test_header_block_finished_in_time_disarms_its_timer(codec):
    s = Server(codec, Http2Settings(header_block_timeout=7.0))
    block = hpack.Encoder().encode(GET)
    s.send(frame(HEADERS, END_STREAM, 1, block[:2]) + frame(CONTINUATION, END_HEADERS, 1, block[2:]))
    assert s.requests == [1] and not open_block_timers(s)
    s.send(frame(HEADERS, END_STREAM | END_HEADERS, 3, hpack.Encoder().encode(GET)))
    assert not open_block_timers(s)  # a block in one frame arms nothing


@pytest.mark.parametrize("values", [
    {"max_outbound_frames": 0}, {"max_outbound_control_frames": -1},
    {"max_consecutive_inbound_frames_with_empty_payload": -1}, {"header_block_timeout": -1.0},
])
def test_settings_out_of_bounds_are_named(values):
    (problem,) = Http2Settings(**values).problems()
    assert problem[0] == next(iter(values))


# --- the upstream client: an upstream that sends PINGs and does not read ------------------------


def test_upstream_that_does_not_read_its_acks_is_cut_off():
    conn, transport = connection_on(FakeLoop())
    stats = ClusterStats()
    client = Http2ClientConnection(conn, Owner(), scheme=b"http", authority=b"origin", stats=stats,
                                   settings=Http2ClientSettings(max_outbound_control_frames=5))
    client.start()
    client.on_data(frame(SETTINGS, 0, 0))
    transport.take()
    client.on_data(frame(PING, 0, 0, b"12345678") * 20)  # read: answered, nothing queued
    assert [f[0] for f in frames(transport.take())] == [PING] * 20
    conn.write_paused = True
    client.on_data(frame(PING, 0, 0, b"12345678") * 5)
    assert len(frames(transport.take())) == 5 and not conn.closed
    client.on_data(frame(PING, 0, 0, b"12345678"))
    (goaway,) = frames(transport.take())
    assert goaway[0] == GOAWAY and int.from_bytes(goaway[3][4:8], "big") == ENHANCE_YOUR_CALM
    assert conn.closed and stats.http2_outbound_control_flood == 1 and client.available() == 0
    assert [h.fn for h in conn.loop.later] == [conn.abort]  # closed within a second regardless
