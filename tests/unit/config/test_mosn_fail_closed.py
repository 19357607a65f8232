"""MOSN filters and keys that enforce something pymosn does not implement are errors naming their
path and why; filters that only add something are warnings. Snippets follow MOSN's own samples
(examples/codes/filter/*, examples/codes/mosn-extensions/*, test/cases/tls/*)."""

import pytest

from pymosn.config.loader import load_config_dict
from pymosn.config.registries import HTTP_FILTERS

from .configs import cluster, errors, listener, minimal, warnings

FILTER = "$.servers[0].listeners[0].stream_filters[0]"
CHAIN = "$.servers[0].listeners[0].filter_chains[0]"
MAY_REFUSE = "refusing to run without it, as it may refuse or change requests"


@pytest.mark.parametrize(("kind", "config", "why"), [
    ("ip_access", {"action": "allow", "ips": ["127.0.0.1"]}, "the access control it asks for"),
    ("jwt_authn", {"providers": {}}, "the authentication it asks for"),
])
def test_access_control_and_limit_filters_are_refused_with_what_they_enforce(kind, config, why):
    raw = minimal()
    listener(raw)["stream_filters"] = [{"type": kind, "config": config}]
    assert errors(raw) == [f"{FILTER}: stream filter {kind!r} is not implemented by pymosn yet; refusing to run "
                           f"without {why}"]


def test_filters_whose_effect_pymosn_cannot_know_are_refused():
    raw = minimal()
    listener(raw)["stream_filters"] = [
        {"type": "proxywasm", "config": {"instance_num": 1, "vm_config": {"engine": "wasmer", "path": "a.wasm"}}},
        {"type": "dsl", "config": {"before_router_by_dsl": "conditional((request.method == \"GET\"), ...)"}},
        {"type": "demo", "config": {"User": "admin"}},  # MOSN's sample custom filter: 403 without the header
        {"type": "loadso", "go_plugin_config": {"so_path": "./simple_so.so"}, "config": {"User": "admin"}},
        {"type": "metadata", "config": {}},
    ]
    f = "$.servers[0].listeners[0].stream_filters"
    assert errors(raw) == [
        f"{f}[0]: stream filter 'proxywasm' is not implemented by pymosn yet; refusing to run without it, as its "
        "Wasm plugins may refuse or change requests",
        f"{f}[1]: stream filter 'dsl' is not implemented by pymosn yet; refusing to run without it, as its "
        "expressions may rewrite a request's URL and headers before it is routed",
        f"{f}[2]: unknown stream filter 'demo': neither one of MOSN's built-in filters nor an installed plugin; "
        f"{MAY_REFUSE}; known: {', '.join(HTTP_FILTERS.names())}",
        f"{f}[3]: stream filter 'loadso' is a Go plugin (go_plugin_config), which pymosn cannot load; {MAY_REFUSE}",
        f"{f}[4]: stream filter 'metadata' is MOSN on Envoy's (MoE), not MOSN's, and pymosn cannot run it; "
        f"{MAY_REFUSE}",
    ]


@pytest.mark.parametrize("kind", ["fault_tolerance", "gzip", "dubbo_stream", "grpc_metric",
                                  "header_to_metadata", "transcoder", "seata", "istio.stats", "mixer"])
def test_filters_that_only_add_something_warn(kind):
    raw = minimal()
    listener(raw)["stream_filters"] = [{"type": kind, "config": {}}]
    assert warnings(raw) == [f"{FILTER}: stream filter {kind!r} is not implemented by pymosn yet; ignored"]


def test_older_mosn_heartbeat_filter_warns_as_mosn_ignores_it():
    raw = minimal()
    listener(raw)["stream_filters"] = [{"type": "healthcheck", "config": {"passthrough": False, "cache_time": "360s"}}]
    assert warnings(raw) == [f"{FILTER}: stream filter 'healthcheck' is older MOSN's SOFARPC heartbeat responder, "
                             "removed from MOSN, which ignores it too; ignored"]


