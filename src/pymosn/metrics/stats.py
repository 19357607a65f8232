"""Per-component stats as slotted objects with plain int attributes.

The data path writes `stats.downstream_rq_total += 1`: an attribute store, no call, no lock
(each worker is one thread). Each class lists its fields once, by kind, and renderers and
snapshots walk those lists, so adding a stat is adding a name here."""

from __future__ import annotations

import functools
from typing import ClassVar

from pymosn.metrics.counter import NamedCounter as NamedCounter  # (re-exported)
from pymosn.metrics.histogram import Histogram
from pymosn.metrics.response_class import count_response


class StatsGroup:
    __slots__ = ()
    COUNTERS: ClassVar[tuple[str, ...]] = ()
    RESPONSE_CLASSES: ClassVar[tuple[str, ...]] = ()  # counters for 1xx..5xx, in that order
    GAUGES: ClassVar[tuple[str, ...]] = ()
    HISTOGRAMS: ClassVar[tuple[str, ...]] = ()

    def __init__(self) -> None:
        for name in self.COUNTERS:
            setattr(self, name, 0)
        for name in self.GAUGES:
            setattr(self, name, 0)
        for name in self.HISTOGRAMS:
            setattr(self, name, Histogram())

    def snapshot(self) -> dict:
        """Plain numbers (JSON-safe), for shipping from a worker to the admin process."""
        snap: dict = {name: getattr(self, name) for name in self.COUNTERS}
        for name in self.GAUGES:
            snap[name] = getattr(self, name)
        for name in self.HISTOGRAMS:
            snap[name] = getattr(self, name).snapshot()
        return snap

    def merge(self, snap: dict) -> None:
        """Add a snapshot into this group. Gauges add too: the active connections of the
        process are the sum over its workers. Unknown names are skipped so a worker on a newer
        version can report to an older admin process."""
        for name in self.COUNTERS + self.GAUGES:
            value = snap.get(name)
            if value is not None:
                setattr(self, name, getattr(self, name) + value)
        for name in self.HISTOGRAMS:
            value = snap.get(name)
            if value is not None:
                getattr(self, name).merge(value)

    def count_response(self, code: int) -> None:
        """Counts a response in its status class (1xx..5xx) counter, if the group keeps them.
        (The compiled request path calls response_class.count_response itself.)"""
        count_response(self, self.RESPONSE_CLASSES, code)

    def zero_gauges(self) -> None:
        for name in self.GAUGES:
            setattr(self, name, 0)

    def clear(self) -> None:
        """Back to a fresh group (an aggregate about to be rebuilt from worker snapshots)."""
        self.reset_counters()
        self.zero_gauges()
        for name in self.HISTOGRAMS:
            getattr(self, name).reset()

    def reset_counters(self) -> None:
        for name in self.COUNTERS:
            setattr(self, name, 0)
        for name in self.HISTOGRAMS:
            getattr(self, name).reset()


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


class GrpcStats:
    """gRPC calls by grpc-status, in total and per `package.Service/Method`.

    Per-method counts are kept for at most MAX_METHODS methods per group, and only for calls
    the upstream did not answer UNIMPLEMENTED: paths come from clients, and random ones must
    neither grow memory nor crowd out the real methods (Envoy asks for an allowlist instead)."""

    MAX_METHODS = 1000
    __slots__ = ("statuses", "methods")

    def __init__(self) -> None:
        self.statuses: dict[int, int] = {}
        self.methods: dict[tuple[str, str], dict[int, int]] = {}

    def count(self, status: int, method: tuple[str, str] | None = None) -> None:
        statuses = self.statuses
        statuses[status] = statuses.get(status, 0) + 1
        if method is None or status == 12:
            return
        per = self.methods.get(method)
        if per is None:
            if len(self.methods) >= self.MAX_METHODS:
                return
            per = self.methods[method] = {}
        per[status] = per.get(status, 0) + 1

    def snapshot(self) -> dict:
        return {
            "statuses": {str(k): v for k, v in self.statuses.items()},
            "methods": {f"{s}/{m}": {str(k): v for k, v in c.items()} for (s, m), c in self.methods.items()},
        }

    def merge(self, snap: dict) -> None:
        statuses = self.statuses
        for key, value in snap.get("statuses", {}).items():
            statuses[int(key)] = statuses.get(int(key), 0) + value
        for name, counts in snap.get("methods", {}).items():
            service, _, method = name.rpartition("/")
            per = self.methods.setdefault((service, method), {})
            for key, value in counts.items():
                per[int(key)] = per.get(int(key), 0) + value

    def clear(self) -> None:
        self.statuses.clear()
        self.methods.clear()


class _WithGrpc(StatsGroup):
    """A group that also counts gRPC calls (`grpc`, a GrpcStats)."""

    __slots__ = ()

    def __init__(self) -> None:
        super().__init__()
        self.grpc = GrpcStats()

    def snapshot(self) -> dict:
        snap = super().snapshot()
        if self.grpc.statuses:
            snap["grpc"] = self.grpc.snapshot()
        return snap

    def merge(self, snap: dict) -> None:
        super().merge(snap)
        grpc = snap.get("grpc")
        if grpc:
            self.grpc.merge(grpc)

    def reset_counters(self) -> None:
        super().reset_counters()
        self.grpc.clear()


