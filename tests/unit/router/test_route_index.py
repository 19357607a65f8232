"""The index must decide exactly as a first-match linear scan, with and without its cache."""

from __future__ import annotations

import re
from unittest import mock
from urllib.parse import unquote_plus

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pymosn.router import route_index

from .builders import picked, routes_table, to


def test_first_match_wins_across_index_kinds():
    t = routes_table(
        [
            to("regex", regex="/users/[0-9]+"),
            to("exact", path="/users/42"),
            to("long-prefix", prefix="/users/"),
            to("ci-prefix", prefix="/USERS/", case_sensitive=False),
            to("short-prefix", prefix="/"),
            to("late-exact", path="/late"),
        ]
    )
    assert picked(t, "/users/42") == "regex"  # declared before the exact path
    assert picked(t, "/users/abc") == "long-prefix"
    assert picked(t, "/Users/abc") == "ci-prefix"
    assert picked(t, "/users/42/x") == "long-prefix"  # the regex is a full match
    assert picked(t, "/other") == "short-prefix"
    assert picked(t, "/late") == "short-prefix"  # an earlier prefix beats a later exact path


def test_shorter_prefix_declared_first_wins():
    t = routes_table([to("short", prefix="/a"), to("long", prefix="/a/b/c"), to("exact", path="/a/b/c/d")])
    assert picked(t, "/a/b/c/d") == "short"
    assert picked(t, "/a/b/c") == "short"


def test_conditional_route_falls_through_to_later_ones():
    t = routes_table(
        [
            {
                "name": "canary",
                "match": {"path": "/p", "headers": [{"name": "x-canary", "value": "1"}]},
                "route": {"cluster_name": "c"},
            },
            {
                "name": "v2",
                "match": {"prefix": "/p", "query_parameters": [{"name": "v", "value": "2"}]},
                "route": {"cluster_name": "c"},
            },
            to("regex", regex="/p.*"),
            to("stable", prefix="/"),
        ]
    )
    for _ in range(3):  # repeated: a path-only cache would replay the first answer
        assert picked(t, "/p", headers={"x-canary": "1"}) == "canary"
        assert picked(t, "/p", "v=2") == "v2"
        assert picked(t, "/p") == "regex"
        assert picked(t, "/q") == "stable"


def test_cache_never_returns_a_wrong_route_when_headers_decide():
    t = routes_table(
        [
            {
                "name": "canary",
                "match": {"prefix": "/", "headers": [{"name": "x-canary", "value": "1"}]},
                "route": {"cluster_name": "c"},
            },
            {
                "name": "admin",
                "match": {"prefix": "/", "headers": [{"name": "x-user", "value": "adm.*", "regex": True}]},
                "route": {"cluster_name": "c"},
            },
            {
                "name": "debug",
                "match": {"prefix": "/", "headers": [{"name": "x-debug", "present_match": True}]},
                "route": {"cluster_name": "c"},
            },
            {
                "name": "nonprod",
                "match": {
                    "prefix": "/",
                    "headers": [{"name": "x-env", "value": "prod", "invert_match": True}],
                },
                "route": {"cluster_name": "c"},
            },
            {
                "name": "t",
                "match": {"prefix": "/", "query_parameters": [{"name": "t", "present_match": True}]},
                "route": {"cluster_name": "c"},
            },
            to("stable", prefix="/"),
        ]
    )
    cases = [
        ({"x-canary": "1", "x-env": "prod"}, "", "canary"),
        ({"x-user": "admin", "x-env": "prod"}, "", "admin"),
        ({"x-user": "root", "x-env": "prod"}, "", "stable"),
        ({"x-debug": "", "x-env": "prod"}, "", "debug"),
        ({}, "", "nonprod"),
        ({"x-env": "prod"}, "a=b&t", "t"),
        ({"x-env": "prod"}, "v=3", "stable"),
    ]
    for _ in range(3):
        for headers, query, want in cases:
            assert picked(t, "/p", query, headers) == want


def test_decisions_that_ignore_headers_are_cached_and_others_not():
    t = routes_table(
        [
            to("exact", path="/fixed"),
            {
                "name": "cond",
                "match": {"prefix": "/c", "headers": [{"name": "x", "value": "1"}]},
                "route": {"cluster_name": "c"},
            },
            to("fallback", prefix="/"),
        ]
    )
    index = t.virtual_host("h").index
    for path in ("/fixed", "/other", "/c", "/cx"):
        picked(t, path)
    cached = set(index.cache.young)
    assert cached == {"/fixed", "/other"}
    assert picked(t, "/c", headers={"x": "1"}) == "cond"


def test_path_cache_is_bounded():
    t = routes_table([to("p", prefix="/")], cache_limit=64)
    for i in range(1000):
        assert picked(t, f"/{i}") == "p"
    assert len(t.virtual_host("h").index.cache) <= 128


def test_many_conditional_ancestors_are_shared_not_copied():
    canaries = [
        {
            "name": f"k{i}",
            "match": {"prefix": "/", "headers": [{"name": "x-k", "value": str(i)}]},
            "route": {"cluster_name": "c"},
        }
        for i in range(1000)
    ]
    t = routes_table(canaries + [to(f"p{i}", path=f"/p/{i}") for i in range(10_000)])
    index = t.virtual_host("h").index
    closed = index._sensitive.exact["/p/5"]
    assert len(closed) == 2 and closed[1] is index._sensitive.exact["/p/6"][1]  # one shared bucket
    assert picked(t, "/p/5", headers={"x-k": "999"}) == "k999"
    assert picked(t, "/p/5") == "p5"


