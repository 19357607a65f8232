"""Checks on one config object at a time: value ranges, known names, one-of choices, regexes.

Each rule gets a freshly built object and its path, reports what is wrong, and returns the object
(or a normalized copy, e.g. "HTTP1" -> "Http1", so later layers compare against one spelling).
Checks that need the whole config (references, duplicates) live in `references.py`."""

from __future__ import annotations

import functools
import ipaddress
import os
import re
from typing import Any

import msgspec

from pymosn.config import model
from pymosn.config.connection_manager import lift_connection_managers
from pymosn.config.extension_rules import access_log, listener_filter, network_filter
from pymosn.config.filter_chain_match import TRANSPORT_PROTOCOLS, combinations, match_keys
from pymosn.config.filter_chain_match import network as chain_network
from pymosn.config.http_limits import cluster_header_limits, http1_protocol_options, proxy_header_limits
from pymosn.config.issues import child, item, known_values_message
from pymosn.config.mirror_rules import mirror_policy, route_mirrors
from pymosn.config.mosn_filters import stream_filter, stream_filters_in_one_place
from pymosn.config.protocols import AUTO, HTTP1, HTTP2, X, check_protocol
from pymosn.config.proxy_rules import proxy_config
from pymosn.config.registries import LOAD_BALANCERS
from pymosn.config.route_filter_rules import filter_configs
from pymosn.config.walker import Rule, Walker

ORIGINAL_DST_LB = "LB_ORIGINAL_DST"  # an ORIGINAL_DST cluster's, not a registered balancer
MOSN_LB_TYPES = frozenset({
    "LB_RANDOM", "LB_ROUNDROBIN", "LB_WEIGHTED_ROUNDROBIN", ORIGINAL_DST_LB, "LB_LEAST_REQUEST", "LB_MAGLEV", "LB_REQUEST_ROUNDROBIN", "LB_LEAST_CONNECTION",
    "LB_PEAK_EWMA",
})
IMPLEMENTED_CLUSTER_TYPES = frozenset({"SIMPLE", "STATIC", "ORIGINAL_DST"})
MOSN_CLUSTER_TYPES = IMPLEMENTED_CLUSTER_TYPES | {"DYNAMIC", "EDS", "STRICT_DNS"}
REDIRECT_CODES = (301, 302, 303, 307, 308)
LOG_LEVELS = frozenset({"TRACE", "DEBUG", "INFO", "WARN", "WARNING", "ERROR", "CRITICAL", "FATAL"})


def _check_name(walker: Walker, kind: str, value: object, implemented: frozenset[str],
                mosn_known: frozenset[str], path: str) -> None:
    if value in implemented:
        return
    known = ", ".join(sorted(implemented))
    if value in mosn_known:
        walker.log.error(path, f"{kind} {value!r} is not implemented by pymosn yet; known: {known}")
    else:
        walker.log.error(path, known_values_message(value, implemented))


def _require_non_empty(walker: Walker, value: str, path: str) -> None:
    if not value:
        walker.log.error(path, "must not be empty")


def _compile_regex(walker: Walker, pattern: str, path: str) -> None:
    try:
        re.compile(pattern)
    except re.error as error:
        walker.log.error(path, f"invalid regex {pattern!r}: {error}")


@functools.cache
def _int_fields(cls: type) -> tuple[msgspec.structs.FieldInfo, ...]:
    return tuple(field for field in msgspec.structs.fields(cls) if field.type is int)


def non_negative_ints(obj: Any, path: str, walker: Walker) -> Any:
    """MOSN declares counts and sizes uint32; a negative one is always a mistake."""
    for field in _int_fields(type(obj)):
        value = getattr(obj, field.name)
        if value < 0:
            walker.log.error(child(path, field.encode_name), f"must be >= 0, got {value}")
    return obj


def server(obj: model.Server, path: str, walker: Walker) -> model.Server:
    if obj.default_log_level.upper() not in LOG_LEVELS:
        walker.log.error(child(path, "default_log_level"), known_values_message(obj.default_log_level, LOG_LEVELS))
    return obj


