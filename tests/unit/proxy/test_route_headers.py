"""Route conditions on the request line's pseudo-headers (`:method`, `:path`, `:scheme`), driven
through the proxy core with fake streams, with and without stream filters; and Envoy's rule for
a request's `:scheme`."""

from __future__ import annotations

import pytest

from pymosn.api.stream_filter import CONTINUE
from pymosn.protocol.http1 import RequestHead
from pymosn.proxy.active_stream import ActiveStream
from pymosn.proxy.route_headers import downstream_scheme
from pymosn.router.route_table import RouteTable
from tests.support.fakes import FakeServerStream
from tests.support.proxy_core import ProxyCore
from tests.support.scripted_filter import scripted


def _direct(status: int, *conditions: dict) -> dict:
    return {"match": {"prefix": "/", "headers": list(conditions)}, "direct_response": {"status": status}}


ROUTES = [
    _direct(201, {"name": ":method", "value": "POST"}),
    _direct(202, {"name": ":path", "value": "/p.*", "regex": True}),
    _direct(203, {"name": ":scheme", "value": "https"}),
    _direct(204, {"name": ":authority", "value": "a.example"}),
    {"match": {"prefix": "/"}, "direct_response": {"status": 200}},
]


@pytest.mark.parametrize("filtered", [False, True], ids=["no filters", "a filter"])
@pytest.mark.parametrize(("method", "target", "headers", "status"), [
    (b"POST", b"/", [], 201),
    (b"GET", b"/p?q=1", [], 202),  # :path is the target, query included
    (b"GET", b"/x", [(b"x-forwarded-proto", b"HTTPS")], 203),
    (b"GET", b"/x", [(b"x-forwarded-proto", b"https, http")], 200),  # not one scheme: the listener's
    (b"GET", b"/x", [], 200),
])
def test_routes_see_the_request_line_as_pseudo_headers(filtered, method, target, headers, status):
    core = ProxyCore(routes=ROUTES, filters=(("pass", scripted()),) if filtered else None)
    _, server = core.request(method, target, headers)
    assert server.status == status and core.ended_once()


def test_http2_scheme_is_the_one_the_request_names():
    core = ProxyCore(routes=ROUTES)
    head = RequestHead(b"GET", b"/x", b"2", [(b"host", b"svc.local"), (b"x-forwarded-proto", b"http")],
                       [b"host", b"x-forwarded-proto"])
    head.host, head.scheme = b"svc.local", b"HTTPS"
    server = FakeServerStream(core.loop, "HTTP/2")
    ActiveStream(server, core.settings).on_headers(head, True)
    assert server.status == 203  # :scheme as sent, lower-cased; x-forwarded-proto is HTTP/1's


def test_a_filter_that_changes_the_method_reroutes_after_clearing_the_route_cache():
    def to_post(callbacks, headers, end_stream):
        headers.set(b":method", b"POST")
        callbacks.clear_route_cache()
        return CONTINUE

    core = ProxyCore(routes=ROUTES, filters=(("rewrite", scripted(decode_headers=to_post)),))
    _, server = core.request(b"GET", b"/x")
    assert server.status == 201


@pytest.mark.parametrize(("named", "headers", "listener", "expected"), [
    (b"", [], b"http", b"http"),
    (b"", [], b"https", b"https"),
    (b"", [(b"X-Forwarded-Proto", b" HTTPS ")], b"http", b"https"),
    (b"", [(b"x-forwarded-proto", b"ftp")], b"http", b"http"),
    (b"HTTP", [(b"x-forwarded-proto", b"https")], b"https", b"http"),
    (b"foo", [], b"http", b"foo"),  # HTTP/2 keeps an unknown scheme as sent (Envoy does)
])
def test_downstream_scheme_follows_envoy(named, headers, listener, expected):
    head = RequestHead(b"GET", b"/", b"1.1", headers, [n.lower() for n, _ in headers])
    head.scheme = named
    assert downstream_scheme(head, listener) == expected


def test_only_tables_with_such_conditions_make_the_routing_view():
    plain = ProxyCore(routes=[{"match": {"prefix": "/", "headers": [{"name": "x-a", "value": "1"}]},
                               "route": {"cluster_name": "origin"}}])
    tables: list[RouteTable] = [*plain.settings.snapshot_ref.current.routers.tables.values(),
                                *ProxyCore(routes=ROUTES).settings.snapshot_ref.current.routers.tables.values()]
    assert [(t.routes_on_proxy_made, t.request_line_conditions) for t in tables] == [(False, False), (True, True)]
