"""The built-in stream filters named in a config, through a real listener and a real origin, in
both config formats: fault injection (fixed delay and abort by route, header-controlled delay
and abort), header mutation (request and response), payload limit. Each request ends once:
gauges back at zero, one access-log line with its status, flags and details; the filters'
counters are in /stats."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from tests.support import filter_env
from tests.support.admin import log_lines, stats, wait_stats
from tests.support.filter_env import IDLE, LOG_FORMAT, line_count, logged, request
from tests.support.origin import Origin
from tests.support.proxy import Pymosn, free_port, simple_config

ENVOY_FILTERS = "type.googleapis.com/envoy.extensions.filters.http"
DELAY = 0.3


def mosn_config(port: int, admin: int, origin: int, log: str) -> dict:
    header_mutation = {"mutations": {
        "request_mutations": [{"append": {"header": {"key": "x-peer", "value": "%DOWNSTREAM_REMOTE_ADDRESS%"},
                                          "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"}},
                              {"remove": "x-secret"}],
        "response_mutations": [{"append": {"header": {"key": "x-served-by", "value": "pymosn"}}}]}}
    routes = [
        {"match": {"prefix": "/echo/aborted"}, "route": {"cluster_name": "origin"},
         "per_filter_config": {"fault": {"abort": {"status": 503, "percentage": 100}}}},
        {"match": {"prefix": "/echo/slow"}, "route": {"cluster_name": "origin"},
         "per_filter_config": {"fault": {"delay": {"fixed_delay": f"{DELAY}s", "percentage": 100}}}},
        {"match": {"prefix": "/"}, "route": {"cluster_name": "origin"}},
    ]
    listener = {"access_logs": [{"log_path": log, "log_format": LOG_FORMAT}], "stream_filters": [
        {"type": "fault", "config": {}},  # no fault but where a route has its own
        {"type": "header_mutation", "config": header_mutation},
        {"type": "payload_limit", "config": {"max_entity_size": 100}},
    ]}
    return simple_config(port, [origin], admin_port=admin, routes=routes, listener=listener)


def _typed(name: str, message: str, **config) -> dict:
    return {"name": name, "typed_config": {"@type": f"{ENVOY_FILTERS}.{message}", **config}}


def envoy_config(port: int, admin: int, origin: int, log: str) -> dict:
    def abort_503() -> dict:
        return {"@type": f"{ENVOY_FILTERS}.fault.v3.HTTPFault",
                "abort": {"http_status": 503, "percentage": {"numerator": 100}}}

    slow = {"@type": "type.googleapis.com/envoy.config.route.v3.FilterConfig", "config": {
        "@type": f"{ENVOY_FILTERS}.fault.v3.HTTPFault",
        "delay": {"fixed_delay": f"{DELAY}s", "percentage": {"numerator": 100}}}}
    routes = [
        {"match": {"prefix": "/echo/aborted"}, "route": {"cluster": "origin"}, "typed_per_filter_config": {
            "faults": abort_503()}},
        {"match": {"prefix": "/echo/slow"}, "route": {"cluster": "origin"}, "typed_per_filter_config": {"faults": slow}},
        # Envoy's HeaderMatcher: a missing x-env is not "not prod"; exact_match "" is any value
        {"match": {"prefix": "/echo/nonprod", "headers": [{"name": "x-env", "exact_match": "prod",
                                                            "invert_match": True}]},
         "route": {"cluster": "origin"}, "typed_per_filter_config": {"faults": abort_503()}},
        {"match": {"prefix": "/echo/canary"}, "route": {"cluster": "origin"}, "typed_per_filter_config": {
            "faults": {**abort_503(), "headers": [{"name": "x-canary", "exact_match": ""}]}}},
        {"match": {"prefix": "/"}, "route": {"cluster": "origin"}},
    ]
    header_mutation = {"mutations": {
        "request_mutations": [{"append": {"header": {"key": "x-peer", "value": "%DOWNSTREAM_REMOTE_ADDRESS%"},
                                          "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"}},
                              {"remove": "x-secret"}],
        "response_mutations": [{"append": {"header": {"key": "x-served-by", "value": "pymosn"}}}]}}
    # header-controlled faults: the client picks them with x-envoy-fault-* headers
    fault = {"delay": {"header_delay": {}, "percentage": {"numerator": 100}},
             "abort": {"header_abort": {}, "percentage": {"numerator": 100}}}
    return filter_env.envoy_bootstrap(port, admin, origin, log, routes, [
        _typed("faults", "fault.v3.HTTPFault", **fault),
        _typed("mutate", "header_mutation.v3.HeaderMutation", **header_mutation),
        _typed("envoy.filters.http.buffer", "buffer.v3.Buffer", max_request_bytes=100)])


@pytest.fixture(scope="module", params=["mosn", "envoy"])
def env(request, tmp_path_factory):
    yield from filter_env.start(request.param, tmp_path_factory, mosn_config, envoy_config)


def test_header_mutation_rewrites_the_request_and_the_response(env):
    before = line_count(env)
    response = request(env, "/echo/plain", headers={"x-secret": "s", "x-peer": "forged"})
    seen = json.loads(response.content)["headers"]
    assert response.status_code == 200 and response.headers["x-served-by"] == "pymosn"
    assert seen["x-peer"].startswith("127.0.0.1:") and "x-secret" not in seen
    assert logged(env, before) == "200 - via_upstream /echo/plain"
    wait_stats(env.admin_port, IDLE)


def test_a_routes_fault_aborts_its_requests_only(env):
    before = stats(env.admin_port).get("http.ingress.fault.aborts_injected", 0)
    lines = line_count(env)
    response = request(env, "/echo/aborted/x")
    assert (response.status_code, response.content) == (503, b"fault filter abort")
    assert logged(env, lines) == "503 FI fault_filter_abort /echo/aborted/x"
    assert request(env, "/echo/fine").status_code == 200
    wait_stats(env.admin_port, {**IDLE, "http.ingress.fault.aborts_injected": before + 1,
                                "http.ingress.fault.active_faults": 0})


def test_a_routes_fixed_delay_holds_the_request_then_it_is_served(env):
    before = stats(env.admin_port).get("http.ingress.fault.delays_injected", 0)
    lines = line_count(env)
    started = time.monotonic()
    response = request(env, "/echo/slow/x")
    assert response.status_code == 200 and time.monotonic() - started >= DELAY
    assert logged(env, lines) == "200 DI via_upstream /echo/slow/x"
    wait_stats(env.admin_port, {**IDLE, "http.ingress.fault.delays_injected": before + 1,
                                "http.ingress.fault.active_faults": 0})


def test_header_controlled_faults(env):
    if env.format == "mosn":
        pytest.skip("MOSN's fault filter has no header-controlled faults (Envoy's do)")
    counters = stats(env.admin_port)
    lines = line_count(env)
    aborted = request(env, "/echo/a", headers={"x-envoy-fault-abort-request": "429"})
    assert aborted.status_code == 429
    assert logged(env, lines) == "429 FI fault_filter_abort /echo/a"
    started = time.monotonic()
    delayed = request(env, "/echo/d", headers={"x-envoy-fault-delay-request": str(int(DELAY * 1000))})
    assert delayed.status_code == 200 and time.monotonic() - started >= DELAY
    assert logged(env, lines + 1) == "200 DI via_upstream /echo/d"
    assert request(env, "/echo/none").status_code == 200  # no header, no fault
    assert logged(env, lines + 2) == "200 - via_upstream /echo/none"  # (the next test counts after it)
    wait_stats(env.admin_port, {
        **IDLE, "http.ingress.fault.active_faults": 0,
        "http.ingress.fault.aborts_injected": counters.get("http.ingress.fault.aborts_injected", 0) + 1,
        "http.ingress.fault.delays_injected": counters.get("http.ingress.fault.delays_injected", 0) + 1})


def test_route_and_fault_header_matchers_follow_envoy(env):
    if env.format == "mosn":
        pytest.skip("MOSN's route and fault headers have no invert_match or empty exact_match")
    before = stats(env.admin_port).get("http.ingress.fault.aborts_injected", 0)
    lines = line_count(env)
    cases = [
        ("/echo/nonprod", {}, 200),  # no x-env: the inverted route does not match, "/" serves it
        ("/echo/nonprod", {"x-env": "dev"}, 503),
        ("/echo/nonprod", {"x-env": "prod"}, 200),
        ("/echo/canary", {"x-canary": "yes"}, 503),  # exact_match "": any value
        ("/echo/canary", {}, 200),
    ]
    for path, headers, status in cases:
        assert request(env, path, headers=headers).status_code == status, (path, headers)
    flags = {200: "200 - via_upstream", 503: "503 FI fault_filter_abort"}
    assert log_lines(env.log, lines + len(cases))[lines:] == [f"{flags[status]} {path}" for path, _, status in cases]
    wait_stats(env.admin_port, {**IDLE, "http.ingress.fault.aborts_injected": before + 2,
                                "http.ingress.fault.active_faults": 0})


def test_payload_limit_answers_413_over_the_limit(env):
    before = stats(env.admin_port).get("http.ingress.payload_limit.rq_too_large", 0)
    lines = line_count(env)
    within = request(env, "/echo/small", "POST", content=b"x" * 100)
    assert within.status_code == 200 and json.loads(within.content)["body_bytes"] == 100

    def chunked():
        yield b"y" * 60
        yield b"y" * 60

    over = request(env, "/echo/big", "POST", content=chunked())
    assert over.status_code == 413
    assert log_lines(env.log, lines + 2)[-1] == "413 RT request_payload_too_large /echo/big"
    declared = request(env, "/echo/declared", "POST", content=b"z" * 101)  # refused from its content-length
    assert declared.status_code == 413
    wait_stats(env.admin_port, {**IDLE, "http.ingress.payload_limit.rq_too_large": before + 2})


def test_workers_run_the_filters_read_from_the_masters_dump_and_the_master_adds_up_their_counters(tmp_path):
    # each worker loads the config the master wrote (the filters' decoded form) and reports its
    # filters' counters, which the master's /stats adds up
    with Origin() as origin:
        port, admin = free_port(), free_port()
        config = envoy_config(port, admin, origin.port, str(tmp_path / "access.log"))
        with Pymosn(config, tmp_path, port, ["--concurrency", "2"]):
            for i in range(4):  # new connections: both workers may take some
                with httpx.Client() as client:
                    assert client.get(f"http://127.0.0.1:{port}/echo/aborted/{i}", timeout=10).status_code == 503
                    assert client.post(f"http://127.0.0.1:{port}/echo/big", content=b"x" * 101,
                                       timeout=10).status_code == 413
            wait_stats(admin, {**IDLE, "http.ingress.fault.aborts_injected": 4,
                               "http.ingress.payload_limit.rq_too_large": 4})
