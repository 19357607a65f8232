"""Upstream connection pools: reuse, max requests per connection, idle timeout."""

from __future__ import annotations

import time

import httpx

from tests.support.proxy import simple_config


def test_max_requests_per_connection(origin, start_proxy):
    p = start_proxy(lambda port: simple_config(port, [origin.port], cluster={"max_request_per_conn": 2}))
    with httpx.Client() as c:
        for _ in range(6):
            assert c.get(f"http://127.0.0.1:{p.port}/echo").status_code == 200
    assert origin.connections == 3


def test_idle_upstream_connections_are_closed(origin, start_proxy):
    p = start_proxy(lambda port: simple_config(port, [origin.port], cluster={"idle_timeout": "200ms"}))
    with httpx.Client() as c:
        assert c.get(f"http://127.0.0.1:{p.port}/echo").status_code == 200
        assert c.get(f"http://127.0.0.1:{p.port}/echo").status_code == 200
        assert origin.connections == 1
        time.sleep(0.6)
        assert c.get(f"http://127.0.0.1:{p.port}/echo").status_code == 200
    assert origin.connections == 2


def test_upstream_closing_keepalive_is_handled(proxy, origin):
    with httpx.Client() as c:
        assert c.get(f"http://127.0.0.1:{proxy.port}/close").status_code == 200
        time.sleep(0.1)
        assert c.get(f"http://127.0.0.1:{proxy.port}/echo").status_code == 200
    assert origin.connections == 2


def test_stale_pooled_connection_is_retried_once(proxy, origin):
    # Every reuse of a pooled connection meets a reset: each request after the first must be
    # retried once on a fresh connection instead of answering 502.
    with httpx.Client() as c:
        for _ in range(4):
            r = c.get(f"http://127.0.0.1:{proxy.port}/once-per-conn")
            assert r.status_code == 200 and r.text == "first on this connection\n"
    assert origin.connections == 4
