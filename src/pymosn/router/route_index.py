"""The routes of one virtual host, indexed so matching does not grow with the route count.

Exact paths live in a dict; prefixes in one dict per distinct prefix length; regex and path-less
routes are scanned. Among every route that fully matches, the lowest config index wins:
first-match-wins, exactly as a linear scan decides.

A dict hit already proves the path matches, so only header/query conditions remain to check.
Each bucket is closed over the shorter registered prefixes of its key (they match whatever its
key matches), so the first hit decides: an exact hit needs no prefix probe, and prefixes are
probed longest first and stop at the first hit. A bucket holds its candidates in config order,
cut after the first unconditional one: that one always matches, so nothing after it can win."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from pymosn.router.cache import MISS, TwoGenerationCache
from pymosn.router.entry import PATH_EXACT, PATH_PREFIX, RouteEntry
from pymosn.router.matchers import parse_query

CACHE_LIMIT = 4096

Bucket = tuple[RouteEntry, ...]


def _bucket(routes: Iterable[RouteEntry]) -> Bucket:
    out: list[RouteEntry] = []
    for r in sorted(set(routes), key=lambda r: r.index):
        out.append(r)
        if not r.conditional:
            break
    return tuple(out)


class _PathIndex:
    """Exact and prefix routes of one case mode: `lookup` returns the one bucket to check."""

    __slots__ = ("exact", "prefix")

    def __init__(self, routes: list[RouteEntry]) -> None:
        exact: dict[str, list[RouteEntry]] = {}
        prefix: dict[str, list[RouteEntry]] = {}
        for r in routes:
            (exact if r.path_kind == PATH_EXACT else prefix).setdefault(r.path_value, []).append(r)
        lengths = sorted({len(k) for k in prefix})

        def shorter_prefixes(key: str, limit: int) -> list[RouteEntry]:
            found: list[RouteEntry] = []
            for n in lengths:
                if n > limit:
                    break
                found += prefix.get(key[:n], ())
            return found

        self.exact = {k: _bucket(v + shorter_prefixes(k, len(k))) for k, v in exact.items()}
        closed = {k: _bucket(v + shorter_prefixes(k, len(k) - 1)) for k, v in prefix.items()}
        # (length, dict) pairs, longest first: the first hit already holds every shorter one.
        self.prefix = tuple((n, {k: b for k, b in closed.items() if len(k) == n}) for n in reversed(lengths))

    def lookup(self, path: str) -> Bucket | None:
        hit = self.exact.get(path)
        if hit is not None:
            return hit
        size = len(path)
        for n, table in self.prefix:
            if n <= size:
                hit = table.get(path[:n])
                if hit is not None:
                    return hit
        return None


class RouteIndex:
    def __init__(self, routes: list[RouteEntry], cache_limit: int = CACHE_LIMIT) -> None:
        self.routes = tuple(routes)
        indexed = [r for r in routes if r.path_kind in (PATH_EXACT, PATH_PREFIX)]
        self._sensitive = _PathIndex([r for r in indexed if r.case_sensitive])
        ci = [r for r in indexed if not r.case_sensitive]
        self._insensitive = _PathIndex(ci) if ci else None
        scanned = [r for r in routes if r.path_kind not in (PATH_EXACT, PATH_PREFIX)]
        # A path-less route without conditions matches everything: nothing after it can win.
        cut = next(
            (i for i, r in enumerate(scanned) if r.regex is None and not r.conditional), len(scanned) - 1
        )
        self._scanned = tuple(scanned[: cut + 1])
        self._none = len(routes)  # an index no route has: "no winner yet"
        self.cache = TwoGenerationCache(cache_limit)
        self.cache_enabled = cache_limit > 0

    def match(self, path: str, query: str, headers: Mapping[str, str]) -> RouteEntry | None:
        cache = self.cache
        hit = cache.young.get(path, MISS)
        if hit is MISS and self.cache_enabled:
            hit = cache.lookup(path)
        if hit is not MISS:
            return hit
        best: RouteEntry | None = None
        best_index = self._none
        # The lowest index of a conditional route whose path matched. If it is below the winner
        # (or is the winner) the decision depended on headers/query, so it must not be cached.
        first_conditional = best_index + 1
        params: Mapping[str, str] | None = None
        for candidates in self._candidates(path):
            for r in candidates:
                i = r.index
                if i >= best_index:
                    break
                if r.regex is not None and r.regex.fullmatch(path) is None:
                    continue
                if r.conditional:
                    if i < first_conditional:
                        first_conditional = i
                    if r.query_conditions and params is None:
                        params = parse_query(query)
                    if not r.matches_conditions(headers, params or {}):
                        continue
                best, best_index = r, i
                break
        if first_conditional > best_index and self.cache_enabled:
            cache.put(path, best)
        return best

    def _candidates(self, path: str) -> list[Bucket]:
        """Candidate lists, each in config order: the case-sensitive bucket, the
        case-insensitive one, and the scanned regex/path-less routes."""
        found: list[Bucket] = []
        hit = self._sensitive.lookup(path)
        if hit is not None:
            found.append(hit)
        if self._insensitive is not None:
            hit = self._insensitive.lookup(path.lower())
            if hit is not None:
                found.append(hit)
        if self._scanned:
            found.append(self._scanned)
        return found
