"""HTTP/1.1 proxying through a real pymosn process to a real origin."""

from __future__ import annotations

import json
import socket
import time

import httpx

from tests.support.proxy import simple_config


def raw(port: int, data: bytes, *, read_until_close: bool = True, timeout: float = 5.0) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        if not read_until_close:
            return s.recv(65536)
        out = b""
        while True:
            try:
                chunk = s.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                break
            out += chunk
        return out


_leftovers: dict[int, bytes] = {}


def read_response(sock: socket.socket) -> tuple[bytes, bytes]:
    """Reads one Content-Length framed response from a socket, keeping any bytes of the next
    (pipelined) response for the next call."""
    buf = _leftovers.pop(sock.fileno(), b"")
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        assert chunk, buf
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(rest) < length:
        rest += sock.recv(65536)
    if len(rest) > length:
        _leftovers[sock.fileno()] = rest[length:]
    return head, rest[:length]


def test_get_is_proxied_with_forwarding_headers(proxy, origin):
    r = httpx.get(f"http://127.0.0.1:{proxy.port}/echo/hello?x=1", headers={"Connection": "keep-alive, X-Hop", "X-Hop": "1", "Keep-Alive": "timeout=5"})
    assert r.status_code == 200
    seen = r.json()
    assert seen["path"] == "/echo/hello?x=1"
    h = seen["headers"]
    assert h["x-forwarded-for"] == "127.0.0.1"
    assert h["x-forwarded-proto"] == "http"
    assert len(h["x-request-id"]) == 36
    assert "x-hop" not in h and "keep-alive" not in h
    assert h["host"] == f"127.0.0.1:{proxy.port}"


def test_existing_forwarding_headers_are_kept_and_appended(proxy):
    r = httpx.get(
        f"http://127.0.0.1:{proxy.port}/echo",
        headers={"X-Forwarded-For": "10.0.0.1", "X-Request-Id": "abc-123", "X-Forwarded-Proto": "https"},
    )
    h = r.json()["headers"]
    assert h["x-forwarded-for"] == "10.0.0.1, 127.0.0.1"
    assert h["x-request-id"] == "abc-123"
    assert h["x-forwarded-proto"] == "https"


def test_keep_alive_reuses_downstream_and_upstream_connections(proxy, origin):
    with httpx.Client() as client:
        for i in range(20):
            assert client.get(f"http://127.0.0.1:{proxy.port}/echo/{i}").status_code == 200
    assert origin.connections == 1


def test_pipelined_requests_are_answered_in_order(proxy):
    reqs = b"".join(
        b"GET /slow/%d HTTP/1.1\r\nHost: x\r\n\r\n" % ms if i % 2 == 0 else b"GET /echo/%d HTTP/1.1\r\nHost: x\r\n\r\n" % i
        for i, ms in enumerate([60, 0, 30, 0, 10])
    )
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as s:
        s.sendall(reqs)
        bodies = [read_response(s)[1] for _ in range(5)]
    assert bodies[0] == b"slow\n" and bodies[2] == b"slow\n" and bodies[4] == b"slow\n"
    assert json.loads(bodies[1])["path"] == "/echo/1"
    assert json.loads(bodies[3])["path"] == "/echo/3"


