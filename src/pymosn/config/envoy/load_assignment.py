"""A cluster's ClusterLoadAssignment as MOSN's `hosts` list."""

from __future__ import annotations

from pymosn.config.envoy import cluster_schemas as cs
from pymosn.config.envoy import schemas as s
from pymosn.config.envoy.addresses import socket_address
from pymosn.config.envoy.message import Context, Message
from pymosn.config.envoy.route_config import metadata_match

HEALTH_STATUSES = ("UNKNOWN", "HEALTHY", "UNHEALTHY", "DRAINING", "TIMEOUT", "DEGRADED")


def load_assignment(m: Message, ctx: Context) -> list[dict]:
    hosts = []
    for group in m.messages("endpoints", cs.LOCALITY_LB_ENDPOINTS):
        if group.int("priority", 0):
            group.warn("priority", "pymosn has no priority levels: these hosts take traffic with the others")
        for lb in group.messages("lb_endpoints", cs.LB_ENDPOINT):
            host = _lb_endpoint(lb, ctx)
            if host is not None:
                hosts.append(host)
        group.finish()
    m.finish()
    return hosts


def _lb_endpoint(m: Message, ctx: Context) -> dict | None:
    endpoint = m.message("endpoint", cs.ENDPOINT)
    if endpoint is None:
        m.error("endpoint", "missing: an lb endpoint needs an endpoint")
        m.finish()
        return None
    address = socket_address(endpoint.message("address", s.ADDRESS), "an endpoint")
    if address is None:
        if not endpoint.has("address"):
            endpoint.error("address", "missing: an endpoint needs an address")
        endpoint.drop()
        m.drop()  # the host is refused, whatever else it says
        return None
    host, port, where = address
    out = ctx.node({}, m.path)
    ctx.put(out, "address", [host, port], where)
    if endpoint.has("hostname"):
        ctx.put(out, "hostname", endpoint.str("hostname"), endpoint.at("hostname"))
    endpoint.finish()
    weight = m.int("load_balancing_weight")
    if weight is not None:
        ctx.put(out, "weight", weight, m.at("load_balancing_weight"))
    metadata = metadata_match(m, "metadata")
    if metadata:
        ctx.put(out, "metadata", metadata, m.at("metadata"))
    status = m.enum("health_status", HEALTH_STATUSES)
    if status in ("UNHEALTHY", "DRAINING", "TIMEOUT"):
        m.warn("health_status", f"pymosn does not read a host's given health: this {status} host takes traffic")
    m.finish()
    return out
