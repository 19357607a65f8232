from __future__ import annotations

import random
from collections import Counter

import pytest

from pymosn.config import model
from pymosn.router.actions import redirect_location
from pymosn.router.manager import RouterManager

from .builders import config, routes_table, table, to


def route_of(t, path="/", headers=None):
    return t.match("h", path, "", headers or {})


def test_cluster_route_fields():
    retry = {"retry_on": True, "num_retries": 2, "retry_timeout": 0.5}
    t = routes_table(
        [
            {
                "name": "n",
                "match": {"prefix": "/"},
                "route": {"cluster_name": "c", "timeout": 1.5, "retry_policy": retry},
            }
        ]
    )
    r = route_of(t)
    assert (r.name, r.kind, r.cluster_name, r.cluster_header, r.timeout) == ("n", "cluster", "c", "", 1.5)
    assert r.retry_policy == model.RetryPolicy(retry_on=True, num_retries=2, retry_timeout=0.5)
    assert r.pick_cluster({}) == "c"
    assert r.host_rewrite is None and r.virtual_host == "all"


def test_entries_are_immutable():
    r = route_of(routes_table([to("c", prefix="/")]))
    with pytest.raises(AttributeError):
        r.cluster_name = "other"


@pytest.mark.parametrize(
    "match, rewrite, path, want",
    [
        ({"prefix": "/api/"}, "/v2/", "/api/users", "/v2/users"),
        ({"prefix": "/api"}, "/", "/api/users", "//users"),  # Envoy: the prefix is replaced verbatim
        ({"prefix": "/api/"}, "/", "/api/", "/"),
        ({"prefix": "/API/", "case_sensitive": False}, "/v2/", "/api/Users", "/v2/Users"),
        ({"path": "/old"}, "/new", "/old", "/new"),  # the whole path was the matched prefix
        ({"regex": "/o.*"}, "/new", "/old/x", "/new"),
        ({"prefix": "/api/"}, None, "/api/users", "/api/users"),
    ],
)
def test_prefix_rewrite(match, rewrite, path, want):
    action = {"cluster_name": "c"} if rewrite is None else {"cluster_name": "c", "prefix_rewrite": rewrite}
    t = routes_table([{"match": match, "route": action}])
    assert route_of(t, path).rewrite_path(path) == want


def test_host_rewrite():
    t = routes_table(
        [
            {
                "match": {"prefix": "/"},
                "route": {"cluster_name": "c", "host_rewrite": "up.internal", "auto_host_rewrite": False},
            }
        ]
    )
    assert route_of(t).host_rewrite == "up.internal"


def weighted(*pairs):
    clusters = [{"cluster": {"name": n, "weight": w}} for n, w in pairs]
    return routes_table([{"match": {"prefix": "/"}, "route": {"weighted_clusters": clusters}}])


def test_weighted_clusters_deterministic_picks():
    r = route_of(weighted(("a", 3), ("b", 1)))
    assert [r.pick_cluster({}, x) for x in (0.0, 0.5, 0.7499, 0.75, 0.9999)] == ["a", "a", "a", "b", "b"]
    assert r.pick_cluster({}, 1.0) == "b"
    assert r.cluster_name == ""


def test_weighted_clusters_distribution():
    r = route_of(weighted(("a", 70), ("b", 20), ("zero", 0), ("c", 10)))
    random.seed(7)
    counts = Counter(r.pick_cluster({}) for _ in range(20_000))
    assert counts["zero"] == 0
    assert abs(counts["a"] / 20_000 - 0.7) < 0.02
    assert abs(counts["b"] / 20_000 - 0.2) < 0.02
    assert abs(counts["c"] / 20_000 - 0.1) < 0.02


def test_weighted_clusters_all_zero_picks_nothing():
    assert route_of(weighted(("a", 0))).pick_cluster({}) is None


def test_cluster_header():
    t = routes_table([{"match": {"prefix": "/"}, "route": {"cluster_header": "X-Cluster"}}])
    r = route_of(t)
    assert r.cluster_header == "x-cluster"
    assert r.pick_cluster({"x-cluster": "z"}) == "z"
    assert r.pick_cluster({}) is None
    assert r.pick_cluster({"x-cluster": ""}) is None


