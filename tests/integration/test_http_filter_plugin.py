"""A third party's HTTP filter, written in Python: the example package examples/pymosn-tenant-gate
installed (its module and entry points) where a pymosn process finds it, named from MOSN's
stream_filters and from Envoy's http_filters (an xds TypedStruct whose type_url is
pymosn.http_filters.<name>), its config and per-route configs checked with their paths at load."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap

import httpx
import pytest
import yaml

from pymosn.config.registries import HTTP_FILTERS
from tests.support.admin import log_lines, stats, wait_stats
from tests.support.plugins import install_example, install_plugin
from tests.support.proxy import Pymosn, free_port, simple_config

LISTENER = "$.servers[0].listeners[0]"
ENVOY_HCM = "$.static_resources.listeners[0].filter_chains[0].filters[0].typed_config"
PLUGIN_URL = "type.googleapis.com/pymosn.http_filters.tenant_gate"


# A filter that raises on request: its stream gets a 500 (FF), the others carry on.
BOOM = textwrap.dedent('''
    import msgspec

    from pymosn.api.stream_filter import CONTINUE, DecoderFilter


    class BoomConfig(msgspec.Struct):
        header: str = "x-boom"


    class _Boom(DecoderFilter):
        def __init__(self, header):
            self.header = header

        def decode_headers(self, headers, end_stream):
            if headers.get(self.header) is not None:
                raise RuntimeError("boom")
            return CONTINUE


    class Boom:
        config_type = BoomConfig

        def __init__(self, config):
            self.header = config.header.encode()

        def create_filter(self, callbacks):
            return _Boom(self.header)
    ''')
LOG_FORMAT = "%RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS% %REQ(:PATH)%\n"
IDLE = {"http.ingress.downstream_rq_active": 0, "cluster.origin.upstream_rq_active": 0}


def _with_example(tmp_path, monkeypatch) -> None:
    site = tmp_path / "site"
    install_example(site, "pymosn-tenant-gate")
    install_plugin(site, "boom_filter", BOOM, "[pymosn.http_filters]\nboom = boom_filter:Boom\n")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")])))


def _validate(tmp_path, config: dict, suffix: str = ".json") -> subprocess.CompletedProcess:
    path = tmp_path / f"config{suffix}"
    path.write_text(json.dumps(config) if suffix == ".json" else yaml.safe_dump(config))
    return subprocess.run([sys.executable, "-m", "pymosn", "validate", "-c", str(path)], capture_output=True,
                          text=True, timeout=60)


def mosn_config(gate_config: dict, route_config: dict | None = None) -> dict:
    config = simple_config(1, [2])
    config["servers"][0]["listeners"][0]["stream_filters"] = [{"type": "tenant_gate", "config": gate_config},
                                                              {"type": "boom"}]
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
                            {"name": "boom", "typed_config": {"@type": "type.googleapis.com/xds.type.v3.TypedStruct",
                                                              "type_url": "pymosn.http_filters.boom"}},
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
    assert missing.stderr.splitlines()[0] == (
        f"error: {LISTENER}.stream_filters[0]: unknown stream filter 'tenant_gate': neither one of MOSN's built-in "
        "filters nor an installed plugin; refusing to run without it, as it may refuse or change requests; known: "
        f"{', '.join(HTTP_FILTERS.names())}")


def _tag(tenant: str) -> str:
    return hashlib.sha256(tenant.encode()).hexdigest()[:16]


def _served_config(fmt: str, port: int, admin: int, origin: int, log: str) -> dict:
    gate, per_route = {"allowed": ["acme"]}, {"allowed": ["initech"]}
    if fmt == "mosn":
        config = mosn_config(gate)
        config["servers"][0]["listeners"][0]["address"] = f"127.0.0.1:{port}"
        config["servers"][0]["listeners"][0]["access_logs"] = [{"log_path": log, "log_format": LOG_FORMAT}]
        config["cluster_manager"]["clusters"][0]["hosts"] = [{"address": f"127.0.0.1:{origin}"}]
        routes = config["servers"][0]["routers"][0]["virtual_hosts"][0]["routers"]
        routes.insert(0, {"match": {"prefix": "/initech"}, "route": {"cluster_name": "origin"},
                          "per_filter_config": {"tenant_gate": per_route}})
        config["admin"] = {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin}}}
        return config
    config = envoy_config(gate)
    static = config["static_resources"]
    lst = static["listeners"][0]
    lst["name"] = "ingress"
    lst["address"]["socket_address"]["port_value"] = port
    hcm = lst["filter_chains"][0]["filters"][0]["typed_config"]
    hcm["access_log"] = [{"name": "envoy.access_loggers.file", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog", "path": log,
        "log_format": {"text_format": LOG_FORMAT}}}]
    hcm["route_config"]["virtual_hosts"][0]["routes"].insert(0, {
        "match": {"prefix": "/initech"}, "route": {"cluster": "origin"},
        "typed_per_filter_config": {"tenant_gate": typed_struct(per_route)}})
    for route in hcm["route_config"]["virtual_hosts"][0]["routes"]:
        route["route"]["cluster"] = "origin"
    cluster = static["clusters"][0]
    cluster["name"] = cluster["load_assignment"]["cluster_name"] = "origin"
    cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]["socket_address"][
        "port_value"] = origin
    config["admin"] = {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin}}}
    return config


@pytest.mark.parametrize("fmt", ["mosn", "envoy"])
def test_the_example_filter_serves_and_refuses_end_to_end(fmt, tmp_path, monkeypatch, origin):
    _with_example(tmp_path, monkeypatch)
    monkeypatch.setenv("PYMOSN_FILE_FLUSH_INTERVAL_MSEC", "50")
    port, admin, log = free_port(), free_port(), tmp_path / "access.log"
    with Pymosn(_served_config(fmt, port, admin, origin.port, str(log)), tmp_path, port):
        base = f"http://127.0.0.1:{port}"
        served = httpx.get(f"{base}/echo/a", headers={"x-tenant": "acme"}, timeout=10)
        assert served.status_code == 200
        assert json.loads(served.content)["headers"]["x-tenant-tag"] == _tag("acme")  # computed by the filter
        refused = httpx.get(f"{base}/echo/b", headers={"x-tenant": "initech"}, timeout=10)
        assert (refused.status_code, refused.content) == (403, b"tenant not allowed\n")
        assert httpx.get(f"{base}/echo/c", timeout=10).status_code == 403
        # the route's own list replaces the filter's there
        assert httpx.get(f"{base}/initech/x", headers={"x-tenant": "initech"}, timeout=10).status_code == 200
        assert httpx.get(f"{base}/initech/y", headers={"x-tenant": "acme"}, timeout=10).status_code == 403
        assert log_lines(log, 5) == ["200 - via_upstream /echo/a", "403 - tenant_not_allowed /echo/b",
                                     "403 - tenant_not_allowed /echo/c", "200 - via_upstream /initech/x",
                                     "403 - tenant_not_allowed /initech/y"]
        wait_stats(admin, IDLE)


def test_a_plugin_filter_that_raises_answers_that_request_500_and_the_next_are_served(tmp_path, monkeypatch, origin):
    _with_example(tmp_path, monkeypatch)
    monkeypatch.setenv("PYMOSN_FILE_FLUSH_INTERVAL_MSEC", "50")
    port, admin, log = free_port(), free_port(), tmp_path / "access.log"
    with Pymosn(_served_config("mosn", port, admin, origin.port, str(log)), tmp_path, port):
        base, tenant = f"http://127.0.0.1:{port}", {"x-tenant": "acme"}
        before = stats(admin).get("http.ingress.downstream_rq_filter_error", 0)
        assert httpx.get(f"{base}/echo/boom", headers={**tenant, "x-boom": "1"}, timeout=10).status_code == 500
        assert httpx.get(f"{base}/echo/next", headers=tenant, timeout=10).status_code == 200
        assert log_lines(log, 2) == ["500 FF filter_raised[boom] /echo/boom", "200 - via_upstream /echo/next"]
        wait_stats(admin, {**IDLE, "http.ingress.downstream_rq_filter_error": before + 1})


def test_the_docs_show_the_example_as_it_is():
    from tests.support.plugins import EXAMPLES

    doc = (EXAMPLES.parent / "docs" / "user-filters.md").read_text()
    source = (EXAMPLES / "pymosn-tenant-gate" / "tenant_gate.py").read_text()
    assert f"```python\n{source}```\n" in doc
