"""Bolt v1/v2 codec: exact bytes from the SOFABolt layout, round trips at every split, request
id rewriting (with CRC), heartbeats, local replies, and bad bytes that must only ever give a
ProtocolError."""

from __future__ import annotations

import struct
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pymosn.api.errors import ProtocolError
from pymosn.protocol.xprotocol.api import FrameKind, LocalStatus, Match
from pymosn.protocol.xprotocol.bolt import (
    CONNECTION_CLOSED,
    NO_PROCESSOR,
    SERVER_THREADPOOL_BUSY,
    TIMEOUT,
    BoltCodec,
    BoltV2Codec,
    decode_header_map,
    encode_header_map,
)

V1, V2 = BoltCodec(), BoltV2Codec()


def test_v1_request_bytes_follow_the_sofabolt_layout():
    raw = V1.request(0x01020304, {"service": "s"}, b"CONTENT", class_name="Cls", timeout_ms=3000)
    header_map = struct.pack(">i", 7) + b"service" + struct.pack(">i", 1) + b"s"
    assert raw == (
        b"\x01"  # proto
        b"\x01"  # type: request
        b"\x00\x01"  # cmdcode: rpc request
        b"\x01"  # ver2
        b"\x01\x02\x03\x04"  # request id
        b"\x01"  # codec: hessian2
        + struct.pack(">i", 3000)  # timeout
        + struct.pack(">HHI", 3, len(header_map), 7)
        + b"Cls" + header_map + b"CONTENT"
    )
    assert len(raw) == 22 + 3 + len(header_map) + 7


def test_v2_response_with_crc():
    raw = V2.response(9, TIMEOUT, {"k": "v"}, b"body", crc=True)
    assert raw[:2] == b"\x02\x01" and raw[2] == 0 and raw[11] == 1  # proto, ver1, type, switch
    assert struct.unpack_from(">H", raw, 12)[0] == TIMEOUT
    assert struct.unpack(">I", raw[-4:])[0] == zlib.crc32(raw[:-4])
    frame = V2.decode(bytearray(raw))
    assert frame.kind == FrameKind.RESPONSE and frame.status == TIMEOUT and frame.request_id == 9


@pytest.mark.parametrize("codec", [V1, V2], ids=["v1", "v2"])
def test_round_trip_at_every_split(codec):
    frames = [
        codec.request(1, {"service": "com.acme.Echo:1.0", "sofa_head_method_name": "echo"}, b"x" * 300,
                      class_name="com.alipay.sofa.rpc.core.request.SofaRequest"),
        codec.request(2, {}, b"one way", oneway=True),
        codec.heartbeat(3),
        codec.response(1, 0, {"a": "b"}, b"answer"),
    ]
    wire = b"".join(frames)
    for split in range(len(wire) + 1):
        buffer, out = bytearray(), []
        for chunk in (wire[:split], wire[split:]):
            buffer += chunk
            while (frame := codec.decode(buffer)) is not None:
                out.append(frame)
        assert [bytes(f.raw) for f in out] == frames
        assert not buffer
    kinds = [(f.kind, f.heartbeat) for f in out]
    assert kinds == [(FrameKind.REQUEST, False), (FrameKind.ONEWAY, False), (FrameKind.REQUEST, True),
                     (FrameKind.RESPONSE, False)]
    assert out[0].headers["sofa_head_method_name"] == "echo" and out[0].class_name.endswith("SofaRequest")


@pytest.mark.parametrize("codec", [V1, V2], ids=["v1", "v2"])
def test_request_id_rewrite_in_place(codec):
    kw = {"crc": True} if codec is V2 else {}
    frame = codec.decode(bytearray(codec.request(5, {"service": "s"}, b"p", **kw)))
    codec.set_request_id(frame, 0xFFFFFFFE)
    again = codec.decode(bytearray(frame.raw))  # a CRC frame still checks out
    assert again.request_id == 0xFFFFFFFE and again.headers == {"service": "s"}


