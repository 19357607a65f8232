"""Envoy-compatible renderings of the cluster, listener and server views the runtime provides."""

from __future__ import annotations

import time

# Host stats Envoy reports as gauges in /clusters?format=json; the rest are counters.
_HOST_GAUGES = frozenset({"cx_active", "rq_active"})


def clusters_text(clusters: list[dict]) -> str:
    """`cluster::host:port::stat::value` lines, as Envoy's /clusters."""
    lines = []
    for cluster in clusters:
        name = cluster["name"]
        for host in cluster.get("hosts", ()):
            prefix = f"{name}::{host['address']}::"
            for stat, value in sorted(host.get("stats", {}).items()):
                lines.append(f"{prefix}{stat}::{value}")
            lines.append(f"{prefix}hostname::{host.get('hostname', '')}")
            lines.append(f"{prefix}health_flags::{_health_flags(host.get('health', 'healthy'))}")
            lines.append(f"{prefix}weight::{host.get('weight', 1)}")
    return "\n".join(lines) + "\n" if lines else ""


def _health_flags(health: str) -> str:
    # Envoy prints "healthy", or the reasons a host is not, each prefixed with "/".
    return "healthy" if health == "healthy" else "/failed_active_hc"


def _health_status(health: str) -> dict:
    if health == "healthy":
        return {"eds_health_status": "HEALTHY"}
    # Envoy keeps the discovery status and flags the failed active check beside it; ours has no
    # discovery, so both say the same.
    return {"eds_health_status": "UNHEALTHY", "failed_active_health_check": True}


def clusters_json(clusters: list[dict]) -> dict:
    """The shape of envoy.admin.v3.Clusters, as far as we have data for it."""
    statuses = []
    for cluster in clusters:
        hosts = []
        for host in cluster.get("hosts", ()):
            ip, _, port = host["address"].rpartition(":")
            hosts.append(
                {
                    "address": {"socket_address": {"address": ip.strip("[]"), "port_value": int(port or 0)}},
                    "stats": [
                        {"name": k, "value": str(v), "type": "GAUGE" if k in _HOST_GAUGES else "COUNTER"}
                        for k, v in sorted(host.get("stats", {}).items())
                    ],
                    "health_status": _health_status(host.get("health", "healthy")),
                    "weight": host.get("weight", 1),
                }
            )
        statuses.append({"name": cluster["name"], "host_statuses": hosts})
    return {"cluster_statuses": statuses}


def listeners_text(listeners: list[dict]) -> str:
    """`name::address` lines, as Envoy's /listeners."""
    return "".join(f"{lst['name']}::{lst.get('address', '')}\n" for lst in listeners)


def listeners_json(listeners: list[dict]) -> dict:
    statuses = []
    for lst in listeners:
        ip, _, port = str(lst.get("address", "")).rpartition(":")
        statuses.append(
            {
                "name": lst["name"],
                "local_address": {
                    "socket_address": {"address": ip.strip("[]"), "port_value": int(port or 0)}
                },
            }
        )
    return {"listener_statuses": statuses}


def server_info(version: str, live: bool, started_at: float, concurrency: int) -> dict:
    """The fields of envoy.admin.v3.ServerInfo that tools read (pilot-agent reads `state`)."""
    uptime = f"{int(time.time() - started_at)}s"
    return {
        "version": version,
        "state": "LIVE" if live else "DRAINING",
        "uptime_current_epoch": uptime,
        "uptime_all_epochs": uptime,
        "hot_restart_version": "disabled",
        "command_line_options": {"concurrency": concurrency},
    }