def test_no_match_is_none():
    t = routes_table([to("a", path="/a")])
    assert picked(t, "/b") is None
    assert picked(t, "/b") is None


def test_empty_virtual_host():
    t = routes_table([])
    assert picked(t, "/") is None


@pytest.mark.parametrize("n", [10, 10_000])
def test_large_tables_build_and_match(n):
    routers = [to(f"c{i}", path=f"/svc/{i}/exact") for i in range(n // 2)]
    routers += [to(f"p{i}", prefix=f"/svc/{i}/") for i in range(n // 2)]
    t = routes_table(routers)
    last = n // 2 - 1
    assert picked(t, f"/svc/{last}/exact") == f"c{last}"
    assert picked(t, f"/svc/{last}/other") == f"p{last}"
    assert picked(t, f"/svc/{last}") is None


def test_matching_examines_as_many_routes_whatever_the_route_count():
    """The index hands a match the same few candidate routes for 10 routes as for 10,000 (a
    linear scan would hand it all of them); counted, not timed, so a busy machine cannot fail it."""
    def examined(n):
        routers = [to(f"c{i}", path=f"/svc/{i}/exact") for i in range(n // 2)]
        routers += [to(f"p{i}", prefix=f"/svc/{i}/") for i in range(n // 2)]
        t = routes_table(routers, cache_limit=0)
        (vhost,) = t.virtual_hosts
        paths = [f"/svc/{(i * 7919) % (n // 2)}/{'exact' if i % 2 else 'x'}" for i in range(2000)]
        for p in paths[:50]:  # the index still picks what a scan would
            assert t.match("h", p, "", {}) is not None
        return max(sum(len(bucket) for bucket in vhost.index._candidates(p)) for p in paths)

    assert examined(10_000) == examined(10) <= 2


# --- property: indexed == naive linear scan ----------------------------------------------

segments = st.sampled_from(["a", "b", "ab", "A", "users", "42", "x"])
paths = st.lists(segments, min_size=0, max_size=4).map(lambda s: "/" + "/".join(s))
REGEXES = ["/a.*", "/[0-9]+", "/users/[0-9]+", ".*b", "/A/.*", "(?i)/ab"]
HEADERS = [{}, {"x-h": "1"}, {"x-h": "2"}, {"x-h": "1", "x-g": ""}]
QUERIES = ["", "q=1", "q=2&q=1", "z", "q=%31"]


@st.composite
def route_matches(draw):
    kind = draw(st.sampled_from(["prefix", "path", "regex", "none"]))
    match: dict = {}
    if kind == "prefix":
        match["prefix"] = draw(paths) + draw(st.sampled_from(["", "/", "a"]))
    elif kind == "path":
        match["path"] = draw(paths)
    elif kind == "regex":
        match["regex"] = draw(st.sampled_from(REGEXES))
    if draw(st.booleans()):
        match["case_sensitive"] = False
    roll = draw(st.integers(0, 5))
    if roll == 0:
        match["headers"] = [{"name": "x-h", "value": draw(st.sampled_from(["1", "2"]))}]
    elif roll == 1:
        match["headers"] = [{"name": "x-g", "present_match": draw(st.booleans())}]
    elif roll == 2:
        match["headers"] = [{"name": "x-h", "value": "1", "invert_match": True}]
    elif roll == 3:
        match["query_parameters"] = [{"name": draw(st.sampled_from(["q", "z"])), "value": "1"}]
    return match


def first_query_values(query):
    out = {}
    for part in query.split("&"):
        if part:
            name, _, value = part.partition("=")
            out.setdefault(unquote_plus(name), unquote_plus(value))
    return out


def linear(routes, path, query, headers):
    params = first_query_values(query)
    for i, m in enumerate(routes):
        sensitive = m.get("case_sensitive", True)
        subject = path if sensitive else path.lower()
        if "prefix" in m:
            ok = subject.startswith(m["prefix"] if sensitive else m["prefix"].lower())
        elif "path" in m:
            ok = subject == (m["path"] if sensitive else m["path"].lower())
        elif "regex" in m:
            ok = re.fullmatch(m["regex"], path) is not None
        else:
            ok = True
        for h in m.get("headers", []):
            if "present_match" in h:
                hit = (h["name"] in headers) == h["present_match"]
            else:
                hit = headers.get(h["name"]) == h["value"]
            ok = ok and hit != h.get("invert_match", False)
        for q in m.get("query_parameters", []):
            ok = ok and params.get(q["name"]) == q["value"]
        if ok:
            return i
    return None


lookup = st.tuples(
    paths.map(lambda p: p.upper() if len(p) % 3 == 0 else p),
    st.sampled_from(QUERIES),
    st.sampled_from(HEADERS),
)


@settings(max_examples=400, deadline=None)
@given(
    routes=st.lists(route_matches(), min_size=0, max_size=25),
    lookups=st.lists(lookup, min_size=1, max_size=12),
    cache_limit=st.sampled_from([0, 2, 4096]),
    merge_limit=st.sampled_from([0, 8]),
)
def test_index_agrees_with_linear_scan(routes, lookups, cache_limit, merge_limit):
    with mock.patch.object(route_index, "_MERGE_LIMIT", merge_limit):  # 0: never merge buckets
        t = routes_table(
            [{"name": str(i), "match": m, "route": {"cluster_name": "c"}} for i, m in enumerate(routes)],
            cache_limit=cache_limit,
        )
    for path, query, headers in lookups * 2:  # repeated: caching must not change answers
        got = t.match("h", path, query, headers)
        assert (got.index if got else None) == linear(routes, path, query, headers), (path, query, headers)