def listener(obj: model.Listener, path: str, walker: Walker) -> model.Listener:
    _require_non_empty(walker, obj.name, child(path, "name"))
    mode = obj.use_original_dst
    for entry in obj.listener_filters:
        if isinstance(entry.config, model.OriginalDstFilterConfig):
            # MOSN's newer spelling of use_original_dst; an unset type means redirect, as in MOSN
            mode = mode or entry.config.type or "redirect"
    if mode and mode.lower() not in ("redirect", "tproxy"):
        walker.log.error(child(path, "use_original_dst"), f"must be redirect or tproxy, got {mode!r}")
    obj = msgspec.structs.replace(obj, use_original_dst=mode.lower())
    if not obj.filter_chains and obj.default_filter_chain is None:
        walker.log.warning(path, "listener has no filter_chains; its connections will have no handler")
    default = obj.default_filter_chain
    if default is not None and default.filter_chain_match is not None:
        walker.log.warning(child(walker.path_of(default), "filter_chain_match"),
                           "ignored on the default filter chain (as in Envoy)")
    if obj.listener_filters_timeout is not None and obj.listener_filters_timeout <= 0:
        walker.log.error(child(path, "listener_filters_timeout"), f"must be > 0, got {obj.listener_filters_timeout}")
    _report_duplicate_matches(walker, obj.filter_chains)
    return obj


def _report_duplicate_matches(walker: Walker, chains: tuple[model.FilterChain, ...]) -> None:
    """Envoy refuses two chains that would both match some connection: which one serves it
    would depend on their order, which Envoy's matching deliberately ignores."""
    owner: dict[tuple, str] = {}
    for chain in chains:
        chain_path = walker.path_of(chain)
        try:
            keys = match_keys(chain.filter_chain_match)
        except ValueError:
            continue  # a bad address, reported where it was built
        for combination in combinations(keys):
            first = owner.setdefault(combination, chain_path)
            if first != chain_path:
                where = chain_path if chain.filter_chain_match is None else child(chain_path, "filter_chain_match")
                walker.log.error(where, f"matches the same connections as {first}; each connection must "
                                        "have one most specific filter chain")
                break


def filter_chain_match(obj: model.FilterChainMatch, path: str, walker: Walker) -> model.FilterChainMatch:
    """Envoy's rules: ports 1..65535, whole-label wildcards only ("*.example.com")."""
    if obj.destination_port is not None and not 1 <= obj.destination_port <= 65535:
        walker.log.error(child(path, "destination_port"), f"port must be 1..65535, got {obj.destination_port}")
    for index, port in enumerate(obj.source_ports):
        if not 1 <= port <= 65535:
            walker.log.error(item(child(path, "source_ports"), index), f"port must be 1..65535, got {port}")
    for field in ("prefix_ranges", "source_prefix_ranges"):
        for index, cidr in enumerate(getattr(obj, field)):
            try:
                chain_network(cidr)
            except ValueError as error:
                walker.log.error(item(child(path, field), index), str(error))
    for index, name in enumerate(obj.server_names):
        where = item(child(path, "server_names"), index)
        if not name:
            walker.log.error(where, "must not be empty")
        elif "*" in name and (not name.startswith("*.") or "*" in name[1:] or len(name) < 3):
            walker.log.error(where, f"only whole-label wildcards like '*.example.com' are supported, got {name!r}")
    if obj.transport_protocol and obj.transport_protocol not in TRANSPORT_PROTOCOLS:
        walker.log.error(child(path, "transport_protocol"),
                         known_values_message(obj.transport_protocol, TRANSPORT_PROTOCOLS))
    for index, protocol in enumerate(obj.application_protocols):
        _require_non_empty(walker, protocol, item(child(path, "application_protocols"), index))
    return obj


def http2_protocol_options(obj: model.Http2ProtocolOptions, path: str, walker: Walker) -> model.Http2ProtocolOptions:
    """RFC 9113's bounds (6.5.2, 6.9.1); windows below the protocol's default of 65535 are
    refused because a client may fill that much before it has read our SETTINGS."""
    bounds = {
        "max_concurrent_streams": (1, 2**31 - 1),
        "initial_stream_window_size": (65535, 2**31 - 1),
        "initial_connection_window_size": (65535, 2**31 - 1),
        "max_frame_size": (16384, 16777215),
        # uint32 in Envoy, which requires at least 1 outbound frame
        "max_outbound_frames": (1, 2**32 - 1),
        "max_outbound_control_frames": (1, 2**32 - 1),
        "max_consecutive_inbound_frames_with_empty_payload": (0, 2**32 - 1),
    }
    for field, (low, high) in bounds.items():
        value = getattr(obj, field)
        if value >= 0 and not low <= value <= high:  # below 0: non_negative_ints says so
            walker.log.error(child(path, field), f"must be {low}..{high}, got {value}")
    return obj


