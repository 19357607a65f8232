"""static_resources.listeners[] as MOSN listeners: address, filter chains and their matches,
listener filters, transparent interception, and the network filters of each chain."""

from __future__ import annotations

from pymosn.config.envoy import schemas as s
from pymosn.config.envoy.access_log import access_logs
from pymosn.config.envoy.addresses import socket_address
from pymosn.config.envoy.dubbo_proxy import dubbo_proxy
from pymosn.config.envoy.extensions import Extension, display, envoy_kind, extension
from pymosn.config.envoy.http_connection_manager import http_connection_manager
from pymosn.config.envoy.message import Context, Message
from pymosn.config.envoy.mirror_policy import add_mirror_filter
from pymosn.config.envoy.tcp_proxy import tcp_proxy
from pymosn.config.envoy.tls import transport_socket
from pymosn.config.envoy.x_proxy import is_x_proxy, x_proxy
from pymosn.config.issues import child, item
from pymosn.config.registries import NETWORK_FILTERS

HCM = "envoy.filters.network.http_connection_manager"
TCP_PROXY = "envoy.filters.network.tcp_proxy"
DUBBO_PROXY = "envoy.filters.network.dubbo_proxy"
TERMINAL_FILTERS = (HCM, TCP_PROXY, DUBBO_PROXY)
IMPLEMENTED_NETWORK_FILTERS = (*TERMINAL_FILTERS, "x_proxy", "envoy.filters.network.rbac")
TLS_INSPECTOR = "envoy.filters.listener.tls_inspector"
ORIGINAL_DST = "envoy.filters.listener.original_dst"

# Network filters that enforce something (or may run any code): ignoring them would let
# through connections they refuse.
ACCESS_CONTROL_NETWORK_FILTERS = frozenset({
    "rbac", "ext_authz", "local_ratelimit", "ratelimit", "client_ssl_auth", "connection_limit", "wasm", "golang",
    "ext_proc", "dynamic_modules",
})
# Network filters that pick where the terminal filter sends a connection: ignoring them would
# send it to the cluster the terminal filter names instead.
ROUTING_NETWORK_FILTERS = frozenset({"sni_cluster", "sni_dynamic_forward_proxy", "set_filter_state"})
# Network filters that only observe a protocol (stats) before the tcp_proxy: they warn.
OBSERVING_NETWORK_FILTERS = frozenset({"mysql_proxy", "postgres_proxy", "mongo_proxy", "zookeeper_proxy",
                                       "kafka_broker"})
# Listener filters that only inform matching pymosn does not offer; they warn.
FEATURE_LISTENER_FILTERS = frozenset({"http_inspector", "original_src"})
# Listener filters that refuse connections: ignoring them would accept what they refuse.
ACCESS_CONTROL_LISTENER_FILTERS = frozenset({"local_ratelimit", "dynamic_modules"})


