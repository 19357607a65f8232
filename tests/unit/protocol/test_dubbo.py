"""Dubbo codec and the hessian2 reader: exact header bytes, routing fields read past skipped
arguments of every hessian type, round trips at every split, id rewriting, heartbeats, local
replies, and bad bytes that only ever give a ProtocolError."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pymosn.api.errors import ProtocolError
from pymosn.protocol.xprotocol.api import FrameKind, LocalStatus, Match
from pymosn.protocol.xprotocol.dubbo import (
    CLIENT_TIMEOUT,
    OK,
    SERVICE_NOT_FOUND,
    DubboCodec,
    argument_count,
)
from pymosn.protocol.xprotocol.hessian2 import Reader, write_int, write_string, write_string_map

CODEC = DubboCodec()


def test_header_layout():
    raw = CODEC.request(0x0102030405060708, "com.acme.Echo", "echo", [write_string("hi")],
                        descriptor="Ljava/lang/String;", version="1.0", attachments={"group": "g"})
    assert raw[:2] == b"\xda\xbb"
    assert raw[2] == 0x80 | 0x40 | 2  # request, two-way, hessian2
    assert raw[4:12] == bytes(range(1, 9))
    assert struct.unpack(">I", raw[12:16])[0] == len(raw) - 16
    frame = CODEC.decode(bytearray(raw))
    assert frame.kind == FrameKind.REQUEST and frame.request_id == 0x0102030405060708
    assert frame.headers == {"dubbo": "2.0.2", "service": "com.acme.Echo", "interface": "com.acme.Echo",
                             "version": "1.0", "method": "echo", "group": "g"}


# Arguments of every hessian2 shape the skipper must get past to reach the attachments.
ARGUMENTS = [
    ("I", write_int(5)),
    ("J", b"\xe0"),  # one-byte long
    ("J", b"L" + struct.pack(">q", 2**40)),
    ("D", b"D" + struct.pack(">d", 1.5)),
    ("D", b"\x5f" + struct.pack(">i", 7)),
    ("Z", b"T"),
    ("Ljava/util/Date;", b"\x4a" + struct.pack(">q", 0)),
    ("[B", b"\x23abc"),  # short binary
    ("[B", b"B\x00\x02xy"),
    ("Ljava/util/List;", b"\x7a" + write_int(1) + write_string("two")),  # fixed untyped list of 2
    ("Ljava/util/List;", b"\x55" + write_string("java.util.ArrayList") + write_int(1) + b"Z"),
    ("Ljava/util/Map;", b"H" + write_string("k") + write_int(3) + b"Z"),
    ("Lcom/acme/Point;", b"C" + write_string("com.acme.Point") + write_int(2) + write_string("x")
     + write_string("y") + b"\x60" + write_int(1) + write_int(2)),  # class def + object
    ("Ljava/lang/String;", write_string("é" * 40)),
    ("Ljava/lang/Object;", b"N"),
]


@pytest.mark.parametrize(("descriptor", "encoded"), ARGUMENTS, ids=[f"{i}-{d}" for i, (d, _) in enumerate(ARGUMENTS)])
def test_attachments_are_read_past_any_argument(descriptor, encoded):
    raw = CODEC.request(1, "svc", "m", [encoded, write_int(9)], descriptor=descriptor + "I",
                        attachments={"group": "blue", "tag": "x"})
    frame = CODEC.decode(bytearray(raw))
    assert frame.headers["group"] == "blue" and frame.headers["tag"] == "x" and frame.headers["method"] == "m"


def test_argument_count():
    assert argument_count("") == 0
    assert argument_count("Ljava/lang/String;I[J[[Lcom/x/Y;Z") == 5
    with pytest.raises(ProtocolError):
        argument_count("Ljava/lang/String")


def test_unreadable_body_still_forwards():
    """A sound header with a body we cannot read for routing is still a frame: it forwards,
    and falls to the routes that need no header."""
    weird = bytearray(struct.pack(">2sBBqI", b"\xda\xbb", 0xC2, 0, 4, 3) + b"\x99\x99\x99")
    frame = CODEC.decode(weird)
    assert frame.kind == FrameKind.REQUEST and frame.headers == {} and len(frame.raw) == 19


def test_round_trip_split_rewrite_heartbeat_and_replies():
    frames = [CODEC.request(7, "a.B", "m", [write_string("x" * 500)], descriptor="Ljava/lang/String;"),
              CODEC.heartbeat(8), CODEC.value_response(7, write_string("ok")),
              CODEC.request(9, "a.B", "m", [], oneway=True)]
    wire = b"".join(frames)
    for split in range(0, len(wire) + 1, 3):
        buffer, out = bytearray(), []
        for chunk in (wire[:split], wire[split:]):
            buffer += chunk
            while (frame := CODEC.decode(buffer)) is not None:
                out.append(frame)
        assert [bytes(f.raw) for f in out] == frames
    assert out[1].heartbeat and out[3].kind == FrameKind.ONEWAY and out[2].status == OK
    CODEC.set_request_id(out[0], 2**62)
    assert CODEC.decode(bytearray(out[0].raw)).request_id == 2**62
    reply = CODEC.decode(bytearray(CODEC.heartbeat_reply(out[1])))
    assert reply.heartbeat and reply.kind == FrameKind.RESPONSE and reply.request_id == 8
    for why, code in ((LocalStatus.NO_ROUTE, SERVICE_NOT_FOUND), (LocalStatus.TIMEOUT, CLIENT_TIMEOUT)):
        answer = CODEC.decode(bytearray(CODEC.local_reply(out[0], why, "")))
        assert answer.status == code and answer.request_id == 2**62
        assert "|" in Reader(memoryview(answer.raw)[16:]).read_string()  # the message, as Dubbo sends it


def test_match_and_bad_magic():
    assert CODEC.match(b"\xda") == Match.AGAIN and CODEC.match(b"\xda\xbb") == Match.YES
    assert CODEC.match(b"GET") == Match.NO
    with pytest.raises(ProtocolError):
        CODEC.decode(bytearray(b"\xda\xbc" + b"\x00" * 20))
    with pytest.raises(ProtocolError):
        CODEC.decode(bytearray(struct.pack(">2sBBqI", b"\xda\xbb", 0xC2, 0, 1, 2**31)))


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 2**63 - 1), st.text(max_size=60), st.text(max_size=30),
       st.dictionaries(st.text(max_size=15), st.text(max_size=30), max_size=5), st.booleans())
def test_any_request_decodes_to_itself(request_id, path, method, attachments, oneway):
    raw = CODEC.request(request_id, path, method, [write_string(method)], descriptor="Ljava/lang/String;",
                        attachments=attachments, oneway=oneway)
    frame = CODEC.decode(bytearray(raw))
    assert bytes(frame.raw) == raw and frame.request_id == request_id
    assert frame.headers["service"] == path and frame.headers["method"] == method
    for key, value in attachments.items():
        assert frame.headers[key] == value or key in ("dubbo", "service", "interface", "version", "method")


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_only_protocol_errors(data):
    buffer = bytearray(data)
    try:
        while CODEC.decode(buffer) is not None:
            pass
    except ProtocolError:
        pass
    reader = Reader(data)
    try:
        while not reader.at_end():
            reader.skip()
    except ProtocolError:
        pass


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 400), st.integers(0, 255))
def test_corrupted_requests_only_protocol_errors(position, value):
    raw = bytearray(CODEC.request(1, "svc", "m", [encoded for _, encoded in ARGUMENTS[:6]],
                                  descriptor="IJJDDZ", attachments={"group": "g"}))
    raw[position % len(raw)] = value
    try:
        while CODEC.decode(raw) is not None:
            pass
    except ProtocolError:
        pass


def test_string_map_round_trip():
    assert Reader(write_string_map({"a": "1", "ü": "😀"})).read_string_map() == {"a": "1", "ü": "😀"}
