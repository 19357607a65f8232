"""The routes of one virtual host, indexed so matching does not grow with the route count.

Exact paths live in a dict; prefixes in one dict per distinct prefix length; regex and path-less
routes are scanned. Among every route that fully matches, the lowest config index wins:
first-match-wins, exactly as a linear scan decides.

A dict hit already proves the path matches, so only header/query conditions remain to check.
Each key's entry is closed over the shorter registered prefixes of that key (they match whatever
it matches), so the first hit decides: an exact hit needs no prefix probe, and prefixes are
probed longest first and stop at the first hit.

A bucket holds candidates in config order, cut after the first unconditional one: that one
always matches, so nothing after it can win. A closed entry is one merged bucket when that is
small (the usual case: one route), else a tuple of references to the ancestors' buckets, so a
thousand header-conditioned routes on "/" are not copied under every key."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from pymosn.router.cache import MISS, TwoGenerationCache
from pymosn.router.entry import PATH_EXACT, PATH_PREFIX, RouteEntry
from pymosn.router.matchers import parse_query

CACHE_LIMIT = 4096
_MERGE_LIMIT = 8  # candidates a closed entry may copy into one bucket

Bucket = tuple[RouteEntry, ...]


def _bucket(routes: Iterable[RouteEntry]) -> Bucket:
    out: list[RouteEntry] = []
    for r in sorted(routes, key=lambda r: r.index):
        out.append(r)
        if not r.conditional:
            break
    return tuple(out)


def _close(buckets: list[Bucket]) -> tuple[Bucket, ...]:
    """The buckets one key must check. A bucket that starts after some unconditional candidate
    can never win, so it is dropped."""
    always = [b[-1].index for b in buckets if not b[-1].conditional]
    if always:
        buckets = [b for b in buckets if b[0].index <= min(always)]
    if sum(len(b) for b in buckets) <= _MERGE_LIMIT:
        return (_bucket(r for b in buckets for r in b),)
    return tuple(buckets)


class _PathIndex:
    """Exact and prefix routes of one case mode: `lookup` returns the buckets to check."""

    __slots__ = ("exact", "prefix")

    def __init__(self, routes: list[RouteEntry]) -> None:
        exact: dict[str, list[RouteEntry]] = {}
        prefix: dict[str, list[RouteEntry]] = {}
        for r in routes:
            (exact if r.path_kind == PATH_EXACT else prefix).setdefault(r.path_value, []).append(r)
        own = {k: _bucket(v) for k, v in prefix.items()}
        lengths = sorted({len(k) for k in prefix})

        def closed(key: str, bucket: Bucket, limit: int) -> tuple[Bucket, ...]:
            found = [bucket]
            for n in lengths:
                if n > limit:
                    break
                ancestor = own.get(key[:n])
                if ancestor is not None:
                    found.append(ancestor)
            return _close(found)

        self.exact = {k: closed(k, _bucket(v), len(k)) for k, v in exact.items()}
        by_key = {k: closed(k, b, len(k) - 1) for k, b in own.items()}
        # (length, dict) pairs, longest first: the first hit already holds every shorter one.
        self.prefix = tuple((n, {k: b for k, b in by_key.items() if len(k) == n}) for n in reversed(lengths))

    def lookup(self, path: str) -> tuple[Bucket, ...]:
        hit = self.exact.get(path)
        if hit is not None:
            return hit
        size = len(path)
        for n, table in self.prefix:
            if n <= size:
                hit = table.get(path[:n])
                if hit is not None:
                    return hit
        return ()


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

    def match(self, path: str, query: str, headers: Mapping[str, str], peer: str | None = None) -> RouteEntry | None:
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
                    if not r.matches_conditions(headers, params or {}, peer):
                        continue
                best, best_index = r, i
                break
        if first_conditional > best_index and self.cache_enabled:
            cache.put(path, best)
        return best

    def _candidates(self, path: str) -> tuple[Bucket, ...]:
        """Candidate lists, each in config order: the case-sensitive bucket, the
        case-insensitive one, and the scanned regex/path-less routes."""
        found = self._sensitive.lookup(path)
        if self._insensitive is not None:
            found += self._insensitive.lookup(path.lower())
        if self._scanned:
            found += (self._scanned,)
        return found
