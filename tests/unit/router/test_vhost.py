from __future__ import annotations

import pytest

from pymosn.router.vhost import DomainIndex, split_port

from .builders import table, to


def pick(t, host):
    route = t.match(host, "/", "", {})
    return route.name if route else None


@pytest.fixture(scope="module")
def precedence():
    return table(
        [
            {"name": "default", "domains": ["*"], "routers": [to("default", prefix="/")]},
            {"name": "prefix", "domains": ["api.*"], "routers": [to("prefix", prefix="/")]},
            {
                "name": "longer-prefix",
                "domains": ["api.internal.*"],
                "routers": [to("longer-prefix", prefix="/")],
            },
            {"name": "suffix", "domains": ["*.example.com"], "routers": [to("suffix", prefix="/")]},
            {"name": "longer", "domains": ["*.eu.example.com"], "routers": [to("longer", prefix="/")]},
            {"name": "exact", "domains": ["www.example.com"], "routers": [to("exact", prefix="/")]},
            {
                "name": "exact-port",
                "domains": ["www.example.com:8443"],
                "routers": [to("exact-port", prefix="/")],
            },
            {
                "name": "suffix-port",
                "domains": ["*.example.com:9000"],
                "routers": [to("suffix-port", prefix="/")],
            },
            {"name": "any-port", "domains": ["ports.test:*"], "routers": [to("any-port", prefix="/")]},
        ]
    )


@pytest.mark.parametrize(
    "host, want",
    [
        ("www.example.com", "exact"),
        ("WWW.Example.COM", "exact"),  # case-insensitive
        ("www.example.com:80", "exact"),  # a domain without a port serves every port
        ("www.example.com:8443", "exact-port"),  # host:port is tried before host
        ("WWW.EXAMPLE.COM:8443", "exact-port"),
        ("a.example.com", "suffix"),
        ("a.example.com:1234", "suffix"),
        ("a.example.com:9000", "suffix-port"),  # a port-specific wildcard beats the bare one
        ("a.eu.example.com", "longer"),  # longest suffix wins
        ("x.a.eu.example.com:80", "longer"),
        ("api.example.com", "suffix"),  # suffix beats prefix
        ("api.local", "prefix"),
        ("api.local:8080", "prefix"),
        ("api.internal.x", "longer-prefix"),  # longest prefix wins
        ("example.com", "default"),  # "*.example.com" needs at least one character before
        ("api.", "default"),  # and "api.*" one after
        ("ports.test:1", "any-port"),
        ("ports.test", "any-port"),
        ("other", "default"),
        ("[::1]:80", "default"),
        ("", "default"),
    ],
)
def test_precedence(precedence, host, want):
    assert pick(precedence, host) == want
    assert pick(precedence, host) == want  # second time from the host cache


def test_no_default_vhost_means_no_route():
    t = table([{"name": "a", "domains": ["a.com"], "routers": [to("a", prefix="/")]}])
    assert t.match("b.com", "/", "", {}) is None
    assert t.match("b.com", "/", "", {}) is None
    assert t.virtual_host("b.com") is None
    assert t.virtual_host("A.com:1").name == "a"


def test_first_virtual_host_keeps_a_duplicate_domain():
    t = table(
        [
            {"name": "one", "domains": ["d.com", "*"], "routers": [to("one", prefix="/")]},
            {"name": "two", "domains": ["D.COM", "*"], "routers": [to("two", prefix="/")]},
        ]
    )
    assert pick(t, "d.com") == "one"
    assert pick(t, "x") == "one"


def test_ipv6_hosts():
    t = table(
        [
            {"name": "v6", "domains": ["[::1]"], "routers": [to("v6", prefix="/")]},
            {"name": "v6port", "domains": ["[::1]:8080"], "routers": [to("v6port", prefix="/")]},
        ]
    )
    assert pick(t, "[::1]") == "v6"
    assert pick(t, "[::1]:80") == "v6"
    assert pick(t, "[::1]:8080") == "v6port"


@pytest.mark.parametrize(
    "host, want",
    [
        ("a.com", ("a.com", "")),
        ("a.com:80", ("a.com", "80")),
        ("[::1]", ("[::1]", "")),
        ("[::1]:443", ("[::1]", "443")),
        ("::1", ("::1", "")),
        ("a.com:x", ("a.com:x", "")),
    ],
)
def test_split_port(host, want):
    assert split_port(host) == want


def test_host_cache_is_bounded():
    t = table([{"name": "d", "domains": ["*"], "routers": [to("d", prefix="/")]}])
    for i in range(10_000):
        assert pick(t, f"h{i}.com") == "d"
    assert len(t._hosts) <= 2 * 1024


def test_domain_index_generic():
    index = DomainIndex([(["a.com", "*.b.com"], 1), (["c.*"], 2)])
    assert index.select("A.COM") == 1 and index.select("x.b.com") == 1 and index.select("c.d") == 2
    assert index.select("z") is None
