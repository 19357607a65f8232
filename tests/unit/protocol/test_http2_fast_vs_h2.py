"""The fast HTTP/2 server codec against the h2-based one (the oracle): the same generated
client byte streams go through an `Http2ServerConnection` over each, and what matters must
agree: the requests, bodies, trailers and resets the receivers see, and the responses,
RST_STREAM codes, PING answers and GOAWAY codes the client gets.

WINDOW_UPDATE and SETTINGS frames are left out of the comparison: when and how much credit
is given back is each codec's own policy. Content-length is not generated: h2 checks it
itself, as a connection error, where RFC 9113 (and the fast codec) say stream error."""

from __future__ import annotations

import hpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pymosn.protocol.http1.head import BODY_LENGTH
from pymosn.protocol.http2 import Http2Settings
from pymosn.protocol.http2.fast_server import FastServerCodec
from pymosn.protocol.http2.h2_server import H2ServerCodec
from pymosn.stream.http2.server import Http2ServerConnection
from tests.support.h2_frames import PREFACE, frame
from tests.unit.stream.test_http2_server import fake_connection

BASE = [(b":method", b"GET"), (b":scheme", b"http"), (b":authority", b"t"), (b":path", b"/")]


class Answering:
    """A receiver that records what it is told and answers once the request has ended (or
    at once, for paths starting /early: the response then races the request body)."""

    def __init__(self, stream, head, log) -> None:
        self.stream, self.log = stream, log
        if head is None:  # refused before its head was read: on_bad_request comes next
            return
        self.early = head.target.startswith(b"/early")
        log.append(("request", stream.stream_id, head.method, head.target, [(n, v) for n, v in head.headers]))

    def on_bad_request(self, head, reset):
        self.log.append(("bad request", self.stream.stream_id, reset.status))
        if reset.status:  # answered as the proxy does
            body = reset.detail.encode()
            self.stream.send_headers(reset.status, [(b"content-length", b"%d" % len(body))], BODY_LENGTH, False)
            self.stream.send_data(body, True)

    def on_headers(self, head, end_stream):
        if end_stream or self.early:
            self.answer()

    def on_data(self, data, end_stream):
        self.log.append(("data", self.stream.stream_id, bytes(data), end_stream))
        if end_stream and not self.early:
            self.answer()

    def on_trailers(self, trailers):
        self.log.append(("trailers", self.stream.stream_id, trailers))
        if not self.early:
            self.answer()

    def on_reset(self, reason):
        self.log.append(("reset", self.stream.stream_id))

    def answer(self):
        body = b"answer %d" % self.stream.stream_id
        self.stream.send_headers(200, [(b"content-length", b"%d" % len(body))], BODY_LENGTH, False)
        self.stream.send_data(body, True)


def parse_output(data: bytes) -> list:
    """The frames that matter, HEADERS decoded."""
    decoder = hpack.Decoder()
    decoder.max_allowed_table_size = 2**20  # whatever SETTINGS_HEADER_TABLE_SIZE was generated
    out, pos = [], 0
    block: bytearray | None = None
    while pos + 9 <= len(data):
        length = int.from_bytes(data[pos:pos + 3], "big")
        kind, flags, sid = data[pos + 3], data[pos + 4], int.from_bytes(data[pos + 5:pos + 9], "big")
        payload = data[pos + 9:pos + 9 + length]
        pos += 9 + length
        if kind in (1, 9):
            block = (bytearray() if kind == 1 else block) + payload
            if flags & 4:
                out.append(("HEADERS", sid, decoder.decode(bytes(block), raw=True), bool(flags & 1) if kind == 1 else None))
                block = None
        elif kind == 0:
            out.append(("DATA", sid, payload, bool(flags & 1)))
        elif kind == 3:
            out.append(("RST_STREAM", sid, int.from_bytes(payload, "big")))
        elif kind == 6:
            out.append(("PING", flags, payload))
        elif kind == 7:
            out.append(("GOAWAY", int.from_bytes(payload[4:8], "big")))
    return out


def run(codec, chunks: list[bytes], options: Http2Settings) -> tuple[list, list, bool]:
    conn, transport = fake_connection()
    log: list = []
    server = Http2ServerConnection(conn, lambda stream, head: Answering(stream, head, log), options, codec=codec)
    server.on_new_connection()
    for chunk in chunks:
        if conn.closed:
            break
        server.on_data(chunk)
        conn.loop.run()
    conn.loop.run()
    return log, parse_output(bytes(transport.out)), conn.closed


