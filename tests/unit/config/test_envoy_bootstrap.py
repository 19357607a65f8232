"""Envoy v3 bootstraps: each translated field lands in the MOSN model, and every error or
warning names the Envoy path it comes from."""

from __future__ import annotations

import copy

import msgspec
import pytest

from pymosn.api.errors import ConfigError
from pymosn.config import model
from pymosn.config.loader import load_config_dict
from pymosn.config.registries import HTTP_FILTERS
from tests.support.envoy_bootstraps import (
    C0,
    F0,
    HC,
    HCM_TYPE,
    HPO,
    L0,
    R0,
    RC,
    ROUTER,
    TLS_UP,
    bootstrap,
    cluster,
    errors,
    first_listener,
    first_route,
    hcm,
    listener,
    load,
    proxy,
    routes,
    tcp,
    tls_socket,
    warnings,
    with_route,
)

# --- bootstrap, admin, listeners -----------------------------------------------------------------


def test_front_proxy_shape_translates_to_mosn_model():
    config = load(bootstrap(admin={"address": {"socket_address": {"address": "127.0.0.1", "port_value": 9901}}}))
    assert config.admin.address.socket_address == model.SocketAddress(address="127.0.0.1", port_value=9901)
    lst = first_listener(config)
    assert (lst.name, lst.address, lst.bind_port) == ("l0", ("127.0.0.1", 10000), True)
    chain_filter = lst.filter_chains[0].filters[0]
    assert chain_filter.type == "proxy"
    assert chain_filter.config.router_config_name == "local_route"
    assert chain_filter.config.downstream_protocol == "Auto"  # Envoy's default codec_type
    router = config.servers[0].routers[0]
    assert router.virtual_hosts[0].domains == ("*",)
    assert first_route(config).route.cluster_name == "app"
    assert first_route(config).route.timeout == 15.0  # Envoy's default route timeout
    c = config.cluster_manager.clusters[0]
    assert (c.name, c.type, c.lb_type, c.connect_timeout) == ("app", "STATIC", "LB_ROUNDROBIN", 1.0)
    assert c.hosts[0].address == ("127.0.0.1", 8080)


def test_listener_addresses_ipv6_names_and_bind_to_port_in_camel_case():
    ipv6 = listener(name="", address={"socketAddress": {"address": "::1", "portValue": "10001"}}, bindToPort=False)
    config = load(bootstrap(ipv6))
    lst = first_listener(config)
    assert lst.address == ("::1", 10001) and lst.name == "::1:10001" and lst.bind_port is False


def test_unknown_fields_are_errors_with_the_envoy_path_and_a_suggestion():
    raw = bootstrap(listener(filter_chain=[]))
    raw["static_resources"]["clusters"][0]["lb_polcy"] = "RANDOM"
    assert errors(raw) == [
        f"{L0}.filter_chain: unknown field 'filter_chain' of envoy.config.listener.v3.Listener "
        "(did you mean 'filter_chains'?)",
        f"{C0}.lb_polcy: unknown field 'lb_polcy' of envoy.config.cluster.v3.Cluster (did you mean 'lb_policy'?)",
    ]


def test_a_field_set_twice_in_both_spellings_is_an_error():
    raw = bootstrap(listener(bind_to_port=True, bindToPort=False))
    assert errors(raw) == [f"{L0}.bindToPort: 'bind_to_port' is set twice (as 'bind_to_port' and 'bindToPort')"]


def test_envoy_fields_pymosn_ignores_are_warnings_with_their_paths():
    raw = bootstrap(listener(drain_type="MODIFY_ONLY", socket_options=[{"level": 1, "name": 2, "int_value": 1}]),
                    node={"id": "sidecar", "cluster": "c"}, tracing={"http": {"name": "envoy.tracers.zipkin"}})
    assert sorted(warnings(raw)) == sorted([
        "$.tracing: not implemented by pymosn yet; ignored",
        f"{L0}.drain_type: not implemented by pymosn yet; ignored",
        f"{L0}.socket_options: not implemented by pymosn yet; ignored",
    ])