class ListenerStats(_WithGrpc):
    """One listener. Envoy splits these between `listener.<name>.` (accept side) and
    `http.<name>.` (the connection manager); LISTENER_SCOPE says which go where."""

    COUNTERS = (
        "downstream_cx_total",
        "downstream_cx_destroy",
        "downstream_cx_overflow",
        "downstream_cx_idle_timeout",
        "downstream_rq_total",
        "downstream_rq_1xx",
        "downstream_rq_2xx",
        "downstream_rq_3xx",
        "downstream_rq_4xx",
        "downstream_rq_5xx",
        "downstream_rq_rx_reset",
        "downstream_cx_rx_bytes_total",
        "downstream_cx_tx_bytes_total",
        "downstream_rq_too_large",
        "downstream_rq_header_too_large",
        "downstream_rq_protocol_error",
        # HTTP/2 downstream connections and the requests they carried (Envoy's names)
        "downstream_cx_http2_total",
        "downstream_rq_http2_total",
        # hot upgrade: connections handed to the new process / taken from the old one
        "downstream_cx_migrated_out",
        "downstream_cx_migrated_in",
        # downstream_protocol Auto: first bytes no protocol claimed / a protocol we do not serve
        "downstream_cx_protocol_unknown",
        "downstream_cx_protocol_unsupported",
        # filter chain selection (Envoy's names): no chain matched; no ClientHello in time
        "no_filter_chain_match",
        "downstream_pre_cx_timeout",
        # a gRPC call's grpc-timeout expired (Envoy's name for its max_stream_duration)
        "downstream_rq_max_duration_reached",
        # a stream filter raised (answered 500, flag FF); pymosn's own, Envoy has no such filter failure
        "downstream_rq_filter_error",
        # HTTP/2 connections closed past a flood bound (protocol/http2/flood.py), rendered
        # `http2.outbound_flood` etc. (Envoy's codec stats; the last two are pymosn's)
        "http2_outbound_flood",
        "http2_outbound_control_flood",
        "http2_inbound_empty_frames_flood",
        "http2_header_block_flood",
        "http2_header_block_timeout",
    )
    GAUGES = ("downstream_cx_active", "downstream_rq_active", "downstream_pre_cx_active", "downstream_cx_http2_active")
    RESPONSE_CLASSES = tuple(f"downstream_rq_{n}xx" for n in range(1, 6))
    __slots__ = (*COUNTERS, *GAUGES, "grpc")


# Stats Envoy keeps under `listener.<name>.`; they appear there AND under `http.<name>.` when
# listed in BOTH_SCOPES, like Envoy, which counts connections at both levels.
LISTENER_SCOPE = frozenset({
    "downstream_cx_overflow",
    "downstream_cx_migrated_out",
    "downstream_cx_migrated_in",
    "downstream_cx_protocol_unknown",
    "downstream_cx_protocol_unsupported",
    "no_filter_chain_match",
    "downstream_pre_cx_timeout",
    "downstream_pre_cx_active",
})
BOTH_SCOPES = frozenset({"downstream_cx_total", "downstream_cx_destroy", "downstream_cx_active"})


class ClusterStats(_WithGrpc):
    COUNTERS = (
        "upstream_cx_total",
        "upstream_cx_connect_fail",
        "upstream_cx_tls_fail",
        "upstream_cx_connect_timeout",
        "upstream_cx_destroy",
        "upstream_cx_overflow",
        "upstream_cx_http2_total",
        "upstream_rq_total",
        "upstream_rq_pending_overflow",
        "upstream_rq_timeout",
        "upstream_rq_retry",
        "upstream_rq_1xx",
        "upstream_rq_2xx",
        "upstream_rq_3xx",
        "upstream_rq_4xx",
        "upstream_rq_5xx",
        "upstream_cx_rx_bytes_total",
        "upstream_cx_tx_bytes_total",
        "health_check_attempt",
        "health_check_success",
        "health_check_failure",
        # an HTTP/2 upstream that does not read the frames it makes us send (flood.py)
        "http2_outbound_flood",
        "http2_outbound_control_flood",
        # pymosn's, on a mirror cluster (proxy/mirror.py): copies given up before they were
        # whole (no room, no host, no connection, the mirror not keeping up, the original
        # request cut short), and copies sent that got no whole response (reset, timeout)
        "upstream_rq_shadow_dropped",
        "upstream_rq_shadow_failed",
    )
    GAUGES = ("upstream_cx_active", "upstream_rq_active")
    HISTOGRAMS = ("upstream_rq_time",)
    RESPONSE_CLASSES = tuple(f"upstream_rq_{n}xx" for n in range(1, 6))
    __slots__ = (*COUNTERS, *GAUGES, *HISTOGRAMS, "grpc")


class HostStats(StatsGroup):
    """One upstream host within one cluster; shown by /clusters, not by /stats (as Envoy)."""

    COUNTERS = ("cx_total", "cx_connect_fail", "rq_total", "rq_success", "rq_error", "rq_timeout")
    GAUGES = ("cx_active", "rq_active")
    __slots__ = COUNTERS + GAUGES


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
