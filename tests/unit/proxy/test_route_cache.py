"""clear_route_cache() by phase, through the proxy core with fake streams: a cleared route is
matched again while the router has not taken it (BEFORE_ROUTE, AFTER_ROUTE filters), and
changes nothing once the host is chosen (AFTER_CHOOSE_HOST filters), as in Envoy and MOSN."""

from __future__ import annotations

import pytest

from pymosn.api.stream_filter import CONTINUE, FilterPhase
from tests.support.proxy_core import ProxyCore
from tests.support.scripted_filter import scripted

ROUTES = [{"name": "to-a", "match": {"prefix": "/a"}, "route": {"cluster_name": "a"}},
          {"name": "to-b", "match": {"prefix": "/b"}, "route": {"cluster_name": "b"}}]
CLUSTERS = [{"name": name, "type": "SIMPLE", "lb_type": "LB_ROUNDROBIN", "hosts": [{"address": address}]}
            for name, address in (("a", "10.0.1.1:80"), ("b", "10.0.2.1:80"))]


def _rerouting(seen: list):
    def step(callbacks, headers, end_stream):
        headers.set(b":path", b"/b/moved")
        callbacks.clear_route_cache()
        seen.append((callbacks.route.name, callbacks.stream_info.upstream_host))
        return CONTINUE
    return step


@pytest.mark.parametrize(("phase", "route", "host_before", "upstream"), [
    (FilterPhase.BEFORE_ROUTE, "to-b", None, "10.0.2.1:80"),
    (FilterPhase.AFTER_ROUTE, "to-b", None, "10.0.2.1:80"),
    (FilterPhase.AFTER_CHOOSE_HOST, "to-a", "10.0.1.1:80", "10.0.1.1:80"),
])
def test_a_cleared_route_is_matched_again_only_before_the_host_is_chosen(phase, route, host_before, upstream):
    seen: list = []
    core = ProxyCore(routes=ROUTES, clusters=CLUSTERS, filters=(("reroute", scripted(decode_headers=_rerouting(seen)),
                                                                 phase),))
    stream, server = core.request(b"GET", b"/a/x")
    assert seen == [(route, host_before)]  # what the filter is told is where the request goes
    sent = core.upstream(upstream)
    assert sent.target == b"/b/moved"  # the changed header goes upstream either way
    assert stream.info.route_name == route and stream.info.upstream_host == upstream
    sent.respond(200)
    assert server.status == 200 and core.ended_once()


def test_clearing_after_the_request_left_the_filters_changes_nothing():
    later: list = []

    def clear_on_response(callbacks, status, headers, end_stream):
        callbacks.clear_route_cache()
        later.append(callbacks.route.name)
        return CONTINUE

    core = ProxyCore(routes=ROUTES, clusters=CLUSTERS,
                     filters=(("late", scripted(encode_headers=clear_on_response)),))
    _, server = core.request(b"GET", b"/a/x")
    core.upstream("10.0.1.1:80").respond(200)
    assert later == ["to-a"] and server.status == 200 and core.ended_once()
