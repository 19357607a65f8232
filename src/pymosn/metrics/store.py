"""The registry of every stats object in one process, and the flat view renderers read.

Objects are created on first lookup and cached; the data path keeps direct references, so the
registry is never on the hot path. Rendering walks `samples()`, a flat list of Sample tuples
carrying both the Envoy text name and the Prometheus family + labels."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterable, Iterator
from typing import NamedTuple

from pymosn.metrics.histogram import Histogram
from pymosn.metrics.stats import (
    BOTH_SCOPES,
    LISTENER_SCOPE,
    PROCESS_COUNTERS,
    ClusterStats,
    FilterStats,
    GrpcStats,
    HostStats,
    ListenerStats,
    NamedCounter,
    ProtocolStats,
    ServerStats,
    StatsGroup,
    aggregate_class,
)

COUNTER = "counter"
GAUGE = "gauge"
HISTOGRAM = "histogram"

# upstream_rq_2xx -> family upstream_rq_xx with envoy_response_code_class="2", as Envoy's
# default tag extractors do.
_CODE_CLASS = re.compile(r"^(.*_rq_)(\d)xx$")
_PROMETHEUS_UNSAFE = re.compile(r"[^a-zA-Z0-9_]")


class Sample(NamedTuple):
    name: str  # Envoy text name: cluster.foo.upstream_rq_total
    family: str  # Prometheus metric family: envoy_cluster_upstream_rq_total
    labels: tuple[tuple[str, str], ...]
    value: int | float | Histogram
    kind: str  # COUNTER, GAUGE or HISTOGRAM


class StatsStore:
    def __init__(self, *, process: bool = False) -> None:
        """`process`: the store of the process that runs the filters (not a master's aggregate):
        its named counters are the process's (metrics.stats.PROCESS_COUNTERS)."""
        self.listeners: dict[str, ListenerStats] = {}
        self.clusters: dict[str, ClusterStats] = {}
        self.hosts: dict[str, dict[str, HostStats]] = {}
        self.protocols: dict[str, ProtocolStats] = {}
        # (listener, scope, the group's field names) -> a filter kind's; groups of one scope with
        # other fields are others (RBAC keeps allowed/denied and shadow_* in one scope)
        self.filters: dict[tuple[str, str, tuple[str, ...]], FilterStats] = {}
        self.server = ServerStats()
        self.named: dict[str, NamedCounter] = PROCESS_COUNTERS if process else {}
        self.started_monotonic = time.monotonic()

    # --- lookup (control path) ------------------------------------------------------------
    def listener(self, name: str) -> ListenerStats:
        stats = self.listeners.get(name)
        if stats is None:
            stats = self.listeners[name] = ListenerStats()
        return stats

    def cluster(self, name: str) -> ClusterStats:
        stats = self.clusters.get(name)
        if stats is None:
            stats = self.clusters[name] = ClusterStats()
        return stats

    def protocol(self, name: str) -> ProtocolStats:
        stats = self.protocols.get(name)
        if stats is None:
            stats = self.protocols[name] = ProtocolStats()
        return stats

    def filter(self, listener: str, scope: str, cls: type[FilterStats]) -> FilterStats:
        """The stats of filter kind `scope` on `listener`, shared by every chain of the listener
        (its plans for HTTP/1.1, HTTP/2, TLS and plaintext clients)."""
        key = (listener, scope, cls.COUNTERS + cls.GAUGES)
        stats = self.filters.get(key)
        if stats is None:
            stats = self.filters[key] = cls()
        return stats

    def counter(self, name: str, family: str = "", labels: tuple[tuple[str, str], ...] = ()) -> NamedCounter:
        """The counter of that full name (made on first lookup; the first caller's family and
        labels stay). `family` defaults to the name in Prometheus form."""
        counter = self.named.get(name)
        if counter is None:
            counter = self.named[name] = NamedCounter(name, family or "envoy_" + _PROMETHEUS_UNSAFE.sub("_", name),
                                                      labels)
        return counter

    def host(self, cluster: str, address: str) -> HostStats:
        by_address = self.hosts.setdefault(cluster, {})
        stats = by_address.get(address)
        if stats is None:
            stats = by_address[address] = HostStats()
        return stats

    # --- rendering view ---------------------------------------------------------------------
    def refresh_server(self) -> None:
        """Compute the server gauges that are a function of time or of other stats."""
        server = self.server
        server.uptime = int(time.monotonic() - self.started_monotonic)
        server.memory_allocated = _rss_bytes()
        server.total_connections = sum(s.downstream_cx_active for s in self.listeners.values())

    def samples(self) -> Iterator[Sample]:
        """Every stat as a Sample, unsorted. Host stats are left out, as Envoy leaves them out
        of /stats (their cardinality is unbounded); /clusters shows them."""
        self.refresh_server()
        yield from _group_samples(self.server, "server")
        for name, stats in self.listeners.items():
            for field, kind, value in _fields(stats):
                if field in LISTENER_SCOPE or field in BOTH_SCOPES:
                    yield _sample("listener", name, "envoy_listener_address", field, kind, value)
                if field not in LISTENER_SCOPE:
                    yield _sample("http", name, "envoy_http_conn_manager_prefix", field, kind, value)
            yield from _grpc_samples("http", name, "envoy_http_conn_manager_prefix", stats.grpc)
        for name, stats in self.clusters.items():
            for field, kind, value in _fields(stats):
                yield _sample("cluster", name, "envoy_cluster_name", field, kind, value)
            yield from _grpc_samples("cluster", name, "envoy_cluster_name", stats.grpc)
        for (listener, scope, _), group in self.filters.items():
            for field, kind, value in _fields(group):
                yield Sample(f"http.{listener}.{scope}.{field}", f"envoy_http_{scope}_{field}",
                             (("envoy_http_conn_manager_prefix", listener),), value, kind)
        for name, stats in self.protocols.items():
            for field, kind, value in _fields(stats):
                yield Sample(f"rpc.{name}.{field}", f"pymosn_rpc_{field}", (("protocol", name),), value, kind)
            for code, count in sorted(stats.status_codes.items()):
                yield Sample(
                    f"rpc.{name}.response_status.{code}",
                    "pymosn_rpc_response_status",
                    (("protocol", name), ("status", str(code))),
                    count,
                    COUNTER,
                )
        for counter in self.named.values():
            yield Sample(counter.name, counter.family, counter.labels, counter.value, COUNTER)

    # --- cross-process aggregation ----------------------------------------------------------
    def snapshot(self) -> dict:
        """Plain, JSON-safe numbers for every listener, cluster and host (not `server`, which
        belongs to the process that renders)."""
        return {
            "listeners": {n: s.snapshot() for n, s in self.listeners.items()},
            "clusters": {n: s.snapshot() for n, s in self.clusters.items()},
            "hosts": {c: {a: s.snapshot() for a, s in hs.items()} for c, hs in self.hosts.items()},
            "protocols": {n: s.snapshot() for n, s in self.protocols.items()},
            "filters": [[listener, scope, group.snapshot()] for (listener, scope, _), group in self.filters.items()],
            "named": {n: [c.value, c.family, [list(label) for label in c.labels]] for n, c in self.named.items()},
        }

    def merge(self, snapshots: Iterable[dict]) -> None:
        """Add worker snapshots into this store (counters, gauges and histograms all sum)."""
        for snap in snapshots:
            for name, values in snap.get("listeners", {}).items():
                self.listener(name).merge(values)
            for name, values in snap.get("clusters", {}).items():
                self.cluster(name).merge(values)
            for cluster, by_address in snap.get("hosts", {}).items():
                for address, values in by_address.items():
                    self.host(cluster, address).merge(values)
            for name, values in snap.get("protocols", {}).items():
                self.protocol(name).merge(values)
            for listener, scope, values in snap.get("filters", []):
                cls = aggregate_class(tuple(values.get("counters", ())), tuple(values.get("gauges", ())))
                self.filter(listener, scope, cls).merge(values)
            for name, (value, family, labels) in snap.get("named", {}).items():
                self.counter(name, family, tuple((k, v) for k, v in labels)).value += value

    def groups(self) -> Iterator[StatsGroup]:
        """Every listener, cluster and host group (not `server`)."""
        yield from self.listeners.values()
        yield from self.clusters.values()
        yield from self.protocols.values()
        yield from self.filters.values()
        for by_address in self.hosts.values():
            yield from by_address.values()

    def replace_with(self, snapshots: Iterable[dict]) -> None:
        """Rebuild the values from snapshots, in place: objects handed out earlier (to the
        admin server, to /clusters views) stay valid."""
        for group in self.groups():
            group.clear()
        for counter in self.named.values():
            counter.value = 0
        self.merge(snapshots)

    @classmethod
    def merged(cls, snapshots: Iterable[dict]) -> StatsStore:
        store = cls()
        store.merge(snapshots)
        return store

    def reset_counters(self) -> None:
        for group in (*self.listeners.values(), *self.clusters.values(), *self.protocols.values(),
                      *self.filters.values()):
            group.reset_counters()
        for by_address in self.hosts.values():
            for group in by_address.values():
                group.reset_counters()
        for counter in self.named.values():
            counter.value = 0


def _fields(group: StatsGroup) -> Iterator[tuple[str, str, int | Histogram]]:
    for field in group.COUNTERS:
        yield field, COUNTER, getattr(group, field)
    for field in group.GAUGES:
        yield field, GAUGE, getattr(group, field)
    for field in group.HISTOGRAMS:
        yield field, HISTOGRAM, getattr(group, field)


def _group_samples(group: StatsGroup, scope: str) -> Iterator[Sample]:
    for field, kind, value in _fields(group):
        yield Sample(f"{scope}.{field}", f"envoy_{scope}_{field}", (), value, kind)


def _sample(scope: str, name: str, label: str, field: str, kind: str, value) -> Sample:
    labels: tuple[tuple[str, str], ...] = ((label, name),)
    family = field
    m = _CODE_CLASS.match(field)
    if m:
        family = m.group(1) + "xx"
        labels = (("envoy_response_code_class", m.group(2)), *labels)
    # Envoy keeps its HTTP/2 codec stats in an `http2.` scope: http2_x is `http2.x`
    stat = "http2." + field[6:] if field.startswith("http2_") else field
    return Sample(f"{scope}.{name}.{stat}", f"envoy_{scope}_{family}", labels, value, kind)


def _grpc_samples(scope: str, name: str, label: str, grpc: GrpcStats) -> Iterator[Sample]:
    """Envoy's grpc_stats names: `<scope>.<name>.grpc.<status>` and .success/.failure/.total,
    and the same under `.grpc.<service>.<method>.`; in Prometheus the service and method are
    the labels Envoy's tag extractors give them (envoy_grpc_bridge_service/_method)."""
    if not grpc.statuses:
        return
    base = ((label, name),)
    yield from _grpc_counts(f"{scope}.{name}.grpc", f"envoy_{scope}_grpc_", base, grpc.statuses)
    for (service, method), counts in grpc.methods.items():
        labels = (*base, ("envoy_grpc_bridge_service", service), ("envoy_grpc_bridge_method", method))
        yield from _grpc_counts(f"{scope}.{name}.grpc.{service}.{method}", f"envoy_{scope}_grpc_", labels, counts)


def _grpc_counts(prefix: str, family: str, labels, counts: dict[int, int]) -> Iterator[Sample]:
    total = sum(counts.values())
    success = counts.get(0, 0)
    for status, count in counts.items():
        yield Sample(f"{prefix}.{status}", f"{family}{status}", labels, count, COUNTER)
    yield Sample(f"{prefix}.success", f"{family}success", labels, success, COUNTER)
    yield Sample(f"{prefix}.failure", f"{family}failure", labels, total - success, COUNTER)
    yield Sample(f"{prefix}.total", f"{family}total", labels, total, COUNTER)


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        import resource

        # ru_maxrss is the peak, in KiB on Linux: the best portable stand-in.
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
