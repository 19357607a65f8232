"""The routes of one virtual host, indexed so matching does not grow with the route count.

Exact paths live in a dict; prefixes in one dict per distinct prefix length (a request probes
each length once, and real tables have few distinct lengths); regex and path-less routes are
scanned. Every route that could match is a candidate, and the candidate with the lowest config
index that fully matches wins: first-match-wins, exactly as a linear scan would decide."""

from __future__ import annotations

from collections.abc import Mapping

from pymosn.router.entry import PATH_EXACT, PATH_PREFIX, RouteEntry
from pymosn.router.matchers import parse_query

_CACHE_LIMIT = 8192


class RouteIndex:
    def __init__(self, routes: list[RouteEntry]) -> None:
        self.routes = routes
        self._exact: dict[str, list[int]] = {}
        self._exact_ci: dict[str, list[int]] = {}
        self._prefix: dict[int, dict[str, list[int]]] = {}
        self._prefix_ci: dict[int, dict[str, list[int]]] = {}
        scanned = []
        for i, r in enumerate(routes):
            if r.path_kind == PATH_EXACT:
                table = self._exact if r.case_sensitive else self._exact_ci
                table.setdefault(r.path_value, []).append(i)
            elif r.path_kind == PATH_PREFIX:
                by_len = self._prefix if r.case_sensitive else self._prefix_ci
                by_len.setdefault(len(r.path_value), {}).setdefault(r.path_value, []).append(i)
            else:
                scanned.append(i)
        self._scanned = scanned
        self._prefix_lengths = sorted(self._prefix)
        self._prefix_ci_lengths = sorted(self._prefix_ci)
        self._has_ci = bool(self._exact_ci or self._prefix_ci) or any(not r.case_sensitive for r in routes)
        # With no header/query conditions anywhere, the answer depends on the path alone.
        self.cacheable = not any(r.has_conditions for r in routes)
        self._cache: dict[str, RouteEntry | None] = {}

    def _candidates(self, path: str, lowered: str) -> list[int]:
        found: list[int] = []
        hit = self._exact.get(path)
        if hit:
            found += hit
        plen = len(path)
        prefix = self._prefix
        for n in self._prefix_lengths:
            if n > plen:
                break
            hit = prefix[n].get(path[:n])
            if hit:
                found += hit
        if self._has_ci:
            hit = self._exact_ci.get(lowered)
            if hit:
                found += hit
            prefix = self._prefix_ci
            for n in self._prefix_ci_lengths:
                if n > plen:
                    break
                hit = prefix[n].get(lowered[:n])
                if hit:
                    found += hit
        if self._scanned:
            found += self._scanned
        return found

    def match(self, path: str, query: str, headers: Mapping[str, str]) -> RouteEntry | None:
        if self.cacheable:
            cache = self._cache
            if path in cache:
                return cache[path]
        lowered = path.lower() if self._has_ci else path
        candidates = self._candidates(path, lowered)
        if len(candidates) > 1:
            candidates.sort()
        routes = self.routes
        params = None
        result = None
        for i in candidates:
            r = routes[i]
            if not r.matches_path(path, lowered):
                continue
            if r.query_conditions and params is None:
                params = parse_query(query)
            if r.header_conditions or r.query_conditions:
                if not r.matches_conditions(headers, params):
                    continue
            result = r
            break
        if self.cacheable:
            if len(cache) >= _CACHE_LIMIT:
                cache.clear()
            cache[path] = result
        return result
