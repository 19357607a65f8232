"""Envoy v3 bootstraps to break one piece at a time, and helpers to read what the loader says
about them; shared by the Envoy loader's tests."""

from __future__ import annotations

import copy

import pytest

from pymosn.api.errors import ConfigError
from pymosn.config import model
from pymosn.config.loader import load_config_dict

HCM_TYPE = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
ROUTER = {"name": "envoy.filters.http.router",
          "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}
TLS_DOWN = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext"
TLS_UP = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext"
HPO = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
L0 = "$.static_resources.listeners[0]"
F0 = f"{L0}.filter_chains[0].filters[0]"
HC = f"{F0}.typed_config"
RC = f"{HC}.route_config"
R0 = f"{RC}.virtual_hosts[0].routes[0]"
C0 = "$.static_resources.clusters[0]"


def routes(*entries: dict) -> dict:
    return {"name": "local_route", "virtual_hosts": [{"name": "vh", "domains": ["*"], "routes": list(entries)}]}


def hcm(route_config: dict | None = None, **fields) -> dict:
    config = {"@type": HCM_TYPE, "stat_prefix": "ingress_http",
              "route_config": route_config or routes({"match": {"prefix": "/"}, "route": {"cluster": "app"}}),
              "http_filters": [ROUTER], **fields}
    return {"name": "envoy.filters.network.http_connection_manager", "typed_config": config}


def tcp(**fields) -> dict:
    return {"name": "envoy.filters.network.tcp_proxy", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
        "stat_prefix": "tcp", **fields}}


def address(port: int) -> dict:
    return {"socket_address": {"address": "127.0.0.1", "port_value": port}}


def listener(*filters: dict, **fields) -> dict:
    return {"name": "l0", "address": {"socket_address": {"address": "127.0.0.1", "port_value": 10000}},
            "filter_chains": [{"filters": list(filters or [hcm()])}], **fields}


def cluster(name: str = "app", *ports: int, **fields) -> dict:
    endpoints = [{"endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": p}}}}
                 for p in ports or (8080,)]
    return {"name": name, "connect_timeout": "1s", "type": "STATIC",
            "load_assignment": {"cluster_name": name, "endpoints": [{"lb_endpoints": endpoints}]}, **fields}


def bootstrap(*listeners: dict, clusters: list[dict] | None = None, **extra) -> dict:
    return {"static_resources": {"listeners": list(listeners or [listener()]),
                                 "clusters": clusters if clusters is not None else [cluster()]}, **extra}


def load(raw: dict) -> model.Config:
    return load_config_dict(copy.deepcopy(raw)).config


def errors(raw: dict) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config_dict(copy.deepcopy(raw))
    return [str(issue) for issue in caught.value.issues]


def warnings(raw: dict) -> list[str]:
    return [str(issue) for issue in load_config_dict(copy.deepcopy(raw)).warnings]


def first_listener(config: model.Config) -> model.Listener:
    return config.servers[0].listeners[0]


def proxy(config: model.Config, chain: int = 0) -> dict:
    return first_listener(config).filter_chains[chain].filters[0].config


def first_route(config: model.Config) -> model.Route:
    return config.servers[0].routers[0].virtual_hosts[0].routers[0]


def with_route(route: dict, **hcm_fields) -> dict:
    return bootstrap(listener(hcm(routes(route), **hcm_fields)))


def tls_socket(**context) -> dict:
    return {"name": "envoy.transport_sockets.tls", "typed_config": {"@type": TLS_DOWN, **context}}


def typed(name: str, message: str, **config) -> dict:
    """A {name, typed_config} extension whose config is of the message `message`."""
    return {"name": name, "typed_config": {"@type": f"type.googleapis.com/{message}", **config}}


def with_http_filters(*filters: dict, **hcm_fields) -> dict:
    """A bootstrap whose manager runs `filters` before the router."""
    return bootstrap(listener(hcm(http_filters=[*filters, ROUTER], **hcm_fields)))


def with_tls(context: dict, upstream: bool = False) -> dict:
    """A bootstrap whose listener (or cluster) has a TLS context with an inline certificate."""
    certificate = {"certificate_chain": {"inline_string": "-----BEGIN x"},
                   "private_key": {"inline_string": "-----BEGIN y"}}
    context = {**context, "common_tls_context": {"tls_certificates": [certificate],
                                                 **context.get("common_tls_context", {})}}
    if upstream:
        socket = {"name": "envoy.transport_sockets.tls", "typed_config": {"@type": TLS_UP, **context}}
        return bootstrap(clusters=[cluster(transport_socket=socket)])
    lst = listener()
    lst["filter_chains"][0]["transport_socket"] = tls_socket(**context)
    return bootstrap(lst)


def without(message: dict, *keys: str) -> dict:
    return {k: v for k, v in message.items() if k not in keys}
