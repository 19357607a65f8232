"""The header count limit through a real pymosn, as Envoy's max_headers_count (default 100):
more request header fields, or trailers, get 431 on HTTP/1.1 (the connection then closes) and
a stream reset (INTERNAL_ERROR) on HTTP/2, each ended once (counters back to zero, one
access-log line) and never forwarded; a response with more than the cluster's limit is a 502.
Configurable in both formats; a client sending many-header requests in a loop does not grow
the proxy's memory or starve another client."""

from __future__ import annotations

import pytest

from tests.support.admin import log_lines, rss_kib, wait_for, wait_stats
from tests.support.bystander import Bystander
from tests.support.envoy_bootstraps import address, bootstrap, cluster, hcm, listener, routes
from tests.support.h2_client import H2Client
from tests.support.h2_origin import H2Origin
from tests.support.proxy import Pymosn, free_port, simple_config
from tests.support.raw_http import exchange

LOG_FORMAT = "%PROTOCOL% %REQ(:PATH)% %RESPONSE_CODE% %RESPONSE_FLAGS%\n"
INTERNAL_ERROR = 0x2


def fields(count: int, prefix: bytes = b"X-F") -> bytes:
    return b"".join(b"%s%d: v\r\n" % (prefix, i) for i in range(count))


def get(path: bytes, header_count: int, extra: bytes = b"") -> bytes:
    """A GET with `header_count` header fields, Host and `extra` among them."""
    used = 1 + extra.count(b"\r\n")
    return b"GET %s HTTP/1.1\r\nHost: h\r\n%s%s\r\n" % (path, extra, fields(header_count - used))


@pytest.fixture
def proxy(origin, start_proxy, tmp_path):
    """HTTP/1.1 and HTTP/2 (Auto) to `origin`, with an admin port and an access log."""
    admin, log = free_port(), tmp_path / "access.log"
    p = start_proxy(lambda port: simple_config(
        port, [origin.port], admin_port=admin, proxy={"downstream_protocol": "Auto"},
        listener={"access_logs": [{"log_path": str(log), "log_format": LOG_FORMAT}]}))
    p.admin_port, p.log = admin, log
    return p


ENDED = {"http.ingress.downstream_rq_active": 0, "cluster.origin.upstream_rq_active": 0}


def test_http1_100_headers_pass_and_101_get_431_once(proxy, origin):
    out = exchange(proxy.port, get(b"/echo/ok", 100, b"Connection: close\r\n"))
    assert out.startswith(b"HTTP/1.1 200 ")
    assert origin.requests[-1]["headers"]["x-f97"] == "v"
    # the request after the one over the limit is never read: the 431 ends the connection
    out = exchange(proxy.port, get(b"/over", 101) + b"GET /after HTTP/1.1\r\nHost: h\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 431 ") and out.count(b"HTTP/1.1 ") == 1
    assert b"connection: close" in out.lower() and out.endswith(b"too many header fields\n")
    assert [r["path"] for r in origin.requests] == ["/echo/ok"]
    wait_stats(proxy.admin_port, {**ENDED, "http.ingress.downstream_rq_header_too_large": 1,
                                  "http.ingress.downstream_rq_4xx": 1, "http.ingress.downstream_rq_2xx": 1})
    assert log_lines(proxy.log, 2) == ["HTTP/1.1 /echo/ok 200 -", "HTTP/1.1 /over 431 DPE"]