def normalized(frames: list) -> dict:
    """Frames per stream, in order (0: the connection's). Across streams the order is free:
    the oracle dispatches a read's events after parsing all of it, the fast codec as it goes.
    A response's end as its own empty DATA frame or on the last one is the same. After our
    RST_STREAM, frames on the stream must be ignored (RFC 9113 5.1); h2 answers some with
    another RST_STREAM, which is left out."""
    by_stream: dict = {}
    for f in frames:
        if f[0] == "RST_STREAM" and any(g[0] == "RST_STREAM" for g in by_stream.get(f[1], ())):
            continue
        if f[0] == "DATA" and not f[2] and f[3] and by_stream.get(f[1]) and by_stream[f[1]][-1][0] == "DATA":
            last = by_stream[f[1]].pop()
            f = ("DATA", f[1], last[2], True)
        by_stream.setdefault(f[1] if f[0] in ("HEADERS", "DATA", "RST_STREAM") else 0, []).append(f)
    return by_stream


def frames_of(data: bytes) -> list[bytes]:
    """The oracle is fed one frame per read: h2 dispatches a read's events only after parsing
    all of it, which would let it see (say) a request's end before the answer to its head."""
    out, pos = [], 0
    if data.startswith(PREFACE):
        out.append(PREFACE)
        pos = len(PREFACE)
    while pos < len(data):
        end = pos + 9 + int.from_bytes(data[pos:pos + 3], "big")
        out.append(data[pos:end])
        pos = end
    return out


def assert_same(chunks: list[bytes], options: Http2Settings | None = None) -> None:
    options = options or Http2Settings(max_concurrent_streams=8)
    fast = run(FastServerCodec, chunks, options)
    data = b"".join(chunks)
    oracle = run(H2ServerCodec, frames_of(data) if data.startswith(PREFACE) else chunks, options)
    assert fast[0] == oracle[0], "receiver events differ"
    assert normalized(fast[1]) == normalized(oracle[1]), "frames to the client differ"
    assert fast[2] == oracle[2], "one closed the connection, the other did not"


# --- generated client streams ---------------------------------------------------------------------