def test_heartbeat_reply_and_local_replies():
    beat = V1.decode(bytearray(V1.heartbeat(11)))
    assert beat.heartbeat and beat.kind == FrameKind.REQUEST
    reply = V1.decode(bytearray(V1.heartbeat_reply(beat)))
    assert reply.heartbeat and reply.kind == FrameKind.RESPONSE and reply.request_id == 11 and reply.status == 0
    request = V1.decode(bytearray(V1.request(12, {"service": "s"})))
    expected = {
        LocalStatus.NO_ROUTE: NO_PROCESSOR,
        LocalStatus.NO_HEALTHY_UPSTREAM: NO_PROCESSOR,
        LocalStatus.UPSTREAM_OVERFLOW: SERVER_THREADPOOL_BUSY,
        LocalStatus.TIMEOUT: TIMEOUT,
        LocalStatus.CONNECTION_FAILURE: CONNECTION_CLOSED,
    }
    for why, status in expected.items():
        answer = V1.decode(bytearray(V1.local_reply(request, why, "because")))
        assert (answer.request_id, answer.status) == (12, status)
        assert not V1.response_ok(answer)
    assert V1.http_status(V1.decode(bytearray(V1.local_reply(request, LocalStatus.TIMEOUT, "")))) == 504


def test_match():
    assert V1.match(b"") == Match.AGAIN
    assert V1.match(b"\x01") == Match.YES and V1.match(b"\x02") == Match.NO
    assert V2.match(b"\x02\x01") == Match.YES and V2.match(b"GET ") == Match.NO


@pytest.mark.parametrize("bad", [
    b"\x07" + b"\x00" * 30,  # another protocol code
    b"\x01\x09" + b"\x00" * 30,  # unknown command type
    b"\x01\x01\x00\x07" + b"\x00" * 30,  # unknown command code
])
def test_garbage_is_a_protocol_error(bad):
    with pytest.raises(ProtocolError):
        V1.decode(bytearray(bad))


def test_crc_mismatch_and_huge_frames():
    raw = bytearray(V2.request(1, {"service": "s"}, b"data", crc=True))
    raw[-5] ^= 0xFF
    with pytest.raises(ProtocolError, match="CRC32"):
        V2.decode(raw)
    huge = bytearray(V1.request(1, {}, b""))
    struct.pack_into(">I", huge, 18, 2**31)
    with pytest.raises(ProtocolError, match="limit"):
        V1.decode(huge)


def test_header_map_overruns():
    good = encode_header_map({"key": "value"})
    assert decode_header_map(good) == {"key": "value"}
    for cut in range(1, len(good)):
        with pytest.raises(ProtocolError):
            decode_header_map(good[:cut])


headers_st = st.dictionaries(st.text(max_size=20), st.text(max_size=40), max_size=6)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from([V1, V2]), st.integers(0, 2**32 - 1), headers_st, st.binary(max_size=2000),
       st.text(max_size=40), st.booleans(), st.booleans(), st.integers(0, 3))
def test_any_frame_decodes_to_itself(codec, request_id, headers, content, class_name, oneway, crc, cut):
    kw = {"crc": crc} if codec is V2 else {}
    raw = codec.request(request_id, headers, content, class_name=class_name, oneway=oneway, **kw)
    buffer = bytearray(raw[: len(raw) // (cut + 1)])
    if len(buffer) < len(raw):
        assert codec.decode(buffer) is None  # a prefix is never a frame
        buffer += raw[len(buffer):]
    frame = codec.decode(buffer)
    assert bytes(frame.raw) == raw and not buffer
    assert (frame.request_id, frame.headers, frame.class_name) == (request_id, headers, class_name)
    assert frame.kind == (FrameKind.ONEWAY if oneway else FrameKind.REQUEST)


@settings(max_examples=500, deadline=None)
@given(st.sampled_from([V1, V2]), st.binary(max_size=300))
def test_arbitrary_bytes_never_raise_anything_but_protocol_error(codec, data):
    buffer = bytearray(data)
    try:
        while codec.decode(buffer) is not None:
            pass
    except ProtocolError:
        pass


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([V1, V2]), st.integers(0, 200), st.integers(0, 255))
def test_corrupted_frames_never_raise_anything_but_protocol_error(codec, position, value):
    raw = bytearray(codec.request(3, {"service": "a", "x": "y"}, b"payload", class_name="C"))
    raw[position % len(raw)] = value
    try:
        while codec.decode(raw) is not None:
            pass
    except ProtocolError:
        pass
