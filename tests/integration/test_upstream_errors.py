"""Upstream failures become local replies with Envoy response flags, in one place."""

from __future__ import annotations

import socket

import httpx

from tests.support.proxy import free_port, simple_config
from tests.support.tcp_servers import blackhole


def test_no_route_is_404(origin, start_proxy):
    p = start_proxy(lambda port: simple_config(port, [origin.port], routes=[{"match": {"prefix": "/only"}, "route": {"cluster_name": "origin"}}]))
    r = httpx.get(f"http://127.0.0.1:{p.port}/elsewhere")
    assert r.status_code == 404 and r.text == "no route matched\n"


def test_no_host_is_503(start_proxy):
    p = start_proxy(lambda port: simple_config(port, []))
    r = httpx.get(f"http://127.0.0.1:{p.port}/")
    assert r.status_code == 503 and "no healthy upstream" in r.text


def test_connect_failure_is_502(start_proxy):
    dead = free_port()
    p = start_proxy(lambda port: simple_config(port, [dead]))
    r = httpx.get(f"http://127.0.0.1:{p.port}/")
    assert r.status_code == 502 and "upstream connect error" in r.text


def test_upstream_reset_is_502(proxy):
    r = httpx.get(f"http://127.0.0.1:{proxy.port}/reset")
    assert r.status_code == 502 and "reset" in r.text
    # the proxy stays healthy for the next request
    assert httpx.get(f"http://127.0.0.1:{proxy.port}/echo").status_code == 200


def test_reset_after_response_started_closes_downstream(proxy):
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as s:
        s.sendall(b"GET /half HTTP/1.1\r\nHost: x\r\n\r\n")
        out = b""
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            out += chunk
    assert out.startswith(b"HTTP/1.1 200")
    assert out.endswith(b"x" * 50)  # truncated: the client sees the connection end early


def test_route_timeout_is_504(origin, start_proxy):
    p = start_proxy(
        lambda port: simple_config(port, [origin.port], routes=[{"match": {"prefix": "/"}, "route": {"cluster_name": "origin", "timeout": "200ms"}}])
    )
    r = httpx.get(f"http://127.0.0.1:{p.port}/slow/2000", timeout=5)
    assert r.status_code == 504 and r.text == "upstream request timeout\n"
    assert httpx.get(f"http://127.0.0.1:{p.port}/slow/10").status_code == 200


def test_connect_timeout_is_502(start_proxy):
    with blackhole() as port:
        p = start_proxy(lambda proxy_port: simple_config(proxy_port, [port], cluster={"connect_timeout": "300ms"}))
        r = httpx.get(f"http://127.0.0.1:{p.port}/", timeout=10)
        assert r.status_code == 502
        assert "timeout" in r.text


def test_pool_overflow_is_503(origin, start_proxy):
    import concurrent.futures

    p = start_proxy(
        lambda port: simple_config(
            port,
            [origin.port],
            cluster={"circuit_breakers": [{"max_connections": 1, "max_pending_requests": 1, "max_requests": 2}]},
        )
    )

    def call(_):
        return httpx.get(f"http://127.0.0.1:{p.port}/slow/500", timeout=10).status_code

    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        codes = list(pool.map(call, range(6)))
    assert codes.count(200) >= 1
    assert 503 in codes
    assert set(codes) <= {200, 503}


def test_retry_policy_retries_5xx_and_resets(origin, origin_b, start_proxy):
    # one host resets every request; with retries the other host answers
    p = start_proxy(
        lambda port: simple_config(
            port,
            [free_port(), origin.port],
            routes=[{"match": {"prefix": "/"}, "route": {"cluster_name": "origin", "retry_policy": {"retry_on": True, "num_retries": 2}}}],
        )
    )
    for _ in range(4):
        assert httpx.get(f"http://127.0.0.1:{p.port}/echo").status_code == 200