def listener(m: Message, ctx: Context) -> dict | None:
    out = ctx.node({}, m.path)
    if m.raw("internal_listener") is not None and not m.has("address"):
        m.error("internal_listener", "internal listeners are not implemented by pymosn yet")
        m.drop()
        return None
    address = socket_address(m.message("address", s.ADDRESS), "a listener")
    if address is None:
        if not m.has("address"):
            m.error("address", "missing: a listener needs an address")
        m.drop()  # the listener is refused, whatever else it says
        return None
    host, port, where = address
    ctx.put(out, "name", m.str("name") or f"{host}:{port}", m.at("name"))
    ctx.put(out, "address", [host, port], where)
    if m.raw("bind_to_port") is False:
        ctx.put(out, "bind_port", False, m.at("bind_to_port"))
    transparent = m.bool("transparent")
    if transparent:
        ctx.put(out, "transparent", True, m.at("transparent"))
    original_dst = _listener_filters(m, ctx)
    if m.bool("use_original_dst"):
        original_dst = original_dst or m.at("use_original_dst")
    if original_dst:
        # Envoy's original_dst filter reads SO_ORIGINAL_DST after an iptables REDIRECT, or the
        # local address of a TPROXY (transparent) listener: pymosn's two modes
        ctx.put(out, "use_original_dst", "tproxy" if transparent else "redirect", original_dst)
    for field, key in (("per_connection_buffer_limit_bytes", "per_connection_buffer_limit_bytes"),
                       ("tcp_backlog_size", "backlog")):
        value = m.int(field)
        if value is not None:
            ctx.put(out, key, value, m.at(field))
    timeout = m.duration("listener_filters_timeout")
    if timeout is not None:
        # Envoy's 0 means "no timeout"; pymosn wants a positive wait
        ctx.put(out, "listener_filters_timeout", timeout or 3600.0, m.at("listener_filters_timeout"))
    if m.raw("continue_on_listener_filters_timeout") is not None:
        ctx.put(out, "continue_on_listener_filters_timeout", m.bool("continue_on_listener_filters_timeout"),
                m.at("continue_on_listener_filters_timeout"))
    # pymosn's workers always share a port with SO_REUSEPORT
    m.ignore("enable_reuse_port", "reuse_port")
    logs = access_logs(m, "access_log", ctx)
    idle_timeouts: list[float] = []
    chains = [filter_chain(c, ctx, logs, idle_timeouts) for c in m.messages("filter_chains", s.FILTER_CHAIN)]
    if chains:
        ctx.put(out, "filter_chains", chains, m.at("filter_chains"))
    default = m.message("default_filter_chain", s.FILTER_CHAIN)
    if default is not None:
        ctx.put(out, "default_filter_chain", filter_chain(default, ctx, logs, idle_timeouts), default.path)
    elif not chains and not m.has("filter_chains"):
        m.error("filter_chains", "a listener needs a filter chain (or a default_filter_chain), as in Envoy")
    if logs:
        out["access_logs"] = logs
    add_mirror_filter(out, ctx, m.path)
    # Envoy has no listener-wide idle timeout: HTTP connections close after the manager's
    # idle_timeout, TCP proxies and RPC connections only by their own timeouts
    ctx.put(out, "connection_idle_timeout", max(idle_timeouts, default=0.0), m.path)
    m.finish()
    return out


def _listener_filters(m: Message, ctx: Context) -> str | None:
    """Checks the listener filters; the path of an original_dst filter, if there is one."""
    original_dst = None
    for f in m.messages("listener_filters", s.LISTENER_FILTER):
        ext = extension(f)
        f.finish()
        if ext is None:
            continue
        if ext.name == TLS_INSPECTOR:
            # pymosn reads the ClientHello whenever a chain matches on it, without being asked
            Message(ext.config, ext.path, s.TLS_INSPECTOR, ctx).finish()
        elif ext.name == ORIGINAL_DST:
            Message(ext.config, ext.path, s.ORIGINAL_DST, ctx).finish()
            original_dst = f.path
        elif envoy_kind(ext, "listener") in FEATURE_LISTENER_FILTERS:
            ctx.log.warning(f.path, f"listener filter {display(ext)} is not implemented by pymosn yet; ignored")
        elif envoy_kind(ext, "listener") in ACCESS_CONTROL_LISTENER_FILTERS:
            ctx.log.error(f.path, f"listener filter {display(ext)} is not implemented by pymosn yet; refusing to run "
                                  "without what it enforces")
        else:
            known = ", ".join((ORIGINAL_DST, TLS_INSPECTOR))
            ctx.log.error(f.path, f"listener filter {display(ext)} is not implemented by pymosn yet (it may change "
                                  f"what the connection's bytes mean); known: {known}")
    return original_dst


def filter_chain(m: Message, ctx: Context, logs: list[dict], idle_timeouts: list[float]) -> dict:
    out = ctx.node({}, m.path)
    match = m.message("filter_chain_match", s.FILTER_CHAIN_MATCH)
    if match is not None:
        ctx.put(out, "filter_chain_match", filter_chain_match(match, ctx), match.path)
    contexts = transport_socket(m.message("transport_socket", s.TRANSPORT_SOCKET), ctx, upstream=False,
                                handshake_timeout=m.duration("transport_socket_connect_timeout"))
    if len(contexts) == 1:
        ctx.put(out, "tls_context", contexts[0], m.at("transport_socket"))
    elif contexts:
        ctx.put(out, "tls_context_set", contexts, m.at("transport_socket"))
    filters = []
    messages = m.messages("filters", s.NETWORK_FILTER)
    for index, f in enumerate(messages):
        ext = extension(f)
        f.finish()
        if ext is None:
            continue
        if ext.name in TERMINAL_FILTERS and index != len(messages) - 1:
            f.error(None, f"{ext.name} ends the chain: it must be the last network filter")
            continue
        translated = _network_filter(ext, f, ctx, logs, idle_timeouts)
        if translated is not None:
            filters.append(translated)
    if filters:
        ctx.put(out, "filters", filters, m.at("filters"))
    m.finish()
    return out


