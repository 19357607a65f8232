"""One router config: virtual hosts selected by Host, each with its indexed routes."""

from __future__ import annotations

from collections.abc import Mapping

from pymosn.config import model
from pymosn.router.entry import RouteEntry
from pymosn.router.route_index import RouteIndex

_HOST_CACHE_LIMIT = 4096


class VirtualHost:
    __slots__ = ("name", "index")

    def __init__(self, name: str, index: RouteIndex) -> None:
        self.name = name
        self.index = index


class RouteTable:
    """Virtual host selection, as Envoy and MOSN do it: an exact domain (with the port, then
    without), then the longest `*.suffix`, then the longest `prefix.*`, then `*`."""

    def __init__(self, name: str, vhosts: list[tuple[tuple[str, ...], VirtualHost]]) -> None:
        self.name = name
        self._exact: dict[str, VirtualHost] = {}
        self._suffixes: dict[str, VirtualHost] = {}
        self._prefixes: dict[str, VirtualHost] = {}
        self._default: VirtualHost | None = None
        for domains, vhost in vhosts:
            for domain in domains:
                d = domain.lower()
                if d == "*":
                    self._default = self._default or vhost
                elif d.startswith("*"):
                    self._suffixes.setdefault(d[1:], vhost)
                elif d.endswith("*"):
                    self._prefixes.setdefault(d[:-1], vhost)
                else:
                    self._exact.setdefault(d, vhost)
        self._suffix_lengths = sorted({len(s) for s in self._suffixes}, reverse=True)
        self._prefix_lengths = sorted({len(p) for p in self._prefixes}, reverse=True)
        self._host_cache: dict[str, VirtualHost | None] = {}

    @classmethod
    def build(cls, config: model.RouterConfig) -> RouteTable:
        vhosts = []
        for vh in config.virtual_hosts:
            entries = [RouteEntry(i, r, vh, config) for i, r in enumerate(vh.routers)]
            vhosts.append((vh.domains, VirtualHost(vh.name, RouteIndex(entries))))
        return cls(config.router_config_name, vhosts)

    def virtual_host(self, host: str) -> VirtualHost | None:
        cache = self._host_cache
        if host in cache:
            return cache[host]
        vhost = self._select(host.lower())
        if len(cache) >= _HOST_CACHE_LIMIT:
            cache.clear()
        cache[host] = vhost
        return vhost

    def _select(self, host: str) -> VirtualHost | None:
        vhost = self._exact.get(host)
        if vhost is not None:
            return vhost
        bare = host
        if not host.endswith("]"):  # keep "[::1]" whole; strip ":port" otherwise
            name, sep, port = host.rpartition(":")
            if sep and port.isdigit():
                bare = name
                vhost = self._exact.get(bare)
                if vhost is not None:
                    return vhost
        for n in self._suffix_lengths:
            if n < len(bare):
                vhost = self._suffixes.get(bare[-n:])
                if vhost is not None:
                    return vhost
        for n in self._prefix_lengths:
            if n < len(bare):
                vhost = self._prefixes.get(bare[:n])
                if vhost is not None:
                    return vhost
        return self._default

    def match(self, host: str, path: str, query: str, headers: Mapping[str, str]) -> RouteEntry | None:
        vhost = self.virtual_host(host)
        if vhost is None:
            return None
        return vhost.index.match(path, query, headers)
