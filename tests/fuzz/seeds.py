"""Valid inputs for each fuzz target, built by the codecs themselves: mutations of real frames
reach far deeper into a decoder than random bytes, which mostly fail at the magic byte."""

from __future__ import annotations

import ssl

from pymosn.protocol.http1.encoder import (
    encode_chunk,
    encode_last_chunk,
    encode_request_head,
    encode_response_head,
)
from pymosn.protocol.xprotocol.api import FrameKind
from pymosn.protocol.xprotocol.bolt import SOFA_REQUEST_CLASS, SOFA_RESPONSE_CLASS, BoltCodec, BoltV2Codec
from pymosn.protocol.xprotocol.dubbo import DubboCodec
from pymosn.protocol.xprotocol.example import encode
from pymosn.protocol.xprotocol.hessian2 import write_string

_HEADERS = {"service": "com.acme.Echo:1.0", "sofa_head_method_name": "echo", "x": "y"}


def _bolt(codec, **extra) -> list[bytes]:
    return [
        codec.request(7, _HEADERS, b"content", class_name=SOFA_REQUEST_CLASS, **extra),
        codec.request(8, {}, b"", class_name="", oneway=True, **extra),
        codec.response(7, 0, {"k": "v"}, b"answer", class_name=SOFA_RESPONSE_CLASS, **extra),
        codec.heartbeat(9),
    ]


def _dubbo() -> list[bytes]:
    codec = DubboCodec()
    request = codec.request(5, "com.acme.Echo", "echo", [write_string("hi")], descriptor="Ljava/lang/String;",
                            attachments={"group": "blue", "version": "1.0"})
    return [request, codec.value_response(5, write_string("hi")), codec.heartbeat(6)]


def _client_hello() -> bytes:
    ctx = ssl.create_default_context()
    ctx.set_alpn_protocols(["h2", "http/1.1"])
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(incoming, outgoing, server_hostname="svc.example.com")
    try:
        tls.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


def seeds(name: str) -> list[bytes]:
    if name == "bolt_v1":
        return _bolt(BoltCodec())
    if name == "bolt_v2":
        return _bolt(BoltV2Codec(), crc=True)
    if name == "dubbo":
        return _dubbo()
    if name == "dubbo_routing_fields":
        return [frame[16:] for frame in _dubbo()[:1]]
    if name == "x_example":
        return [encode(FrameKind.REQUEST, 3, {"service": "s"}, b"body"), encode(FrameKind.RESPONSE, 3, {}, b"ok"),
                encode(FrameKind.REQUEST, 4, heartbeat=True)]
    if name == "http1_request":
        return [
            encode_request_head(b"GET", b"/a?b=c", [(b"Host", b"a"), (b"X-A", b"1")]),
            encode_request_head(b"POST", b"/u", [(b"Host", b"a"), (b"Transfer-Encoding", b"chunked")])
            + encode_chunk(b"hello") + encode_last_chunk([(b"x-t", b"1")]),
        ]
    if name == "http1_response":
        return [
            encode_response_head(200, [(b"content-length", b"2")]) + b"ok",
            encode_response_head(200, [(b"transfer-encoding", b"chunked")]) + encode_chunk(b"x") + b"0\r\n\r\n",
        ]
    if name == "tls_client_hello":
        return [_client_hello()]
    raise KeyError(name)