def string_matcher(obj: model.StringMatcher, path: str, walker: Walker) -> model.StringMatcher:
    kinds = [name for name in STRING_MATCH_KINDS if getattr(obj, name) is not None]
    if len(kinds) != 1:
        found = ", ".join(kinds) if kinds else "none"
        walker.log.error(path, f"set exactly one of {', '.join(STRING_MATCH_KINDS)}; found {found}")
    if obj.regex is not None:
        _compile_regex(walker, obj.regex, child(path, "regex"))
        if obj.ignore_case:
            walker.log.error(child(path, "ignore_case"), "does not apply to regex (as in Envoy); use (?i)")
    return obj


STRING_MATCH_KINDS = ("exact", "prefix", "suffix", "contains", "regex")


def tcp_proxy_config(obj: model.TcpProxyConfig, path: str, walker: Walker) -> model.TcpProxyConfig:
    if not (obj.cluster or obj.weighted_clusters or obj.routes):
        walker.log.error(path, "needs a cluster, weighted_clusters or routes")
    if obj.max_connect_attempts < 1:
        walker.log.error(child(path, "max_connect_attempts"), f"must be >= 1, got {obj.max_connect_attempts}")
    if obj.weighted_clusters is not None:
        for i, weighted in enumerate(obj.weighted_clusters.clusters):
            if weighted.weight < 1:
                walker.log.error(f"{path}.weighted_clusters.clusters[{i}].weight", f"must be >= 1, got {weighted.weight}")
    for i, route in enumerate(obj.routes):
        for field in ("source_port", "destination_port"):
            spec = getattr(route, field)
            if spec and not _valid_port_ranges(spec):
                walker.log.error(f"{path}.routes[{i}].{field}", f"expected ports like \"80\" or \"8000-9000\", got {spec!r}")
        for field in ("source_addrs", "destination_addrs"):
            for j, cidr in enumerate(getattr(route, field)):
                try:
                    ipaddress.ip_network(f"{cidr.address}/{cidr.length}", strict=False)
                except ValueError as error:
                    walker.log.error(f"{path}.routes[{i}].{field}[{j}]", str(error))
    return obj


TLS_VERSIONS = ("TLSv1_0", "TLSv1_1", "TLSv1_2", "TLSv1_3")


def tls_config(obj: model.TLSConfig, path: str, walker: Walker) -> model.TLSConfig:
    """Checks what can be checked without building the context: versions, and that every
    certificate or key is inline PEM or a readable file."""
    if not obj.status:
        return obj
    refused = _refused_tls(obj)
    if refused is not None:
        field, why = refused
        walker.log.error(child(path, field), why)
        return obj  # its certificates come from what was refused
    for field in ("min_version", "max_version"):
        value = getattr(obj, field)
        if value and value not in TLS_VERSIONS:
            walker.log.error(child(path, field), f"unknown TLS version {value!r}; known: {', '.join(TLS_VERSIONS)}")
    if obj.min_version in TLS_VERSIONS and obj.max_version in TLS_VERSIONS:
        if TLS_VERSIONS.index(obj.min_version) > TLS_VERSIONS.index(obj.max_version):
            walker.log.error(child(path, "min_version"), "is above max_version")
    if bool(obj.cert_chain) != bool(obj.private_key):
        walker.log.error(path, "cert_chain and private_key go together")
    if obj.verify_client and not obj.ca_cert:
        walker.log.error(child(path, "ca_cert"), "verify_client needs a ca_cert to verify against")
    for field in ("ca_cert", "cert_chain", "private_key"):
        value = getattr(obj, field)
        if value and "-----BEGIN" not in value and not os.access(value, os.R_OK):
            walker.log.error(child(path, field), f"not inline PEM and not a readable file: {value!r}")
    return obj


