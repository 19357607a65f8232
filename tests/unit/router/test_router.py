from __future__ import annotations

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pymosn.config import model
from pymosn.router.manager import RouterManager
from pymosn.router.route_table import RouteTable


def table(vhosts, **extra) -> RouteTable:
    return RouteTable.build(msgspec.convert({"router_config_name": "r", "virtual_hosts": vhosts, **extra}, model.RouterConfig))


def to(cluster, **match):
    return {"match": match, "route": {"cluster_name": cluster}}


def test_virtual_host_precedence():
    t = table(
        [
            {"name": "default", "domains": ["*"], "routers": [to("default", prefix="/")]},
            {"name": "prefix", "domains": ["api.*"], "routers": [to("prefix", prefix="/")]},
            {"name": "suffix", "domains": ["*.example.com"], "routers": [to("suffix", prefix="/")]},
            {"name": "longer", "domains": ["*.eu.example.com"], "routers": [to("longer", prefix="/")]},
            {"name": "exact", "domains": ["www.example.com", "www.example.com:8443"], "routers": [to("exact", prefix="/")]},
        ]
    )

    def pick(host):
        return t.match(host, "/", "", {}).cluster_name

    assert pick("www.example.com") == "exact"
    assert pick("WWW.Example.COM:80") == "exact"
    assert pick("www.example.com:8443") == "exact"
    assert pick("a.example.com") == "suffix"
    assert pick("a.eu.example.com") == "longer"
    assert pick("api.example.com") == "suffix"  # suffix beats prefix
    assert pick("api.local") == "prefix"
    assert pick("other") == "default"
    assert pick("[::1]:80") == "default"


def test_no_default_vhost_means_no_route():
    t = table([{"name": "a", "domains": ["a.com"], "routers": [to("a", prefix="/")]}])
    assert t.match("b.com", "/", "", {}) is None


def test_first_match_wins_across_index_kinds():
    t = table(
        [
            {
                "domains": ["*"],
                "routers": [
                    to("regex", regex="/users/[0-9]+"),
                    to("exact", path="/users/42"),
                    to("long-prefix", prefix="/users/"),
                    to("short-prefix", prefix="/"),
                ],
            }
        ]
    )
    assert t.match("h", "/users/42", "", {}).cluster_name == "regex"
    assert t.match("h", "/users/abc", "", {}).cluster_name == "long-prefix"
    assert t.match("h", "/other", "", {}).cluster_name == "short-prefix"
    assert t.match("h", "/users/42/x", "", {}).cluster_name == "long-prefix"  # regex is a full match


def test_header_and_query_conditions_and_no_wrong_cache():
    t = table(
        [
            {
                "domains": ["*"],
                "routers": [
                    {"match": {"prefix": "/", "headers": [{"name": "X-Canary", "value": "1"}]}, "route": {"cluster_name": "canary"}},
                    {"match": {"prefix": "/", "headers": [{"name": "x-user", "value": "adm.*", "regex": True}]}, "route": {"cluster_name": "admin"}},
                    {"match": {"prefix": "/", "headers": [{"name": "x-debug", "present_match": True}]}, "route": {"cluster_name": "debug"}},
                    {"match": {"prefix": "/", "headers": [{"name": "x-env", "value": "prod", "invert_match": True}]}, "route": {"cluster_name": "nonprod"}},
                    {"match": {"prefix": "/", "query_parameters": [{"name": "v", "value": "2"}]}, "route": {"cluster_name": "v2"}},
                    {"match": {"prefix": "/", "query_parameters": [{"name": "t", "present_match": True}]}, "route": {"cluster_name": "t"}},
                    to("stable", prefix="/"),
                ],
            }
        ]
    )

    def pick(headers, query=""):
        return t.match("h", "/p", query, headers).cluster_name

    for _ in range(2):  # twice: the second round would expose a path-only cache
        assert pick({"x-canary": "1", "x-env": "prod"}) == "canary"
        assert pick({"x-user": "admin", "x-env": "prod"}) == "admin"
        assert pick({"x-user": "root", "x-env": "prod"}) == "stable"
        assert pick({"x-debug": "", "x-env": "prod"}) == "debug"
        assert pick({}) == "nonprod"
        assert pick({"x-env": "prod"}, "v=2&x=1") == "v2"
        assert pick({"x-env": "prod"}, "a=b&t") == "t"
        assert pick({"x-env": "prod"}, "v=3") == "stable"


def test_case_insensitive_matching():
    t = table([{"domains": ["*"], "routers": [to("ci", prefix="/API/", case_sensitive=False), to("exact", path="/Exact")]}])
    assert t.match("h", "/api/x", "", {}).cluster_name == "ci"
    assert t.match("h", "/Api/x", "", {}).cluster_name == "ci"
    assert t.match("h", "/Exact", "", {}).cluster_name == "exact"
    assert t.match("h", "/exact", "", {}) is None