def test_chunked_request_and_response_bodies_with_trailers(proxy):
    req = (
        b"POST /mirror HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        b"5\r\nhello\r\n6\r\n world\r\n0\r\nX-Req-Trailer: yes\r\n\r\n"
    )
    out = raw(proxy.port, req)
    head, _, body = out.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert b"transfer-encoding: chunked" in head.lower()
    assert body == b"b\r\nhello world\r\n0\r\n\r\n"
    out = raw(proxy.port, b"GET /chunked HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert out.endswith(b"5\r\nhello\r\n6\r\n world\r\n0\r\nx-trailer: done\r\n\r\n")


def test_content_length_body_is_streamed(proxy):
    body = b"z" * 3_000_000
    r = httpx.post(f"http://127.0.0.1:{proxy.port}/mirror", content=body)
    assert r.status_code == 200 and r.content == body


def test_expect_100_continue(proxy):
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as s:
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
        interim = s.recv(100)
        assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
        s.sendall(b"hello")
        head, body = read_response(s)
    assert head.startswith(b"HTTP/1.1 200")
    seen = json.loads(body)
    assert seen["body_bytes"] == 5 and "expect" not in seen["headers"]


def test_head_204_304_have_no_body(proxy):
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as s:
        s.sendall(b"HEAD /echo HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(0.2)
        out = s.recv(65536)
        assert out.startswith(b"HTTP/1.1 200") and out.endswith(b"\r\n\r\n")
        assert b"content-length:" in out.lower()  # the length a GET would have, no body bytes
        for status in (204, 304):
            s.sendall(b"GET /status/%d HTTP/1.1\r\nHost: x\r\n\r\n" % status)
            time.sleep(0.2)
            out = s.recv(65536)
            assert out.startswith(b"HTTP/1.1 %d" % status) and out.endswith(b"\r\n\r\n")
        s.sendall(b"GET /echo/after HTTP/1.1\r\nHost: x\r\n\r\n")
        head, body = read_response(s)
        assert json.loads(body)["path"] == "/echo/after"


def test_http10_and_connection_close(proxy):
    out = raw(proxy.port, b"GET /echo/10 HTTP/1.0\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 200")
    assert b"connection: close" in out.lower()
    out = raw(proxy.port, b"GET /echo/ka HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", read_until_close=False)
    assert b"connection: keep-alive" in out.lower()
    out = raw(proxy.port, b"GET /echo/c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert b"connection: close" in out.lower() and out.count(b"HTTP/1.1") == 1


def test_http10_client_gets_close_delimited_body_for_chunked_upstream(proxy):
    out = raw(proxy.port, b"GET /chunked HTTP/1.0\r\n\r\n")
    head, _, body = out.partition(b"\r\n\r\n")
    assert b"transfer-encoding" not in head.lower()
    assert body == b"hello world"


def test_upstream_body_until_close(proxy):
    out = raw(proxy.port, b"GET /nolength HTTP/1.1\r\nHost: x\r\n\r\n")
    head, _, body = out.partition(b"\r\n\r\n")
    assert b"transfer-encoding: chunked" in head.lower()
    assert body == b"b\r\nuntil close\r\n0\r\n\r\n"


def test_websocket_upgrade_is_tunnelled(proxy):
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as s:
        s.sendall(b"GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: test\r\n\r\n")
        buf = b""
        while b"\r\n\r\n" not in buf:
            buf += s.recv(1024)
        assert buf.startswith(b"HTTP/1.1 101")
        assert b"upgrade: test" in buf.lower()
        for msg in (b"ping", b"\x00\x01binary\xff", b"x" * 100000):
            s.sendall(msg)
            got = b""
            while len(got) < len(msg):
                got += s.recv(65536)
            assert got == msg


def test_many_concurrent_clients(proxy):
    import concurrent.futures

    def work(i):
        with httpx.Client() as c:
            return [c.get(f"http://127.0.0.1:{proxy.port}/echo/{i}/{j}").json()["path"] for j in range(10)]

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        results = list(pool.map(work, range(32)))
    assert all(r == [f"/echo/{i}/{j}" for j in range(10)] for i, r in enumerate(results))


def test_curl_through_proxy(proxy):
    import shutil
    import subprocess

    import pytest

    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    out = subprocess.run(
        ["curl", "-s", "-i", f"http://127.0.0.1:{proxy.port}/echo/curl"], capture_output=True, timeout=10, check=True
    ).stdout
    assert out.startswith(b"HTTP/1.1 200")


def test_idle_downstream_connection_is_closed(origin, start_proxy):
    p = start_proxy(lambda port: simple_config(port, [origin.port], listener={"connection_idle_timeout": "300ms"}))
    with socket.create_connection(("127.0.0.1", p.port), timeout=5) as s:
        s.sendall(b"GET /echo HTTP/1.1\r\nHost: x\r\n\r\n")
        read_response(s)
        start = time.monotonic()
        assert s.recv(10) == b""
        assert time.monotonic() - start < 3


def test_listener_connection_limit(origin, start_proxy):
    p = start_proxy(lambda port: simple_config(port, [origin.port], listener={"max_connections": 2}))
    a = socket.create_connection(("127.0.0.1", p.port))
    b = socket.create_connection(("127.0.0.1", p.port))
    time.sleep(0.2)
    c = socket.create_connection(("127.0.0.1", p.port), timeout=3)
    try:
        c.sendall(b"GET /echo HTTP/1.1\r\nHost: x\r\n\r\n")
        assert c.recv(100) == b""
    except ConnectionResetError:
        pass
    a.sendall(b"GET /echo HTTP/1.1\r\nHost: x\r\n\r\n")
    assert read_response(a)[0].startswith(b"HTTP/1.1 200")
    for s in (a, b, c):
        s.close()


def test_absolute_form_request_is_forwarded_in_origin_form(proxy):
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as s:
        s.sendall(b"GET http://example.com/echo/abs?x=1 HTTP/1.1\r\nHost: other\r\n\r\n")
        head, body = read_response(s)
    seen = json.loads(body)
    assert seen["path"] == "/echo/abs?x=1"
    assert seen["headers"]["host"] == "example.com"