def test_header_mutations_merge_route_vhost_router_levels():
    def opt(key, value, append=False):
        return {"header": {"key": key, "value": value}, "append": append}

    t = table(
        [
            {
                "name": "vh",
                "domains": ["*"],
                "request_headers_to_add": [
                    opt("x-level", "vhost"),
                    opt("X-Vhost", "1"),
                    opt("x-multi", "v", True),
                ],
                "request_headers_to_remove": ["X-Vhost-Drop"],
                "response_headers_to_add": [opt("x-resp", "vhost")],
                "response_headers_to_remove": ["server"],
                "routers": [
                    {
                        "match": {"prefix": "/"},
                        "route": {
                            "cluster_name": "c",
                            "request_headers_to_add": [opt("X-Level", "route"), opt("x-multi", "r", True)],
                            "request_headers_to_remove": ["x-action-drop"],
                            "response_headers_to_add": [opt("x-resp", "route", True)],
                        },
                        "request_headers_to_add": [opt("x-route", "1")],
                        "request_headers_to_remove": ["X-Drop"],
                    }
                ],
            }
        ],
        request_headers_to_add=[
            opt("x-level", "global", True),
            opt("x-global", "g"),
            opt("x-multi", "g", True),
        ],
        request_headers_to_remove=["x-global-drop"],
        response_headers_to_add=[opt("x-resp", "global")],
    )
    r = route_of(t)
    assert r.request_headers_to_add == (
        ("x-level", "route", False),  # replaced at the route: vhost and global x-level are dropped
        ("x-multi", "r", True),
        ("x-route", "1", False),
        ("x-vhost", "1", False),
        ("x-multi", "v", True),  # appends at every level accumulate, most specific first
        ("x-global", "g", False),
        ("x-multi", "g", True),
    )
    assert r.request_headers_to_remove == frozenset(
        {"x-action-drop", "x-drop", "x-vhost-drop", "x-global-drop"}
    )
    # the route only appends x-resp, so the vhost's replacement still applies after it; global loses
    assert r.response_headers_to_add == (("x-resp", "route", True), ("x-resp", "vhost", False))
    assert r.response_headers_to_remove == frozenset({"server"})


def test_direct_response():
    t = routes_table(
        [
            {"name": "d", "match": {"path": "/d"}, "direct_response": {"status": 503, "body": "down"}},
            {"name": "e", "match": {"path": "/e"}, "direct_response": {"status": 204}},
        ]
    )
    d = route_of(t, "/d")
    assert (d.kind, d.direct_status, d.direct_body) == ("direct_response", 503, b"down")
    assert d.pick_cluster({}) is None
    e = route_of(t, "/e")
    assert (e.direct_status, e.direct_body) == (204, b"")


@pytest.mark.parametrize(
    "redirect, scheme, host, target, want",
    [
        ({"path_redirect": "/new"}, "http", "h.com", "/old?q=1", "http://h.com/new?q=1"),  # query kept
        (
            {"path_redirect": "/new?a=1"},
            "http",
            "h.com",
            "/old?q=1",
            "http://h.com/new?a=1",
        ),  # unless replaced
        ({"host_redirect": "other.com"}, "http", "h.com:8080", "/p?q", "http://other.com/p?q"),
        ({"scheme_redirect": "https"}, "http", "h.com", "/p", "https://h.com/p"),
        (
            {"scheme_redirect": "https"},
            "http",
            "h.com:80",
            "/p",
            "https://h.com/p",
        ),  # old default port dropped
        ({"scheme_redirect": "https"}, "http", "h.com:8080", "/p", "https://h.com:8080/p"),
        (
            {"scheme_redirect": "https", "host_redirect": "s.com", "path_redirect": "/x"},
            "http",
            "h",
            "/",
            "https://s.com/x",
        ),
        ({}, "http", "h.com", "/p?", "http://h.com/p?"),
    ],
)
def test_redirect_location(redirect, scheme, host, target, want):
    t = routes_table([{"match": {"prefix": "/"}, "redirect": redirect}])
    r = route_of(t)
    assert r.kind == "redirect"
    assert r.redirect_location(scheme, host, target) == want
    assert redirect_location(model.Redirect(**redirect), scheme, host, target) == want


def test_redirect_code():
    t = routes_table(
        [
            {"match": {"path": "/a"}, "redirect": {"path_redirect": "/b"}},
            {"match": {"path": "/c"}, "redirect": {"path_redirect": "/d", "response_code": 308}},
        ]
    )
    assert route_of(t, "/a").redirect_code == 301  # MOSN's default
    assert route_of(t, "/c").redirect_code == 308


def test_manager():
    one = config([{"domains": ["*"], "routers": [to("c", prefix="/")]}])
    two = model.RouterConfig(
        router_config_name="two",
        virtual_hosts=(
            model.VirtualHost(routers=(model.Route(name="x", route=model.RouteAction(cluster_name="x")),)),
        ),
    )
    m = RouterManager([one, two])
    assert m.get("r").match("h", "/", "", {}).cluster_name == "c"
    assert m.get("two").match("h", "/anything", "", {}).name == "x"
    assert m.get("missing") is None
    assert sorted(m.names()) == ["r", "two"]
    assert RouterManager([one]).get("r") is not m.get("r")  # a reload builds new tables
