"""Per-route filter configs: MOSN's per_filter_config (route, virtual host) and Envoy's
typed_per_filter_config (route, virtual host, route configuration; plain or in a FilterConfig
wrapper) read by their kind's route reader at load, merged into each RouteEntry with the most
specific level winning whole."""

from __future__ import annotations

from pymosn.config.loader import config_to_builtins, load_config_dict
from pymosn.config.registries import HTTP_FILTERS
from pymosn.filter.http.fault import FaultFilterConfig
from pymosn.filter.http.payload_limit import PayloadLimitConfig
from pymosn.router.route_table import RouteTable
from tests.support import envoy_bootstraps as envoy

from .configs import errors, minimal, route, warnings

ROUTE = "$.servers[0].routers[0].virtual_hosts[0].routers[0]"
FAULT = "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault"
BUFFER_PER_ROUTE = "type.googleapis.com/envoy.extensions.filters.http.buffer.v3.BufferPerRoute"
FILTER_CONFIG = "type.googleapis.com/envoy.config.route.v3.FilterConfig"


def entries(config) -> list:
    table = RouteTable.build(config.servers[0].routers[0])
    return [entry for vhost in table.virtual_hosts for entry in vhost.routes]


def test_mosn_per_filter_config_is_read_and_the_route_level_wins_whole():
    raw = minimal()
    vhost = raw["servers"][0]["routers"][0]["virtual_hosts"][0]
    vhost["per_filter_config"] = {"payload_limit": {"max_entity_size": 100}, "fault": {"abort": {"status": 500}}}
    vhost["routers"].append({"match": {"prefix": "/up"}, "route": {"cluster_name": "c0"},
                             "per_filter_config": {"payload_limit": {"max_entity_size": 9, "http_status": 400}}})
    config = load_config_dict(raw).config
    loaded = config.servers[0].routers[0].virtual_hosts[0]
    assert loaded.per_filter_config == {} and loaded.filter_configs["payload_limit"].config == PayloadLimitConfig(100)
    first, second = entries(config)
    assert first.filter_configs["payload_limit"] == PayloadLimitConfig(100)
    assert second.filter_configs["payload_limit"] == PayloadLimitConfig(9, 400)
    assert isinstance(second.filter_configs["fault"], FaultFilterConfig)  # compiled once, from the vhost's
    assert second.filter_configs["fault"].config.abort.http_status == 500
    assert load_config_dict(config_to_builtins(config)).config == config


def test_mosn_per_filter_config_errors_and_unknown_names():
    raw = minimal()
    route(raw)["per_filter_config"] = {"fault": {"abort": {"status": 700}}}
    assert errors(raw) == [f"{ROUTE}.per_filter_config.fault.abort.status: 700 is out of range [200, 599]"]
    route(raw)["per_filter_config"] = {"acme": {}}
    assert warnings(raw) == [f"{ROUTE}.per_filter_config.acme: no http filter 'acme' (known: "
                             f"{', '.join(HTTP_FILTERS.names())}); ignored"]
    route(raw)["per_filter_config"] = {"header_mutation": {}}
    assert errors(raw) == [f"{ROUTE}.per_filter_config.header_mutation: http filter 'header_mutation' takes no "
                           "per-route config"]


def test_envoy_typed_per_filter_config_at_three_levels():
    limit = {"@type": BUFFER_PER_ROUTE, "buffer": {"max_request_bytes": 5}}
    off = {"@type": FILTER_CONFIG, "disabled": True}
    fault = {"@type": FILTER_CONFIG, "config": {"@type": FAULT, "abort": {"http_status": 502, "percentage": {
        "numerator": 100}}}}
    rc = envoy.routes({"match": {"prefix": "/a"}, "route": {"cluster": "app"},
                       "typed_per_filter_config": {"buf": limit, "f": off}},
                      {"match": {"prefix": "/"}, "route": {"cluster": "app"}})
    rc["virtual_hosts"][0]["typed_per_filter_config"] = {"f": fault}
    rc["typed_per_filter_config"] = {"buf": {"@type": BUFFER_PER_ROUTE, "disabled": True}}
    config = envoy.load(envoy.bootstrap(envoy.listener(envoy.hcm(rc))))
    first, second = entries(config)
    assert first.filter_configs == {"buf": PayloadLimitConfig(5)} and first.filters_off == {"f"}
    assert second.filter_configs["buf"] == PayloadLimitConfig(0)  # BufferPerRoute disabled: no limit
    assert second.filter_configs["f"].config.abort.http_status == 502 and not second.filters_off
    assert load_config_dict(config_to_builtins(config)).config == config


def test_envoy_per_filter_config_problems():
    def per_route(value: dict) -> dict:
        return envoy.with_route({"match": {"prefix": "/"}, "route": {"cluster": "app"},
                                 "typed_per_filter_config": {"x": value}})

    where = f"{envoy.R0}.typed_per_filter_config.x"
    assert envoy.errors(per_route({"@type": FILTER_CONFIG})) == [
        f"{where}: an empty per-filter config for 'x' (Envoy refuses it): give it a config or disabled: true"]
    assert envoy.errors(per_route({"@type": BUFFER_PER_ROUTE, "buffer": {"max_request_bytes": 0}})) == [
        f"{where}.buffer.max_request_bytes: 0 is out of range [1, 4294967295]"]
    mutation = "envoy.extensions.filters.http.header_mutation.v3.HeaderMutationPerRoute"
    assert envoy.errors(per_route({"@type": f"type.googleapis.com/{mutation}"})) == [
        f"{where}: per-filter config for 'x' has type {mutation}, which pymosn's header_mutation filter does not "
        "take yet; refusing to serve the route without what it asks of the filter there"]
    authz = "envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute"
    assert envoy.errors(per_route({"@type": f"type.googleapis.com/{authz}"})) == [
        f"{where}: per-filter config for 'x' has type {authz}, which pymosn does not implement; refusing to serve "
        "the route without what it enforces there"]
    optional = {"@type": FILTER_CONFIG, "is_optional": True, "config": {"@type": f"type.googleapis.com/{authz}"}}
    assert envoy.warnings(per_route(optional)) == [
        f"{where}.config: per-filter config for 'x' has type {authz}, which no pymosn filter takes; ignored"]
