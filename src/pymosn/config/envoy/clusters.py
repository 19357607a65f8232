"""static_resources.clusters[] as MOSN clusters: discovery type, load balancing, hosts,
circuit breakers, health checks, upstream TLS and the HTTP protocol spoken upstream.
Envoy's defaults that differ from MOSN's (5 s connect timeout, 1 h idle timeout, no request
limit per connection, 1024/1024/1024/3 circuit breakers) are written out explicitly."""

from __future__ import annotations

from pymosn.config.envoy import cluster_schemas as cs
from pymosn.config.envoy import schemas as s
from pymosn.config.envoy.addresses import is_ip
from pymosn.config.envoy.extensions import display, envoy_kind, extension
from pymosn.config.envoy.load_assignment import load_assignment
from pymosn.config.envoy.message import Context, Message
from pymosn.config.envoy.protocol_options import underscores
from pymosn.config.envoy.tls import transport_socket
from pymosn.config.issues import type_name

CLUSTER_TYPES = ("STATIC", "STRICT_DNS", "LOGICAL_DNS", "EDS", "ORIGINAL_DST")
# At their numbers; 4 is reserved (the ORIGINAL_DST_LB of v2)
LB_POLICIES = ("ROUND_ROBIN", "LEAST_REQUEST", "RING_HASH", "RANDOM", None, "MAGLEV", "CLUSTER_PROVIDED",
               "LOAD_BALANCING_POLICY_CONFIG")
_V2_LB_POLICIES = {"ORIGINAL_DST_LB": "CLUSTER_PROVIDED (with cluster type ORIGINAL_DST)"}
IMPLEMENTED_TYPES = ("STATIC", "STRICT_DNS", "LOGICAL_DNS", "ORIGINAL_DST")
IMPLEMENTED_LB_POLICIES = ("ROUND_ROBIN", "RANDOM", "CLUSTER_PROVIDED")
CONNECT_TIMEOUT = 5.0
IDLE_TIMEOUT = 3600.0
BUFFER_LIMIT = 1024 * 1024
THRESHOLD_DEFAULTS = {"max_connections": 1024, "max_pending_requests": 1024, "max_requests": 1024, "max_retries": 3}
HTTP_PROTOCOL_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
_DNS_FIELDS = ("dns_lookup_family", "dns_refresh_rate", "respect_dns_ttl", "dns_resolvers", "dns_jitter",
               "dns_failure_refresh_rate", "typed_dns_resolver_config", "dns_resolution_config",
               "use_tcp_for_dns_lookups")
FOLLOW_DOWNSTREAM = ""  # the proxy filter's upstream_protocol, which is the client's protocol
_REQUEST_METHODS = ("METHOD_UNSPECIFIED", "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE",
                    "PATCH")


def cluster(m: Message, ctx: Context) -> dict:
    out = ctx.node({}, m.path)
    name = m.str("name")
    if not name:
        m.error("name", "missing: a cluster needs a name")
    ctx.put(out, "name", name, m.at("name"))
    custom = m.one_of("type", "cluster_type") == "cluster_type"
    if custom:
        m.refuse("cluster_type", "leave the cluster without the hosts its extension finds")
        # the extension picks the hosts and, under CLUSTER_PROVIDED, how to balance over them
        m.ignore("type", "lb_policy")
    kind = None if custom else m.enum("type", CLUSTER_TYPES)
    if kind is not None and kind not in IMPLEMENTED_TYPES:
        m.error("type", f"cluster type {kind!r} is not implemented by pymosn yet; known: {', '.join(IMPLEMENTED_TYPES)}")
    ctx.put(out, "type", "ORIGINAL_DST" if kind == "ORIGINAL_DST" else "STATIC", m.at("type"))
    ctx.put(out, "connect_timeout", m.duration("connect_timeout", CONNECT_TIMEOUT), m.at("connect_timeout"))
    hosts = []
    assignment = m.message("load_assignment", cs.CLUSTER_LOAD_ASSIGNMENT)
    if assignment is not None:
        hosts = load_assignment(assignment, ctx)
        if hosts:
            ctx.put(out, "hosts", hosts, assignment.path)
    _check_hosts(m, kind, hosts, assignment is not None, ctx)
    if not custom:
        _lb_policy(m, out, kind, hosts, ctx)
    tls = transport_socket(m.message("transport_socket", s.TRANSPORT_SOCKET), ctx, upstream=True)
    if tls:
        ctx.put(out, "tls_context", tls[0], m.at("transport_socket"))
    _protocol_options(m, out, ctx)
    ctx.put(out, "conn_buffer_limit_bytes", m.int("per_connection_buffer_limit_bytes", BUFFER_LIMIT),
            m.at("per_connection_buffer_limit_bytes"))
    ctx.put(out, "circuit_breakers", _circuit_breakers(m.message("circuit_breakers", cs.CIRCUIT_BREAKERS), m, ctx),
            m.at("circuit_breakers"))
    checks = m.messages("health_checks", cs.HEALTH_CHECK)
    for extra in checks[1:]:
        extra.warn(None, "pymosn runs one health check per cluster: the first")
        extra.finish()
    if checks:
        check = health_check(checks[0], ctx)
        if check is not None:
            ctx.put(out, "health_check", check, checks[0].path)
    original = m.message("original_dst_lb_config", cs.ORIGINAL_DST_LB_CONFIG)
    if original is not None:
        config = ctx.node({"use_header": original.bool("use_http_header")}, original.path)
        ctx.origins.field(config, "use_header", original.at("use_http_header"))
        if original.has("http_header_name"):
            ctx.put(config, "header_name", original.str("http_header_name"), original.at("http_header_name"))
        original.finish()
        ctx.put(out, "original_dst_lb_config", config, original.path)
    m.finish()
    return out


