"""Micro benchmark: route matching cost for 10 vs 10,000 routes (ns per match).

    python bench/route_match.py

Half the routes are exact paths, half prefixes, plus a catch-all; lookups hit routes spread
over the whole table. The path cache is disabled for the measurement (every lookup is a fresh
index walk), then measured again with it."""

from __future__ import annotations

import random
import time

import msgspec

from pymosn.config import model
from pymosn.router.route_table import RouteTable


def build(n: int) -> RouteTable:
    routers = [{"match": {"path": f"/svc/{i}/exact"}, "route": {"cluster_name": "c"}} for i in range(n // 2)]
    routers += [{"match": {"prefix": f"/svc/{i}/"}, "route": {"cluster_name": "c"}} for i in range(n // 2)]
    routers.append({"match": {"prefix": "/"}, "route": {"cluster_name": "c"}})
    cfg = {"router_config_name": "r", "virtual_hosts": [{"domains": ["*"], "routers": routers}]}
    return RouteTable.build(msgspec.convert(cfg, model.RouterConfig))


def measure(n: int, cached: bool, lookups: int = 200_000) -> float:
    table = build(n)
    index = table.virtual_host("h").index
    index.cacheable = cached
    rng = random.Random(1)
    paths = [f"/svc/{rng.randrange(n // 2)}/{'exact' if rng.random() < 0.5 else 'x'}" for _ in range(500)]
    match = table.match
    start = time.perf_counter()
    for i in range(lookups):
        match("h", paths[i % 500], "", {})
    return (time.perf_counter() - start) / lookups * 1e9


if __name__ == "__main__":
    for cached in (False, True):
        small, large = measure(10, cached), measure(10_000, cached)
        label = "with path cache" if cached else "no cache"
        print(f"{label:16s} 10 routes: {small:6.0f} ns/match   10,000 routes: {large:6.0f} ns/match   ratio {large / small:.2f}")
