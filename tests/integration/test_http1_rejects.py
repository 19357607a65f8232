"""Malformed and hostile requests: answered with the right 4xx and never forwarded."""

from __future__ import annotations

import socket

import pytest

from tests.support.proxy import simple_config
from tests.unit.protocol.test_http1_decoder import SMUGGLING


def exchange(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(data)
        out = b""
        while True:
            try:
                chunk = s.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            if not chunk:
                break
            out += chunk
        return out


@pytest.mark.parametrize("name", sorted(SMUGGLING))
def test_smuggling_is_rejected_and_never_forwarded(proxy, origin, name):
    out = exchange(proxy.port, SMUGGLING[name] + b"GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 400"), out
    assert out.count(b"HTTP/1.1 400") == 1 and b"HTTP/1.1 200" not in out
    assert b"connection: close" in out.lower()
    assert not any(r["path"] == "/smuggled" for r in origin.requests)
    # the only requests an origin may see are well-framed prefixes (a chunked body cut short)
    assert all(r["path"] == "/" and r["method"] == "POST" for r in origin.requests)


def test_bad_chunk_after_forwarding_started_resets_upstream(proxy, origin):
    out = exchange(
        proxy.port,
        b"POST /mirror HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\nZZ\r\nGET /smuggled HTTP/1.1\r\n\r\n",
    )
    assert out.startswith(b"HTTP/1.1 400")
    assert not any(r["path"] == "/smuggled" for r in origin.requests)


def test_unsupported_transfer_encoding_is_501(proxy, origin):
    out = exchange(proxy.port, b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 501")
    assert origin.requests == []


def test_oversized_header_section_is_431(proxy, origin):
    big = b"GET / HTTP/1.1\r\nHost: a\r\n" + b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 1000) for i in range(70)) + b"\r\n"
    out = exchange(proxy.port, big)
    assert out.startswith(b"HTTP/1.1 431")
    assert origin.requests == []


def test_header_limit_is_configurable(origin, start_proxy):
    p = start_proxy(lambda port: simple_config(port, [origin.port], proxy={"max_request_headers_kb": 2}))
    out = exchange(p.port, b"GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + b"v" * 3000 + b"\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 431")


def test_body_over_limit_is_413(origin, start_proxy):
    p = start_proxy(lambda port: simple_config(port, [origin.port], proxy={"max_request_bytes": 1000}))
    out = exchange(p.port, b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5000\r\n\r\n" + b"x" * 5000)
    assert out.startswith(b"HTTP/1.1 413")
    assert origin.requests == []
    chunked = b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" + b"3e8\r\n" + b"y" * 1000 + b"\r\n" + b"3e8\r\n" + b"y" * 1000 + b"\r\n0\r\n\r\n"
    out = exchange(p.port, chunked)
    assert out.startswith(b"HTTP/1.1 413")
    ok = exchange(p.port, b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\nConnection: close\r\n\r\n" + b"x" * 10)
    assert ok.startswith(b"HTTP/1.1 200")


def test_connect_method_is_refused(proxy, origin):
    out = exchange(proxy.port, b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 405")
    assert origin.requests == []
