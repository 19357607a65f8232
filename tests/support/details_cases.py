"""Streams that end badly, for the %RESPONSE_CODE_DETAILS% tests: requests that break HTTP/1.1 or
HTTP/2, resets after the response started, clients that reset or go away. One bootstrap and one
exchange serve pymosn's own test (tests/integration/test_response_code_details.py) and the
differential one against real Envoy (test_envoy_differential.py).

Each case is (name, how to send it, pymosn's access-log line, Envoy's line when it differs)."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from pathlib import Path

from tests.support.envoy_bootstraps import cluster, routes
from tests.support.envoy_proxy import manager, on_port
from tests.support.h2_client import H2Client


def bootstrap(port: int, log: Path, origin_port: int, codec: str, admin_port: int | None = None) -> dict:
    """Everything to `origin_port` with a 1 s route timeout, `codec` (HTTP1 or AUTO) downstream."""
    route = routes({"match": {"prefix": "/"}, "route": {"cluster": "app", "timeout": "1s"}})
    config = on_port(port, manager(route, log, codec_type=codec), cluster("app", origin_port))
    if admin_port is not None:
        config["admin"] = {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin_port}}}
    return config


def send_raw(data: bytes, quiet: float = 0.0) -> Callable[[int], None]:
    """Sends `data` on a new connection and reads until the server closes it, or, with `quiet`,
    closes it once the server has sent nothing for that long (a client that goes away)."""
    def run(port: int) -> None:
        with socket.create_connection(("127.0.0.1", port), timeout=quiet or 10) as s:
            s.sendall(data)
            try:
                while s.recv(65536):
                    pass
            except TimeoutError:
                pass
    return run


_HEAD = [(b":method", b"GET"), (b":scheme", b"http"), (b":path", b"/x"), (b":authority", b"x")]


def send_h2(block: list, body: bytes | None = None, reset_after: float | None = None,
            reset_mid_response: bool = False) -> Callable[[int], None]:
    """One HTTP/2 request (`block` as given, unchecked; `body` sent after it and ending it), read
    until it ends, or reset by the client `reset_after` seconds after it was sent, or (with
    `reset_mid_response`) once the response's head and some of its body have arrived."""
    def run(port: int) -> None:
        with H2Client(port, validate=False) as client:
            sid = client.conn.get_next_available_stream_id()
            client.send_block(sid, block, end_stream=body is None and reset_after is None)
            if body is not None:
                client.send_body(sid, body, end_stream=True)
            if reset_mid_response:
                response = client.responses[sid]
                client.wait(lambda: bool(response.headers and response.body), timeout=10)
                client.reset(sid)
                time.sleep(0.1)
                return
            if reset_after is not None:
                deadline = time.monotonic() + reset_after
                while time.monotonic() < deadline:
                    client.read_once(max(0.01, deadline - time.monotonic()))
                client.reset(sid)
                time.sleep(0.1)  # the RST_STREAM on its way before the connection closes
                return
            try:
                client.wait(lambda: client.responses[sid].done, timeout=10)
            except ConnectionError:
                pass  # the server ended the connection instead of the stream: an ending all the same
    return run


def _post(path: str, *extra: tuple[bytes, bytes]) -> list:
    return [(b":method", b"POST"), (b":scheme", b"http"), (b":path", path.encode()), (b":authority", b"x"), *extra]


