"""A third party's HTTP filter, written in Python: the example package examples/pymosn-tenant-gate
installed (its module and entry points) where a pymosn process finds it, named from MOSN's
stream_filters and from Envoy's http_filters (an xds TypedStruct whose type_url is
pymosn.http_filters.<name>), its config and per-route configs checked with their paths at load."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import yaml

from tests.support.plugins import install_example
from tests.support.proxy import simple_config

LISTENER = "$.servers[0].listeners[0]"
ENVOY_HCM = "$.static_resources.listeners[0].filter_chains[0].filters[0].typed_config"
PLUGIN_URL = "type.googleapis.com/pymosn.http_filters.tenant_gate"


def _with_example(tmp_path, monkeypatch) -> None:
    site = tmp_path / "site"
    install_example(site, "pymosn-tenant-gate")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")])))


def _validate(tmp_path, config: dict, suffix: str = ".json") -> subprocess.CompletedProcess:
    path = tmp_path / f"config{suffix}"
    path.write_text(json.dumps(config) if suffix == ".json" else yaml.safe_dump(config))
    return subprocess.run([sys.executable, "-m", "pymosn", "validate", "-c", str(path)], capture_output=True,
                          text=True, timeout=60)


def mosn_config(gate_config: dict, route_config: dict | None = None) -> dict:
    config = simple_config(1, [2])
    config["servers"][0]["listeners"][0]["stream_filters"] = [{"type": "tenant_gate", "config": gate_config}]
    if route_config is not None:
        route = config["servers"][0]["routers"][0]["virtual_hosts"][0]["routers"][0]
        route["per_filter_config"] = {"tenant_gate": route_config}
    return config


def typed_struct(value: dict) -> dict:
    return {"@type": "type.googleapis.com/xds.type.v3.TypedStruct", "type_url": PLUGIN_URL, "value": value}


def envoy_config(gate_config: dict, route_config: dict | None = None) -> dict:
    route = {"match": {"prefix": "/"}, "route": {"cluster": "app"}}
    if route_config is not None:
        route["typed_per_filter_config"] = {"tenant_gate": typed_struct(route_config)}
    hcm = {"@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3."
                    "HttpConnectionManager", "stat_prefix": "in",
           "route_config": {"virtual_hosts": [{"name": "v", "domains": ["*"], "routes": [route]}]},
           "http_filters": [{"name": "tenant_gate", "typed_config": typed_struct(gate_config)},
                            {"name": "envoy.filters.http.router", "typed_config": {
                                "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}]}
    endpoint = {"endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 2}}}}
    return {"static_resources": {
        "listeners": [{"name": "l", "address": {"socket_address": {"address": "127.0.0.1", "port_value": 1}},
                       "filter_chains": [{"filters": [{"name": "envoy.filters.network.http_connection_manager",
                                                       "typed_config": hcm}]}]}],
        "clusters": [{"name": "app", "type": "STATIC", "load_assignment": {"cluster_name": "app",
                                                                          "endpoints": [{"lb_endpoints": [endpoint]}]}}]}}


def test_the_example_filter_loads_from_both_formats(tmp_path, monkeypatch):
    _with_example(tmp_path, monkeypatch)
    mosn = _validate(tmp_path, mosn_config({"allowed": ["acme"]}, {"allowed": ["initech"]}))
    assert (mosn.returncode, mosn.stderr) == (0, "")
    envoy = _validate(tmp_path, envoy_config({"allowed": ["acme"]}, {"allowed": ["initech"]}), ".yaml")
    assert (envoy.returncode, envoy.stderr) == (0, "")


def test_the_example_filters_config_errors_name_their_paths(tmp_path, monkeypatch):
    _with_example(tmp_path, monkeypatch)
    bad = _validate(tmp_path, mosn_config({"allowed": "acme"}, {"allow": []}))
    assert bad.returncode == 1
    route = "$.servers[0].routers[0].virtual_hosts[0].routers[0].per_filter_config.tenant_gate"
    assert bad.stderr.splitlines() == [
        f"error: {LISTENER}.stream_filters[0].config.allowed: Expected `array`, got `str`",
        f"error: {route}: Object contains unknown field `allow`",
    ]
    envoy = _validate(tmp_path, envoy_config({"allowed": ["acme"], "header": 7}), ".yaml")
    assert envoy.stderr.splitlines() == [
        f"error: {ENVOY_HCM}.http_filters[0].typed_config.value.header: Expected `str`, got `int`"]


def test_without_the_package_the_name_is_unknown(tmp_path):
    missing = _validate(tmp_path, mosn_config({"allowed": ["acme"]}))
    assert missing.returncode == 1
    assert missing.stderr.splitlines() == [
        f"error: {LISTENER}.stream_filters[0]: unknown stream filter 'tenant_gate': neither one of MOSN's built-in "
        "filters nor an installed plugin; refusing to run without it, as it may refuse or change requests; known: "
        "fault, payload_limit, header_mutation"]
