"""Fail closed on the Envoy side: every access-control, authentication or limiting filter and
every security-relevant field pymosn does not implement is an error at its path; what only adds
a feature is a warning."""

from __future__ import annotations

import pytest

from tests.support.envoy_bootstraps import (
    C0,
    F0,
    HC,
    L0,
    R0,
    RC,
    bootstrap,
    cluster,
    errors,
    hcm,
    listener,
    routes,
    tcp,
    typed,
    warnings,
    with_http_filters,
    with_tls,
)

ENFORCES = "is not implemented by pymosn yet; refusing to run without what it enforces"
TLS = f"{L0}.filter_chains[0].transport_socket.typed_config"
UPSTREAM_TLS = f"{C0}.transport_socket.typed_config"
PEER_CHECK = "not implemented by pymosn yet; ignoring it would accept peer certificates it would refuse"


@pytest.mark.parametrize(("kind", "message"), [
    ("ext_authz", "ext_authz.v3.ExtAuthz"), ("jwt_authn", "jwt_authn.v3.JwtAuthentication"), ("oauth2", "oauth2.v3.OAuth2"),
    ("basic_auth", "basic_auth.v3.BasicAuth"), ("ratelimit", "ratelimit.v3.RateLimit"), ("csrf", "csrf.v3.CsrfPolicy"),
    ("adaptive_concurrency", "adaptive_concurrency.v3.AdaptiveConcurrency"), ("cdn_loop", "cdn_loop.v3.CdnLoopConfig"),
    ("ip_tagging", "ip_tagging.v3.IPTagging"), ("lua", "lua.v3.Lua"), ("wasm", "wasm.v3.Wasm"),
])
def test_http_filters_that_enforce_or_limit_are_refused_whatever_they_are_named(kind, message):
    custom = typed(f"my-{kind}", f"envoy.extensions.filters.http.{message}")
    assert errors(with_http_filters(custom)) == [
        f"{HC}.http_filters[0]: http filter 'envoy.filters.http.{kind}' (named 'my-{kind}') {ENFORCES}"]


def test_a_disabled_access_control_filter_is_still_refused():
    # a route could turn it on with its typed_per_filter_config
    authz = {**typed("envoy.filters.http.ext_authz", "envoy.extensions.filters.http.ext_authz.v3.ExtAuthz"),
             "disabled": True}
    assert errors(with_http_filters(authz)) == [
        f"{HC}.http_filters[0]: http filter 'envoy.filters.http.ext_authz' {ENFORCES}"]


@pytest.mark.parametrize(("kind", "message"), [
    ("cors", "cors.v3.Cors"), ("compressor", "compressor.v3.Compressor"), ("grpc_web", "grpc_web.v3.GrpcWeb"),
    ("grpc_stats", "grpc_stats.v3.FilterConfig"), ("health_check", "health_check.v3.HealthCheck"),
    ("header_to_metadata", "header_to_metadata.v3.Config"),
])
def test_http_filters_that_only_add_features_warn(kind, message):
    assert warnings(with_http_filters(typed(f"envoy.filters.http.{kind}", f"envoy.extensions.filters.http.{message}"))) == [
        f"{HC}.http_filters[0]: http filter 'envoy.filters.http.{kind}' is not implemented by pymosn yet; ignored"]


@pytest.mark.parametrize(("kind", "message"), [
    ("ext_authz", "ext_authz.v3.ExtAuthz"), ("local_ratelimit", "local_ratelimit.v3.LocalRateLimit"), ("ratelimit", "ratelimit.v3.RateLimit"),
    ("connection_limit", "connection_limit.v3.ConnectionLimit"), ("client_ssl_auth", "client_ssl_auth.v3.ClientSSLAuth"),
])
def test_network_filters_that_enforce_or_limit_are_refused(kind, message):
    custom = typed(f"my-{kind}", f"envoy.extensions.filters.network.{message}", stat_prefix="x")
    assert errors(bootstrap(listener(custom, tcp(cluster="app")))) == [
        f"{F0}: network filter 'envoy.filters.network.{kind}' (named 'my-{kind}') {ENFORCES}"]