H = b"host: x\r\n"
# requests that break HTTP/1.1, on a listener whose codec is HTTP1
HTTP1 = [
    ("a method in lower case", send_raw(b"get / HTTP/1.1\r\n" + H + b"\r\n"), "- - 400 DPE http1.codec_error", None),
    ("a control character in a value", send_raw(b"GET / HTTP/1.1\r\n" + H + b"x: a\x01b\r\n\r\n"),
     "- - 400 DPE http1.invalid_characters", None),
    ("content-length and chunked",
     send_raw(b"POST / HTTP/1.1\r\n" + H + b"content-length: 3\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n"),
     "- - 400 DPE http1.content_length_and_chunked_not_allowed", None),
    ("a transfer coding other than chunked", send_raw(b"POST / HTTP/1.1\r\n" + H + b"transfer-encoding: gzip\r\n\r\n"),
     "- - 501 DPE http1.invalid_transfer_encoding", None),
    ("HTTP/1.0 (Envoy's default refuses it)", send_raw(b"GET / HTTP/1.0\r\n" + H + b"\r\n"), "- - 426 DPE low_version",
     None),
    ("a header section over 60 KiB", send_raw(b"GET / HTTP/1.1\r\n" + H + b"x: " + b"a" * 70000 + b"\r\n\r\n"),
     "- - 431 DPE http1.headers_too_large", None),
    ("more than 100 header fields",
     send_raw(b"GET / HTTP/1.1\r\n" + H + b"".join(b"x%d: 1\r\n" % i for i in range(120)) + b"\r\n"),
     "GET / 431 DPE http1.too_many_headers", "- - 431 DPE http1.too_many_headers"),
    ("an absolute-form target without an authority", send_raw(b"GET http:/// HTTP/1.1\r\n" + H + b"\r\n"),
     "- - 400 DPE http1.invalid_url", None),
    ("a bad chunk size in the body",
     send_raw(b"POST / HTTP/1.1\r\n" + H + b"transfer-encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n"),
     "POST / 400 DPE http1.codec_error", None),
    ("no Host", send_raw(b"GET / HTTP/1.1\r\n\r\n"), "- - 400 DPE missing_host_header", "GET / 400 - missing_host_header"),
    # ends after the response started, or before it by the client
    ("the upstream resets mid-body", send_raw(b"GET /badchunk HTTP/1.1\r\n" + H + b"\r\n"),
     "GET /badchunk 200 UPE upstream_reset_after_response_started{protocol_error}", None),
    ("the upstream closes mid-body", send_raw(b"GET /half HTTP/1.1\r\n" + H + b"\r\n"),
     "GET /half 200 UC upstream_reset_after_response_started{connection_termination}",
     "GET /half 200 UPE upstream_reset_after_response_started{protocol_error}"),
    ("the route timeout mid-body", send_raw(b"GET /stall HTTP/1.1\r\n" + H + b"\r\n"),
     "GET /stall 200 UT response_timeout", None),
    ("the client goes away mid-request",
     send_raw(b"POST /echo HTTP/1.1\r\n" + H + b"content-length: 100\r\n\r\nabc", quiet=0.3),
     "POST /echo 0 DC downstream_remote_disconnect", None),
]
# on a listener whose codec is AUTO, with HTTP/2 prior knowledge
HTTP2 = [
    ("an upper-case name", send_h2(_HEAD + [(b"Bad", b"1")]), "- - 0 DPE http2.invalid.header.field", None),
    ("a connection-specific field", send_h2(_HEAD + [(b"connection", b"close")]),
     "- - 0 DPE http2.invalid.header.field", None),
    ("a pseudo-header after a field", send_h2(_HEAD[:3] + [(b"x", b"1"), _HEAD[3]]),
     "- - 0 DPE http2.invalid.header.field", None),
    ("no :path", send_h2(_HEAD[:2] + _HEAD[3:]), "- - 0 DPE http2.violation.of.messaging.rule", None),
    ("no :authority", send_h2(_HEAD[:3]), "- - 0 DPE http2.violation.of.messaging.rule", None),
    ("a body shorter than its content-length", send_h2(_post("/x", (b"content-length", b"10")), b"abc"),
     "POST /x 0 DPE http2.remote_reset", None),
    ("the client resets before the response", send_h2(_post("/slow/3000"), reset_after=0.3),
     "POST /slow/3000 0 DR http2.remote_reset", None),
    ("the client resets mid-response", send_h2(_HEAD[:2] + [(b":path", b"/big/50000000"), _HEAD[3]],
                                                     reset_mid_response=True),
     "GET /big/50000000 200 DR http2.remote_reset", None),
]
