"""Envoy-format messages say what is wrong in the file's own vocabulary: v2 types and fields are
named as such, filters go by their typed_config type as Envoy identifies them, errors the MOSN
pipeline finds come back at Envoy paths in Envoy's words, and one refused element yields one
error, not its consequences too."""

from __future__ import annotations

import pytest

from pymosn.config.envoy.translator import holds
from tests.support.envoy_bootstraps import (
    C0,
    F0,
    HC,
    HCM_TYPE,
    L0,
    R0,
    bootstrap,
    cluster,
    errors,
    hcm,
    listener,
    load,
    tcp,
    tls_socket,
    typed,
    with_http_filters,
    with_route,
    with_tls,
    without,
)

V2_HCM = "envoy.config.filter.network.http_connection_manager.v2.HttpConnectionManager"
V2_CONFIG = "'config' is the v2 API; v3 uses typed_config with an \"@type\" naming the extension's v3 message"


def test_a_v2_type_url_is_named_with_its_v3_successor_and_nothing_else():
    manager = hcm()
    manager["typed_config"]["@type"] = f"type.googleapis.com/{V2_HCM}"
    assert errors(bootstrap(listener(manager))) == [
        f"{HC}: {V2_HCM} is the v2 API; use {HCM_TYPE.rsplit('/', 1)[-1]}"]


@pytest.mark.parametrize(("v2", "v3"), [
    ("envoy.config.filter.http.jwt_authn.v2alpha.JwtAuthentication",
     "envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication"),
    ("envoy.config.filter.http.router.v2.Router", "envoy.extensions.filters.http.router.v3.Router"),
])
def test_v2_http_filter_types_inside_typed_structs_too(v2, v3):
    struct = {"name": "f", "typed_config": {"@type": "type.googleapis.com/udpa.type.v1.TypedStruct",
                                            "type_url": f"type.googleapis.com/{v2}", "value": {}}}
    assert errors(with_http_filters(struct)) == [f"{HC}.http_filters[0].typed_config: {v2} is the v2 API; use {v3}"]


def test_a_v2_tls_context_type_names_the_v3_transport_socket():
    lst = listener()
    lst["filter_chains"][0]["transport_socket"] = typed("envoy.transport_sockets.tls",
                                                        "envoy.api.v2.auth.DownstreamTlsContext")
    assert errors(bootstrap(lst)) == [
        f"{L0}.filter_chains[0].transport_socket.typed_config: envoy.api.v2.auth.DownstreamTlsContext is the v2 API; "
        "use envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext"]


def test_a_v2_untyped_config_is_one_error_not_a_manager_without_routes():
    v2 = {"name": "envoy.filters.network.http_connection_manager", "config": {"stat_prefix": "x", "route_config": {}}}
    assert errors(bootstrap(listener(v2))) == [f"{F0}.config: {V2_CONFIG}"]
    assert errors(with_http_filters({"name": "envoy.filters.http.lua", "config": {}})) == [
        f"{HC}.http_filters[0].config: {V2_CONFIG}"]