def test_filter_chain_match_and_default_filter_chain():
    match = {"destination_port": 443, "prefix_ranges": [{"address_prefix": "10.0.0.0", "prefix_len": 8}],
             "server_names": ["*.example.com"], "transport_protocol": "tls", "application_protocols": ["h2"],
             "source_prefix_ranges": [{"address_prefix": "192.168.0.0", "prefix_len": 16}], "source_ports": [1234]}
    lst = listener(listener_filters=[{"name": "envoy.filters.listener.tls_inspector", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector"}}])
    lst["filter_chains"][0]["filter_chain_match"] = match
    lst["default_filter_chain"] = {"filters": [tcp(cluster="app")]}
    config = load(bootstrap(lst))
    got = first_listener(config)
    assert got.filter_chains[0].filter_chain_match == model.FilterChainMatch(
        destination_port=443, prefix_ranges=(model.CidrPrefix(address_prefix="10.0.0.0", prefix_len=8),),
        server_names=("*.example.com",), transport_protocol="tls", application_protocols=("h2",),
        source_prefix_ranges=(model.CidrPrefix(address_prefix="192.168.0.0", prefix_len=16),), source_ports=(1234,))
    assert got.default_filter_chain.filters[0].type == "tcp_proxy"


def test_filter_chain_match_errors_name_envoy_paths():
    lst = listener()
    lst["filter_chains"][0]["filter_chain_match"] = {"destination_port": 70000, "transport_protocol": "quic",
                                                      "direct_source_prefix_ranges": [{"address_prefix": "1.2.3.4"}]}
    m = f"{L0}.filter_chains[0].filter_chain_match"
    assert sorted(errors(bootstrap(lst))) == sorted([
        f"{m}.direct_source_prefix_ranges: not implemented by pymosn yet; ignoring it would make this match more "
        "than it asks for",
        f"{m}.destination_port: port must be 1..65535, got 70000",
        f"{m}.transport_protocol: unknown value 'quic'; known: raw_buffer, tls",
    ])


@pytest.mark.parametrize(("fields", "mode", "transparent"), [
    ({"listener_filters": [{"name": "envoy.filters.listener.original_dst"}]}, "redirect", False),
    ({"use_original_dst": True}, "redirect", False),
    ({"listener_filters": [{"name": "envoy.filters.listener.original_dst", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.listener.original_dst.v3.OriginalDst"}}],
      "transparent": True}, "tproxy", True),
])
def test_original_dst_listener_filter_and_use_original_dst(fields, mode, transparent):
    lst = first_listener(load(bootstrap(listener(**fields))))
    assert (lst.use_original_dst, lst.transparent) == (mode, transparent)


def test_listener_filters_pymosn_lacks():
    raw = bootstrap(listener(listener_filters=[
        {"name": "envoy.filters.listener.http_inspector"},
        {"name": "envoy.filters.listener.proxy_protocol"},
    ]))
    assert errors(raw) == [f"{L0}.listener_filters[1]: listener filter 'envoy.filters.listener.proxy_protocol' is not "
                           "implemented by pymosn yet (it may change what the connection's bytes mean); known: "
                           "envoy.filters.listener.original_dst, envoy.filters.listener.tls_inspector"]
    raw["static_resources"]["listeners"][0]["listener_filters"].pop()
    assert warnings(raw) == [f"{L0}.listener_filters[0]: listener filter 'envoy.filters.listener.http_inspector' is "
                             "not implemented by pymosn yet; ignored"]


def test_listener_limits_and_timeouts():
    lst = first_listener(load(bootstrap(listener(per_connection_buffer_limit_bytes=65536, tcp_backlog_size=128,
                                                 listener_filters_timeout="2.5s",
                                                 continue_on_listener_filters_timeout=False))))
    assert (lst.per_connection_buffer_limit_bytes, lst.backlog) == (65536, 128)
    assert (lst.listener_filters_timeout, lst.continue_on_listener_filters_timeout) == (2.5, False)
    assert lst.connection_idle_timeout == 3600.0  # the HTTP connection manager's default idle timeout


# --- TLS ---------------------------------------------------------------------------------------


@pytest.fixture
def pem(tmp_path):
    from tests.support.certs import Pki

    pki = Pki(tmp_path)
    cert, key = pki.server("localhost")
    return pki.ca_path, cert, key


def test_downstream_tls_context(pem):
    ca, cert, key = pem
    lst = listener()
    lst["filter_chains"][0]["transport_socket_connect_timeout"] = "3s"
    lst["filter_chains"][0]["transport_socket"] = tls_socket(
        require_client_certificate=True,
        common_tls_context={
            "tls_certificates": [{"certificate_chain": {"filename": cert},
                                  "private_key": {"inline_string": open(key).read()}}],
            "validation_context": {"trusted_ca": {"filename": ca}},
            "alpn_protocols": ["h2", "http/1.1"],
            "tls_params": {"tls_minimum_protocol_version": "TLSv1_2", "tls_maximum_protocol_version": "TLSv1_3",
                           "cipher_suites": ["[ECDHE-ECDSA-AES128-GCM-SHA256|ECDHE-RSA-AES128-GCM-SHA256]",
                                             "ECDHE-RSA-AES256-GCM-SHA384"]}})
    tls = first_listener(load(bootstrap(lst))).filter_chains[0].tls_context
    assert tls.status and tls.cert_chain == cert and tls.private_key.startswith("-----BEGIN")
    assert (tls.ca_cert, tls.require_client_cert, tls.verify_client) == (ca, True, True)
    assert (tls.alpn, tls.min_version, tls.max_version) == ("h2,http/1.1", "TLSv1_2", "TLSv1_3")
    assert tls.cipher_suites == "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384"
    assert tls.handshake_timeout == 3.0


def test_several_certificates_are_picked_by_sni_and_a_ca_alone_warns(pem):
    ca, cert, key = pem
    pair = {"certificate_chain": {"filename": cert}, "private_key": {"filename": key}}
    lst = listener()
    lst["filter_chains"][0]["transport_socket"] = tls_socket(common_tls_context={
        "tls_certificates": [pair, pair], "validation_context": {"trusted_ca": {"filename": ca}}})
    result = load_config_dict(bootstrap(lst))
    chain = first_listener(result.config).filter_chains[0]
    assert chain.tls_context is None and len(chain.tls_context_set) == 2
    assert [str(w).split(":")[0] for w in result.warnings] == [
        f"{L0}.filter_chains[0].transport_socket.typed_config.common_tls_context.validation_context.trusted_ca"]


def test_tls_errors_name_envoy_paths(pem):
    ca, cert, _ = pem
    ts = f"{L0}.filter_chains[0].transport_socket"
    lst = listener()
    lst["filter_chains"][0]["transport_socket"] = tls_socket(require_client_certificate=True, common_tls_context={
        "tls_certificates": [{"certificate_chain": {"filename": cert}, "private_key": {"filename": "/nope.key"}}],
        "tls_params": {"tls_minimum_protocol_version": "TLSv9"},
        "validation_context": {"match_subject_alt_names": [{"exact": "a"}]}})
    assert sorted(errors(bootstrap(lst))) == sorted([
        f"{ts}.typed_config.common_tls_context.tls_params.tls_minimum_protocol_version: unknown value 'TLSv9'; "
        "known: TLS_AUTO, TLSv1_0, TLSv1_1, TLSv1_2, TLSv1_3",
        f"{ts}.typed_config.common_tls_context.validation_context.match_subject_alt_names: not implemented by "
        "pymosn yet; ignoring it would accept peer certificates it would refuse",
        f"{ts}.typed_config.require_client_certificate: needs common_tls_context.validation_context.trusted_ca to "
        "verify client certificates against",
        f"{ts}.typed_config.common_tls_context.tls_certificates[0].private_key: not inline PEM and not a readable "
        "file: '/nope.key'",
    ])
    lst["filter_chains"][0]["transport_socket"] = {"name": "envoy.transport_sockets.alts"}
    assert errors(bootstrap(lst)) == [f"{ts}.name: transport socket 'envoy.transport_sockets.alts' is not "
                                      "implemented by pymosn yet; known: envoy.transport_sockets.raw_buffer, "
                                      "envoy.transport_sockets.tls"]


# --- HTTP connection manager -------------------------------------------------------------------


@pytest.mark.parametrize(("codec", "protocol"), [("AUTO", "Auto"), ("HTTP1", "Http1"), (1, "Http1")])
def test_codec_type(codec, protocol):
    assert proxy(load(bootstrap(listener(hcm(codec_type=codec))))).downstream_protocol == protocol


def test_codec_type_http2_maps_to_http2():
    raw = bootstrap(listener(hcm(codec_type="HTTP2")))
    try:
        assert proxy(load(raw)).downstream_protocol == "Http2"
    except ConfigError as error:  # before HTTP/2 lands, pymosn refuses it at the Envoy path
        assert [str(i) for i in error.issues][0].startswith(f"{HC}.codec_type: downstream protocol 'Http2' is not "
                                                            "implemented by pymosn yet")


def test_unknown_codec_type_and_http3_name_the_path():
    assert errors(bootstrap(listener(hcm(codec_type="SPDY")))) == [
        f"{HC}.codec_type: unknown value 'SPDY'; known: AUTO, HTTP1, HTTP2, HTTP3"]
    assert errors(bootstrap(listener(hcm(codec_type="HTTP3")))) == [
        f"{HC}.codec_type: HTTP3 (HTTP/3 over QUIC) is not implemented by pymosn yet; known: AUTO, HTTP1, HTTP2"]


def test_manager_limits_and_client_cert_details():
    raw = bootstrap(listener(hcm(max_request_headers_kb=32, stream_idle_timeout="30s",
                                 forward_client_cert_details="SANITIZE_SET",
                                 set_current_client_cert_details={"subject": True, "uri": True},
                                 common_http_protocol_options={"idle_timeout": "120s"})))
    config = load(raw)
    p = proxy(config)
    assert (p.max_request_headers_kb, p.stream_idle_timeout) == (32, 30.0)
    assert p.forward_client_cert_details == "SANITIZE_SET"
    assert msgspec.to_builtins(p.set_current_client_cert_details) == {"subject": True, "cert": False, "chain": False, "dns": False,
                                                    "uri": True}
    assert first_listener(config).connection_idle_timeout == 120.0


def test_client_cert_details_warning_names_the_envoy_path():
    raw = bootstrap(listener(hcm(set_current_client_cert_details={"uri": True})))
    assert warnings(raw) == [f"{HC}.set_current_client_cert_details: has an effect only with "
                             "forward_client_cert_details APPEND_FORWARD or SANITIZE_SET (as in Envoy)"]


def test_http_filters():
    cors = {"name": "envoy.filters.http.cors", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors"}}
    assert warnings(bootstrap(listener(hcm(http_filters=[cors, ROUTER])))) == [
        f"{HC}.http_filters[0]: http filter 'envoy.filters.http.cors' is not implemented by pymosn yet; ignored"]
    jwt = {"name": "envoy.filters.http.jwt_authn", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication"}}
    ext_authz = {"name": "authz", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz"}}
    assert errors(bootstrap(listener(hcm(http_filters=[jwt, ext_authz, ROUTER])))) == [
        f"{HC}.http_filters[0]: http filter 'envoy.filters.http.jwt_authn' is not implemented by pymosn yet; refusing "
        "to run without what it enforces",
        f"{HC}.http_filters[1]: http filter 'envoy.filters.http.ext_authz' (named 'authz') is not implemented by "
        "pymosn yet; refusing to run without what it enforces",
    ]
    mystery = {"name": "acme.filter", "typed_config": {"@type": "type.googleapis.com/acme.Filter"}}
    assert errors(bootstrap(listener(hcm(http_filters=[mystery, ROUTER])))) == [
        f"{HC}.http_filters[0]: unknown http filter 'acme.filter' (type acme.Filter); pymosn runs "
        f"{', '.join(getattr(f, 'name', None) or f'pymosn.http_filters.{kind}' for kind, f in HTTP_FILTERS.factories().items())}"
        " and envoy.filters.http.router (mark a "
        "filter is_optional to have it skipped)"]
    assert warnings(bootstrap(listener(hcm(http_filters=[{**mystery, "is_optional": True}, ROUTER])))) == [
        f"{HC}.http_filters[0]: http filter 'acme.filter' (type acme.Filter) is not implemented by pymosn yet; "
        "ignored"]
    assert errors(bootstrap(listener(hcm(http_filters=[ROUTER, cors])))) == [
        f"{HC}.http_filters[0]: envoy.filters.http.router ends the chain: it must be the last http filter",
        f"{HC}.http_filters: the last http filter must be envoy.filters.http.router"]


def test_access_logs_file_stdout_stderr(tmp_path):
    log_path = str(tmp_path / "access.log")
    file_log = {"name": "envoy.access_loggers.file", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog", "path": log_path,
        "log_format": {"text_format_source": {"inline_string": "%REQ(:METHOD)% %RESPONSE_CODE%\n"}}}}
    stderr = {"name": "envoy.access_loggers.stderr", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StderrAccessLog",
        "log_format": {"text_format": "%PROTOCOL%\n"}}}
    config = load(bootstrap(listener(hcm(access_log=[file_log, stderr, {"name": "envoy.access_loggers.stdout"}]))))
    assert first_listener(config).access_logs == (
        model.AccessLog(log_path=log_path, log_format="%REQ(:METHOD)% %RESPONSE_CODE%\n"),
        model.AccessLog(log_path="stderr", log_format="%PROTOCOL%\n"),
        model.AccessLog(log_path="stdout"),
    )


# --- routes ------------------------------------------------------------------------------------


def test_route_matches():
    raw = bootstrap(listener(hcm(routes(
        {"match": {"path": "/exact", "case_sensitive": False}, "route": {"cluster": "app"}},
        {"match": {"safe_regex": {"google_re2": {}, "regex": "/r/[0-9]+"}}, "route": {"cluster": "app"}},
        {"match": {"prefix": "/h", "headers": [
            {"name": "x-exact", "exact_match": "a"},
            {"name": "x-string", "string_match": {"prefix": "v1.", "ignore_case": True}},
            {"name": "x-regex", "safe_regex_match": {"regex": "[a-z]+"}},
            {"name": "x-suffix", "string_match": {"suffix": ".io"}},
            {"name": "x-present", "present_match": True},
            {"name": "x-absent", "present_match": True, "invert_match": True},
            {"name": "x-empty", "string_match": {"exact": ""}},
        ], "query_parameters": [
            {"name": "debug", "present_match": True},
            {"name": "v", "string_match": {"exact": "2"}},
            {"name": "tag", "string_match": {"contains": "x"}},
        ]}, "route": {"cluster": "app"}},
    ))))
    hosts = load(raw).servers[0].routers[0].virtual_hosts[0].routers
    assert hosts[0].match == model.RouteMatch(path="/exact", case_sensitive=False)
    assert hosts[1].match.regex == "/r/[0-9]+"
    m = hosts[2].match
    assert m.prefix == "/h"
    assert m.headers == (
        model.HeaderMatcher(name="x-exact", value="a"),
        model.HeaderMatcher(name="x-string", value=r"(?is)v1\..*", regex=True),
        model.HeaderMatcher(name="x-regex", value="[a-z]+", regex=True),
        model.HeaderMatcher(name="x-suffix", value=r"(?s).*\.io", regex=True),
        model.HeaderMatcher(name="x-present", present_match=True),
        model.HeaderMatcher(name="x-absent", present_match=True, invert_match=True),
        model.HeaderMatcher(name="x-empty", value="", regex=True),
    )
    assert m.query_parameters == (
        model.QueryParameterMatcher(name="debug", present_match=True),
        model.QueryParameterMatcher(name="v", value="2"),
        model.QueryParameterMatcher(name="tag", value="(?s).*x.*", regex=True),
    )


def test_route_actions():
    retry = {"retry_on": "gateway-error,connect-failure", "num_retries": 3, "per_try_timeout": "0.5s"}
    raw = bootstrap(listener(hcm(routes(
        {"match": {"prefix": "/a"}, "route": {"cluster": "app", "timeout": "0s", "prefix_rewrite": "/",
                                              "host_rewrite_literal": "b.example", "retry_policy": retry}},
        {"match": {"prefix": "/w"}, "route": {"weighted_clusters": {"clusters": [
            {"name": "app", "weight": 3}, {"name": "app", "weight": 1, "metadata_match": {
                "filter_metadata": {"envoy.lb": {"version": "v2"}}}}]}, "auto_host_rewrite": True}},
        {"match": {"prefix": "/h"}, "route": {"cluster_header": "x-cluster"}},
        {"match": {"prefix": "/d"}, "direct_response": {"status": 403, "body": {"inline_string": "no"}}},
        {"match": {"prefix": "/r"}, "redirect": {"https_redirect": True, "host_redirect": "x.example",
                                                 "path_redirect": "/new", "response_code": "PERMANENT_REDIRECT"}},
    ))))
    r = load(raw).servers[0].routers[0].virtual_hosts[0].routers
    a = r[0].route
    assert (a.cluster_name, a.timeout, a.prefix_rewrite, a.host_rewrite) == ("app", 0.0, "/", "b.example")
    assert a.retry_policy == model.RetryPolicy(retry_on=True, num_retries=3, retry_timeout=0.5,
                                               status_codes=(502, 503, 504))
    w = r[1].route
    assert [(x.cluster.name, x.cluster.weight, x.cluster.metadata_match) for x in w.weighted_clusters] == [
        ("app", 3, None), ("app", 1, {"version": "v2"})]
    assert w.auto_host_rewrite and w.timeout == 15.0
    assert r[2].route.cluster_header == "x-cluster"
    assert r[3].direct_response == model.DirectResponse(status=403, body="no")
    assert r[4].redirect == model.Redirect(response_code=308, scheme_redirect="https", host_redirect="x.example",
                                           path_redirect="/new")


def test_virtual_host_retry_policy_is_the_default_of_its_routes():
    rc = routes({"match": {"prefix": "/"}, "route": {"cluster": "app"}})
    rc["virtual_hosts"][0]["retry_policy"] = {"retry_on": "5xx"}
    policy = first_route(load(bootstrap(listener(hcm(rc))))).route.retry_policy
    assert policy == model.RetryPolicy(retry_on=True, num_retries=1)


def test_header_mutations_at_every_level_append_by_default():
    add = [{"header": {"key": "x-a", "value": "1"}}, {"header": {"key": "x-b", "value": "2"}, "append": False},
           {"header": {"key": "x-c", "value": "3"}, "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"}]
    mutations = {"request_headers_to_add": add, "request_headers_to_remove": ["x-r"],
                 "response_headers_to_add": add[:1], "response_headers_to_remove": ["server"]}
    rc = routes({"match": {"prefix": "/"}, "route": {"cluster": "app"}, **mutations})
    rc.update(mutations)
    rc["virtual_hosts"][0].update(mutations)
    config = load(bootstrap(listener(hcm(rc))))
    expected = (model.HeaderValueOption(header=model.HeaderValue(key="x-a", value="1"), append=True),
                model.HeaderValueOption(header=model.HeaderValue(key="x-b", value="2"), append=False),
                model.HeaderValueOption(header=model.HeaderValue(key="x-c", value="3"), append=False))
    router = config.servers[0].routers[0]
    for level in (router, router.virtual_hosts[0], first_route(config)):
        assert level.request_headers_to_add == expected and level.request_headers_to_remove == ("x-r",)
        assert level.response_headers_to_add == expected[:1] and level.response_headers_to_remove == ("server",)


def test_route_errors_name_envoy_paths():
    raw = bootstrap(listener(hcm(routes(
        {"match": {"prefix": "/"}, "route": {"cluster": "missing"}},
        {"match": {"safe_regex": {"regex": "("}}, "route": {"cluster": "app"}},
        {"match": {"prefix": "/"}, "direct_response": {"status": 999}},
        {"match": {"prefix": "/", "runtime_fraction": {"default_value": {"numerator": 1}}}, "route": {"cluster": "app"}},
        {"match": {}, "route": {"cluster": "app"}},
    ))))
    vh = f"{RC}.virtual_hosts[0]"
    assert sorted(errors(raw)) == sorted([
        f"{vh}.routes[0].route.cluster: unknown cluster 'missing'; known: app",
        f"{vh}.routes[1].match.safe_regex: invalid regex '(': missing ), unterminated subpattern at position 0",
        f"{vh}.routes[2].direct_response.status: HTTP status must be 100..599, got 999",
        f"{vh}.routes[3].match.runtime_fraction: not implemented by pymosn yet; ignoring it would make this match "
        "more than it asks for",
        f"{vh}.routes[4].match: a route match needs one of prefix, path, safe_regex, path_separated_prefix",
    ])


def test_route_configs_need_no_unique_names_but_get_them():
    raw = bootstrap(listener(), listener(name="l1", address={"socket_address": {"address": "127.0.0.1",
                                                                                  "port_value": 10001}}))
    config = load(raw)
    assert [r.router_config_name for r in config.servers[0].routers] == ["local_route", "local_route#2"]
    assert config.servers[0].listeners[1].filter_chains[0].filters[0].config.router_config_name == "local_route#2"


def test_rds_is_refused():
    manager = hcm()
    del manager["typed_config"]["route_config"]
    manager["typed_config"]["rds"] = {"route_config_name": "r", "config_source": {"ads": {}}}
    assert errors(bootstrap(listener(manager))) == [
        f"{HC}.rds: not implemented by pymosn yet; ignoring it would serve without the routes it discovers"]


# --- TCP and Dubbo proxies -----------------------------------------------------------------------


def test_tcp_proxy():
    raw = bootstrap(listener(tcp(cluster="app", idle_timeout="10s", max_connect_attempts=3)),
                    listener(tcp(weighted_clusters={"clusters": [{"name": "app", "weight": 2},
                                                                 {"name": "b", "weight": 1}]}),
                             name="l1", address={"socket_address": {"address": "127.0.0.1", "port_value": 10001}}),
                    clusters=[cluster(), cluster("b", 8081)])
    config = load(raw)
    first, second = (lst.filter_chains[0].filters[0] for lst in config.servers[0].listeners)
    assert first.type == "tcp_proxy"
    assert first.config == model.TcpProxyConfig(stat_prefix="tcp", cluster="app", idle_timeout=10.0,
                                                max_connect_attempts=3)
    assert second.config.weighted_clusters == model.TcpWeightedClusters(
        clusters=(model.TcpClusterWeight(name="app", weight=2), model.TcpClusterWeight(name="b", weight=1)))
    assert config.servers[0].listeners[0].connection_idle_timeout == 0.0  # only the proxy's own idle timeout


def test_tcp_proxy_errors_name_envoy_paths():
    raw = bootstrap(listener(tcp(cluster="nope", max_connect_attempts=0, tunneling_config={"hostname": "h"})))
    assert sorted(errors(raw)) == sorted([
        f"{F0}.typed_config.tunneling_config: not implemented by pymosn yet; ignoring it would send the raw stream "
        "where it asks for an HTTP tunnel",
        f"{F0}.typed_config.max_connect_attempts: must be >= 1, got 0",
        f"{F0}.typed_config.cluster: unknown cluster 'nope'; known: app",
    ])


def test_dubbo_proxy_routes_on_interface_group_version_and_method():
    dubbo = {"name": "envoy.filters.network.dubbo_proxy", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.network.dubbo_proxy.v3.DubboProxy",
        "stat_prefix": "dubbo", "protocol_type": "Dubbo", "serialization_type": "Hessian2",
        "route_config": [
            {"name": "echo", "interface": "com.acme.Echo", "group": "blue", "routes": [
                {"match": {"method": {"name": {"exact": "echo"}}}, "route": {"cluster": "b"}}]},
            {"name": "any", "interface": "*", "routes": [
                {"match": {"method": {"name": {"prefix": "get"}},
                           "headers": [{"name": "tenant", "exact_match": "t1"}]},
                 "route": {"cluster": "app"}}]},
        ],
        "dubbo_filters": [{"name": "envoy.filters.dubbo.router"}]}}
    config = load(bootstrap(listener(dubbo), clusters=[cluster(), cluster("b", 8081)]))
    p = proxy(config)
    assert (p.downstream_protocol, p.upstream_protocol, p.router_config_name) == ("dubbo", "dubbo", "echo")
    first, second = config.servers[0].routers[0].virtual_hosts[0].routers
    assert first.match.headers == (model.HeaderMatcher(name="interface", value="com.acme.Echo"),
                                   model.HeaderMatcher(name="group", value="blue"),
                                   model.HeaderMatcher(name="method", value="echo"))
    assert first.route.cluster_name == "b"
    assert second.match.headers == (model.HeaderMatcher(name="method", value="(?s)get.*", regex=True),
                                    model.HeaderMatcher(name="tenant", value="t1"))


def test_network_filters_pymosn_lacks():
    echo = {"name": "envoy.filters.network.echo"}
    sni = {"name": "envoy.filters.network.sni_cluster"}
    mysql = {"name": "envoy.filters.network.mysql_proxy", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.network.mysql_proxy.v3.MySQLProxy"}}
    chain = f"{L0}.filter_chains[0].filters"
    assert errors(bootstrap(listener(echo, sni, mysql, tcp(cluster="app")))) == [
        f"{chain}[0]: network filter 'envoy.filters.network.echo' is not implemented by pymosn yet; pymosn runs "
        "envoy.filters.network.http_connection_manager, envoy.filters.network.tcp_proxy, "
        "envoy.filters.network.dubbo_proxy, x_proxy, envoy.filters.network.rbac",
        f"{chain}[1]: network filter 'envoy.filters.network.sni_cluster' is not implemented by pymosn yet; ignoring "
        "it would send connections where it does not",
    ]
    assert warnings(bootstrap(listener(mysql, tcp(cluster="app")))) == [
        f"{chain}[0]: network filter 'envoy.filters.network.mysql_proxy' is not implemented by pymosn yet; ignored"]
    assert errors(bootstrap(listener(tcp(cluster="app"), hcm()))) == [
        f"{F0}: envoy.filters.network.tcp_proxy ends the chain: it must be the last network filter"]


def test_typed_struct_carries_the_type_url():
    manager = hcm()
    config = manager["typed_config"]
    del config["@type"]
    manager["typed_config"] = {"@type": "type.googleapis.com/xds.type.v3.TypedStruct", "type_url": HCM_TYPE,
                               "value": config}
    assert proxy(load(bootstrap(listener(manager)))).router_config_name == "local_route"


def test_typed_config_needs_its_type():
    manager = hcm()
    del manager["typed_config"]["@type"]
    assert errors(bootstrap(listener(manager))) == [
        f"{HC}: needs \"@type\" naming its type, e.g. type.googleapis.com/"
        "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"]


# --- clusters ----------------------------------------------------------------------------------


def test_cluster_types():
    dns = cluster("dns", type="STRICT_DNS", load_assignment={"endpoints": [{"lb_endpoints": [{"endpoint": {
        "address": {"socket_address": {"address": "localhost", "port_value": 8080}}}}]}]})
    odst = {"name": "odst", "type": "ORIGINAL_DST", "lb_policy": "CLUSTER_PROVIDED",
            "original_dst_lb_config": {"use_http_header": True}}
    result = load_config_dict(bootstrap(clusters=[cluster(), dns, odst]))
    app, got_dns, got_odst = result.config.cluster_manager.clusters
    assert (app.type, got_dns.type, got_dns.hosts[0].address) == ("STATIC", "STATIC", ("localhost", 8080))
    assert (got_odst.type, got_odst.lb_type) == ("ORIGINAL_DST", "LB_ORIGINAL_DST")
    assert got_odst.original_dst_lb_config == model.OriginalDstLbConfig(use_header=True)
    assert [str(w) for w in result.warnings] == [
        "$.static_resources.clusters[1].type: pymosn resolves 'localhost' on each new connection and uses the first "
        "address, rather than balancing over every address the name has"]


def test_cluster_type_and_lb_policy_errors_list_known_values():
    raw = bootstrap(clusters=[cluster(type="STRICT_DNZ"), cluster("b", type="EDS"), cluster("c", lb_policy="MAGLEV"),
                              cluster("d", lb_policy="ROUND_ROBBIN"), cluster("e", type="ORIGINAL_DST",
                                                                              load_assignment=None)])
    c = "$.static_resources.clusters"
    assert sorted(errors(raw)) == sorted([
        f"{c}[0].type: unknown value 'STRICT_DNZ'; known: EDS, LOGICAL_DNS, ORIGINAL_DST, STATIC, STRICT_DNS",
        f"{c}[1].type: cluster type 'EDS' is not implemented by pymosn yet; known: STATIC, STRICT_DNS, LOGICAL_DNS, "
        "ORIGINAL_DST",
        f"{c}[2].lb_policy: lb_policy 'MAGLEV' is not implemented by pymosn yet; known: ROUND_ROBIN, RANDOM, "
        "CLUSTER_PROVIDED",
        f"{c}[3].lb_policy: unknown value 'ROUND_ROBBIN'; known: CLUSTER_PROVIDED, LEAST_REQUEST, "
        "LOAD_BALANCING_POLICY_CONFIG, MAGLEV, RANDOM, RING_HASH, ROUND_ROBIN",
        f"{c}[4].lb_policy: an ORIGINAL_DST cluster needs lb_policy CLUSTER_PROVIDED, got ROUND_ROBIN",
    ])


def test_static_clusters_take_ip_addresses():
    raw = bootstrap(clusters=[cluster(load_assignment={"endpoints": [{"lb_endpoints": [{"endpoint": {
        "address": {"socket_address": {"address": "backend", "port_value": 80}}}}]}]})])
    assert errors(raw) == [f"{C0}.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address: a "
                           "STATIC cluster takes IP addresses, got 'backend'; use STRICT_DNS or LOGICAL_DNS for names"]


def test_lb_policies_weights_and_metadata():
    weighted = cluster("w", 8081, 8082)
    lb = weighted["load_assignment"]["endpoints"][0]["lb_endpoints"]
    lb[0].update(load_balancing_weight=3, metadata={"filter_metadata": {"envoy.lb": {"version": "v1"}}})
    config = load(bootstrap(clusters=[cluster(lb_policy="RANDOM"), weighted, cluster("rr", 8083, 8084)]))
    random, w, rr = config.cluster_manager.clusters
    assert random.lb_type == "LB_RANDOM"
    assert w.lb_type == "LB_WEIGHTED_ROUNDROBIN"  # Envoy's round robin weighs hosts
    assert [(h.weight, h.metadata) for h in w.hosts] == [(3, {"version": "v1"}), (1, {})]
    assert rr.lb_type == "LB_ROUNDROBIN"


def test_cluster_defaults_are_envoys():
    c = load(bootstrap(clusters=[{**cluster(), "connect_timeout": None}])).cluster_manager.clusters[0]
    assert (c.connect_timeout, c.idle_timeout, c.max_request_per_conn, c.conn_buffer_limit_bytes) == (
        5.0, 3600.0, 0, 1024 * 1024)
    assert c.circuit_breakers.thresholds == (model.Thresholds(max_connections=1024, max_pending_requests=1024,
                                                              max_requests=1024, max_retries=3),)


def test_circuit_breakers_and_connection_limits():
    c = load(bootstrap(clusters=[cluster(
        circuit_breakers={"thresholds": [{"max_connections": 10, "max_requests": "20"},
                                         {"priority": "HIGH", "max_connections": 99}]},
        max_requests_per_connection=100, common_http_protocol_options={"idle_timeout": "30s"},
        per_connection_buffer_limit_bytes=4096)])).cluster_manager.clusters[0]
    assert c.circuit_breakers.thresholds == (model.Thresholds(max_connections=10, max_pending_requests=1024,
                                                              max_requests=20, max_retries=3),)
    assert (c.max_request_per_conn, c.idle_timeout, c.conn_buffer_limit_bytes) == (100, 30.0, 4096)


def test_health_checks():
    tcp_check = {"timeout": "1s", "interval": "5s", "unhealthy_threshold": 2, "healthy_threshold": 1,
                 "tcp_health_check": {}}
    http_check = {"timeout": "0.5s", "interval": "2s", "interval_jitter": "0.1s", "unhealthy_threshold": 3,
                  "healthy_threshold": 2, "http_health_check": {
                      "path": "/healthz", "host": "app.local", "expected_statuses": [{"start": 200, "end": 300}]}}
    config = load(bootstrap(clusters=[cluster(health_checks=[tcp_check]), cluster("b", health_checks=[http_check])]))
    a, b = (c.health_check for c in config.cluster_manager.clusters)
    assert (a.protocol, a.timeout, a.interval, a.unhealthy_threshold, a.healthy_threshold) == ("tcp", 1.0, 5.0, 2, 1)
    assert (b.protocol, b.timeout, b.interval, b.interval_jitter) == ("Http1", 0.5, 2.0, 0.1)
    assert b.check_config == {"http_check_config": {"path": "/healthz", "domain": "app.local",
                                                    "codes": [{"start": 200, "end": 300}]}}


def test_health_check_errors_name_envoy_paths():
    raw = bootstrap(clusters=[cluster(health_checks=[{"interval": "-1s", "tcp_health_check": {}}])])
    h = f"{C0}.health_checks[0]"
    assert sorted(errors(raw)) == sorted([
        f"{h}.interval: invalid duration '-1s': must not be negative",
        f"{h}.timeout: missing: required (as in Envoy)",
        f"{h}.interval: missing: required (as in Envoy)",
        f"{h}.healthy_threshold: missing: required (as in Envoy)",
        f"{h}.unhealthy_threshold: missing: required (as in Envoy)",
    ])


def test_upstream_tls_context(pem):
    ca, _, _ = pem
    socket = {"name": "envoy.transport_sockets.tls", "typed_config": {
        "@type": TLS_UP, "sni": "app.example", "common_tls_context": {
            "validation_context": {"trusted_ca": {"filename": ca}}, "alpn_protocols": ["h2"]}}}
    plain = {"name": "envoy.transport_sockets.tls", "typed_config": {"@type": TLS_UP}}
    config = load(bootstrap(clusters=[cluster(transport_socket=socket), cluster("b", transport_socket=plain)]))
    verified, unverified = (c.tls_context for c in config.cluster_manager.clusters)
    assert (verified.status, verified.server_name, verified.ca_cert, verified.alpn) == (True, "app.example", ca, "h2")
    assert not verified.insecure_skip
    assert unverified.insecure_skip  # Envoy verifies upstreams only against a configured CA


@pytest.mark.parametrize(("fields", "protocol"), [
    ({}, "Http1"),
    ({"typed_extension_protocol_options": {HPO: {"@type": f"type.googleapis.com/{HPO}", "explicit_http_config": {
        "http2_protocol_options": {}}}}}, "Http2"),
    ({"typed_extension_protocol_options": {HPO: {"@type": f"type.googleapis.com/{HPO}", "explicit_http_config": {
        "http_protocol_options": {}}}}}, "Http1"),
    ({"http2_protocol_options": {}}, "Http2"),
    ({"typed_extension_protocol_options": {HPO: {"@type": f"type.googleapis.com/{HPO}",
                                                 "use_downstream_protocol_config": {}}}}, ""),
])
def test_upstream_protocol_per_cluster(fields, protocol):
    c = load(bootstrap(clusters=[cluster(**fields)])).cluster_manager.clusters[0]
    assert c.upstream_protocol == protocol



@pytest.mark.parametrize("where", ["explicit", "legacy"])
def test_cluster_http2_settings_reach_the_upstream_client(where):
    h2 = {"max_concurrent_streams": 8, "initial_stream_window_size": 131072, "hpack_table_size": 100}
    fields = ({"http2_protocol_options": h2} if where == "legacy" else {"typed_extension_protocol_options": {HPO: {
        "@type": f"type.googleapis.com/{HPO}", "explicit_http_config": {"http2_protocol_options": h2}}}})
    raw = bootstrap(clusters=[cluster(**fields)])
    options = load(raw).cluster_manager.clusters[0].http2_protocol_options
    assert (options.max_concurrent_streams, options.initial_stream_window_size) == (8, 131072)
    ignored = [w for w in warnings(raw) if "hpack_table_size" in w]
    assert len(ignored) == 1 and "not implemented by pymosn yet" in ignored[0]

def test_protocol_options_set_connection_limits():
    options = {"@type": f"type.googleapis.com/{HPO}", "common_http_protocol_options": {
        "idle_timeout": "15s", "max_requests_per_connection": 7}, "explicit_http_config": {"http_protocol_options": {}}}
    c = load(bootstrap(clusters=[cluster(typed_extension_protocol_options={HPO: options})])).cluster_manager.clusters[0]
    assert (c.idle_timeout, c.max_request_per_conn) == (15.0, 7)


def test_mosn_pipeline_errors_are_reported_at_envoy_paths():
    raw = bootstrap(clusters=[cluster(), cluster()])
    raw["static_resources"]["clusters"][0]["load_assignment"]["endpoints"][0]["lb_endpoints"][0].update(
        load_balancing_weight=0)
    assert errors(raw) == [
        f"{C0}.load_assignment.endpoints[0].lb_endpoints[0].load_balancing_weight: must be >= 1, got 0",
        "$.static_resources.clusters[1]: duplicate cluster name 'app' (first at $.static_resources.clusters[0])",
    ]


def test_durations_and_numbers_in_proto3_json_forms():
    c = load(bootstrap(clusters=[cluster(connect_timeout={"seconds": 1, "nanos": 500000000})])).cluster_manager
    assert c.clusters[0].connect_timeout == 1.5
    assert errors(bootstrap(clusters=[cluster(connect_timeout="soon")])) == [
        f"{C0}.connect_timeout: invalid duration 'soon': expected numbers with units (ns, us, ms, s, m, h), e.g. '1m30s'"]
    assert errors(bootstrap(clusters=[cluster(per_connection_buffer_limit_bytes=True)])) == [
        f"{C0}.per_connection_buffer_limit_bytes: expected int, got bool"]


def test_what_pymosn_ignores_is_a_warning_at_its_path(monkeypatch):
    monkeypatch.setenv("PYMOSN_TEST_BODY", "from env")
    rc = routes(
        {"match": {"prefix": "/"},
         "route": {"cluster": "app", "retry_policy": {"retry_on": "connect-failure,retriable-4xx,bogus"},
                   "hash_policy": [{"header": {"header_name": "x"}}]},
         "typed_per_filter_config": {"envoy.filters.http.cors": {
             "@type": "type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy"}},
         "request_headers_to_add": [{"header": {"key": "x-ip", "value": "%DOWNSTREAM_REMOTE_ADDRESS%"},
                                     "append_action": "ADD_IF_ABSENT"}]},
        {"match": {"prefix": "/b"}, "direct_response": {"status": 200, "body": {
            "environment_variable": "PYMOSN_TEST_BODY"}}},
        {"match": {"prefix": "/c"}, "direct_response": {"status": 200, "body": {"inline_bytes": "aGk="}}},
    )
    rc["virtual_hosts"][0]["cors"] = {"allow_origin_string_match": [{"exact": "*"}]}
    stdout = {"name": "envoy.access_loggers.stdout", "filter": {"status_code_filter": {}}, "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog",
        "log_format": {"json_format": {"a": "%PROTOCOL%"}}}}
    lst = listener(hcm(rc, use_remote_address=True,
                       http2_protocol_options={"max_concurrent_streams": 10, "hpack_table_size": 100},
                       access_log=[{"name": "envoy.access_loggers.open_telemetry"}, stdout]))
    lst["filter_chains"][0]["transport_socket"] = {"name": "envoy.transport_sockets.raw_buffer"}
    c = cluster(circuit_breakers={"thresholds": [{"priority": "HIGH", "max_connections": 9}]},
                health_checks=[{"timeout": "1s", "interval": "1s", "unhealthy_threshold": 1, "healthy_threshold": 1,
                                "grpc_health_check": {}}],
                outlier_detection={"consecutive_5xx": 5})
    c["load_assignment"]["endpoints"][0]["priority"] = 1
    c["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["health_status"] = "UNHEALTHY"
    ca = {"trusted_ca": {"inline_string": "-----BEGIN CERTIFICATE-----"}}
    dns = cluster("b", 8081, type="STRICT_DNS", dns_lookup_family="V4_ONLY", transport_socket={
        "name": "envoy.transport_sockets.tls", "typed_config": {"@type": TLS_UP, "common_tls_context": {
            "validation_context": ca}}})
    result = load_config_dict(bootstrap(lst, clusters=[c, dns]))
    r0 = f"{R0}.route"
    assert [str(w) for w in result.warnings] == [
        f"{HC}.http2_protocol_options.hpack_table_size: not implemented by pymosn yet; ignored",
        f"{r0}.retry_policy.retry_on: retry condition 'retriable-4xx' is not implemented by pymosn yet; ignored",
        f"{r0}.retry_policy.retry_on: unknown retry condition 'bogus'; ignored",
        f"{r0}.retry_policy.retry_on: pymosn retries 5xx answers too whenever it retries failed connections",
        f"{r0}.hash_policy: not implemented by pymosn yet; ignored",
        f"{R0}.request_headers_to_add[0].header.value: pymosn sends header values as written; %...% operators are "
        "not expanded",
        f"{R0}.request_headers_to_add[0].append_action: ADD_IF_ABSENT is not implemented by pymosn yet; the header is "
        "set as with OVERWRITE_IF_EXISTS_OR_ADD",
        f"{R0}.typed_per_filter_config.envoy.filters.http.cors: per-filter config for 'envoy.filters.http.cors' has "
        "type envoy.extensions.filters.http.cors.v3.CorsPolicy, which no pymosn filter takes; ignored",
        f"{RC}.virtual_hosts[0].cors: not implemented by pymosn yet; ignored",
        f"{HC}.access_log[0]: access logger 'envoy.access_loggers.open_telemetry' is not implemented by pymosn yet; "
        "ignored",
        f"{HC}.access_log[1].filter: pymosn logs every request; the filter is ignored",
        f"{HC}.access_log[1].typed_config.log_format.json_format: JSON access logs are not implemented by pymosn "
        "yet; the default text format is used",
        f"{HC}.use_remote_address: not implemented by pymosn yet; ignored",
        f"{C0}.load_assignment.endpoints[0].priority: pymosn has no priority levels: these hosts take traffic with "
        "the others",
        f"{C0}.load_assignment.endpoints[0].lb_endpoints[0].health_status: pymosn does not read a host's given "
        "health: this UNHEALTHY host takes traffic",
        f"{C0}.circuit_breakers.thresholds[0].priority: pymosn has no request priorities; HIGH thresholds are ignored",
        f"{C0}.health_checks[0].grpc_health_check: not implemented by pymosn yet; no health check runs",
        f"{C0}.outlier_detection: not implemented by pymosn yet; ignored",
        "$.static_resources.clusters[1].transport_socket.typed_config: pymosn also checks that the upstream's "
        "certificate names the host it dials (the endpoint's hostname, else its address); set sni to the name the "
        "certificate carries",
    ]
    config = result.config
    assert first_route(config).request_headers_to_add == (model.HeaderValueOption(
        header=model.HeaderValue(key="x-ip", value="%DOWNSTREAM_REMOTE_ADDRESS%"), append=False),)
    others = config.servers[0].routers[0].virtual_hosts[0].routers[1:]
    assert [r.direct_response.body for r in others] == ["from env", "hi"]
    assert proxy(config).http2_protocol_options.max_concurrent_streams == 10
    assert first_listener(config).filter_chains[0].tls_context is None  # raw_buffer is plaintext
    app = config.cluster_manager.clusters[0]
    assert app.health_check is None and app.circuit_breakers.thresholds[0].max_connections == 1024


def rich_bootstrap() -> dict:
    """One bootstrap using most of what the translator reads."""
    rc = routes(
        {"match": {"prefix": "/", "headers": [{"name": "x", "string_match": {"prefix": "a"}}],
                   "query_parameters": [{"name": "q", "string_match": {"exact": "1"}}]},
         "route": {"weighted_clusters": {"clusters": [{"name": "app", "weight": 1, "metadata_match": {
             "filter_metadata": {"envoy.lb": {"a": 1}}}}]}, "retry_policy": {"retry_on": "5xx"}},
         "request_headers_to_add": [{"header": {"key": "a", "value": "b"}, "append": False}]},
        {"match": {"path": "/r"}, "redirect": {"https_redirect": True}},
        {"match": {"safe_regex": {"regex": "/d"}}, "direct_response": {"status": 200, "body": {"inline_string": "x"}}})
    log = {"name": "envoy.access_loggers.file", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog", "path": "/dev/null",
        "log_format": {"text_format_source": {"inline_string": "x"}}}}
    lst = listener(hcm(rc, access_log=[log], set_current_client_cert_details={"uri": True},
                       forward_client_cert_details="SANITIZE_SET", common_http_protocol_options={"idle_timeout": "1s"}))
    lst["filter_chains"][0]["filter_chain_match"] = {"destination_port": 443, "server_names": ["a.b"],
                                                      "prefix_ranges": [{"address_prefix": "10.0.0.0", "prefix_len": 8}]}
    lst["filter_chains"][0]["transport_socket"] = tls_socket(require_client_certificate=True, common_tls_context={
        "tls_certificates": [{"certificate_chain": {"inline_string": "-----BEGIN x"},
                              "private_key": {"inline_string": "-----BEGIN y"}}],
        "tls_params": {"cipher_suites": ["ECDHE-RSA-AES128-GCM-SHA256"], "tls_minimum_protocol_version": "TLSv1_2"},
        "alpn_protocols": ["h2"],
        "validation_context": {"trusted_ca": {"inline_string": "-----BEGIN z"}}})
    lst["listener_filters"] = [{"name": "envoy.filters.listener.original_dst"}]
    dubbo = {"name": "envoy.filters.network.dubbo_proxy", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.network.dubbo_proxy.v3.DubboProxy",
        "route_config": [{"name": "echo", "interface": "com.acme.Echo", "group": "blue", "routes": [
            {"match": {"method": {"name": {"exact": "echo"}}, "headers": [{"name": "a", "exact_match": "b"}]},
             "route": {"cluster": "app"}}]}]}}
    tcp_listener = listener(tcp(cluster="app"), name="t", address={"socket_address": {"address": "::1",
                                                                                        "port_value": 1}})
    dubbo_listener = listener(dubbo, name="d", address={"socket_address": {"address": "::1", "port_value": 2}})
    c = cluster(circuit_breakers={"thresholds": [{"max_connections": 1}]}, health_checks=[
        {"timeout": "1s", "interval": "1s", "unhealthy_threshold": 1, "healthy_threshold": 1,
         "http_health_check": {"path": "/", "expected_statuses": [{"start": 200, "end": 201}]}}],
        typed_extension_protocol_options={HPO: {"@type": f"type.googleapis.com/{HPO}", "explicit_http_config": {
            "http2_protocol_options": {}}, "common_http_protocol_options": {"idle_timeout": "1s"}}},
        transport_socket={"name": "envoy.transport_sockets.tls", "typed_config": {
            "@type": TLS_UP, "sni": "a", "common_tls_context": {"alpn_protocols": ["h2"]}}})
    c["load_assignment"]["endpoints"][0]["lb_endpoints"][0].update(
        load_balancing_weight=2, metadata={"filter_metadata": {"envoy.lb": {"a": 1}}})
    odst = {"name": "o", "type": "ORIGINAL_DST", "lb_policy": "CLUSTER_PROVIDED",
            "original_dst_lb_config": {"use_http_header": True, "http_header_name": "x"}}
    return bootstrap(lst, tcp_listener, dubbo_listener, clusters=[c, odst],
                     admin={"address": {"socket_address": {"address": "127.0.0.1", "port_value": 9901}}})


def _paths(obj, prefix=()):
    if prefix:
        yield prefix
    if isinstance(obj, dict):
        for key, value in obj.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(obj, list):
        for index, value in enumerate(obj):
            yield from _paths(value, (*prefix, index))


def test_the_rich_bootstrap_loads():
    assert len(load(rich_bootstrap()).servers[0].listeners) == 3


def test_a_wrong_value_anywhere_is_reported_never_raised():
    seed = rich_bootstrap()
    for path in _paths(seed):
        for value in (None, True, "x", {"a": 1}, [{}]):
            raw = copy.deepcopy(seed)
            target = raw
            for key in path[:-1]:
                target = target[key]
            target[path[-1]] = value
            try:
                load_config_dict(raw)
            except ConfigError as error:
                # no MOSN path leaks out: every issue is at an Envoy path
                leaks = [i for i in error.issues if "$.servers" in str(i) or "$.cluster_manager" in str(i)]
                assert not leaks, (path, value, leaks)


def test_static_secrets_named_by_tls_contexts(pem):
    ca, cert, key = pem
    secrets = [{"name": "server_cert", "tls_certificate": {"certificate_chain": {"filename": cert},
                                                           "private_key": {"filename": key}}},
               {"name": "client_ca", "validation_context": {"trusted_ca": {"filename": ca}}}]
    lst = listener()
    lst["filter_chains"][0]["transport_socket"] = tls_socket(require_client_certificate=True, common_tls_context={
        "tls_certificate_sds_secret_configs": [{"name": "server_cert"}],
        "validation_context_sds_secret_config": {"name": "client_ca"}})
    raw = bootstrap(lst)
    raw["static_resources"]["secrets"] = secrets
    tls = first_listener(load(raw)).filter_chains[0].tls_context
    assert (tls.cert_chain, tls.private_key, tls.ca_cert, tls.require_client_cert) == (cert, key, ca, True)
    common = lst["filter_chains"][0]["transport_socket"]["typed_config"]["common_tls_context"]
    common["tls_certificate_sds_secret_configs"] = [{"name": "nope"}, {"name": "server_cert", "sds_config": {
        "ads": {}}}]
    where = f"{L0}.filter_chains[0].transport_socket.typed_config.common_tls_context.tls_certificate_sds_secret_configs"
    assert errors(raw) == [
        f"{where}[0].name: unknown secret 'nope'; known: client_ca, server_cert",
        f"{where}[1].sds_config: not implemented by pymosn yet; ignoring it would serve without the secret it fetches",
    ]  # the certificates refused, the context is not also told it has none


def test_older_well_known_names_and_filters_without_typed_config():
    manager = hcm(http_filters=[{"name": "envoy.router"}], access_log=[{"name": "envoy.access_loggers.file",
                                                                        "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog", "path": "/dev/stdout"}}])
    manager["name"] = "envoy.http_connection_manager"
    config = load(bootstrap(listener(manager)))
    assert first_listener(config).filter_chains[0].filters[0].type == "proxy"
    assert first_listener(config).access_logs == (model.AccessLog(log_path="stdout"),)


def test_unix_socket_addresses_are_refused():
    raw = bootstrap(listener(address={"pipe": {"path": "/tmp/envoy.sock"}}))
    assert errors(raw) == [f"{L0}.address.pipe: pipe addresses are not implemented by pymosn yet; known: socket_address"]


def test_auto_config_is_the_protocol_the_server_picks_by_alpn():
    options = {HPO: {"@type": f"type.googleapis.com/{HPO}", "auto_config": {}}}
    socket = {"name": "envoy.transport_sockets.tls", "typed_config": {"@type": TLS_UP}}
    c = load(bootstrap(clusters=[cluster(typed_extension_protocol_options=options, transport_socket=socket)]))
    assert c.cluster_manager.clusters[0].upstream_protocol == "Auto"
    plaintext = warnings(bootstrap(clusters=[cluster(typed_extension_protocol_options=options)]))
    assert [w.split(": ")[0] for w in plaintext] == [f"{C0}.typed_extension_protocol_options['{HPO}'].auto_config"]


def test_envoy_json_and_yaml_files_load(tmp_path):
    import json

    import yaml

    from pymosn.config.loader import load_config_file

    raw = bootstrap()
    (tmp_path / "envoy.json").write_text(json.dumps(raw))
    (tmp_path / "envoy.yaml").write_text(yaml.safe_dump(raw))
    for name in ("envoy.json", "envoy.yaml"):
        assert load_config_file(tmp_path / name).config == load(raw)


def test_json_names_read_as_the_proto_names():
    from pymosn.config.envoy.message import json_name

    def camel(value):
        if isinstance(value, dict):
            return {json_name(k): camel(v) for k, v in value.items()}
        if isinstance(value, list):
            return [camel(v) for v in value]
        return value

    raw = rich_bootstrap()
    assert camel(raw) != raw
    assert load(camel(raw)) == load(raw)


def test_path_separated_prefix_matches_whole_segments():
    import re

    raw = with_route({"match": {"path_separated_prefix": "/api", "case_sensitive": False}, "route": {"cluster": "app"}})
    pattern = re.compile(first_route(load(raw)).match.regex)
    assert [bool(pattern.fullmatch(p)) for p in ("/api", "/API/v1", "/apix", "/")] == [True, True, False, False]
    bad = with_route({"match": {"path_separated_prefix": "/api/"}, "route": {"cluster": "app"}})
    assert errors(bad) == [f"{R0}.match.path_separated_prefix: must start with '/' and not end with one, got '/api/'"]


def test_weight_zero_clusters_are_never_picked():
    split = {"clusters": [{"name": "app", "weight": 100}, {"name": "app", "weight": 0}]}
    route = first_route(load(with_route({"match": {"prefix": "/"}, "route": {"weighted_clusters": split}})))
    assert [(w.cluster.name, w.cluster.weight) for w in route.route.weighted_clusters] == [("app", 100)]
    off = {"clusters": [{"name": "app", "weight": 0}]}
    assert errors(with_route({"match": {"prefix": "/"}, "route": {"weighted_clusters": off}})) == [
        f"{R0}.route.weighted_clusters.clusters[0].weight: must be >= 1, got 0"]
