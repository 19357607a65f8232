"""The router and its upstream requests, driven by fake streams: one UpstreamRequest per try
(a retry is a new object on a new upstream stream), held request bytes replayed, timeouts,
and every ending leaving the listener's, cluster's and host's gauges at zero."""

from __future__ import annotations

from pymosn.api import flags
from pymosn.api.errors import FailureKind, ResetKind, ResetSource, StreamReset, UpstreamFailure
from pymosn.proxy.upstream_request import UpstreamRequest
from tests.support.proxy_core import ProxyCore

RETRYING = [{"match": {"prefix": "/"}, "route": {"cluster_name": "origin",
                                                   "retry_policy": {"retry_on": True, "num_retries": 2}}}]
UPSTREAM_RESET = StreamReset(ResetSource.UPSTREAM, ResetKind.CONNECTION_CLOSED, "upstream connection closed")


def test_a_request_goes_upstream_and_its_response_downstream():
    core = ProxyCore()
    stream, server = core.request(b"GET", b"/a?b=1", [(b"x-req", b"1")])
    upstream = core.upstream()
    assert (upstream.method, upstream.target) == (b"GET", b"/a?b=1")
    assert upstream.header(b"x-req") == b"1" and upstream.header(b"x-forwarded-for") == b"10.0.0.2"
    upstream.respond(200, [(b"x-resp", b"2")], body=b"hello")
    assert server.status == 200 and server.header(b"x-resp") == b"2" and server.body == b"hello"
    assert core.ended_once() and core.logger.lines[0].response_code_details == "via_upstream"
    host = core.clusters.get("origin").hosts[0]
    assert (host.stats.rq_total, host.stats.rq_success, host.stats.rq_error) == (1, 1, 0)


def test_a_retry_on_503_is_a_new_upstream_request_on_a_new_stream():
    core = ProxyCore(routes=RETRYING)
    stream, server = core.request(b"GET", b"/")
    router = stream.router
    first = router.upstream
    core.upstream().respond(503, body=b"busy")
    second = router.upstream
    assert isinstance(second, UpstreamRequest) and second is not first and not first.live
    assert len(core.pool().streams) == 2
    core.upstream().respond(200, body=b"ok")
    assert server.status == 200 and server.body == b"ok" and core.ended_once()
    cluster = core.clusters.get("origin")
    assert cluster.stats.upstream_rq_retry == 1
    host = cluster.hosts[0]
    assert (host.stats.rq_total, host.stats.rq_success, host.stats.rq_error) == (2, 1, 1)


def test_a_connect_failure_is_retried_and_then_answered_502_uf():
    core = ProxyCore(routes=RETRYING)
    core.pool().hold = True
    stream, server = core.request(b"GET", b"/")
    refused = UpstreamFailure(FailureKind.CONNECT_REFUSED, "connection refused")
    for _ in range(3):
        core.pool().refuse(refused)
    assert server.status == 502 and server.body == b"upstream connect error: connection refused\n"
    assert core.logger.lines[0].response_flags == [flags.UPSTREAM_CONNECTION_FAILURE]
    assert core.clusters.get("origin").stats.upstream_rq_retry == 2 and core.ended_once()


def test_a_stale_pooled_connection_is_retried_once_without_a_retry_policy():
    core = ProxyCore()
    stream, server = core.request(b"GET", b"/")
    upstream = core.upstream()
    upstream.reused = True
    upstream.fail(UPSTREAM_RESET)
    assert len(core.pool().streams) == 2
    core.upstream().respond(204)
    assert server.status == 204 and core.ended_once()


def test_body_sent_before_the_pool_is_ready_is_replayed_in_order():
    core = ProxyCore()
    core.pool().hold = True
    stream, server = core.request(b"POST", b"/", chunked=True)
    stream.on_data(b"ab", False)
    stream.on_trailers([(b"x-t", b"1")])
    upstream = core.pool().serve()
    assert upstream.sent == [("headers", False), ("data", b"ab", False), ("trailers", [(b"x-t", b"1")])]
    upstream.respond(200)
    assert core.ended_once()