def test_listener_filters_that_limit_or_change_bytes_are_refused_inspectors_warn():
    ratelimit = typed("rl", "envoy.extensions.filters.listener.local_ratelimit.v3.LocalRateLimit")
    proxy_protocol = typed("pp", "envoy.extensions.filters.listener.proxy_protocol.v3.ProxyProtocol")
    inspector = typed("hi", "envoy.extensions.filters.listener.http_inspector.v3.HttpInspector")
    raw = bootstrap(listener(listener_filters=[ratelimit, proxy_protocol]))
    assert errors(raw) == [
        f"{L0}.listener_filters[0]: listener filter 'envoy.filters.listener.local_ratelimit' (named 'rl') {ENFORCES}",
        f"{L0}.listener_filters[1]: listener filter 'envoy.filters.listener.proxy_protocol' (named 'pp') is not "
        "implemented by pymosn yet (it may change what the connection's bytes mean); known: "
        "envoy.filters.listener.original_dst, envoy.filters.listener.tls_inspector"]
    assert warnings(bootstrap(listener(listener_filters=[inspector]))) == [
        f"{L0}.listener_filters[0]: listener filter 'envoy.filters.listener.http_inspector' (named 'hi') is not "
        "implemented by pymosn yet; ignored"]


@pytest.mark.parametrize("field", [
    {"match_typed_subject_alt_names": [{"san_type": "DNS", "matcher": {"exact": "a"}}]},
    {"verify_certificate_spki": ["NvqYIYSbgK2vCJpQhObf77vv+bQWtc5ek5RIOwPiC9A="]},
    {"verify_certificate_hash": ["df6ff72fe9116521268f6f2dd4966f51df479883fe7037b39f75916ac3049d1a"]},
    {"crl": {"inline_string": "-----BEGIN X509 CRL-----"}}, {"max_verify_depth": 2},
])
def test_peer_certificate_checks_pymosn_lacks_are_refused(field):
    validation = {"trusted_ca": {"inline_string": "-----BEGIN z"}, **field}
    raw = with_tls({"require_client_certificate": True, "common_tls_context": {"validation_context": validation}})
    assert errors(raw) == [f"{TLS}.common_tls_context.validation_context.{next(iter(field))}: {PEER_CHECK}"]


def test_tls_fields_that_refuse_clients_or_peers_are_refused_or_honoured():
    assert errors(with_tls({"require_sni": True})) == [
        f"{TLS}.require_sni: not implemented by pymosn yet; ignoring it would accept clients that send no SNI"]
    assert errors(with_tls({"require_client_certificate": True})) == [
        f"{TLS}.require_client_certificate: needs common_tls_context.validation_context.trusted_ca to verify client "
        "certificates against"]
    assert errors(with_tls({"enforce_rsa_key_usage": True}, upstream=True)) == [
        f"{UPSTREAM_TLS}.enforce_rsa_key_usage: {PEER_CHECK}"]


@pytest.mark.parametrize(("field", "value", "why"), [
    ("normalize_path", True, "route requests on paths it would normalize (a route meant to refuse /a would miss "
                             "/b/../a)"),
    ("merge_slashes", True, "route requests on paths it would normalize (a route meant to refuse /a would miss "
                            "/b/../a)"),
    ("request_timeout", "10s", "let clients take longer to send a request than it allows"),
    ("request_headers_timeout", "5s", "let clients take longer to send request headers than it allows"),
])
def test_connection_manager_limits_and_path_normalization_are_refused(field, value, why):
    assert errors(bootstrap(listener(hcm(**{field: value})))) == [
        f"{HC}.{field}: not implemented by pymosn yet; ignoring it would {why}"]


