"""The typed, frozen config model: MOSN's JSON/YAML schema (config/v2) as msgspec Structs.

Field names are MOSN's. Durations are float seconds (the loader turns "1s"/"500ms" into them);
addresses are parsed into (host, port). Everything is frozen so a running proxy can share one
snapshot between all connections and swap it by one assignment on reload."""

from __future__ import annotations

from typing import Any

import msgspec

from pymosn.config.rate_limits import RateLimit


class Model(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Base of every config struct."""


# --- addresses -------------------------------------------------------------------------------


class SocketAddress(Model):
    address: str = "127.0.0.1"
    port_value: int = 0


class Address(Model):
    socket_address: SocketAddress = SocketAddress()


class AdminConfig(Model):
    address: Address = Address(socket_address=SocketAddress(port_value=34901))


# --- routing ---------------------------------------------------------------------------------


class HeaderValue(Model):
    key: str
    value: str


class HeaderValueOption(Model):
    header: HeaderValue
    append: bool = False


class HeaderMatcher(Model):
    """Matches one request header: exact value, regex (`regex: true`), or presence."""

    name: str
    value: str = ""
    regex: bool = False
    present_match: bool | None = None
    invert_match: bool = False


class QueryParameterMatcher(Model):
    name: str
    value: str = ""
    regex: bool = False
    present_match: bool | None = None


class StringMatcher(Model):
    """Envoy's StringMatcher: exactly one of exact/prefix/suffix/contains/regex (a full match)."""

    exact: str | None = None
    prefix: str | None = None
    suffix: str | None = None
    contains: str | None = None
    regex: str | None = None
    ignore_case: bool = False  # not for regex: use (?i)


class RouteMatch(Model):
    """Exactly one of prefix/path/regex selects the path rule; no path rule matches any path."""

    prefix: str | None = None
    path: str | None = None
    regex: str | None = None
    case_sensitive: bool = True
    headers: tuple[HeaderMatcher, ...] = ()
    query_parameters: tuple[QueryParameterMatcher, ...] = ()
    # pymosn's: the verified URI SAN (a SPIFFE ID) of the downstream TLS client certificate.
    # No certificate never matches.
    downstream_peer_uri_san: StringMatcher | None = None


class ClusterWeight(Model):
    name: str
    weight: int
    metadata_match: dict[str, Any] | None = None


class WeightedCluster(Model):
    cluster: ClusterWeight


class RetryPolicy(Model):
    retry_on: bool = False
    retry_timeout: float | None = None  # per try, seconds
    num_retries: int = 1
    status_codes: tuple[int, ...] = ()


class RouteAction(Model):
    cluster_name: str = ""
    cluster_header: str = ""
    weighted_clusters: tuple[WeightedCluster, ...] = ()
    metadata_match: dict[str, Any] | None = None
    timeout: float | None = None  # seconds; None = no route timeout
    retry_policy: RetryPolicy | None = None
    prefix_rewrite: str | None = None
    host_rewrite: str | None = None
    auto_host_rewrite: bool = False
    request_headers_to_add: tuple[HeaderValueOption, ...] = ()
    request_headers_to_remove: tuple[str, ...] = ()
    response_headers_to_add: tuple[HeaderValueOption, ...] = ()
    response_headers_to_remove: tuple[str, ...] = ()
    rate_limits: tuple[RateLimit, ...] = ()  # Envoy's, for the local rate limit's descriptors
    include_vh_rate_limits: bool = False


class DirectResponse(Model):
    status: int
    body: str = ""


class Redirect(Model):
    response_code: int = 301
    path_redirect: str | None = None
    host_redirect: str | None = None
    scheme_redirect: str | None = None


class MirrorPolicy(Model):
    """A share of a route's requests copied, fire-and-forget, to another cluster (proxy/mirror.py).

    MOSN's route-level `request_mirror_policies` {cluster, percent} (one object per route, and in
    effect only on listeners with MOSN's `mirror` stream filter); Envoy's
    RouteAction.request_mirror_policies[] arrive translated, their defaults written out."""

    cluster: str = ""
    cluster_header: str = ""  # Envoy's: the request header naming the cluster (no header: no copy)
    percent: int = 0  # the copied share, out of `denominator`; 0, MOSN's default, copies none
    denominator: int = 100  # MOSN's whole percent; Envoy's FractionalPercent: 100, 10000 or 1000000
    host_suffix: str = ""  # added to the copy's Host before any port: Envoy's "-shadow"; MOSN's none


class Route(Model):
    """One entry of a virtual host's `routers[]`: a match and exactly one action."""

    name: str = ""
    match: RouteMatch = RouteMatch()
    route: RouteAction | None = None
    direct_response: DirectResponse | None = None
    redirect: Redirect | None = None
    request_headers_to_add: tuple[HeaderValueOption, ...] = ()
    request_headers_to_remove: tuple[str, ...] = ()
    response_headers_to_add: tuple[HeaderValueOption, ...] = ()
    response_headers_to_remove: tuple[str, ...] = ()
    per_filter_config: dict[str, Any] = {}  # MOSN's, as written: read at load into filter_configs
    filter_configs: dict[str, RouteFilterConfig] = {}  # pymosn's: by filter name, decoded
    # MOSN writes one object; the model (and Envoy's translation) keeps a list
    request_mirror_policies: tuple[MirrorPolicy, ...] = ()


class VirtualHost(Model):
    name: str = ""
    domains: tuple[str, ...] = ("*",)
    routers: tuple[Route, ...] = ()
    request_headers_to_add: tuple[HeaderValueOption, ...] = ()
    request_headers_to_remove: tuple[str, ...] = ()
    response_headers_to_add: tuple[HeaderValueOption, ...] = ()
    response_headers_to_remove: tuple[str, ...] = ()
    per_filter_config: dict[str, Any] = {}  # as Route's
    filter_configs: dict[str, RouteFilterConfig] = {}
    rate_limits: tuple[RateLimit, ...] = ()  # Envoy's


class RouterConfig(Model):
    router_config_name: str
    virtual_hosts: tuple[VirtualHost, ...] = ()
    request_headers_to_add: tuple[HeaderValueOption, ...] = ()
    request_headers_to_remove: tuple[str, ...] = ()
    response_headers_to_add: tuple[HeaderValueOption, ...] = ()
    response_headers_to_remove: tuple[str, ...] = ()
    filter_configs: dict[str, RouteFilterConfig] = {}  # pymosn's (Envoy's route-configuration level)


# --- listeners -------------------------------------------------------------------------------


class ClientCertDetails(Model):
    """Which fields of the client certificate go into x-forwarded-client-cert (Envoy's
    SetCurrentClientCertDetails). Hash, and By when our certificate has a URI SAN, always do."""

    subject: bool = False
    cert: bool = False
    chain: bool = False
    dns: bool = False
    uri: bool = False


class Http2ProtocolOptions(Model):
    """HTTP/2 SETTINGS a proxy listener advertises: Envoy's Http2ProtocolOptions names, with its
    edge-proxy recommended values as defaults (MOSN has no such block). max_frame_size is
    pymosn's; the header list limit is max_request_headers_kb, as in Envoy. The flood bounds
    are Envoy's too (protocol/http2/flood.py); the empty-frame one applies to listeners."""

    max_concurrent_streams: int = 100
    initial_stream_window_size: int = 65536
    initial_connection_window_size: int = 1048576
    max_frame_size: int = 16384
    max_outbound_frames: int = 10000
    max_outbound_control_frames: int = 1000
    max_consecutive_inbound_frames_with_empty_payload: int = 1


class Http1ProtocolOptions(Model):
    """Envoy's Http1ProtocolOptions fields for HTTP/1.0, with Envoy's defaults: given, HTTP/1.0
    is refused (426) unless accept_http_10, and one without Host gets default_host_for_http_10
    or a 400. Without this block a proxy filter takes HTTP/1.0 as MOSN does: accepted, and one
    without Host routed by the default virtual host (`*`)."""

    accept_http_10: bool = False
    default_host_for_http_10: str = ""


class ProxyConfig(Model):
    """Config of the `proxy` network filter (MOSN's HTTP/RPC connection manager)."""

    downstream_protocol: str = "Http1"
    # unset: the protocol the client spoke, as in MOSN (for Auto, whichever was detected on each
    # connection); loading sets the resolved name
    upstream_protocol: str = ""
    router_config_name: str = ""
    max_request_headers_kb: int = 60  # header section limit; over it answers 431
    # header fields (or trailers) a request may have, Envoy's max_headers_count (MOSN has no
    # such limit): over it, 431 on HTTP/1.1 and a stream reset on HTTP/2, as in Envoy
    max_request_headers_count: int = 100
    http_protocol_options: Http1ProtocolOptions | None = None  # HTTP/1.0 handling, see above
    max_request_bytes: int = 0  # body limit; 0 = unlimited; over it answers 413
    stream_idle_timeout: float = 300.0  # seconds without request or response bytes
    extend_config: dict[str, Any] = {}  # MOSN: {"sub_protocol": "bolt"} with protocol "X"
    fallback_for_unknown_protocol: bool = False  # Auto: unknown bytes go to the next filter
    # Envoy's x-forwarded-client-cert handling (HttpConnectionManager fields and values)
    forward_client_cert_details: str = "SANITIZE"
    set_current_client_cert_details: ClientCertDetails | None = None
    http2_protocol_options: Http2ProtocolOptions = Http2ProtocolOptions()  # downstream HTTP/2
    # pymosn's: this filter chain's HTTP filters (an Envoy HCM's http_filters); unset, the
    # listener's stream_filters (MOSN's) apply
    stream_filters: tuple[StreamFilter, ...] = ()


class CidrRange(Model):
    address: str
    length: int = 32


class TcpRoute(Model):
    """MOSN's tcp_proxy route: the first whose address and port conditions match picks the
    cluster. Empty conditions match anything. Ports are "80" or "8000-9000", comma-separated."""

    cluster: str
    source_addrs: tuple[CidrRange, ...] = ()
    destination_addrs: tuple[CidrRange, ...] = ()
    source_port: str = ""
    destination_port: str = ""


class TcpClusterWeight(Model):
    name: str
    weight: int = 1


class TcpWeightedClusters(Model):
    clusters: tuple[TcpClusterWeight, ...] = ()


class TcpProxyConfig(Model):
    """Config of the `tcp_proxy` network filter (MOSN's tcpproxy; Envoy's TcpProxy fields)."""

    stat_prefix: str = ""
    cluster: str = ""
    weighted_clusters: TcpWeightedClusters | None = None
    routes: tuple[TcpRoute, ...] = ()
    idle_timeout: float = 3600.0  # seconds with no bytes either way; 0 = never (Envoy's default 1h)
    max_connect_attempts: int = 1


class NetworkFilter(Model):
    """`type` names a registered network filter (config/registries.py). `config` is read as a
    JSON object and decoded once, at load, into that filter's config Struct (ProxyConfig,
    TcpProxyConfig, a plugin's type); only connection_manager, lifted out of the chain at load,
    and filters of no config type keep the object as written."""

    type: str
    config: msgspec.Struct | dict[str, Any] = {}


class StreamFilter(Model):
    """`type` names a registered HTTP filter (config.registries.HTTP_FILTERS). `config` is read
    at load by that filter's MOSN reader (an Envoy bootstrap's by its Envoy reader) into the
    filter's config Struct; `decoded` says `config` already holds that Struct's fields, as
    /config_dump writes them."""

    type: str
    config: msgspec.Struct | dict[str, Any] = {}
    # MOSN's: load the filter from a Go plugin (.so); pymosn refuses it (see config/mosn_filters.py)
    go_plugin_config: dict[str, Any] | None = None
    decoded: bool = False  # pymosn's
    # Envoy's HttpFilter.name: what per-route configs key the filter by ("" = its type) and
    # what %RESPONSE_CODE_DETAILS% names it by
    name: str = ""
    # Envoy's HttpFilter.disabled: off unless a route's per-filter config turns it on
    disabled: bool = False


class RouteFilterConfig(Model):
    """One filter's per-route config (decoded from MOSN's per_filter_config or Envoy's
    typed_per_filter_config): `config` is the filter's per-route Struct (or its fields, as
    /config_dump writes them), None for an entry that only turns the filter on or off;
    `disabled` (Envoy's FilterConfig.disabled) turns the filter off where it applies."""

    type: str = ""  # the HTTP filter kind; "" only beside no config
    config: Any = None  # a Struct once loaded (Any: msgspec takes no union of Struct and dict)
    disabled: bool = False


class TLSConfig(Model):
    """MOSN's tls_context. Certificates and keys are file paths or inline PEM."""

    status: bool = False
    type: str = ""
    server_name: str = ""  # upstream: the SNI to send and the name to verify
    ca_cert: str = ""
    cert_chain: str = ""
    private_key: str = ""
    verify_client: bool = False
    require_client_cert: bool = False
    insecure_skip: bool = False
    cipher_suites: str = ""  # OpenSSL cipher list (TLS 1.2 and below)
    ecdh_curves: str = ""
    min_version: str = ""  # TLSv1_0 | TLSv1_1 | TLSv1_2 | TLSv1_3
    max_version: str = ""
    alpn: str = ""  # comma-separated, e.g. "h2,http/1.1"
    handshake_timeout: float = 10.0
    # MOSN's, refused when the context is enabled (see rules.tls_config): custom verification
    # by a TLS extension, certificates from SDS
    extend_verify: dict[str, Any] | None = None
    sds_source: dict[str, Any] | None = None


class CidrPrefix(Model):
    """Envoy's CidrRange (filter chain matches use Envoy's spelling)."""

    address_prefix: str
    prefix_len: int = 0  # Envoy's default when unset


class FilterChainMatch(Model):
    """Envoy's FilterChainMatch (v3): the connections a filter chain serves. Empty fields match
    anything; see network/chain_match.py for how the most specific chain is chosen."""

    destination_port: int | None = None
    prefix_ranges: tuple[CidrPrefix, ...] = ()  # destination address
    server_names: tuple[str, ...] = ()  # SNI: "a.example.com" or "*.example.com"
    transport_protocol: str = ""  # "tls" | "raw_buffer"
    application_protocols: tuple[str, ...] = ()  # ALPN offered by the client
    source_prefix_ranges: tuple[CidrPrefix, ...] = ()
    source_ports: tuple[int, ...] = ()


class FilterChain(Model):
    filter_chain_match: FilterChainMatch | None = None
    filters: tuple[NetworkFilter, ...] = ()
    tls_context: TLSConfig | None = None
    tls_context_set: tuple[TLSConfig, ...] = ()  # several certificates, chosen by SNI


class AccessLog(Model):
    log_path: str = ""  # "stdout", "stderr" or a file path
    log_format: str = ""  # empty = the default format
    # pymosn's: a registered access-log sink other than MOSN's file one (config/registries.py);
    # `config` is decoded at load into that sink's config Struct
    sink: str = "file"
    config: msgspec.Struct | dict[str, Any] = {}


class OriginalDstFilterConfig(Model):
    """MOSN's original_dst listener filter: how connections were intercepted."""

    type: str = ""  # "redirect" | "tproxy"; unset means redirect, as in MOSN


class ListenerFilter(Model):
    """A MOSN listener filter; pymosn implements `original_dst`. `config` is decoded at load into
    the filter's registered config Struct (config/registries.py), like a network filter's."""

    type: str
    config: msgspec.Struct | dict[str, Any] = {}


class Listener(Model):
    name: str
    address: tuple[str, int]  # parsed from "host:port"
    bind_port: bool = True  # false: a virtual listener, reached only by an original-dst hand-off
    # MOSN's "redirect" | "tproxy" (true, from older MOSN and Istio, means "redirect"): take the
    # destination from the interception and hand the connection to the listener bound there
    use_original_dst: str = ""
    listener_filters: tuple[ListenerFilter, ...] = ()  # MOSN: original_dst (redirect | tproxy)
    transparent: bool = False  # Envoy's: IP_TRANSPARENT on the listening socket (implied by tproxy)
    filter_chains: tuple[FilterChain, ...] = ()
    default_filter_chain: FilterChain | None = None  # Envoy's: serves what no chain matches
    # MOSN's: a listener with TLS also serves clients that do not start a TLS handshake
    inspector: bool = False
    # Envoy's: how long to wait for the first bytes (the whole ClientHello) when choosing a
    # chain needs them; None = the listener's TLS handshake timeout (10 s by default)
    listener_filters_timeout: float | None = None
    # Envoy's, but unset means true here: after that wait, go on as plaintext (raw_buffer) so
    # protocols where the server speaks first still work; false closes the connection
    continue_on_listener_filters_timeout: bool | None = None
    stream_filters: tuple[StreamFilter, ...] = ()
    access_logs: tuple[AccessLog, ...] = ()
    connection_idle_timeout: float = 90.0  # seconds; 0 = never
    max_connections: int = 0  # 0 = unlimited
    per_connection_buffer_limit_bytes: int = 1024 * 1024  # write-buffer high watermark
    backlog: int = 1024


# --- upstream --------------------------------------------------------------------------------


class Host(Model):
    address: tuple[str, int]  # parsed from "host:port"
    hostname: str = ""
    weight: int = 1
    metadata: dict[str, Any] = {}


class Thresholds(Model):
    max_connections: int = 0  # 0 = unlimited, as in MOSN
    max_pending_requests: int = 0
    max_requests: int = 0
    max_retries: int = 0


class CircuitBreakers(Model):
    thresholds: tuple[Thresholds, ...] = ()


class OriginalDstLbConfig(Model):
    """MOSN's original_dst_lb_config: take the destination from a request header instead."""

    use_header: bool = False
    header_name: str = "x-envoy-original-dst-host"  # Envoy's header


class HealthCheck(Model):
    """MOSN's cluster health_check (defaults are MOSN's). `protocol`: "Http1" (GET, see
    check_config.http_check_config), "tcp" (connect), or an RPC protocol (its heartbeat)."""

    protocol: str = ""
    timeout: float = 1.0
    interval: float = 15.0
    interval_jitter: float = 0.005
    healthy_threshold: int = 1
    unhealthy_threshold: int = 1
    service_name: str = ""
    check_config: dict[str, Any] = {}
    common_callbacks: tuple[str, ...] = ()


class Cluster(Model):
    name: str
    type: str = "SIMPLE"  # SIMPLE | STATIC
    lb_type: str = "LB_ROUNDROBIN"  # LB_ROUNDROBIN | LB_RANDOM | LB_WEIGHTED_ROUNDROBIN
    hosts: tuple[Host, ...] = ()
    max_request_per_conn: int = 1024  # MOSN's default; 0 = unlimited
    conn_buffer_limit_bytes: int = 32 * 1024
    connect_timeout: float = 3.0
    idle_timeout: float = 60.0  # idle pooled connection lifetime
    circuit_breakers: CircuitBreakers = CircuitBreakers()
    tls_context: TLSConfig | None = None  # TLS to the upstream hosts
    health_check: HealthCheck | None = None  # active health checking of the hosts
    original_dst_lb_config: OriginalDstLbConfig | None = None  # ORIGINAL_DST clusters
    # pymosn's (MOSN sets it on the proxy filter only): what the hosts speak. "" = the proxy's
    # upstream_protocol; Http1, Http2 (h2c, or h2 over TLS), Auto (TLS: the server's ALPN pick)
    upstream_protocol: str = ""
    # Envoy's cluster field: caps streams per HTTP/2 connection below the server's limit and
    # sets the SETTINGS pymosn sends upstream; None = no cap, 256 KiB stream / 4 MiB
    # connection windows
    http2_protocol_options: Http2ProtocolOptions | None = None
    # header fields (or trailers) a response from the hosts may have (Envoy's cluster
    # max_headers_count); over it the response is an upstream protocol error (502)
    max_response_headers_count: int = 100


class ClusterManager(Model):
    clusters: tuple[Cluster, ...] = ()


# --- top level -------------------------------------------------------------------------------


class Server(Model):
    mosn_server_name: str = ""
    default_log_path: str = "stderr"
    default_log_level: str = "INFO"
    listeners: tuple[Listener, ...] = ()
    routers: tuple[RouterConfig, ...] = ()


class Config(Model):
    servers: tuple[Server, ...] = ()
    cluster_manager: ClusterManager = ClusterManager()
    admin: AdminConfig | None = None