def _network_filter(ext: Extension, f: Message, ctx: Context, logs: list[dict],
                    idle_timeouts: list[float]) -> dict | None:
    if ext.name == HCM:
        manager = http_connection_manager(ext, f.path, ctx)
        logs += manager.access_logs
        idle_timeouts.append(manager.idle_timeout)
        return manager.network_filter
    if ext.name == TCP_PROXY:
        network_filter, tcp_logs = tcp_proxy(ext, f.path, ctx)
        logs += tcp_logs
        return network_filter
    if ext.name == DUBBO_PROXY:
        return dubbo_proxy(ext, f.path, ctx)
    if is_x_proxy(ext):
        return x_proxy(ext, f, f.path, ctx)
    registered = NETWORK_FILTERS.by_type_url(ext.type) if ext.type else None
    if registered is not None:  # a plugin's, or a built-in one reading Envoy's fields as written (rbac)
        return _plugin_filter(registered.name, ext, f.path, ctx)
    kind = envoy_kind(ext, "network")
    if kind in OBSERVING_NETWORK_FILTERS:
        ctx.log.warning(f.path, f"network filter {display(ext)} is not implemented by pymosn yet; ignored")
    elif kind in ACCESS_CONTROL_NETWORK_FILTERS:
        ctx.log.error(f.path, f"network filter {display(ext)} is not implemented by pymosn yet; refusing to run "
                              "without what it enforces")
    elif kind in ROUTING_NETWORK_FILTERS:
        ctx.log.error(f.path, f"network filter {display(ext)} is not implemented by pymosn yet; ignoring it would "
                              "send connections where it does not")
    elif kind is not None:
        ctx.log.error(f.path, f"network filter {display(ext)} is not implemented by pymosn yet; pymosn runs "
                              f"{_implemented_network_filters()}")
    else:
        ctx.log.error(f.path, f"unknown network filter {display(ext)}; pymosn runs "
                              f"{_implemented_network_filters()}")
    return None


def _implemented_network_filters() -> str:
    """What pymosn runs: the built-ins, and every plugin reachable by its type URL."""
    declared = (NETWORK_FILTERS.get(name) for name in NETWORK_FILTERS.names())
    plugins = [d.type_url for d in declared if not d.builtin and d.type_url]
    return ", ".join([*IMPLEMENTED_NETWORK_FILTERS, *plugins])


def _plugin_filter(name: str, ext: Extension, filter_path: str, ctx: Context) -> dict:
    """A registered network filter found by its typed_config type URL (a plugin's, or a
    built-in that takes Envoy's fields): its fields go to the filter's config as written,
    decoded (with these paths) by the config rules."""
    config = ctx.node({}, ext.path)
    for key, value in ext.config.items():
        ctx.put(config, key, value, child(ext.path, key))
    network_filter = ctx.node({"type": name, "config": config}, filter_path)
    ctx.origins.field(network_filter, "config", ext.path)
    return network_filter


def filter_chain_match(m: Message, ctx: Context) -> dict:
    """Envoy's FilterChainMatch, which pymosn's model already spells Envoy's way."""
    out = ctx.node({}, m.path)
    port = m.int("destination_port")
    if port is not None:
        ctx.put(out, "destination_port", port, m.at("destination_port"))
    for field in ("prefix_ranges", "source_prefix_ranges"):
        ranges = []
        for index, cidr in enumerate(m.list(field)):
            r = Message(cidr, item(m.at(field), index), s.CIDR_RANGE, ctx)
            if not r.valid:
                continue
            entry = ctx.node({"address_prefix": r.str("address_prefix")}, r.path)
            length = r.int("prefix_len")
            if length is not None:
                ctx.put(entry, "prefix_len", length, r.at("prefix_len"))
            r.finish()
            ranges.append(entry)
        if ranges:
            ctx.put(out, field, ranges, m.at(field))
    for field in ("server_names", "application_protocols"):
        values = m.strings(field)
        if values:
            ctx.put(out, field, values, m.at(field))
    if m.has("transport_protocol"):
        ctx.put(out, "transport_protocol", m.str("transport_protocol"), m.at("transport_protocol"))
    ports = m.ints("source_ports")
    if ports:
        ctx.put(out, "source_ports", ports, m.at("source_ports"))
    m.finish()
    return out
