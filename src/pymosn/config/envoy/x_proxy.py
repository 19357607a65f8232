"""MOSN's RPC proxy in an Envoy listener. Envoy has no filter for SOFARPC Bolt or the other
X-Protocol codecs; MOSN's own xDS conversion accepts its proxy under the network filter names
`x_proxy` and `rpc_proxy` (and `proxy`), so pymosn does too.

The filter's config is MOSN's proxy filter config (downstream_protocol, upstream_protocol,
extend_config.sub_protocol, ...), carried the way Envoy carries extension configs it has no
message for: a TypedStruct's `value` or a google.protobuf.Struct. Its routes are
an Envoy RouteConfiguration under `route_config`, whose header matchers test the frame's routing
headers (`service`, `sofa_head_method_name`, `method`, ...) as the MOSN format's routes do."""

from __future__ import annotations

from typing import Any

from pymosn.config.envoy import schemas as s
from pymosn.config.envoy.extensions import Extension
from pymosn.config.envoy.message import Context, Message
from pymosn.config.envoy.route_config import route_configuration
from pymosn.config.issues import child, type_name

NAMES = frozenset({"x_proxy", "rpc_proxy", "proxy"})
_STRUCT = "google.protobuf.Struct"


def is_x_proxy(ext: Extension) -> bool:
    return ext.written_name in NAMES or ext.name in NAMES


def x_proxy(ext: Extension, f: Message, filter_path: str, ctx: Context) -> dict | None:
    config, path = _config(ext, f)
    if config is None:
        return None
    out: dict[str, Any] = ctx.node({}, path)
    for key, value in config.items():
        if key in ("route_config", "router_config_name"):
            continue
        ctx.put(out, key, value, child(path, key))
    if "router_config_name" in config:
        ctx.log.error(child(path, "router_config_name"),
                      "an Envoy bootstrap has no MOSN router configs to name: give the routes as route_config")
    raw_routes = config.get("route_config")
    if raw_routes is None:
        ctx.log.error(path, "needs route_config: the RouteConfiguration whose routes match the RPC headers")
    else:
        routes = Message(raw_routes, child(path, "route_config"), s.ROUTE_CONFIGURATION, ctx)
        if routes.valid:
            ctx.put(out, "router_config_name", route_configuration(routes, ctx), routes.path)
    network_filter = ctx.node({"type": "proxy", "config": out}, filter_path)
    ctx.origins.field(network_filter, "config", path)
    return network_filter


def _config(ext: Extension, f: Message) -> tuple[dict | None, str]:
    """The MOSN proxy config and its path, wherever the filter carries it."""
    if ext.type == _STRUCT:  # an Any holding a Struct keeps the fields under "value"
        config, path = ext.config.get("value"), child(ext.path, "value")
    else:
        config, path = (ext.config if ext.type else None), ext.path
    if not isinstance(config, dict) or not config:
        f.error("typed_config", f"{ext.written_name} needs its MOSN proxy config (downstream_protocol, route_config, "
                                f"...) as a TypedStruct value or a Struct; got {type_name(config) if config else 'none'}")
        return None, path
    return config, path