def _check_hosts(m: Message, kind: str | None, hosts: list[dict], assigned: bool, ctx: Context) -> None:
    names = [(h, h["address"][0]) for h in hosts if not is_ip(h["address"][0])]
    if kind == "STATIC" and names:
        host, name = names[0]
        ctx.log.error(ctx.origins.source_of(host, "address") or m.path,
                      f"a STATIC cluster takes IP addresses, got {name!r}; use STRICT_DNS or LOGICAL_DNS for names")
    elif kind in ("STRICT_DNS", "LOGICAL_DNS") and names:
        m.warn("type", f"pymosn resolves {', '.join(repr(n) for _, n in names)} on each new connection and uses "
                       "the first address, rather than balancing over every address the name has")
    elif kind == "ORIGINAL_DST" and hosts:
        m.error("load_assignment", "an ORIGINAL_DST cluster takes its hosts from each connection's original "
                                   "destination, so it must not list any (as in Envoy)")
    elif kind in ("STATIC", "STRICT_DNS", "LOGICAL_DNS") and not assigned:
        m.warn("load_assignment", "missing: the cluster has no hosts")
    if kind in ("STRICT_DNS", "LOGICAL_DNS"):
        for field in _DNS_FIELDS:
            if m.has(field) and names:
                m.warn(field, "pymosn resolves names with the system resolver on each new connection; ignored")
            m.ignore(field)


def _lb_policy(m: Message, out: dict, kind: str | None, hosts: list[dict], ctx: Context) -> None:
    policy = m.enum("lb_policy", LB_POLICIES, v2=_V2_LB_POLICIES)
    where = m.at("lb_policy")
    if policy is None:
        return
    if kind == "ORIGINAL_DST":
        if policy != "CLUSTER_PROVIDED":
            ctx.log.error(where, f"an ORIGINAL_DST cluster needs lb_policy CLUSTER_PROVIDED, got {policy}")
        ctx.put(out, "lb_type", "LB_ORIGINAL_DST", where)
        return
    if policy == "ROUND_ROBIN":
        weighted = len({h.get("weight", 1) for h in hosts}) > 1
        # Envoy's round robin is weighted when the weights differ
        ctx.put(out, "lb_type", "LB_WEIGHTED_ROUNDROBIN" if weighted else "LB_ROUNDROBIN", where)
    elif policy == "RANDOM":
        ctx.put(out, "lb_type", "LB_RANDOM", where)
    elif policy == "CLUSTER_PROVIDED":
        ctx.log.error(where, "CLUSTER_PROVIDED needs cluster type ORIGINAL_DST")
    else:
        ctx.log.error(where, f"lb_policy {policy!r} is not implemented by pymosn yet; known: "
                             f"{', '.join(IMPLEMENTED_LB_POLICIES)}")


def _circuit_breakers(m: Message | None, cluster_message: Message, ctx: Context) -> dict:
    values = dict(THRESHOLD_DEFAULTS)
    thresholds = ctx.node(values, cluster_message.at("circuit_breakers"))
    if m is not None:
        for t in m.messages("thresholds", cs.THRESHOLDS):
            if t.enum("priority", ("DEFAULT", "HIGH")) == "HIGH":
                t.warn("priority", "pymosn has no request priorities; HIGH thresholds are ignored")
                t.ignore(*t.set_fields())
                continue
            for key in THRESHOLD_DEFAULTS:
                value = t.int(key)
                if value is not None:
                    ctx.put(values, key, value, t.at(key))
            ctx.node(thresholds, t.path)
            t.finish()
        m.finish()
    return {"thresholds": [thresholds]}


