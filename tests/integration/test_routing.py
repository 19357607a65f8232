"""Routing features end to end: virtual hosts, matchers, rewrites, header ops, redirects,
direct responses, weighted clusters and load balancing."""

from __future__ import annotations

import collections

import httpx
import pytest

from tests.support.proxy import free_port


def config(port: int, a: int, b: int) -> dict:
    def cluster(name, ports, lb="LB_ROUNDROBIN", weights=None):
        return {
            "name": name,
            "type": "SIMPLE",
            "lb_type": lb,
            "hosts": [{"address": f"127.0.0.1:{p}", "weight": (weights or [1] * len(ports))[i]} for i, p in enumerate(ports)],
        }

    return {
        "servers": [
            {
                "listeners": [
                    {
                        "name": "l",
                        "address": f"127.0.0.1:{port}",
                        "filter_chains": [{"filters": [{"type": "proxy", "config": {"router_config_name": "r"}}]}],
                    }
                ],
                "routers": [
                    {
                        "router_config_name": "r",
                        "response_headers_to_add": [{"header": {"key": "x-router", "value": "r"}}],
                        "virtual_hosts": [
                            {
                                "name": "api",
                                "domains": ["api.example.com", "*.api.example.com"],
                                "request_headers_to_add": [{"header": {"key": "x-vhost", "value": "api"}}],
                                "routers": [
                                    {"match": {"prefix": "/v1/", "headers": [{"name": "x-canary", "value": "1"}]}, "route": {"cluster_name": "b"}},
                                    {"match": {"prefix": "/v1/", "query_parameters": [{"name": "debug", "value": "on"}]}, "route": {"cluster_name": "b"}},
                                    {"match": {"regex": "/v1/users/[0-9]+"}, "route": {"cluster_name": "a", "prefix_rewrite": "/users-by-id"}},
                                    {"match": {"prefix": "/v1/"}, "route": {"cluster_name": "a", "prefix_rewrite": "/internal/", "host_rewrite": "backend.local"}},
                                ],
                            },
                            {
                                "name": "default",
                                "domains": ["*"],
                                "routers": [
                                    {"match": {"path": "/hello"}, "direct_response": {"status": 200, "body": "hi there"}},
                                    {"match": {"prefix": "/old"}, "redirect": {"path_redirect": "/new", "response_code": 302}},
                                    {"match": {"prefix": "/secure"}, "redirect": {"scheme_redirect": "https", "host_redirect": "secure.example.com"}},
                                    {"match": {"prefix": "/byheader"}, "route": {"cluster_header": "x-cluster"}},
                                    {
                                        "match": {"prefix": "/split"},
                                        "route": {"weighted_clusters": [{"cluster": {"name": "a", "weight": 75}}, {"cluster": {"name": "b", "weight": 25}}]},
                                    },
                                    {"match": {"prefix": "/rr"}, "route": {"cluster_name": "both"}},
                                    {"match": {"prefix": "/autohost"}, "route": {"cluster_name": "a", "auto_host_rewrite": True}},
                                    {"match": {"prefix": "/wrr"}, "route": {"cluster_name": "weighted"}},
                                    {
                                        "match": {"prefix": "/ops"},
                                        "route": {
                                            "cluster_name": "a",
                                            "request_headers_to_remove": ["x-secret"],
                                            "request_headers_to_add": [{"header": {"key": "x-added", "value": "yes"}}],
                                            "response_headers_to_remove": ["content-type"],
                                            "response_headers_to_add": [{"header": {"key": "x-resp", "value": "1"}}],
                                        },
                                    },
                                ],
                            },
                        ],
                    }
                ],
            }
        ],
        "cluster_manager": {
            "clusters": [
                cluster("a", [a]),
                cluster("b", [b]),
                cluster("both", [a, b]),
                cluster("weighted", [a, b], "LB_WEIGHTED_ROUNDROBIN", [3, 1]),
            ]
        },
    }


@pytest.fixture
def router_proxy(origin, origin_b, start_proxy):
    return start_proxy(lambda port: config(port, origin.port, origin_b.port))


def get(p, path, host="other", **headers):
    return httpx.get(f"http://127.0.0.1:{p.port}{path}", headers={"host": host, **headers})


def test_virtual_hosts_and_matchers(router_proxy):
    r = get(router_proxy, "/v1/things", host="api.example.com")
    assert r.json()["origin"] == "origin-a"
    assert r.json()["path"] == "/internal/things"
    assert r.json()["headers"]["host"] == "backend.local"
    assert r.json()["headers"]["x-vhost"] == "api"
    assert r.headers["x-router"] == "r"
    assert get(router_proxy, "/v1/things", host="eu.api.example.com:8080").json()["origin"] == "origin-a"
    assert get(router_proxy, "/v1/things", host="API.example.com", **{"x-canary": "1"}).json()["origin"] == "origin-b"
    assert get(router_proxy, "/v1/things?debug=on", host="api.example.com").json()["origin"] == "origin-b"
    r = get(router_proxy, "/v1/users/42?q=1", host="api.example.com")
    assert r.json()["path"] == "/users-by-id?q=1" or r.json()["path"].startswith("/users-by-id")
    assert get(router_proxy, "/v1/things", host="other.com").status_code == 404


def test_direct_response_and_redirects(router_proxy):
    r = get(router_proxy, "/hello")
    assert r.status_code == 200 and r.text == "hi there"
    r = get(router_proxy, "/old/page?x=1", host="site.com")
    assert r.status_code == 302 and r.headers["location"] == "http://site.com/new?x=1"
    r = get(router_proxy, "/secure/a", host="site.com")
    assert r.status_code == 301 and r.headers["location"] == "https://secure.example.com/secure/a"


def test_auto_host_rewrite_uses_the_upstream_address(router_proxy, origin):
    assert get(router_proxy, "/autohost").json()["headers"]["host"] == f"127.0.0.1:{origin.port}"


def test_cluster_header(router_proxy):
    assert get(router_proxy, "/byheader", **{"x-cluster": "b"}).json()["origin"] == "origin-b"
    assert get(router_proxy, "/byheader", **{"x-cluster": "nope"}).status_code == 503


def test_weighted_clusters_split(router_proxy):
    counts = collections.Counter(get(router_proxy, "/split").json()["origin"] for _ in range(200))
    assert 110 <= counts["origin-a"] <= 185, counts


def test_round_robin_and_weighted_round_robin(router_proxy):
    seq = [get(router_proxy, "/rr").json()["origin"] for _ in range(6)]
    assert seq.count("origin-a") == 3 and seq.count("origin-b") == 3
    assert seq[0] != seq[1]
    counts = collections.Counter(get(router_proxy, "/wrr").json()["origin"] for _ in range(40))
    assert counts == {"origin-a": 30, "origin-b": 10}


def test_header_add_and_remove(router_proxy):
    r = get(router_proxy, "/ops", **{"x-secret": "s", "x-keep": "k"})
    seen = r.json()["headers"]
    assert "x-secret" not in seen and seen["x-keep"] == "k" and seen["x-added"] == "yes"
    assert r.headers["x-resp"] == "1" and "content-type" not in r.headers


def test_unused_port_sanity():
    assert free_port() > 0