def _refused_tls(obj: model.TLSConfig) -> tuple[str, str] | None:
    """The first MOSN TLS feature pymosn lacks that an enabled context asks for, with why it is refused."""
    if obj.type:
        # MOSN's TLS extensions (mtls.Register) bring their own certificates and verification
        return "type", (f"TLS extension {obj.type!r} (MOSN's plugin for certificates and verification) is not "
                        "implemented by pymosn; refusing to run without the TLS it provides")
    if obj.sds_source:
        return "sds_source", ("certificates from SDS are not implemented by pymosn yet; refusing to run without "
                              "the certificates and validation it fetches")
    if obj.extend_verify:
        return "extend_verify", ("custom certificate verification (MOSN's TLS extension) is not implemented by "
                                 "pymosn; refusing to accept peers it might refuse")
    return None


def filter_chain(obj: model.FilterChain, path: str, walker: Walker) -> model.FilterChain:
    # a context asking for what pymosn lacks is refused where it was built
    contexts = [c for c in (obj.tls_context, *obj.tls_context_set)
                if c is not None and c.status and _refused_tls(c) is None]
    for i, c in enumerate(contexts):
        if not c.cert_chain:
            where = "tls_context" if c is obj.tls_context else f"tls_context_set[{i - (obj.tls_context is not None)}]"
            walker.log.error(f"{path}.{where}.cert_chain", "a listener's TLS needs a certificate and its key")
    return obj


def _valid_port_ranges(spec: str) -> bool:
    for part in spec.split(","):
        low, _, high = part.strip().partition("-")
        if not low.isdigit() or (high and not high.isdigit()):
            return False
        if not 0 <= int(low) <= int(high or low) <= 65535:
            return False
    return True


def router_config(obj: model.RouterConfig, path: str, walker: Walker) -> model.RouterConfig:
    """MOSN refuses two virtual hosts serving the same domain (ErrDuplicateVirtualHost)."""
    _require_non_empty(walker, obj.router_config_name, child(path, "router_config_name"))
    first_owner: dict[str, str] = {}
    for virtual_host in obj.virtual_hosts:
        host_path = walker.path_of(virtual_host)
        for index, domain in enumerate(virtual_host.domains):
            key = domain.lower()
            if key in first_owner and first_owner[key] != host_path:
                walker.log.error(item(child(host_path, "domains"), index),
                                 f"domain {domain!r} is already served by {first_owner[key]}")
            first_owner.setdefault(key, host_path)
    return obj


def virtual_host(obj: model.VirtualHost, path: str, walker: Walker) -> model.VirtualHost:
    for index, domain in enumerate(obj.domains):
        _require_non_empty(walker, domain, item(child(path, "domains"), index))
    return obj


def route(obj: model.Route, path: str, walker: Walker) -> model.Route:
    if obj.route is not None and not _names_a_cluster(obj.route):
        if obj.direct_response is not None or obj.redirect is not None:
            # MOSN always writes `route` (a Go value, not a pointer) next to direct_response or
            # redirect in its dumps; an empty one is no action, as MOSN itself treats it.
            obj = msgspec.structs.replace(obj, route=None)
        else:
            walker.log.error(child(path, "route"),
                             "a route action needs one of cluster_name, cluster_header, weighted_clusters")
            return obj
    actions = [name for name in ("route", "direct_response", "redirect") if getattr(obj, name) is not None]
    if len(actions) != 1:
        found = ", ".join(actions) if actions else "none"
        walker.log.error(path, f"a route needs exactly one of route, direct_response, redirect; found {found}")
    return obj


def route_match(obj: model.RouteMatch, path: str, walker: Walker) -> model.RouteMatch:
    kinds = [name for name in ("prefix", "path", "regex") if getattr(obj, name) is not None]
    if len(kinds) > 1:
        walker.log.error(path, f"set at most one of prefix, path, regex; found {', '.join(kinds)}")
    if obj.regex is not None:
        _compile_regex(walker, obj.regex, child(path, "regex"))
    return obj


def value_matcher(obj: model.HeaderMatcher | model.QueryParameterMatcher, path: str, walker: Walker) -> Any:
    _require_non_empty(walker, obj.name, child(path, "name"))
    if obj.regex:
        _compile_regex(walker, obj.value, child(path, "value"))
    return obj


_CLUSTER_CHOICES = ("cluster_name", "cluster_header", "weighted_clusters")


def _names_a_cluster(action: model.RouteAction) -> bool:
    return any(getattr(action, name) for name in _CLUSTER_CHOICES)