def _protocol_options(m: Message, out: dict, ctx: Context) -> None:
    """The protocol spoken to the cluster, its idle timeout and requests per connection, from
    typed_extension_protocol_options or the older Cluster fields."""
    protocol: tuple[str, str] | None = None
    idle, max_requests = IDLE_TIMEOUT, 0
    legacy_max = m.int("max_requests_per_connection")
    if legacy_max is not None:
        max_requests = legacy_max
    common = m.message("common_http_protocol_options", s.HTTP_PROTOCOL_OPTIONS_CORE)
    if common is not None:
        idle, max_requests = _common_options(common, idle, max_requests, out, ctx)
    for field, name in (("http2_protocol_options", "Http2"), ("http_protocol_options", "Http1")):
        if m.raw(field) is not None:
            _warn_settings(m, field, out, ctx)
            protocol = protocol or (name, m.at(field))
    if m.enum("protocol_selection", ("USE_CONFIGURED_PROTOCOL", "USE_DOWNSTREAM_PROTOCOL")) == "USE_DOWNSTREAM_PROTOCOL":
        protocol = (FOLLOW_DOWNSTREAM, m.at("protocol_selection"))
    for key, value in m.map("typed_extension_protocol_options").items():
        path = f"{m.at('typed_extension_protocol_options')}[{key!r}]"
        if not isinstance(value, dict):
            ctx.log.error(path, f"expected object, got {type_name(value)}")
            continue
        url = value.get("@type")
        kind = url.rsplit("/", 1)[-1] if isinstance(url, str) and url else key
        if kind != HTTP_PROTOCOL_OPTIONS:
            ctx.log.warning(path, f"protocol options {kind!r} are not implemented by pymosn yet; ignored")
            continue
        options = Message({k: v for k, v in value.items() if k != "@type"}, path, cs.HTTP_PROTOCOL_OPTIONS, ctx)
        _upstream_filters(options)
        common = options.message("common_http_protocol_options", s.HTTP_PROTOCOL_OPTIONS_CORE)
        if common is not None:
            idle, max_requests = _common_options(common, idle, max_requests, out, ctx)
        chosen = options.one_of("explicit_http_config", "use_downstream_protocol_config", "auto_config")
        if chosen == "explicit_http_config":
            explicit = options.message(chosen, cs.EXPLICIT_HTTP_CONFIG)
            if explicit is not None:
                which = explicit.one_of("http_protocol_options", "http2_protocol_options", "http3_protocol_options")
                if which == "http3_protocol_options":
                    explicit.error(which, "HTTP/3 upstreams are not implemented by pymosn yet; known: "
                                          "http_protocol_options, http2_protocol_options")
                if which is not None:
                    _warn_settings(explicit, which, out, ctx)
                    protocol = ({"http_protocol_options": "Http1", "http2_protocol_options": "Http2",
                                 "http3_protocol_options": "Http3"}[which], explicit.at(which))
                explicit.finish()
        elif chosen == "use_downstream_protocol_config":
            options.ignore(chosen)
            protocol = (FOLLOW_DOWNSTREAM, options.at(chosen))
        elif chosen == "auto_config":
            # the protocol the server picks by ALPN: pymosn's Auto, which needs TLS as Envoy's does
            options.ignore(chosen)
            protocol = ("Auto", options.at(chosen))
        options.finish()
    ctx.put(out, "idle_timeout", idle, m.at("common_http_protocol_options"))
    ctx.put(out, "max_request_per_conn", max_requests, m.at("max_requests_per_connection"))
    if protocol is None:
        # Envoy speaks HTTP/1.1 to a cluster that asks for nothing else, whatever the client
        # spoke; with an ALPN list of its own pymosn derives the protocol from the list
        if not out.get("tls_context", {}).get("alpn"):
            ctx.put(out, "upstream_protocol", "Http1", m.path)
    elif protocol[0] != FOLLOW_DOWNSTREAM:
        ctx.put(out, "upstream_protocol", protocol[0], protocol[1])


def _upstream_filters(options: Message) -> None:
    """Upstream HTTP filters: upstream_codec, the last one, is what pymosn's pools do anyway."""
    for f in options.messages("http_filters", s.HTTP_FILTER):
        ext = extension(f)
        f.finish()
        if ext is not None and envoy_kind(ext, "http") != "upstream_codec":
            f.error(None, f"upstream http filter {display(ext)} is not implemented by pymosn yet; ignoring it would "
                          "send upstream requests it would change or refuse")


