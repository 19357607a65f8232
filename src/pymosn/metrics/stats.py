"""Per-component stats as slotted objects with plain int attributes.

The data path writes `stats.downstream_rq_total += 1`: an attribute store, no call, no lock
(each worker is one thread). Each class lists its fields once, by kind, and renderers and
snapshots walk those lists. The request path's groups (listener, cluster, host) are compiled
(metrics/groups.py) and re-exported here; these are the others."""

from __future__ import annotations

import functools

from pymosn.metrics.counter import NamedCounter
from pymosn.metrics.groups import (
    BOTH_SCOPES,
    LISTENER_SCOPE,
    ClusterStats,
    GrpcStats,
    HostStats,
    ListenerStats,
    StatsGroup,
)

__all__ = [
    "BOTH_SCOPES",
    "LISTENER_SCOPE",
    "PROCESS_COUNTERS",
    "ClusterStats",
    "FilterStats",
    "GrpcStats",
    "HostStats",
    "ListenerStats",
    "NamedCounter",
    "ProtocolStats",
    "ServerStats",
    "StatsGroup",
    "aggregate_class",
    "process_counter",
]


# The process's named counters: the StatsStore of the process that runs the filters (not a
# master's aggregate) holds them, and configs made where no store is at hand (a route's
# per-filter config) find them here by their full name.
PROCESS_COUNTERS: dict[str, NamedCounter] = {}


def process_counter(name: str, family: str, labels: tuple[tuple[str, str], ...] = ()) -> NamedCounter:
    """The process's counter of that full name (made on first lookup, with these family and labels)."""
    counter = PROCESS_COUNTERS.get(name)
    if counter is None:
        counter = PROCESS_COUNTERS[name] = NamedCounter(name, family, labels)
    return counter


class ProtocolStats(StatsGroup):
    """One RPC protocol (bolt, dubbo, ...) across listeners: requests, outcomes, latency, and
    responses by the protocol's own status code (`status_codes`, a dict: codes are open-ended)."""

    COUNTERS = (
        "downstream_rq_total",
        "downstream_rq_oneway",
        "downstream_heartbeat",
        "downstream_rq_success",
        "downstream_rq_error",
        "downstream_rq_local_reply",
        "downstream_rq_timeout",
        "upstream_late_response_dropped",
        "protocol_error",
        "downstream_rq_filter_error",  # a stream filter raised (or its change could not be encoded)
    )
    GAUGES = ("downstream_rq_active",)
    HISTOGRAMS = ("downstream_rq_time",)
    __slots__ = (*COUNTERS, *GAUGES, *HISTOGRAMS, "status_codes")

    def __init__(self) -> None:
        super().__init__()
        self.status_codes: dict[int, int] = {}

    def count_status(self, code: int) -> None:
        codes = self.status_codes
        codes[code] = codes.get(code, 0) + 1

    def snapshot(self) -> dict:
        snap = super().snapshot()
        snap["status_codes"] = {str(k): v for k, v in self.status_codes.items()}
        return snap

    def merge(self, snap: dict) -> None:
        super().merge(snap)
        codes = self.status_codes
        for key, value in snap.get("status_codes", {}).items():
            codes[int(key)] = codes.get(int(key), 0) + value

    def reset_counters(self) -> None:
        super().reset_counters()
        self.status_codes.clear()


class FilterStats(StatsGroup):
    """One stream filter kind's stats on one listener, Envoy's `http.<listener>.<scope>.<name>`
    (fault's `http.ingress.fault.aborts_injected`). A kind subclasses it with its COUNTERS and
    GAUGES; the snapshot names which is which, so the master, which has no filter classes, can
    aggregate and render them (`aggregate_class`)."""

    __slots__ = ()

    def snapshot(self) -> dict:
        return {"counters": {name: getattr(self, name) for name in self.COUNTERS},
                "gauges": {name: getattr(self, name) for name in self.GAUGES}}

    def merge(self, snap: dict) -> None:
        for kind in ("counters", "gauges"):
            for name, value in snap.get(kind, {}).items():
                if name in self.COUNTERS or name in self.GAUGES:
                    setattr(self, name, getattr(self, name) + value)


@functools.cache
def aggregate_class(counters: tuple[str, ...], gauges: tuple[str, ...]) -> type[FilterStats]:
    """A FilterStats of these fields, for a process that only adds up workers' snapshots."""
    return type("AggregatedFilterStats", (FilterStats,), {"COUNTERS": counters, "GAUGES": gauges,
                                                          "__slots__": counters + gauges})


class ServerStats(StatsGroup):
    """`server.*` gauges. uptime, memory and total_connections are computed at render time by
    StatsStore.refresh_server(); live, concurrency and version are set by the server."""

    COUNTERS = ("workers_restarted",)  # worker processes the master had to start again
    GAUGES = ("live", "uptime", "concurrency", "memory_allocated", "total_connections", "version")
    __slots__ = COUNTERS + GAUGES