def test_the_route_timeout_answers_504_ut_and_resets_the_try():
    routes = [{"match": {"prefix": "/"}, "route": {"cluster_name": "origin", "timeout": "1s"}}]
    core = ProxyCore(routes=routes)
    stream, server = core.request(b"GET", b"/")
    upstream = core.upstream()
    core.loop.advance(1.1)
    assert server.status == 504 and upstream.resets == 1
    assert core.logger.lines[0].response_flags == [flags.UPSTREAM_REQUEST_TIMEOUT] and core.ended_once()
    host = core.clusters.get("origin").hosts[0]
    assert host.stats.rq_timeout == 1 and host.stats.rq_error == 1


def test_a_downstream_reset_while_waiting_for_the_pool_leaves_its_queue():
    core = ProxyCore()
    core.pool().hold = True
    stream, _ = core.request(b"GET", b"/")
    stream.on_reset(StreamReset(ResetSource.DOWNSTREAM, ResetKind.RESET))
    assert core.pool().waiters == [] and core.pool().cancelled == 1
    assert core.logger.lines[0].response_flags == [flags.DOWNSTREAM_REMOTE_RESET] and core.ended_once()


def test_an_upstream_reset_mid_response_resets_the_downstream():
    core = ProxyCore()
    stream, server = core.request(b"GET", b"/")
    upstream = core.upstream()
    upstream.respond(200, streaming=True)
    upstream.respond_data(b"part")
    upstream.fail(UPSTREAM_RESET)
    assert server.resets == 1 and core.logger.lines[0].response_flags == [flags.UPSTREAM_CONNECTION_TERMINATION]
    assert core.ended_once()


def test_a_timeout_after_the_response_began_resets_both_sides():
    core = ProxyCore()
    stream, server = core.request(b"GET", b"/")
    upstream = core.upstream()
    upstream.respond(200, streaming=True)
    router = stream.router
    try_ = router.upstream
    router.on_deadline()
    # the ended stream let its router go, and the router its try (no reference cycle is left)
    assert server.resets == 1 and upstream.resets == 1 and not try_.live
    assert stream.router is None and router.upstream is None
    assert core.logger.lines[0].response_flags == [flags.UPSTREAM_REQUEST_TIMEOUT] and core.ended_once()


def test_no_healthy_host_is_503_uh():
    core = ProxyCore(clusters=[{"name": "origin", "type": "SIMPLE", "lb_type": "LB_ROUNDROBIN", "hosts": []}])
    _, server = core.request(b"GET", b"/")
    assert server.status == 503 and core.logger.lines[0].response_flags == [flags.NO_HEALTHY_UPSTREAM]
    assert core.ended_once()


def test_a_missing_cluster_is_503_uh_cluster_not_found():
    core = ProxyCore(routes=[{"match": {"prefix": "/"}, "route": {"cluster_header": "x-cluster"}}])
    _, server = core.request(b"GET", b"/", [(b"x-cluster", b"gone")])
    assert server.status == 503 and server.body == b"cluster not found\n"
    assert core.logger.lines[0].response_code_details == "cluster_not_found" and core.ended_once()


def test_a_grpc_call_with_no_route_gets_unimplemented_with_the_details_logged():
    core = ProxyCore(routes=[{"match": {"prefix": "/only"}, "route": {"cluster_name": "origin"}}])
    _, server = core.request(b"POST", b"/pkg.Svc/M", [(b"content-type", b"application/grpc")], body=b"")
    assert server.status == 200 and server.header(b"grpc-status") == b"12" and server.ended
    info = core.logger.lines[0]
    assert info.response_code_details == "route_not_found" and info.grpc_status == 12 and core.ended_once()
