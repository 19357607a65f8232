"""HTTP/1.0 through a real pymosn: with a MOSN config a request without Host is routed by the
default virtual host (`*`), as MOSN and nginx do, and goes upstream as HTTP/1.1 naming the
upstream host; with an Envoy bootstrap, Envoy's rules (426 unless accept_http_10, the Host
of default_host_for_http_10). HTTP/1.1 without Host is 400 either way."""

from __future__ import annotations

import pytest

from tests.support.admin import log_lines, wait_stats
from tests.support.capture import CaptureUpstream
from tests.support.envoy_bootstraps import address, bootstrap, cluster, hcm, listener
from tests.support.proxy import Pymosn, free_port, simple_config
from tests.support.raw_http import exchange

ANSWER = {"match": {"prefix": "/"}, "direct_response": {"status": 200, "body": "named vhost"}}


@pytest.fixture
def capture():
    with CaptureUpstream() as upstream:
        yield upstream


def two_vhosts(port: int, upstream: int, admin: int, log) -> dict:
    """a.example answers itself; `*` proxies to the capturing upstream."""
    config = simple_config(port, [upstream], admin_port=admin, listener={
        "access_logs": [{"log_path": str(log), "log_format": "%PROTOCOL% %RESPONSE_CODE% %RESPONSE_FLAGS%\n"}]})
    router = config["servers"][0]["routers"][0]
    router["virtual_hosts"].insert(0, {"name": "named", "domains": ["a.example"], "routers": [ANSWER]})
    return config


def test_mosn_http10_without_host_is_routed_by_the_default_vhost(capture, start_proxy, tmp_path):
    admin, log = free_port(), tmp_path / "access.log"
    p = start_proxy(lambda port: two_vhosts(port, capture.port, admin, log))
    out = exchange(p.port, b"GET /x HTTP/1.0\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 200 ") and out.endswith(b"\r\n\r\nok")
    assert b"connection: close" in out.lower()
    (head,) = capture.heads
    # upstream it is an HTTP/1.1 request, so it names a host: the upstream's address, as MOSN does
    assert head.startswith(b"GET /x HTTP/1.1\r\n")
    assert b"\r\nhost: 127.0.0.1:%d\r\n" % capture.port in head.lower()
    assert head.lower().count(b"\r\nhost:") == 1
    wait_stats(admin, {"http.ingress.downstream_rq_active": 0, "cluster.origin.upstream_rq_active": 0})
    assert log_lines(log, 1) == ["HTTP/1.0 200 -"]


def test_mosn_http10_with_host_is_routed_by_it(capture, start_proxy, tmp_path):
    p = start_proxy(lambda port: two_vhosts(port, capture.port, free_port(), tmp_path / "access.log"))
    out = exchange(p.port, b"GET /x HTTP/1.0\r\nHost: a.example\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 200 ") and out.endswith(b"named vhost")
    assert capture.heads == []


def test_mosn_http10_without_host_and_no_default_vhost_is_404_nr(capture, start_proxy, tmp_path):
    admin, log = free_port(), tmp_path / "access.log"

    def only_named(port: int) -> dict:
        config = two_vhosts(port, capture.port, admin, log)
        router = config["servers"][0]["routers"][0]
        router["virtual_hosts"] = [{"name": "named", "domains": ["a.example"],
                                    "routers": [{"match": {"prefix": "/"}, "route": {"cluster_name": "origin"}}]}]
        return config

    p = start_proxy(only_named)
    out = exchange(p.port, b"GET / HTTP/1.0\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 404 ")
    assert capture.heads == []
    wait_stats(admin, {"http.ingress.downstream_rq_active": 0, "http.ingress.downstream_rq_4xx": 1})
    assert log_lines(log, 1) == ["HTTP/1.0 404 NR"]


def test_http11_without_host_is_400(capture, start_proxy, tmp_path):
    p = start_proxy(lambda port: two_vhosts(port, capture.port, free_port(), tmp_path / "access.log"))
    out = exchange(p.port, b"GET / HTTP/1.1\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 400 ") and b"missing Host header" in out
    assert capture.heads == []


def envoy_bootstrap(port: int, upstream: int, **manager_fields) -> dict:
    """fallback.example proxies to the capturing upstream; `*` answers itself."""
    route_config = {"name": "r", "virtual_hosts": [
        {"name": "fallback", "domains": ["fallback.example"],
         "routes": [{"match": {"prefix": "/"}, "route": {"cluster": "capture"}}]},
        {"name": "other", "domains": ["*"], "routes": [
            {"match": {"prefix": "/"}, "direct_response": {"status": 200, "body": {"inline_string": "other vhost"}}}]},
    ]}
    return bootstrap(listener(hcm(route_config, **manager_fields), address=address(port)),
                     clusters=[cluster("capture", upstream)])


def test_envoy_refuses_http10_by_default(capture, tmp_path):
    port = free_port()
    with Pymosn(envoy_bootstrap(port, capture.port), tmp_path, port):
        for request in (b"GET / HTTP/1.0\r\n\r\n", b"GET / HTTP/1.0\r\nHost: fallback.example\r\n\r\n"):
            out = exchange(port, request)
            assert out.startswith(b"HTTP/1.1 426 "), out
        assert exchange(port, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").endswith(b"other vhost")
    assert capture.heads == []


def test_envoy_default_host_for_http10_routes_and_goes_upstream(capture, tmp_path):
    port = free_port()
    options = {"accept_http_10": True, "default_host_for_http_10": "fallback.example"}
    with Pymosn(envoy_bootstrap(port, capture.port, http_protocol_options=options), tmp_path, port):
        out = exchange(port, b"GET /y HTTP/1.0\r\n\r\n")
        assert out.startswith(b"HTTP/1.1 200 ") and out.endswith(b"ok")
        # a Host of its own wins over the default
        assert exchange(port, b"GET /y HTTP/1.0\r\nHost: elsewhere\r\n\r\n").endswith(b"other vhost")
    (head,) = capture.heads
    assert head.startswith(b"GET /y HTTP/1.1\r\n") and b"\r\nHost: fallback.example\r\n" in head


def test_envoy_accepting_http10_without_a_default_host_requires_host(capture, tmp_path):
    port = free_port()
    with Pymosn(envoy_bootstrap(port, capture.port, http_protocol_options={"accept_http_10": True}), tmp_path, port):
        assert exchange(port, b"GET / HTTP/1.0\r\n\r\n").startswith(b"HTTP/1.1 400 ")
        assert exchange(port, b"GET / HTTP/1.0\r\nHost: fallback.example\r\n\r\n").endswith(b"ok")
    (head,) = capture.heads
    assert b"\r\nHost: fallback.example\r\n" in head
