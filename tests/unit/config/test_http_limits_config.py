"""The header count limits and the HTTP/1.0 options in both config formats: MOSN's proxy
filter and cluster fields, and the Envoy fields they come from."""

from __future__ import annotations

import msgspec

from pymosn.config import model
from pymosn.config.loader import load_config_dict

from . import configs
from . import test_envoy_bootstrap as envoy
from .test_validation import CLUSTER, PROXY


def mosn_proxy(raw: dict) -> model.ProxyConfig:
    return load_config_dict(raw).config.servers[0].listeners[0].filter_chains[0].filters[0].config


def test_mosn_defaults_are_envoys_limit_and_mosns_http10():
    raw = configs.minimal()
    assert mosn_proxy(raw).max_request_headers_count == 100
    assert mosn_proxy(raw).http_protocol_options is None
    assert load_config_dict(raw).config.cluster_manager.clusters[0].max_response_headers_count == 100


def test_mosn_header_counts_below_one_are_errors_naming_the_field():
    raw = configs.minimal()
    configs.proxy_config(raw)["max_request_headers_count"] = 0
    configs.cluster(raw)["max_response_headers_count"] = 2**32
    assert configs.errors(raw) == [
        f"{PROXY}.max_request_headers_count: must be 1..4294967295, got 0",
        f"{CLUSTER}.max_response_headers_count: must be 1..4294967295, got 4294967296",
    ]


def test_mosn_http_protocol_options_take_envoys_fields_only():
    raw = configs.minimal()
    configs.proxy_config(raw)["http_protocol_options"] = {"accept_http_10": True,
                                                          "default_host_for_http_10": "a.example:8080"}
    assert msgspec.to_builtins(mosn_proxy(raw).http_protocol_options) == {"accept_http_10": True,
                                                        "default_host_for_http_10": "a.example:8080"}
    configs.proxy_config(raw)["http_protocol_options"] = {"accept_http_10": True, "enable_trailers": True}
    (unknown,) = configs.errors(raw)
    assert unknown.startswith(f"{PROXY}.http_protocol_options.enable_trailers: unknown field 'enable_trailers'")


def test_a_default_host_that_is_not_an_authority_is_an_error():
    raw = configs.minimal()
    configs.proxy_config(raw)["http_protocol_options"] = {"accept_http_10": True,
                                                          "default_host_for_http_10": "a\r\nX-Injected: 1"}
    assert configs.errors(raw) == [f"{PROXY}.http_protocol_options.default_host_for_http_10: must be a host or "
                                   "host:port, got 'a\\r\\nX-Injected: 1'"]


def test_a_default_host_without_accept_http_10_warns():
    raw = configs.minimal()
    configs.proxy_config(raw)["http_protocol_options"] = {"default_host_for_http_10": "a.example"}
    assert configs.warnings(raw) == [f"{PROXY}.http_protocol_options.default_host_for_http_10: has no effect "
                                     "unless accept_http_10 is true (as in Envoy)"]


def test_envoy_max_headers_count_on_the_manager_and_the_cluster():
    typed = {envoy.HPO: {"@type": f"type.googleapis.com/{envoy.HPO}",
                         "common_http_protocol_options": {"max_headers_count": 7}}}
    raw = envoy.bootstrap(
        envoy.listener(envoy.hcm(common_http_protocol_options={"max_headers_count": 50})),
        clusters=[envoy.cluster("app", common_http_protocol_options={"max_headers_count": 200}),
                  envoy.cluster("typed", typed_extension_protocol_options=typed)])
    config = envoy.load(raw)
    assert envoy.proxy(config).max_request_headers_count == 50
    assert [c.max_response_headers_count for c in config.cluster_manager.clusters] == [200, 7]


def test_envoy_max_headers_count_errors_name_the_envoy_path():
    raw = envoy.bootstrap(envoy.listener(envoy.hcm(common_http_protocol_options={"max_headers_count": 0})),
                          clusters=[envoy.cluster("app", common_http_protocol_options={"max_headers_count": 0})])
    assert envoy.errors(raw) == [
        f"{envoy.HC}.common_http_protocol_options.max_headers_count: must be 1..4294967295, got 0",
        f"{envoy.C0}.common_http_protocol_options.max_headers_count: must be 1..4294967295, got 0",
    ]


def test_envoy_http10_is_refused_unless_accepted():
    assert msgspec.to_builtins(envoy.proxy(envoy.load(envoy.bootstrap())).http_protocol_options) == {
        "accept_http_10": False, "default_host_for_http_10": ""}
    raw = envoy.bootstrap(envoy.listener(envoy.hcm(http_protocol_options={
        "accept_http_10": True, "default_host_for_http_10": "fallback.example", "enable_trailers": True})))
    assert msgspec.to_builtins(envoy.proxy(envoy.load(raw)).http_protocol_options) == {
        "accept_http_10": True, "default_host_for_http_10": "fallback.example"}
    # pymosn passes trailers on whatever enable_trailers says
    assert envoy.warnings(raw) == [f"{envoy.HC}.http_protocol_options.enable_trailers: not implemented by pymosn "
                                   "yet; ignored"]


def test_envoy_bad_default_host_names_the_envoy_path():
    raw = envoy.bootstrap(envoy.listener(envoy.hcm(http_protocol_options={
        "accept_http_10": True, "default_host_for_http_10": "a b"})))
    assert envoy.errors(raw) == [f"{envoy.HC}.http_protocol_options.default_host_for_http_10: must be a host or "
                                 "host:port, got 'a b'"]