def route_action(obj: model.RouteAction, path: str, walker: Walker) -> model.RouteAction:
    chosen = [name for name in _CLUSTER_CHOICES if getattr(obj, name)]
    if len(chosen) > 1:
        walker.log.error(path, f"set only one of cluster_name, cluster_header, weighted_clusters; found "
                               f"{', '.join(chosen)}")
    return obj


def cluster_weight(obj: model.ClusterWeight, path: str, walker: Walker) -> model.ClusterWeight:
    _require_non_empty(walker, obj.name, child(path, "name"))
    if obj.weight < 1:
        walker.log.error(child(path, "weight"), f"must be >= 1, got {obj.weight}")
    return obj


def retry_policy(obj: model.RetryPolicy, path: str, walker: Walker) -> model.RetryPolicy:
    for index, code in enumerate(obj.status_codes):
        if not 100 <= code <= 599:
            walker.log.error(item(child(path, "status_codes"), index), f"HTTP status must be 100..599, got {code}")
    return obj


def redirect(obj: model.Redirect, path: str, walker: Walker) -> model.Redirect:
    if obj.response_code not in REDIRECT_CODES:
        codes = ", ".join(map(str, REDIRECT_CODES))
        walker.log.error(child(path, "response_code"), f"must be one of {codes}, got {obj.response_code}")
    return obj


def direct_response(obj: model.DirectResponse, path: str, walker: Walker) -> model.DirectResponse:
    if not 100 <= obj.status <= 599:
        walker.log.error(child(path, "status"), f"HTTP status must be 100..599, got {obj.status}")
    return obj


def header_value(obj: model.HeaderValue, path: str, walker: Walker) -> model.HeaderValue:
    _require_non_empty(walker, obj.key, child(path, "key"))
    return obj


def cluster(obj: model.Cluster, path: str, walker: Walker) -> model.Cluster:
    _require_non_empty(walker, obj.name, child(path, "name"))
    # Go's omitempty writes an unset type as ""; it means the default, not a type named "".
    obj = msgspec.structs.replace(obj, type=obj.type or "SIMPLE", lb_type=obj.lb_type or "LB_ROUNDROBIN")
    _check_name(walker, "cluster type", obj.type, IMPLEMENTED_CLUSTER_TYPES, MOSN_CLUSTER_TYPES,
                child(path, "type"))
    _check_name(walker, "lb_type", obj.lb_type, frozenset({*LOAD_BALANCERS.names(), ORIGINAL_DST_LB}),
                MOSN_LB_TYPES, child(path, "lb_type"))
    if obj.type == "ORIGINAL_DST":
        if obj.hosts:
            walker.log.error(child(path, "hosts"), "an ORIGINAL_DST cluster takes its hosts from each connection's "
                                                   "original destination; it lists none")
        obj = msgspec.structs.replace(obj, lb_type="LB_ORIGINAL_DST")  # the only balancer that fits
    elif obj.lb_type == ORIGINAL_DST_LB:
        walker.log.error(child(path, "lb_type"), "LB_ORIGINAL_DST needs cluster type ORIGINAL_DST")
    if obj.upstream_protocol:
        obj = msgspec.structs.replace(obj, upstream_protocol=_cluster_protocol(obj, path, walker))
    return obj


def _cluster_protocol(obj: model.Cluster, path: str, walker: Walker) -> str:
    """A cluster's upstream_protocol: an HTTP version, or Auto for the server's ALPN pick; an
    ALPN list must not offer a protocol the cluster would not speak."""
    field = child(path, "upstream_protocol")
    protocol = check_protocol(obj.upstream_protocol, field, walker.log, direction="upstream")
    if protocol is None:
        return obj.upstream_protocol
    if protocol not in (HTTP1, HTTP2, AUTO):
        walker.log.error(field, f"a cluster's upstream_protocol is Http1, Http2 or Auto, not {protocol!r}; "
                                "RPC protocols are the proxy filter's")
        return protocol
    tls = obj.tls_context
    secure = tls is not None and tls.status
    if protocol == AUTO and not secure:
        walker.log.warning(field, "Auto takes the protocol the server picks by TLS ALPN; without TLS it is "
                                  "HTTP/1.1 (as Envoy's auto_config)")
    offered = {p.strip() for p in tls.alpn.split(",")} if secure and tls.alpn else set()
    needs = {HTTP1: "http/1.1", HTTP2: "h2"}.get(protocol)
    if offered and needs is not None and offered != {needs}:
        walker.log.error(child(child(path, "tls_context"), "alpn"),
                         f"offers {tls.alpn!r} but upstream_protocol {protocol} speaks only {needs!r}")
    if offered and protocol == AUTO and not {"h2", "http/1.1"} <= offered:
        walker.log.error(child(child(path, "tls_context"), "alpn"),
                         f"upstream_protocol Auto needs both 'h2' and 'http/1.1' offered, got {tls.alpn!r}")
    return protocol