def test_actions():
    t = table(
        [
            {
                "domains": ["*"],
                "request_headers_to_add": [{"header": {"key": "x-level", "value": "vhost"}}],
                "routers": [
                    {"match": {"prefix": "/api/"}, "route": {"cluster_name": "c", "prefix_rewrite": "/v2/", "timeout": 1.5}},
                    {"match": {"prefix": "/w"}, "route": {"weighted_clusters": [{"cluster": {"name": "a", "weight": 3}}, {"cluster": {"name": "b", "weight": 1}}]}},
                    {"match": {"prefix": "/h"}, "route": {"cluster_header": "X-Cluster"}},
                    {"match": {"path": "/d"}, "direct_response": {"status": 503, "body": "down"}},
                    {"match": {"prefix": "/r"}, "redirect": {"path_redirect": "/new?a=1", "response_code": 308}},
                    {
                        "match": {"prefix": "/"},
                        "route": {"cluster_name": "c", "request_headers_to_add": [{"header": {"key": "x-level", "value": "route"}}]},
                        "request_headers_to_remove": ["X-Drop"],
                    },
                ],
            }
        ],
        request_headers_to_add=[{"header": {"key": "x-level", "value": "global"}, "append": True}],
    )
    api = t.match("h", "/api/users", "", {})
    assert api.rewrite_path("/api/users") == "/v2/users" and api.timeout == 1.5
    w = t.match("h", "/w", "", {})
    assert w.pick_cluster({}, 0.0) == "a" and w.pick_cluster({}, 0.74) == "a" and w.pick_cluster({}, 0.76) == "b"
    assert t.match("h", "/h", "", {}).pick_cluster({"x-cluster": "z"}) == "z"
    d = t.match("h", "/d", "", {})
    assert d.kind == "direct_response" and d.direct_status == 503 and d.direct_body == b"down"
    r = t.match("h", "/r/x", "", {})
    assert r.kind == "redirect" and r.redirect_code == 308
    assert r.redirect_location("http", "h.com", "/r/x?q=1") == "http://h.com/new?a=1"
    last = t.match("h", "/zzz", "", {})
    assert last.request_headers_to_add == (("x-level", "route", False),)  # the most specific replacement wins
    assert last.request_headers_to_remove == frozenset({"x-drop"})


def test_manager():
    rc = msgspec.convert({"router_config_name": "r", "virtual_hosts": [{"domains": ["*"], "routers": [to("c", prefix="/")]}]}, model.RouterConfig)
    m = RouterManager([rc])
    assert m.get("r").match("h", "/", "", {}).cluster_name == "c"
    assert m.get("missing") is None


# --- the index must decide exactly as a linear scan --------------------------------------

segments = st.sampled_from(["a", "b", "ab", "users", "42", "x"])
paths = st.lists(segments, min_size=0, max_size=4).map(lambda s: "/" + "/".join(s))


@st.composite
def route_dicts(draw):
    kind = draw(st.sampled_from(["prefix", "path", "regex", "none"]))
    match: dict = {}
    if kind == "prefix":
        match["prefix"] = draw(paths) + draw(st.sampled_from(["", "/"]))
    elif kind == "path":
        match["path"] = draw(paths)
    elif kind == "regex":
        match["regex"] = draw(st.sampled_from(["/a.*", "/[0-9]+", "/users/[0-9]+", ".*b"]))
    if kind in ("prefix", "path") and draw(st.booleans()):
        match["case_sensitive"] = False
    if draw(st.integers(0, 3)) == 0:
        match["headers"] = [{"name": "x-h", "value": draw(st.sampled_from(["1", "2"]))}]
    return match


def linear(routes, path, headers):
    import re

    for i, m in enumerate(routes):
        subject = path if m.get("case_sensitive", True) else path.lower()
        if "prefix" in m:
            value = m["prefix"] if m.get("case_sensitive", True) else m["prefix"].lower()
            ok = subject.startswith(value)
        elif "path" in m:
            value = m["path"] if m.get("case_sensitive", True) else m["path"].lower()
            ok = subject == value
        elif "regex" in m:
            ok = re.fullmatch(m["regex"], path) is not None
        else:
            ok = True
        if ok and all(headers.get(h["name"]) == h["value"] for h in m.get("headers", [])):
            return i
    return None


@settings(max_examples=300, deadline=None)
@given(
    routes=st.lists(route_dicts(), min_size=1, max_size=25),
    lookups=st.lists(st.tuples(paths.map(lambda p: p.upper() if len(p) % 3 == 0 else p), st.sampled_from([{}, {"x-h": "1"}, {"x-h": "2"}])), min_size=1, max_size=10),
)
def test_index_agrees_with_linear_scan(routes, lookups):
    t = table([{"domains": ["*"], "routers": [{"match": m, "route": {"cluster_name": f"c{i}"}} for i, m in enumerate(routes)]}])
    for path, headers in lookups * 2:  # repeated: caching must not change answers
        got = t.match("h", path, "", headers)
        want = linear(routes, path, headers)
        assert (got.index if got else None) == want, (path, headers)


@pytest.mark.parametrize("n", [10, 10_000])
def test_large_tables_build_and_match(n):
    routers = [to(f"c{i}", path=f"/svc/{i}/exact") for i in range(n // 2)]
    routers += [to(f"p{i}", prefix=f"/svc/{i}/") for i in range(n // 2)]
    t = table([{"domains": ["*"], "routers": routers}])
    assert t.match("h", f"/svc/{n // 2 - 1}/exact", "", {}).cluster_name == f"c{n // 2 - 1}"
    assert t.match("h", f"/svc/{n // 2 - 1}/other", "", {}).cluster_name == f"p{n // 2 - 1}"
