"""Routes matching the downstream TLS client's URI SAN (`match.downstream_peer_uri_san`)."""

from __future__ import annotations

from .builders import routes_table

FOO = "spiffe://cluster.local/ns/default/sa/foo"
BAR = "spiffe://cluster.local/ns/default/sa/bar"


def named(cluster: str, peer: dict, **match) -> dict:
    return {"name": cluster, "match": {"prefix": "/", **match, "downstream_peer_uri_san": peer},
            "route": {"cluster_name": cluster}}


def pick(table, peer, path="/api", headers=None):
    route = table.match("h", path, "", headers or {}, peer)
    return route.name if route is not None else None


def test_each_matcher_kind():
    table = routes_table([
        named("exact", {"exact": FOO}),
        named("prefix", {"prefix": "spiffe://cluster.local/ns/prod/"}),
        named("suffix", {"suffix": "/sa/admin"}),
        named("contains", {"contains": "/ns/test/"}),
        named("regex", {"regex": r"spiffe://other\.domain/.*"}),
        named("ignore-case", {"exact": "SPIFFE://X/Y", "ignore_case": True}),
        {"name": "rest", "match": {"prefix": "/"}, "route": {"cluster_name": "rest"}},
    ])
    assert pick(table, FOO) == "exact"
    assert pick(table, "spiffe://cluster.local/ns/prod/sa/x") == "prefix"
    assert pick(table, "spiffe://cluster.local/ns/dev/sa/admin") == "suffix"
    assert pick(table, "spiffe://cluster.local/ns/test/sa/x") == "contains"
    assert pick(table, "spiffe://other.domain/a") == "regex"
    assert pick(table, "spiffe://x/y") == "ignore-case"
    assert pick(table, "spiffe://cluster.local/ns/default/sa/foo2") == "rest"  # exact is exact
    assert pick(table, None) == "rest"  # no client certificate matches no identity


def test_decisions_on_identity_are_not_cached_by_path():
    table = routes_table([named("foo", {"exact": FOO}), named("bar", {"exact": BAR})])
    for _ in range(3):
        assert pick(table, FOO) == "foo"
        assert pick(table, BAR) == "bar"
        assert pick(table, None) is None


def test_identity_combines_with_headers_and_paths():
    table = routes_table([
        named("foo-admin", {"exact": FOO}, headers=[{"name": "x-admin", "value": "1"}]),
        named("foo", {"exact": FOO}, prefix="/v1/"),
        {"name": "rest", "match": {"prefix": "/"}, "route": {"cluster_name": "rest"}},
    ])
    assert pick(table, FOO, "/x", {"x-admin": "1"}) == "foo-admin"
    assert pick(table, FOO, "/v1/a") == "foo"
    assert pick(table, FOO, "/v2/a") == "rest"
    assert pick(table, BAR, "/v1/a", {"x-admin": "1"}) == "rest"
    # the four-argument call (no identity known) still works
    assert table.match("h", "/v1/a", "", {}).name == "rest"