def chunked(path: bytes, trailer_count: int) -> bytes:
    return (b"POST %s HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            b"5\r\nhello\r\n0\r\n%s\r\n" % (path, fields(trailer_count, b"X-T")))


def test_http1_trailers_over_the_limit_get_431_and_are_not_forwarded(proxy, origin):
    out = exchange(proxy.port, chunked(b"/echo/t", 100))
    assert out.startswith(b"HTTP/1.1 200 ")
    assert origin.requests[-1]["headers"]["x-t99"] == "v"  # the origin records trailers as headers
    out = exchange(proxy.port, chunked(b"/echo/over", 101))
    assert out.startswith(b"HTTP/1.1 431 ")
    assert [r["path"] for r in origin.requests] == ["/echo/t"]
    wait_stats(proxy.admin_port, {**ENDED, "http.ingress.downstream_rq_header_too_large": 1})
    assert log_lines(proxy.log, 2)[1] == "HTTP/1.1 /echo/over 431 DPE"


@pytest.mark.parametrize("codec", ["fast", "h2"])
def test_http2_over_the_limit_resets_the_stream_and_the_connection_lives(codec, origin, start_proxy, tmp_path,
                                                                        monkeypatch):
    monkeypatch.setenv("PYMOSN_HTTP2_SERVER", codec)
    admin, log = free_port(), tmp_path / "access.log"
    p = start_proxy(lambda port: simple_config(
        port, [origin.port], admin_port=admin, proxy={"downstream_protocol": "Http2"},
        listener={"access_logs": [{"log_path": str(log), "log_format": LOG_FORMAT}]}))
    extra = [(f"x-f{i}", "v") for i in range(96)]  # with the 4 pseudo-header fields: 100
    with H2Client(p.port) as client:
        assert client.response(client.request("/echo/ok", headers=extra)).status == 200
        over = client.response(client.request("/echo/over", headers=[*extra, ("x-one-more", "v")]))
        assert over.reset_code == INTERNAL_ERROR and not over.headers
        sid = client.request("/echo/t", method="POST", end_stream=False)
        client.send_body(sid, b"hello", end_stream=False)
        client.trailers(sid, [(f"x-t{i}".encode(), b"v") for i in range(101)])
        assert client.response(sid).reset_code == INTERNAL_ERROR
        assert client.response(client.request("/echo/after")).status == 200
    assert [r["path"] for r in origin.requests] == ["/echo/ok", "/echo/after"]
    wait_stats(admin, {**ENDED, "http.ingress.downstream_rq_header_too_large": 2})
    lines = log_lines(log, 4)
    assert lines[:2] == ["HTTP/2 /echo/ok 200 -", "HTTP/2 /echo/over 0 DPE"]
    assert sorted(lines[2:]) == ["HTTP/2 /echo/after 200 -", "HTTP/2 /echo/t 0 DPE"]


def test_mosn_max_request_headers_count(origin, start_proxy):
    p = start_proxy(lambda port: simple_config(port, [origin.port], proxy={"max_request_headers_count": 5}))
    assert exchange(p.port, get(b"/echo", 5, b"Connection: close\r\n")).startswith(b"HTTP/1.1 200 ")
    assert exchange(p.port, get(b"/echo", 6, b"Connection: close\r\n")).startswith(b"HTTP/1.1 431 ")


def test_mosn_cluster_max_response_headers_count(origin, start_proxy):
    # the origin's /echo answer has two header fields (content-type, content-length)
    p = start_proxy(lambda port: simple_config(port, [origin.port], cluster={"max_response_headers_count": 1}))
    assert exchange(p.port, get(b"/echo", 2, b"Connection: close\r\n")).startswith(b"HTTP/1.1 502 ")
    q = start_proxy(lambda port: simple_config(port, [origin.port], cluster={"max_response_headers_count": 2}))
    assert exchange(q.port, get(b"/echo", 2, b"Connection: close\r\n")).startswith(b"HTTP/1.1 200 ")


def test_http2_upstream_response_over_the_cluster_limit_is_502(start_proxy):
    with H2Origin() as h2_origin:
        p = start_proxy(lambda port: simple_config(
            port, [h2_origin.port], cluster={"upstream_protocol": "Http2", "max_response_headers_count": 2}))
        # :status, content-type and content-length: three fields
        assert exchange(p.port, get(b"/echo", 2, b"Connection: close\r\n")).startswith(b"HTTP/1.1 502 ")


def test_envoy_max_headers_count_on_the_listener_and_the_cluster(origin, tmp_path):
    port = free_port()
    route_config = routes({"match": {"prefix": "/strict"}, "route": {"cluster": "strict"}},
                          {"match": {"prefix": "/"}, "route": {"cluster": "origin"}})
    manager = hcm(route_config, common_http_protocol_options={"max_headers_count": 5})
    config = bootstrap(listener(manager, address=address(port)), clusters=[
        cluster("origin", origin.port),
        cluster("strict", origin.port, common_http_protocol_options={"max_headers_count": 1})])
    with Pymosn(config, tmp_path, port):
        assert exchange(port, get(b"/echo", 5, b"Connection: close\r\n")).startswith(b"HTTP/1.1 200 ")
        assert exchange(port, get(b"/echo", 6, b"Connection: close\r\n")).startswith(b"HTTP/1.1 431 ")
        assert exchange(port, get(b"/strict", 2, b"Connection: close\r\n")).startswith(b"HTTP/1.1 502 ")


def test_many_header_requests_in_a_loop_keep_memory_bounded_and_others_served(proxy, origin):
    """Each request carries 2000 header fields (about 24 KiB, under the size limit): HTTP/1.1
    on a new connection each time (each 431 closes it), HTTP/2 on one connection (each stream
    reset)."""
    flood = get(b"/over", 2000)
    h2_extra = [(f"x-f{i}", "v") for i in range(1000)]
    url = f"http://127.0.0.1:{proxy.port}/echo/bystander"
    with Bystander(url) as http1_bystander, Bystander(url, http2=True) as http2_bystander:
        with H2Client(proxy.port) as client:
            for round_ in range(2):
                for _ in range(150):
                    assert exchange(proxy.port, flood).startswith(b"HTTP/1.1 431 ")
                    sid = client.request("/over", headers=h2_extra)
                    assert client.response(sid).reset_code == INTERNAL_ERROR
                if round_ == 0:
                    warmed = rss_kib(proxy.proc.pid)
            grown = rss_kib(proxy.proc.pid) - warmed
        http1_bystander.check()
        http2_bystander.check()
    assert grown < 16 * 1024, f"RSS grew by {grown} KiB over 300 many-header requests"
    assert not any(r["path"] == "/over" for r in origin.requests)
    wait_stats(proxy.admin_port, {**ENDED, "http.ingress.downstream_rq_header_too_large": 600})

    def each_logged_once() -> bool:
        lines = log_lines(proxy.log, 600)
        return lines.count("HTTP/1.1 /over 431 DPE") == 300 and lines.count("HTTP/2 /over 0 DPE") == 300

    wait_for(each_logged_once, what="one access-log line per request over the limit")
