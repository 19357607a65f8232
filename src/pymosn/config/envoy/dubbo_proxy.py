"""envoy.filters.network.dubbo_proxy as pymosn's dubbo X-Protocol proxy: a `proxy` network
filter speaking dubbo on both sides, and one router config whose routes test the frame's
routing headers (`interface`, `method`, `group`, `version`, attachments) in Envoy's order."""

from __future__ import annotations

import re

from pymosn.config.envoy import schemas as s
from pymosn.config.envoy.extensions import Extension
from pymosn.config.envoy.message import Context, Message
from pymosn.config.envoy.route_config import header_matcher, metadata_match, string_matcher, weighted_clusters

PROTOCOL = "dubbo"
_ROUTER = "envoy.filters.dubbo.router"


def dubbo_proxy(ext: Extension, filter_path: str, ctx: Context) -> dict:
    m = Message(ext.config, ext.path, s.DUBBO_PROXY, ctx)
    m.enum("protocol_type", ("Dubbo",))
    m.enum("serialization_type", ("Hessian2",))
    configs = m.messages("route_config", s.DUBBO_ROUTE_CONFIGURATION)
    multiple = m.message("multiple_route_config", s.DUBBO_MULTIPLE_ROUTE_CONFIGURATION)
    if multiple is not None:
        if configs:
            m.error(None, "set only one of route_config, multiple_route_config")
        configs = multiple.messages("route_config", s.DUBBO_ROUTE_CONFIGURATION)
        multiple.finish()
    for index, f in enumerate(m.messages("dubbo_filters", s.DUBBO_FILTER)):
        name = f.str("name")
        f.ignore("config")
        f.finish()
        if name != _ROUTER:
            f.error("name", f"dubbo filter {name!r} is not implemented by pymosn yet; known: {_ROUTER}")
        elif index != len(m.list("dubbo_filters")) - 1:
            f.error(None, f"{_ROUTER} ends the chain: it must be the last dubbo filter")
    routes = [r for config in configs for r in _routes(config, ctx)]
    name = ctx.router_name(configs[0].str("name") if configs else "dubbo")
    source = multiple.path if multiple is not None else m.at("route_config")
    host = ctx.node({"name": name, "domains": ["*"], "routers": routes}, source)
    ctx.origins.field(host, "routers", source)
    ctx.routers.append(ctx.node({"router_config_name": name, "virtual_hosts": [host]}, source))
    if not routes:
        m.error("route_config", "needs at least one route")
    m.finish()
    proxy = ctx.node({"downstream_protocol": PROTOCOL, "upstream_protocol": PROTOCOL, "router_config_name": name},
                     ext.path)
    network_filter = ctx.node({"type": "proxy", "config": proxy}, filter_path)
    ctx.origins.field(network_filter, "config", ext.path)
    return network_filter


def _routes(config: Message, ctx: Context) -> list[dict]:
    service = []
    interface = config.str("interface")
    if not interface:
        config.error("interface", "missing: a dubbo route config serves one interface (\"*\" for any)")
    elif interface != "*":
        service.append(ctx.node(_interface_matcher(interface), config.at("interface")))
    for field in ("group", "version"):
        if config.has(field):
            service.append(ctx.node({"name": field, "value": config.str(field)}, config.at(field)))
    out = []
    for r in config.messages("routes", s.DUBBO_ROUTE):
        entry = ctx.node({}, r.path)
        conditions = list(service)
        match = r.message("match", s.DUBBO_ROUTE_MATCH)
        if match is not None:
            method = match.message("method", s.DUBBO_METHOD_MATCH)
            if method is not None:
                name = method.message("name", s.STRING_MATCHER)
                value = string_matcher(name) if name is not None else None
                if value is not None:
                    condition = {"name": "method", "value": value[0]}
                    if value[1]:
                        condition["regex"] = True
                    conditions.append(ctx.node(condition, method.at("name")))
                method.finish()
            conditions += [header_matcher(h, ctx) for h in match.messages("headers", s.HEADER_MATCHER)]
            match.finish()
        entry["match"] = ctx.node({"headers": conditions}, match.path if match is not None else r.path)
        action = r.message("route", s.DUBBO_ROUTE_ACTION)
        if action is None:
            r.error("route", "missing: a dubbo route needs a route action")
        else:
            entry["route"] = _action(action, ctx)
        r.finish()
        out.append(entry)
    config.finish()
    return out


def _interface_matcher(interface: str) -> dict:
    """Envoy's interface wildcards: "*.suffix" and "prefix.*"."""
    if interface.startswith("*"):
        return {"name": "interface", "value": ".*" + re.escape(interface[1:]), "regex": True}
    if interface.endswith("*"):
        return {"name": "interface", "value": re.escape(interface[:-1]) + ".*", "regex": True}
    return {"name": "interface", "value": interface}


def _action(m: Message, ctx: Context) -> dict:
    out = ctx.node({}, m.path)
    kind = m.one_of("cluster", "weighted_clusters")
    if kind == "cluster":
        ctx.put(out, "cluster_name", m.str("cluster"), m.at("cluster"))
    elif kind == "weighted_clusters":
        weighted = m.message(kind, s.WEIGHTED_CLUSTER)
        if weighted is not None:
            ctx.put(out, "weighted_clusters", weighted_clusters(weighted, ctx), weighted.at("clusters"))
    else:
        m.error(None, "a dubbo route action needs a cluster or weighted_clusters")
    metadata = metadata_match(m, "metadata_match")
    if metadata:
        ctx.put(out, "metadata_match", metadata, m.at("metadata_match"))
    m.finish()
    return out
