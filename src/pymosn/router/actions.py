"""Route actions resolved at build time: header mutations, weighted clusters, redirects."""

from __future__ import annotations

import bisect
import random

from pymosn.config import model

HeaderAdd = tuple[str, str, bool]  # (lowercased name, value, append)


def merge_header_adds(*levels: tuple[model.HeaderValueOption, ...]) -> tuple[HeaderAdd, ...]:
    """Additions from the most specific level to the most general (route, virtual host, router
    config), in that order. The proxy applies them in sequence with append=false replacing, so
    a general level would otherwise overwrite a specific one; instead, once a level sets a name
    with append=false, more general levels lose every entry for that name: the most specific
    replacement wins, and general appends do not pile onto it."""
    out: list[HeaderAdd] = []
    replaced: set[str] = set()
    for level in levels:
        replaced_here: set[str] = set()
        for option in level:
            name = option.header.key.lower()
            if name in replaced:
                continue
            out.append((name, option.header.value, option.append))
            if not option.append:
                replaced_here.add(name)
        replaced |= replaced_here
    return tuple(out)


def merge_header_removes(*levels: tuple[str, ...]) -> frozenset[str]:
    return frozenset(name.lower() for level in levels for name in level)


class WeightedClusters:
    """Cumulative weights, so a pick is one bisect rather than a walk."""

    __slots__ = ("bounds", "names", "total")

    def __init__(self, weights: tuple[model.WeightedCluster, ...]) -> None:
        bounds: list[int] = []
        names: list[str] = []
        total = 0
        for w in weights:
            if w.cluster.weight > 0:  # a zero weight can never be picked
                total += w.cluster.weight
                bounds.append(total)
                names.append(w.cluster.name)
        self.bounds = bounds
        self.names = names
        self.total = total

    def pick(self, rand: float | None = None) -> str | None:
        if not self.total:
            return None
        point = (random.random() if rand is None else rand) * self.total
        i = bisect.bisect_right(self.bounds, point)
        # rand is in [0, 1); a caller passing 1.0 still gets the last cluster
        return self.names[min(i, len(self.names) - 1)]


_DEFAULT_PORTS = {"http": "80", "https": "443"}


def redirect_location(r: model.Redirect, scheme: str, host: str, path_and_query: str) -> str:
    """Envoy's newUri: each configured part replaces the request's; the query survives a
    path_redirect unless the new path brings its own."""
    new_scheme = r.scheme_redirect or scheme
    if r.host_redirect:
        new_host = r.host_redirect
    else:
        new_host = host
        if new_scheme != scheme:
            # http://h:80 -> https://h, not https://h:80: the old default port means nothing now.
            name, sep, port = host.rpartition(":")
            if sep and not host.endswith("]") and port == _DEFAULT_PORTS.get(scheme.lower()):
                new_host = name
    path, sep, query = path_and_query.partition("?")
    if r.path_redirect is not None:
        path = r.path_redirect
        if "?" in path:
            sep = query = ""
    return f"{new_scheme}://{new_host}{path}{sep}{query}"
