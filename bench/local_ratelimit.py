"""Micro benchmark: what the local rate limit adds per request when it does not trip (CPU ns).

    PYTHONPATH=src python bench/local_ratelimit.py

Measured with time.process_time over many calls, best of five: the token bucket's consume
(per process, and shared by two workers through a BucketTable), and the filter's
decode_headers + encode_headers for the benchmark chain's config (a bucket that never runs dry,
enabled and enforced for every request, no descriptors), called directly: the filter manager's
own per-filter cost is measured in docs/design/stream-filters.md."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from pymosn.api.headers import HeaderMap, RequestHeaderMap
from pymosn.api.stream_info import StreamInfo
from pymosn.config.issues import IssueLog
from pymosn.filter import bucket_table
from pymosn.filter.bucket_table import BucketTable
from pymosn.filter.http import local_ratelimit, local_ratelimit_config
from pymosn.filter.token_bucket import LocalTokenBucket, process_bucket

CALLS = 200_000
BENCH_CONFIG = {
    "stat_prefix": "bench_rl",
    "token_bucket": {"max_tokens": 1_000_000_000, "tokens_per_fill": 1_000_000_000, "fill_interval": "1s"},
    "filter_enabled": {"runtime_key": "e", "default_value": {"numerator": 100, "denominator": "HUNDRED"}},
    "filter_enforced": {"runtime_key": "f", "default_value": {"numerator": 100, "denominator": "HUNDRED"}},
}


def best_ns(run: Any, calls: int = CALLS) -> float:
    best = float("inf")
    for _ in range(5):
        start = time.process_time()
        run(calls)
        best = min(best, (time.process_time() - start) / calls * 1e9)
    return best


def bucket_ns(bucket: Any) -> float:
    consume = bucket.consume
    now = time.monotonic()

    def run(calls: int) -> None:
        for _ in range(calls):
            consume(now)

    return best_ns(run)


class Callbacks:
    """What the filter reads of its callbacks, as plain attributes."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.stream_info = StreamInfo("bench", 1)
        self.connection = type("Connection", (), {"loop": loop, "remote": ("10.0.0.2", 1)})()
        self.route = None

    def per_filter_config(self, name: str | None = None) -> object | None:
        return None


def filter_ns(shared: bool) -> float:
    log = IssueLog()
    decoded = local_ratelimit_config.decode_envoy(BENCH_CONFIG, "$.bench", log)
    assert decoded is not None, log.errors
    if shared:
        bucket_table.install(BucketTable.create(2))
    try:
        config = local_ratelimit.LocalRateLimitFilterConfig(decoded)
    finally:
        bucket_table.install(None)
    loop = asyncio.new_event_loop()
    callbacks = Callbacks(loop)
    headers = RequestHeaderMap([(b"host", b"x")], [b"host"], b"GET", b"/")
    response = HeaderMap.of([(b"content-length", b"0")])
    make = local_ratelimit.LocalRateLimitFilter

    def run(calls: int) -> None:
        for _ in range(calls):
            f = make(config, callbacks)  # type: ignore[arg-type]
            f.decode_headers(headers, True)
            f.encode_headers(200, response, True)

    try:
        return best_ns(run)
    finally:
        loop.close()


def main() -> None:
    table = BucketTable.create(2)
    print(f"bucket consume, per process:       {bucket_ns(LocalTokenBucket(10**9, 10**9, 1.0)):6.0f} ns")
    print(f"bucket consume, shared (2 workers): {bucket_ns(process_bucket(10**9, 10**9, 1.0, '$.b', table)):6.0f} ns")
    print(f"filter (make + decode + encode), per process bucket: {filter_ns(False):6.0f} ns")
    print(f"filter (make + decode + encode), shared bucket:      {filter_ns(True):6.0f} ns")


if __name__ == "__main__":
    main()