def host(obj: model.Host, path: str, walker: Walker) -> model.Host:
    address, port = obj.address
    if not address:
        walker.log.error(child(path, "address"), "an upstream host needs a host name or IP before the port")
    if port == 0:
        walker.log.error(child(path, "address"), "an upstream port must be 1..65535, got 0")
    if obj.weight < 1:
        walker.log.error(child(path, "weight"), f"must be >= 1, got {obj.weight}")
    return obj


def socket_address(obj: model.SocketAddress, path: str, walker: Walker) -> model.SocketAddress:
    if not 0 <= obj.port_value <= 65535:
        walker.log.error(child(path, "port_value"), f"port {obj.port_value} out of range 0..65535")
    return obj


def _model_structs() -> list[type]:
    return [value for value in vars(model).values()
            if isinstance(value, type) and issubclass(value, model.Model) and value is not model.Model]


def health_check(obj: model.HealthCheck, path: str, walker: Walker) -> model.HealthCheck:
    protocol = obj.protocol
    if not protocol:
        if obj == model.HealthCheck():
            return obj  # `health_check: {}`: none asked for
        walker.log.warning(child(path, "protocol"), "no protocol: no health check runs (as in MOSN); use Http1, tcp "
                                                    "or an RPC protocol")
        return obj
    if protocol.lower() in ("tcp", "tcpdial"):
        protocol = "tcp"
    else:
        protocol = check_protocol(protocol, child(path, "protocol"), walker.log, direction="health check")
        if protocol in (AUTO, X, HTTP2):
            walker.log.error(child(path, "protocol"), "a health check needs one concrete protocol: Http1, tcp or an RPC protocol")
            protocol = None
    for field in ("timeout", "interval"):
        if getattr(obj, field) <= 0:
            walker.log.error(child(path, field), f"must be > 0, got {getattr(obj, field)}")
    for field in ("healthy_threshold", "unhealthy_threshold"):
        if getattr(obj, field) < 1:
            walker.log.error(child(path, field), f"must be >= 1, got {getattr(obj, field)}")
    return msgspec.structs.replace(obj, protocol=protocol or obj.protocol)


def build_rules() -> dict[type, list[Rule]]:
    """Every model struct gets the generic int check, then its own rules."""
    specific: dict[type, list[Rule]] = {
        model.Server: [server, lift_connection_managers],
        model.Listener: [listener, stream_filters_in_one_place],
        model.NetworkFilter: [network_filter],
        model.ListenerFilter: [listener_filter],
        model.AccessLog: [access_log],
        model.StreamFilter: [stream_filter],
        model.ProxyConfig: [proxy_config, proxy_header_limits],
        model.Http1ProtocolOptions: [http1_protocol_options],
        model.Http2ProtocolOptions: [http2_protocol_options],
        model.TcpProxyConfig: [tcp_proxy_config],
        model.TLSConfig: [tls_config],
        model.FilterChain: [filter_chain],
        model.FilterChainMatch: [filter_chain_match],
        model.StringMatcher: [string_matcher],
        model.RouterConfig: [router_config, filter_configs],
        model.VirtualHost: [virtual_host, filter_configs],
        model.Route: [route, filter_configs, route_mirrors],
        model.MirrorPolicy: [mirror_policy],
        model.RouteMatch: [route_match],
        model.HeaderMatcher: [value_matcher],
        model.QueryParameterMatcher: [value_matcher],
        model.RouteAction: [route_action],
        model.ClusterWeight: [cluster_weight],
        model.RetryPolicy: [retry_policy],
        model.Redirect: [redirect],
        model.DirectResponse: [direct_response],
        model.HeaderValue: [header_value],
        model.Cluster: [cluster, cluster_header_limits],
        model.HealthCheck: [health_check],
        model.Host: [host],
        model.SocketAddress: [socket_address],
    }
    return {cls: [non_negative_ints, *specific.get(cls, [])] for cls in _model_structs()}