@st.composite
def client_streams(draw):
    """A preface, SETTINGS, then a mix of requests (some malformed), bodies, trailers,
    resets, pings, window updates, priorities and the odd protocol violation."""
    encoder = hpack.Encoder()
    frames = [PREFACE, frame(4, 0, 0, b"")]
    opened: list[int] = []
    next_sid = 1
    for _ in range(draw(st.integers(1, 14))):
        action = draw(st.sampled_from(["request", "request", "body", "trailers", "reset", "ping", "window",
                                       "priority", "settings", "violation", "goaway"]))
        if action == "request" or not opened and action in ("body", "trailers", "reset"):
            sid = next_sid
            next_sid += 2
            path = draw(st.sampled_from([b"/", b"/early", b"/x?y=1", b"", b"rel"]))
            extra = draw(st.lists(st.tuples(st.sampled_from([b"x-a", b"cookie", b"te", b"connection", b"X-Up", b":extra"]),
                                            st.sampled_from([b"1", b"trailers", b"a=b", b" sp"])), max_size=3))
            block = encoder.encode(BASE[:3] + [(b":path", path)] + extra)
            end_stream = draw(st.booleans())
            padded = draw(st.booleans())
            # split over CONTINUATION frames, some maybe empty, up to past the frame bound
            cuts = sorted(draw(st.lists(st.integers(0, len(block)), max_size=draw(st.sampled_from([0, 3, 10])))))
            parts = [block[a:b] for a, b in zip([0, *cuts], [*cuts, len(block)])]
            padded = padded and parts[0]  # hyperframe refuses a padded empty fragment (RFC 9113 allows it)
            flags = (4 if len(parts) == 1 else 0) | (1 if end_stream else 0) | (8 if padded else 0)
            frames.append(frame(1, flags, sid, (b"\x02" + parts[0] + b"\x00\x00") if padded else parts[0]))
            frames += [frame(9, 4 if i == len(parts) - 1 else 0, sid, part) for i, part in enumerate(parts) if i]
            opened.append(sid)
        elif action == "body":
            sid = draw(st.sampled_from(opened))
            payload = draw(st.binary(max_size=40))
            padded = draw(st.booleans())
            flags = (1 if draw(st.booleans()) else 0) | (8 if padded else 0)
            frames.append(frame(0, flags, sid, (b"\x03" + payload + b"\x00" * 3) if padded else payload))
        elif action == "trailers":
            sid = draw(st.sampled_from(opened))
            fields = draw(st.sampled_from([[(b"x-t", b"1")], [(b":path", b"/t")], [(b"grpc-status", b"0")]]))
            frames.append(frame(1, 5, sid, encoder.encode(fields)))
        elif action == "reset":
            frames.append(frame(3, 0, draw(st.sampled_from(opened)), draw(st.sampled_from([0, 8])).to_bytes(4, "big")))
        elif action == "ping":
            frames.append(frame(6, 0, 0, draw(st.binary(min_size=8, max_size=8))))
        elif action == "window":
            sid = draw(st.sampled_from([0, *opened]))
            frames.append(frame(8, 0, sid, draw(st.integers(1, 2**20)).to_bytes(4, "big")))
        elif action == "priority":
            sid = draw(st.sampled_from([*opened, next_sid]))
            frames.append(frame(2, 0, sid, draw(st.integers(0, 9)).to_bytes(4, "big") + b"\x10"))
        elif action == "settings":
            # no bad MAX_FRAME_SIZE: h2 checks only the last value a frame gives a setting
            params = draw(st.lists(st.tuples(st.sampled_from([1, 3, 4, 5, 6]), st.sampled_from([16384, 65535, 2**20])),
                                   max_size=3))
            frames.append(frame(4, 0, 0, b"".join(k.to_bytes(2, "big") + v.to_bytes(4, "big") for k, v in params)))
        elif action == "goaway":
            frames.append(frame(7, 0, 0, (0).to_bytes(4, "big") + draw(st.sampled_from([0, 2])).to_bytes(4, "big")))
        else:
            frames.append(draw(st.sampled_from([
                frame(0, 1, 0, b"x"),  # DATA on stream 0
                frame(4, 0, 1, b""),  # SETTINGS on a stream
                frame(4, 0, 0, b"\x00\x04\x80\x00\x00\x00"),  # window too large
                frame(4, 0, 0, b"\x00\x04\x00"),  # bad length
                frame(6, 0, 0, b"1234"),  # PING wrong size
                frame(8, 0, 0, b"\x00\x00\x00\x00"),  # WINDOW_UPDATE zero
                frame(8, 0, 0, (2**31 - 1).to_bytes(4, "big")),  # overflow
                # CONTINUATION without HEADERS, on an idle stream: on a closed one h2 says
                # STREAM_CLOSED, the fast codec PROTOCOL_ERROR (RFC 9113 6.10)
                frame(9, 4, next_sid + 40, b""),
                frame(5, 4, 1, b"\x00\x00\x00\x02"),  # PUSH_PROMISE
                frame(1, 5, 2, b"\x82"),  # HEADERS on an even stream
                frame(0, 0, next_sid + 40, b"x"),  # DATA on an idle stream
                frame(0x10, 0, 0, b"unknown"),  # unknown type: ignored
            ])))
    data = b"".join(frames)
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=4)))
    return [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)]) if b > a]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(chunks=client_streams())
def test_generated_client_streams_agree(chunks):
    assert_same(chunks)


# --- cases worth naming -----------------------------------------------------------------------------


def _headers(sid: int, fields, end_stream=True, encoder=None) -> bytes:
    return frame(1, 5 if end_stream else 4, sid, (encoder or hpack.Encoder()).encode(fields))


@pytest.mark.parametrize("violation", [
    frame(1, 5, 1, b"\xff\xff\xff\xff\xff"),  # garbage HPACK: COMPRESSION_ERROR
    frame(0, 0, 1, b"x" * 20000),  # over max_frame_size
    frame(1, 4, 1, hpack.Encoder().encode(BASE)) + frame(0, 0, 1, b"x"),  # not CONTINUATION
])
def test_connection_errors_agree(violation):
    assert_same([PREFACE + frame(4, 0, 0, b"") + violation])


@pytest.mark.parametrize("flood", [
    _headers(1, [(b":method", b"POST"), *BASE[1:]], end_stream=False) + frame(0, 0, 1, b"") * 2,  # empty DATA
    frame(1, 1, 1, hpack.Encoder().encode(BASE)) + frame(9, 0, 1, b"") * 2,  # empty CONTINUATION
    frame(1, 0x21, 1, b"\x00\x00\x00\x03\x10") + frame(9, 0, 1, b"") * 2,  # priority only, empty
    frame(1, 1, 1, b"\x82") + b"".join(frame(9, 0, 1, b"\x86") for _ in range(9)),  # nine CONTINUATIONs
])
def test_floods_agree(flood):
    assert_same([PREFACE + frame(4, 0, 0, b"") + flood])