def test_escaped_slashes_and_underscores_are_refused_unless_kept_as_they_are():
    assert errors(bootstrap(listener(hcm(path_with_escaped_slashes_action="REJECT_REQUEST")))) == [
        f"{HC}.path_with_escaped_slashes_action: REJECT_REQUEST is not implemented by pymosn yet; ignoring it would "
        "route requests on paths it would refuse or unescape first"]
    assert errors(bootstrap(listener(hcm(common_http_protocol_options={
            "headers_with_underscores_action": "REJECT_REQUEST"})))) == [
        f"{HC}.common_http_protocol_options.headers_with_underscores_action: REJECT_REQUEST is not implemented by "
        "pymosn yet; ignoring it would pass headers with underscores it would refuse or drop"]
    kept = hcm(path_with_escaped_slashes_action="KEEP_UNCHANGED",
               common_http_protocol_options={"headers_with_underscores_action": "ALLOW"})
    assert warnings(bootstrap(listener(kept))) == []


@pytest.mark.parametrize(("field", "value", "why"), [
    ("max_stream_duration", "60s", "let requests run longer than it allows"),
    ("max_connection_duration", "600s", "keep connections open longer than it allows"),
    ("max_requests_per_connection", 100, "serve more requests on a connection than it allows"),
])
def test_protocol_limits_a_manager_sets_are_refused(field, value, why):
    assert errors(bootstrap(listener(hcm(common_http_protocol_options={field: value})))) == [
        f"{HC}.common_http_protocol_options.{field}: not implemented by pymosn yet; ignoring it would {why}"]


def test_route_and_tcp_proxy_limits_and_require_tls_are_refused():
    rc = routes({"match": {"prefix": "/"}, "route": {"cluster": "app", "max_stream_duration": {
        "max_stream_duration": "60s"}}})
    rc["virtual_hosts"][0]["require_tls"] = "ALL"
    assert errors(bootstrap(listener(hcm(rc)))) == [
        f"{R0}.route.max_stream_duration: not implemented by pymosn yet; ignoring it would let requests run longer "
        "than it allows",
        f"{RC}.virtual_hosts[0].require_tls: not implemented by pymosn yet; ignoring it would serve plaintext "
        "requests it requires TLS for"]
    assert errors(bootstrap(listener(tcp(cluster="app", max_downstream_connection_duration="1h")))) == [
        f"{HC}.max_downstream_connection_duration: not implemented by pymosn yet; ignoring it would keep connections "
        "open longer than it allows"]


def test_upgrades_turned_on_need_nothing_turned_off_are_refused():
    on = {"match": {"prefix": "/ws"}, "route": {"cluster": "app", "upgrade_configs": [{"upgrade_type": "websocket"}]}}
    off = {"match": {"prefix": "/"}, "route": {"cluster": "app", "upgrade_configs": [
        {"upgrade_type": "websocket", "enabled": False}]}}
    assert warnings(bootstrap(listener(hcm(routes(on), upgrade_configs=[{"upgrade_type": "websocket"}])))) == []
    assert errors(bootstrap(listener(hcm(routes(on, off))))) == [
        f"{RC}.virtual_hosts[0].routes[1].route.upgrade_configs[0].enabled: pymosn tunnels every upgrade a client "
        "asks for; refusing to run with 'websocket' turned off"]
    assert warnings(bootstrap(listener(hcm(upgrade_configs=[{"upgrade_type": "CONNECT"}])))) == [
        f"{HC}.upgrade_configs[0].upgrade_type: CONNECT is not implemented by pymosn yet: it answers 405"]


def test_upstream_http_filters_are_refused_but_the_codec_that_ends_them():
    hpo = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
    codec = typed("envoy.filters.http.upstream_codec", "envoy.extensions.filters.http.upstream_codec.v3.UpstreamCodec")
    buffer = typed("buffer", "envoy.extensions.filters.http.buffer.v3.Buffer", max_request_bytes=1024)

    def with_filters(*filters):
        options = {hpo: {"@type": f"type.googleapis.com/{hpo}", "explicit_http_config": {"http_protocol_options": {}},
                         "http_filters": list(filters)}}
        return bootstrap(clusters=[cluster(typed_extension_protocol_options=options)])

    assert warnings(with_filters(codec)) == []
    assert errors(with_filters(buffer, codec)) == [
        f"{C0}.typed_extension_protocol_options['{hpo}'].http_filters[0]: upstream http filter "
        "'envoy.filters.http.buffer' (named 'buffer') is not implemented by pymosn yet; ignoring it would send "
        "upstream requests it would change or refuse"]
