"""Micro benchmark: what routing costs per request in the proxy core, by the kind of route
condition the table has (µs of CPU per request, process_time).

    .venv/bin/python bench/route_conditions.py [--requests 50000] [--repeat 5]

Each request goes through the proxy core with no sockets (tests/support/proxy_core.py: real
route tables, clusters and stats; fake streams and pools): its head, the route match, the
upstream request made, a 200 answered, the stream ended and logged. The tables: "plain" (one
catch-all route), "header" (a route on an ordinary header before the catch-all), "method" (a
route on `:method` before it), "path" (on `:path`). The path cache is off, so every request
matches. Best of --repeat runs (the least disturbed)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

# the repository root, for tests.support; and not bench/ itself, whose h2.py would shadow h2
sys.path[0] = str(Path(__file__).resolve().parent.parent)

from tests.support.proxy_core import ProxyCore  # noqa: E402

CATCH_ALL = {"match": {"prefix": "/"}, "route": {"cluster_name": "origin"}}


def _conditioned(name: str, value: str) -> list[dict]:
    return [{"match": {"prefix": "/", "headers": [{"name": name, "value": value}]},
             "route": {"cluster_name": "origin"}}, CATCH_ALL]


TABLES = {
    "plain": [CATCH_ALL],
    "header": _conditioned("x-tenant", "blue"),
    "method": _conditioned(":method", "POST"),
    "path": _conditioned(":path", "/admin"),
}


def measure(routes: list[dict], requests: int, repeat: int) -> float:
    core = ProxyCore(routes=routes)
    for table in core.settings.snapshot_ref.current.routers.tables.values():
        for vhost in table.virtual_hosts:
            vhost.index.cache_enabled = False
    headers = [(b"user-agent", b"bench"), (b"accept", b"*/*")]
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        for _ in range(requests):
            core.request(b"GET", b"/a", headers)
            core.upstream().respond(200)
            core.pool().streams.clear()
            core.logger.lines.clear()  # kept, they would make the garbage collector's passes grow
        best = min(best, (time.process_time() - start) / requests * 1e6)
    return best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    for name, routes in TABLES.items():
        print(f"{name:8s} {measure(routes, args.requests, args.repeat):6.2f} µs/request")


if __name__ == "__main__":
    main()