def test_not_a_preface_closes_both():
    chunks = [b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"]
    fast, oracle = run(FastServerCodec, chunks, Http2Settings()), run(H2ServerCodec, chunks, Http2Settings())
    assert fast[2] and oracle[2] and not fast[0] and not oracle[0]
    assert normalized(fast[1]) == {0: [("GOAWAY", 1)]}  # h2 closes without one


@pytest.mark.parametrize("block", [
    b"\x40\x05abc",  # a literal shorter than its length: HPACKError
    b"\x7f",  # ends inside a multi-byte integer: jh2's Rust decoder panics (a BaseException)
    b"\x82\x3f",
])
def test_a_block_hpack_cannot_decode_closes_both(block):
    """RFC 9113 4.3 names the error COMPRESSION_ERROR; jh2's h2 says PROTOCOL_ERROR when its
    decoder panics."""
    data = [PREFACE + frame(4, 0, 0, b"") + frame(1, 5, 1, block)]
    log, frames, closed = run(FastServerCodec, data, Http2Settings())
    assert closed and not log and normalized(frames)[0] == [("GOAWAY", 0x9)]
    log, frames, closed = run(H2ServerCodec, data, Http2Settings())
    assert closed and not log and [kind for kind, _ in normalized(frames)[0]] == ["GOAWAY"]


def test_headers_split_over_continuation_agree():
    block = hpack.Encoder().encode(BASE + [(b"x-long", b"v" * 3000)])
    data = frame(1, 1, 1, block[:100]) + frame(9, 0, 1, block[100:2000]) + frame(9, 4, 1, block[2000:])
    assert_same([PREFACE + frame(4, 0, 0, b"") + data])


def test_streams_over_the_limit_agree():
    encoder = hpack.Encoder()
    data = b"".join(_headers(sid, BASE, end_stream=False, encoder=encoder) for sid in range(1, 25, 2))
    assert_same([PREFACE + frame(4, 0, 0, b"") + data], Http2Settings(max_concurrent_streams=4))


def test_large_header_list_is_answered_431_by_both():
    data = _headers(1, BASE + [(b"x-big", b"v" * 6000)])
    assert_same([PREFACE + frame(4, 0, 0, b"") + data], Http2Settings(max_header_list_size=4096))


def test_client_reset_and_late_frames_agree():
    encoder = hpack.Encoder()
    data = (_headers(1, BASE, end_stream=False, encoder=encoder) + frame(3, 0, 1, b"\x00\x00\x00\x08")
            + frame(0, 0, 1, b"late") + _headers(3, BASE, encoder=encoder))
    assert_same([PREFACE + frame(4, 0, 0, b"") + data])


def test_client_goaway_lets_open_streams_finish_in_both():
    encoder = hpack.Encoder()
    data = (_headers(1, [(b":method", b"POST"), *BASE[1:3], (b":path", b"/up")], end_stream=False, encoder=encoder)
            + frame(7, 0, 0, b"\x00\x00\x00\x01\x00\x00\x00\x00") + frame(0, 1, 1, b"body"))
    assert_same([PREFACE + frame(4, 0, 0, b"") + data])


@pytest.mark.parametrize("body", [b"too long", b"ab"])
def test_body_other_than_content_length_is_a_stream_error_in_fast(body):
    """The one difference by design: h2 makes it a connection error (RFC 9113 8.1.1 says
    stream error); the fast codec resets the stream and the connection serves on."""
    encoder = hpack.Encoder()
    post = [(b":method", b"POST"), *BASE[1:3], (b":path", b"/up"), (b"content-length", b"3")]
    data = (PREFACE + frame(4, 0, 0, b"") + _headers(1, post, end_stream=False, encoder=encoder)
            + frame(0, 1, 1, body) + _headers(3, BASE, encoder=encoder))
    log, frames, closed = run(FastServerCodec, [data], Http2Settings())
    assert ("reset", 1) in log and not closed
    assert normalized(frames)[1] == [("RST_STREAM", 1, 1)]
    assert normalized(frames)[3][0][2][0] == (b":status", b"200")
    log, frames, closed = run(H2ServerCodec, frames_of(data), Http2Settings())
    assert normalized(frames)[0] == [("GOAWAY", 1)]
