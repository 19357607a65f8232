"""What the X-Protocol codecs give stream filters: a frame's header map and body, changed headers
re-encoded into exact bytes (Bolt's header map, with v2's CRC; Dubbo's attachments; x_example's
section), and a filter's HTTP status answered in the protocol's own status (MOSN's Mapping)."""

from __future__ import annotations

import struct
import zlib

import pytest

from pymosn.api.errors import ProtocolError
from pymosn.protocol.xprotocol import bolt, dubbo, example
from pymosn.protocol.xprotocol.api import Frame, FrameKind, LocalStatus, XCodec
from pymosn.protocol.xprotocol.hessian2 import write_int, write_string

V1, V2, DUBBO, EXAMPLE = bolt.BoltCodec(), bolt.BoltV2Codec(), dubbo.DubboCodec(), example.ExampleCodec()


def _decode(codec: XCodec, raw: bytes) -> Frame:
    frame = codec.decode(bytearray(raw))
    assert frame is not None
    return frame


@pytest.mark.parametrize(("codec", "extra"), [(V1, {}), (V2, {}), (V2, {"crc": True})], ids=["v1", "v2", "v2-crc"])
def test_bolt_request_headers_rewritten_exactly_as_a_fresh_frame(codec, extra):
    received = {"service": "com.acme.Echo:1.0", "rpc_trace_context.sofaTraceId": "t1"}
    frame = _decode(codec, codec.request(7, received, b"CONTENT", class_name=bolt.SOFA_REQUEST_CLASS, **extra))
    assert codec.body_of(frame) == b"CONTENT" and codec.headers_of(frame) is frame.headers
    changed = {"service": "com.acme.Echo:2.0", "rpc_trace_context.sofaTraceId": "t1", "x-caller": "app"}
    codec.rewrite_headers(frame, changed)
    assert bytes(frame.raw) == codec.request(7, changed, b"CONTENT", class_name=bolt.SOFA_REQUEST_CLASS, **extra)
    assert frame.headers == changed
    again = _decode(codec, bytes(frame.raw))  # the CRC (v2) matches the new bytes
    assert again.headers == changed and again.class_name == bolt.SOFA_REQUEST_CLASS
    codec.set_request_id(frame, 99)  # the proxy's id rewrite still lands in the right place
    assert _decode(codec, bytes(frame.raw)).request_id == 99


@pytest.mark.parametrize(("codec", "extra"), [(V1, {}), (V2, {"crc": True})], ids=["v1", "v2-crc"])
def test_bolt_response_headers_are_decoded_on_demand_and_rewritten(codec, extra):
    raw = codec.response(3, bolt.SUCCESS, {"sofa_head_response": "ok"}, b"RESULT", class_name=bolt.SOFA_RESPONSE_CLASS,
                         **extra)
    frame = _decode(codec, raw)
    assert frame.headers == {}  # forwarded without decoding its header map
    assert codec.headers_of(frame) == {"sofa_head_response": "ok"} and codec.body_of(frame) == b"RESULT"
    codec.rewrite_headers(frame, {})
    assert bytes(frame.raw) == codec.response(3, bolt.SUCCESS, {}, b"RESULT", class_name=bolt.SOFA_RESPONSE_CLASS,
                                              **extra)


def test_bolt_refuses_a_header_map_its_16_bit_length_cannot_hold():
    frame = _decode(V1, V1.request(1, {"service": "s"}, b"x"))
    before = bytes(frame.raw)
    with pytest.raises(ProtocolError):
        V1.rewrite_headers(frame, {"big": "v" * 70000})
    assert bytes(frame.raw) == before


@pytest.mark.parametrize(("code", "status"), [
    (403, bolt.SERVER_EXCEPTION), (404, bolt.NO_PROCESSOR), (502, bolt.NO_PROCESSOR),
    (503, bolt.SERVER_THREADPOOL_BUSY), (504, bolt.TIMEOUT), (200, bolt.SUCCESS), (0, bolt.CODEC_EXCEPTION),
    (3, bolt.SERVER_DESERIAL_EXCEPTION), (413, bolt.UNKNOWN), (429, bolt.UNKNOWN), (500, bolt.UNKNOWN),
    (509, bolt.UNKNOWN),
])
def test_bolt_answers_a_filter_status_as_mosns_bolt_mapping(code, status):
    request = _decode(V2, V2.request(11, {"service": "s"}, b"", crc=True))
    reply = _decode(V2, V2.status_reply(request, code, "denied"))
    assert reply.kind == FrameKind.RESPONSE and reply.request_id == 11 and reply.status == status
    assert bytes(reply.raw) == V2.response(11, status, crc=True)  # the status alone, CRC as the caller's


