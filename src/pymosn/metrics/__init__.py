"""Hot-path stats (slotted int attributes), their registry, and their exposition."""

from pymosn.metrics.histogram import DEFAULT_BUCKETS, Histogram
from pymosn.metrics.render import PROMETHEUS_CONTENT_TYPE, render_json, render_prometheus, render_text
from pymosn.metrics.stats import ClusterStats, HostStats, ListenerStats, ServerStats, StatsGroup
from pymosn.metrics.store import Sample, StatsStore

__all__ = [
    "DEFAULT_BUCKETS",
    "PROMETHEUS_CONTENT_TYPE",
    "ClusterStats",
    "Histogram",
    "HostStats",
    "ListenerStats",
    "Sample",
    "ServerStats",
    "StatsGroup",
    "StatsStore",
    "render_json",
    "render_prometheus",
    "render_text",
]