def _common_options(m: Message, idle: float, max_requests: int, out: dict, ctx: Context) -> tuple[float, int]:
    idle = m.duration("idle_timeout", idle)
    max_requests = m.int("max_requests_per_connection", max_requests)
    count = m.int("max_headers_count")
    if count is not None:  # on a cluster it limits the responses of its hosts
        ctx.put(out, "max_response_headers_count", count, m.at("max_headers_count"))
    underscores(m)
    m.finish()
    return idle, max_requests


_H2_SETTINGS = ("max_concurrent_streams", "initial_stream_window_size", "initial_connection_window_size",
                "max_outbound_frames", "max_outbound_control_frames")


def _warn_settings(m: Message, field: str, out: dict | None = None, ctx: Context | None = None) -> None:
    """Codec settings: the HTTP/2 ones pymosn's upstream HTTP/2 client takes go to the cluster's
    http2_protocol_options (given `out`); the others keep pymosn's defaults, with a warning."""
    raw = m.raw(field)
    if not raw:
        return
    if field == "http2_protocol_options" and out is not None and ctx is not None:
        h2 = Message(raw, m.at(field), s.HTTP2_PROTOCOL_OPTIONS, ctx)
        if not h2.valid:
            return
        settings = ctx.node({}, h2.path)
        for name in _H2_SETTINGS:
            value = h2.int(name)
            if value is not None:
                ctx.put(settings, name, value, h2.at(name))
        h2.finish()
        if settings:
            ctx.put(out, "http2_protocol_options", settings, h2.path)
        return
    m.warn(field, "codec settings are not implemented by pymosn yet; its defaults are used")


def health_check(m: Message, ctx: Context) -> dict | None:
    out = ctx.node({}, m.path)
    kind = m.one_of("http_health_check", "tcp_health_check", "grpc_health_check", "custom_health_check")
    if kind in ("grpc_health_check", "custom_health_check"):
        m.warn(kind, "not implemented by pymosn yet; no health check runs")
        m.ignore(*m.set_fields())
        return None
    if kind is None:
        m.error(None, "needs one of http_health_check, tcp_health_check")
        return None
    for field in ("timeout", "interval"):
        value = m.duration(field)
        if value is None:
            m.error(field, "missing: required (as in Envoy)")
        else:
            ctx.put(out, field, value, m.at(field))
    jitter = m.duration("interval_jitter")
    if jitter is not None:
        ctx.put(out, "interval_jitter", jitter, m.at("interval_jitter"))
    for field in ("healthy_threshold", "unhealthy_threshold"):
        value = m.int(field)
        if value is None:
            m.error(field, "missing: required (as in Envoy)")
        else:
            ctx.put(out, field, value, m.at(field))
    if kind == "tcp_health_check":
        tcp = m.message(kind, cs.TCP_HEALTH_CHECK)
        ctx.put(out, "protocol", "tcp", m.at(kind))
        if tcp is not None:
            if tcp.has("send") or tcp.has("receive"):
                tcp.warn(None, "pymosn checks that a connection opens; send and receive are ignored")
                tcp.ignore("send", "receive")
            tcp.finish()
    else:
        http = m.message(kind, cs.HTTP_HEALTH_CHECK)
        ctx.put(out, "protocol", "Http1", m.at(kind))
        if http is not None:
            ctx.put(out, "check_config", {"http_check_config": _http_check(http, ctx)}, http.path)
    m.finish()
    return out


def _http_check(m: Message, ctx: Context) -> dict:
    settings = ctx.node({}, m.path)
    path = m.str("path")
    if not path:
        m.error("path", "missing: an HTTP health check needs a path")
    ctx.put(settings, "path", path, m.at("path"))
    if m.has("host"):
        ctx.put(settings, "domain", m.str("host"), m.at("host"))
    method = m.enum("method", _REQUEST_METHODS)
    if method not in (None, "METHOD_UNSPECIFIED"):
        ctx.put(settings, "method", method, m.at("method"))
    codes = []
    for r in m.messages("expected_statuses", s.INT64_RANGE):
        start, end = r.int("start", 0), r.int("end", 0)
        if not 100 <= start < end <= 600:
            r.error(None, f"an expected status range [start, end) needs 100 <= start < end <= 600 (as in Envoy), "
                          f"got [{start}, {end})")
        codes.append(ctx.node({"start": start, "end": end}, r.path))
        r.finish()
    # Envoy's default: 200 only ([start, end) ranges, as pymosn reads them)
    ctx.put(settings, "codes", codes or [{"start": 200, "end": 201}], m.at("expected_statuses"))
    if m.enum("codec_client_type", ("HTTP1", "HTTP2", "HTTP3")) not in (None, "HTTP1"):
        m.warn("codec_client_type", "pymosn health checks speak HTTP/1.1")
    m.finish()
    return settings
