"""envoy.filters.network.http_connection_manager as MOSN's `proxy` network filter plus the
router config its inline route_config becomes."""

from __future__ import annotations

from dataclasses import dataclass, field

from pymosn.config.envoy import schemas as s
from pymosn.config.envoy.access_log import access_logs
from pymosn.config.envoy.extensions import Extension
from pymosn.config.envoy.http_filters import http_filters
from pymosn.config.envoy.message import Context, Message
from pymosn.config.envoy.protocol_options import underscores, upgrade_configs
from pymosn.config.envoy.route_config import route_configuration

CODEC_TYPES = ("AUTO", "HTTP1", "HTTP2", "HTTP3")
# AUTO is Envoy's default and detects the protocol from the first bytes, as MOSN's Auto does
PROTOCOLS = {"AUTO": "Auto", "HTTP1": "Http1", "HTTP2": "Http2", "HTTP3": "Http3"}
FORWARD_CLIENT_CERT_DETAILS = ("SANITIZE", "FORWARD_ONLY", "APPEND_FORWARD", "SANITIZE_SET", "ALWAYS_FORWARD_ONLY")
IDLE_TIMEOUT = 3600.0  # Envoy's default for downstream HTTP connections
MAX_REQUEST_HEADERS_KB = 8192  # Envoy's bound
ESCAPED_SLASHES_ACTIONS = ("IMPLEMENTATION_SPECIFIC_DEFAULT", "KEEP_UNCHANGED", "REJECT_REQUEST", "UNESCAPE_AND_REDIRECT",
                           "UNESCAPE_AND_FORWARD")

@dataclass
class HttpManager:
    """What an HttpConnectionManager adds to its listener besides the filter."""

    network_filter: dict
    access_logs: list[dict] = field(default_factory=list)
    idle_timeout: float = IDLE_TIMEOUT


def http_connection_manager(ext: Extension, filter_path: str, ctx: Context) -> HttpManager:
    m = Message(ext.config, ext.path, s.HTTP_CONNECTION_MANAGER, ctx)
    proxy = ctx.node({}, ext.path)
    codec = m.enum("codec_type", CODEC_TYPES)
    if codec == "HTTP3":
        m.error("codec_type", "HTTP3 (HTTP/3 over QUIC) is not implemented by pymosn yet; known: AUTO, HTTP1, HTTP2")
    if codec is not None:
        ctx.put(proxy, "downstream_protocol", PROTOCOLS[codec], m.at("codec_type"))
        # Each cluster names its own protocol (HTTP/1.1 unless it asks for another); this one
        # serves the clusters that speak what the client spoke (use_downstream_protocol_config)
        ctx.put(proxy, "upstream_protocol", PROTOCOLS[codec] if codec != "HTTP3" else "Http1", m.at("codec_type"))
    h2 = m.message("http2_protocol_options", s.HTTP2_PROTOCOL_OPTIONS)
    if h2 is not None:
        settings = ctx.node({}, h2.path)
        for name in ("max_concurrent_streams", "initial_stream_window_size", "initial_connection_window_size",
                     "max_outbound_frames", "max_outbound_control_frames",
                     "max_consecutive_inbound_frames_with_empty_payload"):
            value = h2.int(name)
            if value is not None:
                ctx.put(settings, name, value, h2.at(name))
        h2.finish()
        ctx.put(proxy, "http2_protocol_options", settings, h2.path)
    http_filters(m, proxy, ctx)  # before the routes: a refused filter is told before its per-route configs
    source = m.one_of("route_config", "rds", "scoped_routes")
    routes = m.message("route_config", s.ROUTE_CONFIGURATION) if source == "route_config" else None
    if routes is not None:
        ctx.put(proxy, "router_config_name", route_configuration(routes, ctx), m.at("route_config"))
    else:
        if source is None:
            m.error(None, "needs a route_config (rds and scoped_routes are not implemented by pymosn yet)")
        # an empty router config keeps the MOSN checks from repeating what was just reported
        name = ctx.router_name("unresolved")
        ctx.routers.append(ctx.node({"router_config_name": name, "virtual_hosts": []}, m.path))
        ctx.put(proxy, "router_config_name", name, m.path)
    kb = m.int("max_request_headers_kb")
    if kb is not None and not 0 < kb <= MAX_REQUEST_HEADERS_KB:
        m.error("max_request_headers_kb", f"must be 1..{MAX_REQUEST_HEADERS_KB} (as in Envoy), got {kb}")
    if kb is not None:
        ctx.put(proxy, "max_request_headers_kb", kb, m.at("max_request_headers_kb"))
    _http1_options(m, proxy, ctx)
    idle = m.duration("stream_idle_timeout")
    if idle is not None:
        ctx.put(proxy, "stream_idle_timeout", idle, m.at("stream_idle_timeout"))
    forwarding = m.enum("forward_client_cert_details", FORWARD_CLIENT_CERT_DETAILS)
    if forwarding is not None and m.raw("forward_client_cert_details") is not None:
        ctx.put(proxy, "forward_client_cert_details", forwarding, m.at("forward_client_cert_details"))
    details = m.message("set_current_client_cert_details", s.SET_CURRENT_CLIENT_CERT_DETAILS)
    if details is not None:
        chosen = {name: details.bool(name) for name in ("subject", "cert", "chain", "dns", "uri")}
        out = ctx.node({name: value for name, value in chosen.items() if value}, details.path)
        for name in out:
            ctx.origins.field(out, name, details.at(name))
        ctx.put(proxy, "set_current_client_cert_details", out, details.path)
        details.finish()
    upgrade_configs(m, "upgrade_configs", s.UPGRADE_CONFIG)
    # Envoy's request id and the Envoy headers pymosn sets need no switch
    m.ignore("generate_request_id")
    manager = HttpManager(ctx.node({"type": "proxy", "config": proxy}, filter_path))
    ctx.origins.field(manager.network_filter, "config", ext.path)
    manager.access_logs = access_logs(m, "access_log", ctx)
    options = m.message("common_http_protocol_options", s.HTTP_PROTOCOL_OPTIONS_CORE)
    if options is not None:
        manager.idle_timeout = options.duration("idle_timeout", IDLE_TIMEOUT)
        count = options.int("max_headers_count")
        if count is not None:
            ctx.put(proxy, "max_request_headers_count", count, options.at("max_headers_count"))
        underscores(options)
        options.finish()
    m.refuse_unless("path_with_escaped_slashes_action", ESCAPED_SLASHES_ACTIONS,
                    ("IMPLEMENTATION_SPECIFIC_DEFAULT", "KEEP_UNCHANGED"),
                    "route requests on paths it would refuse or unescape first")
    m.finish()
    return manager


def _http1_options(m: Message, proxy: dict, ctx: Context) -> None:
    """HTTP/1.0 as Envoy takes it, whether or not http_protocol_options is given: refused
    (426) unless accept_http_10, and without Host only with default_host_for_http_10."""
    h1 = m.message("http_protocol_options", s.HTTP1_PROTOCOL_OPTIONS)
    options = ctx.node({"accept_http_10": False}, m.at("http_protocol_options") if h1 else m.path)
    if h1 is not None:
        if h1.has("accept_http_10"):
            ctx.put(options, "accept_http_10", h1.bool("accept_http_10"), h1.at("accept_http_10"))
        host = h1.str("default_host_for_http_10")
        if host:
            ctx.put(options, "default_host_for_http_10", host, h1.at("default_host_for_http_10"))
        h1.finish()
    ctx.put(proxy, "http_protocol_options", options, m.at("http_protocol_options") if h1 else m.path)
