"""The cyclic garbage collector, set for a long-running proxy.

Why: a full pass of the collector traverses every container object the process holds, and a
proxy holds a large heap from the moment it starts (modules, protobuf descriptors, the
config and everything built from it) that will never become garbage. `gc.freeze()` moves that
startup heap into the permanent generation, which no pass visits, so the passes that still
happen (anything that makes cycles: config reloads, xDS updates, the admin API) cost what they
look at, not the whole process. What was garbage at startup is collected first. The request
path itself makes no cycles (tests/integration/test_request_garbage.py): under gRPC load the
collector was ~20% of pymosn's CPU while the HTTP/2 client stream and its upstream request
still referred to each other (2026-12-04).

Only the proxy's own processes call it (cli, workers): a test process that starts proxies in
itself keeps its collector as it is."""

from __future__ import annotations

import gc


def settle() -> None:
    """Once the listeners serve. The cost: should a reload drop the first config, what of it
    sits in cycles stays (once: later configs are not frozen)."""
    gc.collect()
    gc.freeze()