@pytest.mark.parametrize(("where", "field", "replacement"), [
    ("cluster", "hosts", "load_assignment"),
    ("cluster", "tls_context", "transport_socket (envoy.transport_sockets.tls with a typed_config)"),
    ("chain", "tls_context", "transport_socket (envoy.transport_sockets.tls with a typed_config)"),
    ("manager", "idle_timeout", "common_http_protocol_options.idle_timeout"),
])
def test_v2_fields_are_named_with_what_v3_uses(where, field, replacement):
    raw = bootstrap()
    target = {"cluster": raw["static_resources"]["clusters"][0],
              "chain": raw["static_resources"]["listeners"][0]["filter_chains"][0],
              "manager": raw["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]}
    target[where][field] = {"x": 1} if field != "idle_timeout" else "1s"
    path = {"cluster": C0, "chain": f"{L0}.filter_chains[0]", "manager": HC}[where]
    assert errors(raw) == [f"{path}.{field}: '{field}' is the v2 API; v3 uses {replacement}"]


def test_v2_regex_matchers_are_named_with_their_safe_successors():
    raw = with_route({"match": {"regex": "/a.*", "headers": [{"name": "x", "regex_match": "b"}]},
                      "route": {"cluster": "app"}})
    assert errors(raw) == [
        f"{R0}.match.regex: 'regex' is the v2 API; v3 uses safe_regex",
        f"{R0}.match.headers[0].regex_match: 'regex_match' is the v2 API; v3 uses safe_regex_match",
    ]


def test_http_filters_are_identified_by_their_type_not_their_name():
    deny = typed("authz-deny-if-header-user-agent-is-chrome", "envoy.extensions.filters.http.ext_authz.v3.ExtAuthz")
    (error,) = errors(with_http_filters(deny))
    assert error.startswith(f"{HC}.http_filters[0]: http filter 'envoy.filters.http.ext_authz' "
                            "(named 'authz-deny-if-header-user-agent-is-chrome') is not implemented")
    # without a typed_config the name is all there is, as in Envoy
    (error,) = errors(with_http_filters({"name": "envoy.filters.http.lua"}))
    assert error.startswith(f"{HC}.http_filters[0]: http filter 'envoy.filters.http.lua' is not implemented")


def test_envoy_network_filters_pymosn_lacks_are_not_called_unknown():
    redis = typed("envoy.filters.network.redis_proxy", "envoy.extensions.filters.network.redis_proxy.v3.RedisProxy")
    acme = typed("acme", "acme.Proxy")
    runs = ("pymosn runs envoy.filters.network.http_connection_manager, envoy.filters.network.tcp_proxy, "
            "envoy.filters.network.dubbo_proxy, x_proxy, envoy.filters.network.rbac")
    assert errors(bootstrap(listener(redis))) == [
        f"{F0}: network filter 'envoy.filters.network.redis_proxy' is not implemented by pymosn yet; {runs}"]
    assert errors(bootstrap(listener(acme))) == [f"{F0}: unknown network filter 'acme' (type acme.Proxy); {runs}"]


def test_pipeline_errors_come_back_at_envoy_paths():
    weighted = {"weighted_clusters": {"clusters": [{"name": "app", "weight": 1}, {"name": "nope", "weight": 1}]}}
    assert errors(with_route({"match": {"prefix": "/"}, "route": {"cluster": "nope"}})) == [
        f"{R0}.route.cluster: unknown cluster 'nope'; known: app"]
    assert errors(with_route({"match": {"prefix": "/"}, "route": weighted})) == [
        f"{R0}.route.weighted_clusters.clusters[1].name: unknown cluster 'nope'; known: app"]
    assert errors(bootstrap(listener(tcp(cluster="nope")))) == [f"{HC}.cluster: unknown cluster 'nope'; known: app"]


@pytest.mark.parametrize(("raw", "expected"), [
    (with_route({"match": {"prefix": "/"}, "route": {"cluster": ""}}), [f"{R0}.route.cluster: must not be empty"]),
    (bootstrap(listener(hcm(codec_type="HTTP3"))),
     [f"{HC}.codec_type: HTTP3 (HTTP/3 over QUIC) is not implemented by pymosn yet; known: AUTO, HTTP1, HTTP2"]),
    (with_tls({"common_tls_context": {"tls_params": {"tls_minimum_protocol_version": "TLSv1_3",
                                                      "tls_maximum_protocol_version": "TLSv1_2"}}}),
     [f"{L0}.filter_chains[0].transport_socket.typed_config.common_tls_context.tls_params."
      "tls_minimum_protocol_version: is above tls_maximum_protocol_version"]),
    (bootstrap(listener(hcm(max_request_headers_kb=9000))),
     [f"{HC}.max_request_headers_kb: must be 1..8192 (as in Envoy), got 9000"]),
    (bootstrap(listener(filter_chains=[])),
     [f"{L0}.filter_chains: a listener needs a filter chain (or a default_filter_chain), as in Envoy"]),
    (with_tls({"common_tls_context": {"tls_params": {"cipher_suites": ["[ECDHE-RSA-AES128-GCM-SHA256|BOGUS]"]}}}),
     [f"{L0}.filter_chains[0].transport_socket.typed_config.common_tls_context.tls_params.cipher_suites[0]: unknown "
      "cipher 'BOGUS' (as in Envoy, every one must be known)"]),
    (bootstrap(clusters=[cluster(health_checks=[{"timeout": "1s", "interval": "1s", "unhealthy_threshold": 1,
                                                 "healthy_threshold": 1, "http_health_check": {
                                                     "path": "/", "expected_statuses": [{"start": 300, "end": 200}]}}])]),
     [f"{C0}.health_checks[0].http_health_check.expected_statuses[0]: an expected status range [start, end) needs "
      "100 <= start < end <= 600 (as in Envoy), got [300, 200)"]),
    # one oneof error, not also the refusal of the member not taken
    (bootstrap(listener(hcm(rds={"route_config_name": "r"}))),
     [f"{HC}: set only one of route_config, rds, scoped_routes; found route_config, rds"]),
])
def test_checks_the_mosn_pipeline_would_word_its_own_way_are_made_in_envoy_terms(raw, expected):
    assert errors(raw) == expected


def test_an_http3_upstream_is_refused_in_envoy_terms():
    options = {"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
        "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
        "explicit_http_config": {"http3_protocol_options": {}}}}
    (error,) = errors(bootstrap(clusters=[cluster(typed_extension_protocol_options=options)]))
    assert error.endswith("explicit_http_config.http3_protocol_options: HTTP/3 upstreams are not implemented by "
                          "pymosn yet; known: http_protocol_options, http2_protocol_options")


@pytest.mark.parametrize(("raw", "expected"), [
    # a cluster plugin picks the cluster: without it the route has none, which is no news
    (with_route({"match": {"prefix": "/"}, "route": {"inline_cluster_specifier_plugin": {"extension": {
        "name": "lua", "typed_config": {"@type": "type.googleapis.com/envoy.extensions.router.cluster_specifiers.lua."
                                                 "v3.LuaConfig"}}}}}),
     [f"{R0}.route.inline_cluster_specifier_plugin: not implemented by pymosn yet; ignoring it would send requests "
      "to a cluster the plugin would not pick"]),
    # a custom cluster's extension also balances (CLUSTER_PROVIDED)
    (bootstrap(clusters=[without(cluster(lb_policy="CLUSTER_PROVIDED", cluster_type={"name": "envoy.clusters.redis"}),
                                  "type")]),
     [f"{C0}.cluster_type: not implemented by pymosn yet; ignoring it would leave the cluster without the hosts its "
      "extension finds"]),
    # a UDP listener is refused once, not for each of its parts
    (bootstrap(listener(address={"socket_address": {"protocol": "udp", "address": "127.0.0.1", "port_value": 1}},
                        udp_listener_config={}, listener_filters=[{"name": "envoy.filters.udp_listener.udp_proxy"}])),
     [f"{L0}.address.socket_address.protocol: UDP is not implemented by pymosn yet; known: TCP"]),
    (bootstrap(without(listener(internal_listener={}), "address")),
     [f"{L0}.internal_listener: internal listeners are not implemented by pymosn yet"]),
])
def test_one_refused_element_is_one_error(raw, expected):
    assert errors(raw) == expected


def test_an_endpoint_refused_for_its_address_is_not_reported_again():
    c = cluster(load_assignment={"endpoints": [{"lb_endpoints": [
        {"endpoint": {"address": {"pipe": {"path": "/tmp/x.sock"}}, "hostname": "x"}, "load_balancing_weight": 2}]}]})
    assert errors(bootstrap(clusters=[c])) == [
        f"{C0}.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.pipe: pipe addresses are not implemented "
        "by pymosn yet; known: socket_address"]


@pytest.mark.parametrize(("outer", "inner", "held"), [
    ("$.a.b", "$.a.b", True), ("$.a.b", "$.a.b.c", True), ("$.a.b", "$.a.b[0]", True), ("$.a.b.c", "$.a.b", False),
    ("$.a.b", "$.a.bc", False), ("$.a.b", "$.a.c", False), ("$.a[1]", "$.a[10]", False),
])
def test_an_element_holds_itself_and_what_lies_inside_it(outer, inner, held):
    assert holds(outer, inner) is held


def test_a_tls_context_whose_sources_were_refused_is_not_told_it_lacks_them():
    # Istio's secure_metrics listener: certificate and CA both from SDS
    sds = {"name": "default", "sds_config": {"api_config_source": {"api_type": "GRPC"}}}
    lst = listener()
    lst["filter_chains"][0]["transport_socket"] = tls_socket(require_client_certificate=True, common_tls_context={
        "tls_certificate_sds_secret_configs": [sds],
        "combined_validation_context": {"default_validation_context": {}, "validation_context_sds_secret_config": sds}})
    common = f"{L0}.filter_chains[0].transport_socket.typed_config.common_tls_context"
    assert errors(bootstrap(lst)) == [
        f"{common}.tls_certificate_sds_secret_configs[0].sds_config: not implemented by pymosn yet; ignoring it would "
        "serve without the secret it fetches",
        f"{common}.combined_validation_context: not implemented by pymosn yet; ignoring it would skip the peer "
        "certificate validation it configures"]


@pytest.mark.parametrize(("raw", "what"), [
    ({"configs": [{"@type": "type.googleapis.com/envoy.admin.v3.BootstrapConfigDump", "bootstrap": bootstrap()}]},
     "Envoy's admin /config_dump (envoy.admin.v3.ConfigDump); the bootstrap it ran with is the 'bootstrap' of its "
     "BootstrapConfigDump entry"),
    ({"bootstrap": bootstrap(), "last_updated": "2024-01-01T00:00:00Z"},
     "Envoy's admin bootstrap dump (envoy.admin.v3.BootstrapConfigDump); the bootstrap is its 'bootstrap'"),
])
def test_an_admin_dump_is_told_apart_from_a_bootstrap(raw, what):
    assert errors(raw) == [f"$: not a bootstrap: this is {what}"]


def test_a_lone_value_where_a_list_is_expected_is_a_list_of_one():
    # Envoy's JSON/YAML parsing (protobuf legacy syntax) reads it so; `envoy --mode validate` agrees
    raw = bootstrap(listener(hcm({"virtual_hosts": {"name": "v", "domains": "*", "routes": {
        "match": {"prefix": "/"}, "route": {"cluster": "app"}}}})))
    raw["static_resources"]["clusters"] = cluster()
    config = load(raw)
    assert [c.name for c in config.cluster_manager.clusters] == ["app"]
    assert list(config.servers[0].routers[0].virtual_hosts[0].domains) == ["*"]