def test_custom_listener_filters_are_refused_and_envoys_tls_inspector_warns():
    raw = minimal()
    listener(raw)["listener_filters"] = [{"type": "proxy_protocol"}]
    assert errors(raw) == ["$.servers[0].listeners[0].listener_filters[0]: unknown listener filter 'proxy_protocol': "
                           "MOSN's only built-in one is original_dst, and pymosn cannot run custom ones; refusing to "
                           "run without it, as it may refuse connections"]
    listener(raw)["listener_filters"] = [{"type": "tls_inspector"}]
    assert warnings(raw) == ["$.servers[0].listeners[0].listener_filters[0]: listener filter 'tls_inspector' is "
                             "Envoy's; MOSN's equivalent is the listener's inspector: true; ignored"]


@pytest.mark.parametrize("value", ["ALL", "EXTERNAL_ONLY"])
def test_require_tls_is_refused_unless_none(value):
    raw = minimal()
    vhost = raw["servers"][0]["routers"][0]["virtual_hosts"][0]
    vhost["require_tls"] = value
    assert errors(raw) == [f"$.servers[0].routers[0].virtual_hosts[0].require_tls: require_tls {value!r} is not "
                           "implemented by pymosn (MOSN does not enforce it either); refusing to serve plaintext "
                           "requests it requires TLS for"]
    vhost["require_tls"] = "NONE"
    assert warnings(raw) == []


def _listener_tls(raw: dict, **tls) -> None:
    listener(raw)["filter_chains"][0]["tls_context"] = {"status": True, **tls}


def test_tls_extension_type_is_refused_once_without_follow_on_certificate_errors():
    raw = minimal()
    _listener_tls(raw, type="mosn-integrate-test-tls")
    cluster(raw)["tls_context"] = {"status": True, "type": "loader"}
    assert errors(raw) == [
        f"{CHAIN}.tls_context.type: TLS extension 'mosn-integrate-test-tls' (MOSN's plugin for certificates and "
        "verification) is not implemented by pymosn; refusing to run without the TLS it provides",
        "$.cluster_manager.clusters[0].tls_context.type: TLS extension 'loader' (MOSN's plugin for certificates and "
        "verification) is not implemented by pymosn; refusing to run without the TLS it provides",
    ]


def test_sds_and_extend_verify_are_refused_when_the_context_is_on():
    raw = minimal()
    _listener_tls(raw, sds_source={"CertificateConfig": {"name": "default"}})
    assert errors(raw) == [f"{CHAIN}.tls_context.sds_source: certificates from SDS are not implemented by pymosn "
                           "yet; refusing to run without the certificates and validation it fetches"]
    _listener_tls(raw, cert_chain="-----BEGIN CERTIFICATE-----", private_key="-----BEGIN PRIVATE KEY-----",
                  extend_verify={"sni": "mosn"})
    assert errors(raw) == [f"{CHAIN}.tls_context.extend_verify: custom certificate verification (MOSN's TLS "
                           "extension) is not implemented by pymosn; refusing to accept peers it might refuse"]
    listener(raw)["filter_chains"][0]["tls_context"] = {"status": False, "type": "x", "extend_verify": {"a": 1}}
    assert warnings(raw) == []  # a disabled context asks for nothing


def test_top_level_stream_filters_belong_to_mosn_on_envoy():
    raw = minimal()
    raw["stream_filters"] = [{"name": "demo", "stream_filters": [{"type": "demo", "config": {"foo": "bar"}}]}]
    assert warnings(raw) == ["$.stream_filters: read only by MOSN on Envoy (MoE), whose filters run inside Envoy; "
                             "MOSN ignores it too; ignored"]


def test_unix_socket_addresses_say_what_is_missing():
    raw = minimal()
    cluster(raw)["hosts"] = [{"address": "unix:/tmp/server-proxy.sock"}]
    assert errors(raw) == ["$.cluster_manager.clusters[0].hosts[0].address: 'unix:/tmp/server-proxy.sock' is a unix "
                           "socket address; unix sockets are not implemented by pymosn yet"]


def test_missing_router_config_in_an_xds_file_says_where_it_would_come_from():
    raw = minimal()
    raw["dynamic_resources"] = {"ads_config": {"api_type": "GRPC"}}
    raw["servers"][0]["listeners"][0]["filter_chains"][0]["filters"][0]["config"]["router_config_name"] = "20882"
    assert errors(raw) == [f"{CHAIN}.filters[0].config.router_config_name: unknown router config '20882'; known: r0; "
                           "MOSN would wait for it from xDS (dynamic_resources), which pymosn does not implement for "
                           "MOSN configs"]
    assert load_config_dict(minimal() | {"dynamic_resources": {}}).warnings == []
