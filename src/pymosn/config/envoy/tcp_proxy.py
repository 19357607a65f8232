"""envoy.filters.network.tcp_proxy as MOSN's `tcp_proxy` network filter (which has Envoy's
field names already)."""

from __future__ import annotations

from pymosn.config.envoy import schemas as s
from pymosn.config.envoy.access_log import access_logs
from pymosn.config.envoy.extensions import Extension
from pymosn.config.envoy.message import Context, Message


def tcp_proxy(ext: Extension, filter_path: str, ctx: Context) -> tuple[dict, list[dict]]:
    """The network filter, and the access logs it adds to its listener."""
    m = Message(ext.config, ext.path, s.TCP_PROXY, ctx)
    config = ctx.node({}, ext.path)
    if m.has("stat_prefix"):
        ctx.put(config, "stat_prefix", m.str("stat_prefix"), m.at("stat_prefix"))
    kind = m.one_of("cluster", "weighted_clusters", "on_demand")
    if kind == "cluster":
        ctx.put(config, "cluster", m.str("cluster"), m.at("cluster"))
    elif kind == "weighted_clusters":
        weighted = m.message("weighted_clusters", s.TCP_WEIGHTED_CLUSTER)
        if weighted is not None:
            clusters = []
            for w in weighted.messages("clusters", s.TCP_CLUSTER_WEIGHT):
                entry = ctx.node({"name": w.str("name"), "weight": w.int("weight", 0)}, w.path)
                w.finish()
                clusters.append(entry)
            ctx.put(config, "weighted_clusters", ctx.node({"clusters": clusters}, weighted.path), weighted.path)
            weighted.finish()
    elif kind is None:
        m.error(None, "needs a cluster or weighted_clusters")
    idle = m.duration("idle_timeout")
    if idle is not None:
        ctx.put(config, "idle_timeout", idle, m.at("idle_timeout"))
    attempts = m.int("max_connect_attempts")
    if attempts is not None:
        ctx.put(config, "max_connect_attempts", attempts, m.at("max_connect_attempts"))
    logs = access_logs(m, "access_log", ctx)
    m.finish()
    network_filter = ctx.node({"type": "tcp_proxy", "config": config}, filter_path)
    ctx.origins.field(network_filter, "config", ext.path)
    return network_filter, logs
