"""Micro benchmark: whole requests through the proxy core (ActiveStream, Router, UpstreamRequest)
on fake streams, no sockets.

    .venv/bin/python bench/proxy_core.py [--requests 20000] [--repeat 5]

Each request: a GET head into a new stream, the route matched, a host picked, the upstream
request sent on a fake client stream, a 200 with a 5-byte body back, the stream finished and
logged to a recording logger. Prints the best of --repeat runs in µs of CPU per request
(process_time). The fakes (tests/support/fakes.py) cost the same in every build, so the
difference between two builds is the core's. For instruction counts, run it under
`valgrind --tool=callgrind` with two --requests values and divide the difference."""

from __future__ import annotations

import argparse
import gc
import sys
import time
from pathlib import Path

# the repo root, for tests/support; not bench/ itself, whose h2.py would shadow the h2 package
sys.path[0] = str(Path(__file__).resolve().parent.parent)

from tests.support.proxy_core import ProxyCore  # noqa: E402


def run(core: ProxyCore, requests: int) -> float:
    request = core.request
    lines = core.logger.lines
    streams = core.pool().streams
    start = time.process_time()
    for _ in range(requests):
        request(b"GET", b"/")
        streams.pop().respond(200, body=b"hello")
        lines.pop()  # (the access-log line every ended request wrote; pop fails if it did not)
    elapsed = time.process_time() - start
    assert core.idle(), "every request must end once"
    return elapsed / requests * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    core = ProxyCore()
    run(core, 1000)  # warm: route caches, header plans
    gc.collect()
    best = min(run(core, args.requests) for _ in range(args.repeat))
    print(f"proxy core, no filters: {best:.2f} µs per request (best of {args.repeat} x {args.requests})")


if __name__ == "__main__":
    main()
