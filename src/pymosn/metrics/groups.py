"""The stats groups of the request path (a listener's, a cluster's, a host's) as compiled
classes: the data path's `stats.downstream_rq_total += 1` is then a store into the object, not
an attribute lookup by name.

Each group lists its fields once per kind (COUNTERS, GAUGES, HISTOGRAMS), which renderers and
snapshots walk, and declares them as attributes, which the compiled build needs to lay the
object out (tests/unit/metrics/test_groups.py checks the two agree). StatsGroup takes
interpreted subclasses (metrics/stats.py: filter kinds' groups, the RPC protocols', the
server's), which name their fields in `__slots__` only."""

from __future__ import annotations

from typing import ClassVar

from mypy_extensions import mypyc_attr

from pymosn.metrics.histogram import Histogram
from pymosn.metrics.response_class import count_response


@mypyc_attr(allow_interpreted_subclasses=True)
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
        """Counts a response in its status class (1xx..5xx) counter, if the group keeps them
        (by name here; the request path's groups override it with their own fields)."""
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


class GrpcStats:
    """gRPC calls by grpc-status, in total and per `package.Service/Method`.

    Per-method counts are kept for at most MAX_METHODS methods per group, and only for calls
    the upstream did not answer UNIMPLEMENTED: paths come from clients, and random ones must
    neither grow memory nor crowd out the real methods (Envoy asks for an allowlist instead)."""

    MAX_METHODS: ClassVar[int] = 1000
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

    __slots__ = ("grpc",)
    grpc: GrpcStats

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
    __slots__ = (*COUNTERS, *GAUGES)
    downstream_cx_total: int
    downstream_cx_destroy: int
    downstream_cx_overflow: int
    downstream_cx_idle_timeout: int
    downstream_rq_total: int
    downstream_rq_1xx: int
    downstream_rq_2xx: int
    downstream_rq_3xx: int
    downstream_rq_4xx: int
    downstream_rq_5xx: int
    downstream_rq_rx_reset: int
    downstream_cx_rx_bytes_total: int
    downstream_cx_tx_bytes_total: int
    downstream_rq_too_large: int
    downstream_rq_header_too_large: int
    downstream_rq_protocol_error: int
    downstream_cx_http2_total: int
    downstream_rq_http2_total: int
    downstream_cx_migrated_out: int
    downstream_cx_migrated_in: int
    downstream_cx_protocol_unknown: int
    downstream_cx_protocol_unsupported: int
    no_filter_chain_match: int
    downstream_pre_cx_timeout: int
    downstream_rq_max_duration_reached: int
    downstream_rq_filter_error: int
    http2_outbound_flood: int
    http2_outbound_control_flood: int
    http2_inbound_empty_frames_flood: int
    http2_header_block_flood: int
    http2_header_block_timeout: int
    downstream_cx_active: int
    downstream_rq_active: int
    downstream_pre_cx_active: int
    downstream_cx_http2_active: int

    def count_response(self, code: int) -> None:
        kind = code // 100
        if kind == 2:
            self.downstream_rq_2xx += 1
        elif kind == 4:
            self.downstream_rq_4xx += 1
        elif kind == 5:
            self.downstream_rq_5xx += 1
        elif kind == 3:
            self.downstream_rq_3xx += 1
        elif kind == 1:
            self.downstream_rq_1xx += 1


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
    __slots__ = (*COUNTERS, *GAUGES, *HISTOGRAMS)
    upstream_cx_total: int
    upstream_cx_connect_fail: int
    upstream_cx_tls_fail: int
    upstream_cx_connect_timeout: int
    upstream_cx_destroy: int
    upstream_cx_overflow: int
    upstream_cx_http2_total: int
    upstream_rq_total: int
    upstream_rq_pending_overflow: int
    upstream_rq_timeout: int
    upstream_rq_retry: int
    upstream_rq_1xx: int
    upstream_rq_2xx: int
    upstream_rq_3xx: int
    upstream_rq_4xx: int
    upstream_rq_5xx: int
    upstream_cx_rx_bytes_total: int
    upstream_cx_tx_bytes_total: int
    health_check_attempt: int
    health_check_success: int
    health_check_failure: int
    http2_outbound_flood: int
    http2_outbound_control_flood: int
    upstream_rq_shadow_dropped: int
    upstream_rq_shadow_failed: int
    upstream_cx_active: int
    upstream_rq_active: int
    upstream_rq_time: Histogram

    def count_response(self, code: int) -> None:
        kind = code // 100
        if kind == 2:
            self.upstream_rq_2xx += 1
        elif kind == 4:
            self.upstream_rq_4xx += 1
        elif kind == 5:
            self.upstream_rq_5xx += 1
        elif kind == 3:
            self.upstream_rq_3xx += 1
        elif kind == 1:
            self.upstream_rq_1xx += 1


class HostStats(StatsGroup):
    """One upstream host within one cluster; shown by /clusters, not by /stats (as Envoy)."""

    COUNTERS = ("cx_total", "cx_connect_fail", "rq_total", "rq_success", "rq_error", "rq_timeout")
    GAUGES = ("cx_active", "rq_active")
    __slots__ = COUNTERS + GAUGES
    cx_total: int
    cx_connect_fail: int
    rq_total: int
    rq_success: int
    rq_error: int
    rq_timeout: int
    cx_active: int
    rq_active: int


