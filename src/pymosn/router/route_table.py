"""One router config compiled once: virtual hosts selected by Host, each with its indexed routes.

A table is immutable; a config reload builds a new one. The only state that changes after
`build` is the decision caches, which never alter an answer."""

from __future__ import annotations

from collections.abc import Mapping

from pymosn.config import model
from pymosn.router.cache import MISS, TwoGenerationCache
from pymosn.router.entry import RouteEntry
from pymosn.router.route_index import CACHE_LIMIT, RouteIndex
from pymosn.router.vhost import DomainIndex

HOST_CACHE_LIMIT = 1024

# Pseudo-headers a route may test that are no header fields of the request: the proxy makes
# them from the request line (`:authority` needs nothing: it is the Host header, see matchers.py)
REQUEST_LINE_HEADERS = frozenset({":method", ":path", ":scheme"})
# ... and those, with XFCC, which the proxy rewrites before routing (proxy/client_cert.py): a
# request is given to routing as the proxy sees it only when some route tests one of them
PROXY_MADE_HEADERS = REQUEST_LINE_HEADERS | {"x-forwarded-client-cert"}


class VirtualHost:
    __slots__ = ("name", "domains", "index")

    def __init__(self, name: str, domains: tuple[str, ...], index: RouteIndex) -> None:
        self.name = name
        self.domains = domains
        self.index = index

    @property
    def routes(self) -> tuple[RouteEntry, ...]:
        return self.index.routes

    def match(self, path: str, query: str, headers: Mapping[str, str], peer: str | None = None) -> RouteEntry | None:
        return self.index.match(path, query, headers, peer)


# What an unknown Host selects when there is no `*` virtual host: it matches nothing, and
# standing in for None lets the host cache remember misses too.
_NO_VHOST = VirtualHost("", (), RouteIndex([], cache_limit=0))


class RouteTable:
    def __init__(self, name: str, vhosts: list[VirtualHost]) -> None:
        self.name = name
        self.virtual_hosts = tuple(vhosts)
        self._domains: DomainIndex[VirtualHost] = DomainIndex((v.domains, v) for v in vhosts)
        self._hosts = TwoGenerationCache(HOST_CACHE_LIMIT)
        # Headers some route looks at: the proxy makes a header it rewrites itself (XFCC)
        # look as rewritten, and the request line readable as pseudo-headers, before matching
        # only when a route could see them (one attribute test per request otherwise).
        self.condition_headers = frozenset(c.name for v in vhosts for r in v.routes for c in r.header_conditions)
        self.routes_on_proxy_made = not PROXY_MADE_HEADERS.isdisjoint(self.condition_headers)
        self.request_line_conditions = not REQUEST_LINE_HEADERS.isdisjoint(self.condition_headers)

    @classmethod
    def build(cls, config: model.RouterConfig, cache_limit: int = CACHE_LIMIT) -> RouteTable:
        """`cache_limit` bounds each virtual host's path cache; 0 disables it."""
        vhosts = []
        for vh in config.virtual_hosts:
            entries = [RouteEntry(i, r, vh, config) for i, r in enumerate(vh.routers)]
            vhosts.append(VirtualHost(vh.name, vh.domains, RouteIndex(entries, cache_limit)))
        return cls(config.router_config_name, vhosts)

    def virtual_host(self, host: str) -> VirtualHost | None:
        vhost = self._virtual_host(host)
        return None if vhost is _NO_VHOST else vhost

    def _virtual_host(self, host: str) -> VirtualHost:
        hosts = self._hosts
        vhost = hosts.young.get(host, MISS)
        if vhost is MISS:
            vhost = hosts.lookup(host)
            if vhost is MISS:
                vhost = self._domains.select(host) or _NO_VHOST
                hosts.put(host, vhost)
        return vhost

    def match(self, host: str, path: str, query: str, headers: Mapping[str, str],
              peer: str | None = None) -> RouteEntry | None:
        """The first route, in config order, of the virtual host serving `host` that matches.

        `host` is the Host header as received, `path` the path without the query, `query` the
        raw query string without "?", `headers` lowercased names with duplicates joined, `peer`
        the verified URI SAN of the downstream TLS client certificate (None without one)."""
        vhost = self._hosts.young.get(host)
        if vhost is None:
            vhost = self._virtual_host(host)
        return vhost.index.match(path, query, headers, peer)