@pytest.mark.parametrize(("code", "status", "text"), [
    (403, dubbo.SERVER_ERROR, "403|permission denied"), (404, dubbo.SERVICE_NOT_FOUND, "404|router unavailable"),
    (503, dubbo.BAD_REQUEST, "503|upstream overflow"), (509, dubbo.BAD_REQUEST, "509|limit exceeded"),
    (504, dubbo.CLIENT_TIMEOUT, "504|timeout"), (500, dubbo.SERVICE_ERROR, "500|internal error"),
    (413, dubbo.SERVICE_ERROR, "413|request_payload_too_large"),
])
def test_dubbo_answers_a_filter_status_as_mosns_dubbo_hijack(code, status, text):
    request = _decode(DUBBO, DUBBO.request(5, "com.acme.Echo", "echo"))
    raw = DUBBO.status_reply(request, code, "request_payload_too_large")
    assert raw == DUBBO.response(5, status, write_string(text))


def test_dubbo_attachments_rewritten_keeping_what_is_not_a_string_pair():
    argument = write_string("hello")
    # attachments: a string pair, an int value, an attachment named like a field, one to drop
    attachments = (b"H" + write_string("group") + write_string("g1") + write_string("retries") + write_int(3)
                   + write_string("interface") + write_string("com.acme.Echo") + write_string("x-drop")
                   + write_string("d") + b"Z")
    body = (write_string("2.0.2") + write_string("com.acme.Echo") + write_string("1.0") + write_string("echo")
            + write_string("Ljava/lang/String;") + argument + attachments)
    raw = dubbo.HEADER.pack(dubbo.MAGIC, dubbo.FLAG_REQUEST | dubbo.FLAG_TWO_WAY | dubbo.HESSIAN2, 0, 9, len(body)) + body
    frame = _decode(DUBBO, raw)
    assert frame.headers["group"] == "g1" and "retries" not in frame.headers
    DUBBO.rewrite_headers(frame, {"group": "g2", "x-new": "n"})
    expected_attachments = (b"H" + write_string("group") + write_string("g2") + write_string("retries") + write_int(3)
                            + write_string("interface") + write_string("com.acme.Echo") + write_string("x-new")
                            + write_string("n") + b"Z")
    expected_body = body[: len(body) - len(attachments)] + expected_attachments
    assert bytes(frame.raw) == raw[:12] + struct.pack(">I", len(expected_body)) + expected_body
    assert frame.headers["group"] == "g2" and frame.headers["x-new"] == "n" and "x-drop" not in frame.headers
    assert DUBBO.body_of(frame) == expected_body


def test_dubbo_without_attachments_gets_a_map():
    raw = DUBBO.request(2, "com.acme.Echo", "echo", [write_string("a")], descriptor="Ljava/lang/String;")
    frame = _decode(DUBBO, raw)
    DUBBO.rewrite_headers(frame, {"x-caller": "app"})
    assert bytes(frame.raw) == DUBBO.request(2, "com.acme.Echo", "echo", [write_string("a")],
                                             descriptor="Ljava/lang/String;", attachments={"x-caller": "app"})


def test_x_example_rewrites_its_section_and_has_its_own_status_table():
    frame = _decode(EXAMPLE, example.encode(FrameKind.REQUEST, 4, {"service": "s"}, b"BODY"))
    assert EXAMPLE.body_of(frame) == b"BODY"
    EXAMPLE.rewrite_headers(frame, {"service": "s", "x": "1"})
    assert bytes(frame.raw) == example.encode(FrameKind.REQUEST, 4, {"service": "s", "x": "1"}, b"BODY")
    with pytest.raises(ProtocolError):
        EXAMPLE.rewrite_headers(frame, {"bad": "line\nbreak"})
    reply = _decode(EXAMPLE, EXAMPLE.status_reply(frame, 403, "rbac_access_denied"))
    assert reply.status == 1 and reply.headers == {"error": "rbac_access_denied"}
    assert _decode(EXAMPLE, EXAMPLE.status_reply(frame, 504, "")).status == 4


class _Plugin(XCodec):
    """A third-party codec written before the filter hooks existed."""

    name = "plugin"

    def local_reply(self, request: Frame, status: LocalStatus, message: str) -> bytes:
        return b"%d:%s" % (status, message.encode())


def test_a_codec_without_the_hooks_answers_the_nearest_reason_and_refuses_changed_headers():
    codec = _Plugin()
    frame = Frame(FrameKind.REQUEST, 1, bytearray(b"frame"), headers={"service": "s"})
    assert codec.status_reply(frame, 404, "m") == b"%d:m" % LocalStatus.NO_ROUTE
    assert codec.status_reply(frame, 509, "m") == b"%d:m" % LocalStatus.UPSTREAM_OVERFLOW
    assert codec.status_reply(frame, 403, "m") == b"%d:m" % LocalStatus.CODEC_EXCEPTION
    assert codec.body_of(frame) == b"frame" and codec.headers_of(frame) == {"service": "s"}
    with pytest.raises(ProtocolError):
        codec.rewrite_headers(frame, {"service": "t"})


def test_bolt_crc_of_a_rewritten_frame_is_of_its_new_bytes():
    frame = _decode(V2, V2.request(1, {"a": "1"}, b"c", crc=True))
    V2.rewrite_headers(frame, {"a": "2"})
    assert struct.unpack(">I", frame.raw[-4:])[0] == zlib.crc32(frame.raw[:-4])
