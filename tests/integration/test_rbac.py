"""RBAC through a real pymosn: the network filter in front of a tcp_proxy closes a denied
source's connection before anything reaches the upstream, passes an allowed one, and counts
both (and its shadow rules) in /stats; the HTTP filter, in both config formats, answers a
denied request Envoy's 403 with the matched policy in the access log's details, lets a route's
RBACPerRoute replace or turn off the rules, counts in /stats, and tells mTLS clients apart by
their certificate's SPIFFE ID."""

from __future__ import annotations

import socket
import ssl

import httpx
import pytest

from pymosn.protocol.xprotocol import bolt
from pymosn.protocol.xprotocol.api import FrameKind
from tests.integration.test_xprotocol import rpc_config
from tests.support import filter_env
from tests.support.admin import log_lines, stats, wait_stats
from tests.support.certs import Pki
from tests.support.filter_env import IDLE, LOG_FORMAT, line_count, request
from tests.support.proxy import Pymosn, free_port, simple_config
from tests.support.tcp_servers import TcpServer
from tests.support.xexample_peer import BOLT_V2, XExampleClient, XExampleServer

ANY = {"any": True}
# loopback answers from every 127.0.0.0/8 address: a client bound to 127.0.0.2 is another source
ALLOWED_SOURCE, DENIED_SOURCE = "127.0.0.1", "127.0.0.2"
ONLY_ALLOWED_SOURCE = {"action": "ALLOW", "policies": {"from-allowed-source": {"permissions": [ANY], "principals": [
    {"direct_remote_ip": {"address_prefix": ALLOWED_SOURCE, "prefix_len": 32}}]}}}


def tcp_rbac_config(port: int, admin_port: int, upstream_port: int, rbac: dict) -> dict:
    return {
        "servers": [{"listeners": [{
            "name": "l4", "address": f"127.0.0.1:{port}",
            "filter_chains": [{"filters": [{"type": "rbac", "config": rbac},
                                           {"type": "tcp_proxy", "config": {"cluster": "c"}}]}],
        }]}],
        "cluster_manager": {"clusters": [{"name": "c", "lb_type": "LB_ROUNDROBIN", "connect_timeout": "1s",
                                          "hosts": [{"address": f"127.0.0.1:{upstream_port}"}]}]},
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin_port}}},
    }


@pytest.fixture
def echo():
    server = TcpServer("echo")
    yield server
    server.close()


def _connect(port: int, source: str) -> socket.socket:
    sock = socket.socket()
    sock.settimeout(5)
    sock.bind((source, 0))
    sock.connect(("127.0.0.1", port))
    return sock


def _settled(admin: int, upstream: TcpServer) -> tuple[dict[str, int], int]:
    """The stats and upstream connections once the start-up port probe's connection is over."""
    baseline = wait_stats(admin, {"listener.l4.downstream_cx_active": 0})
    return baseline, upstream.connections


def _plus(baseline: dict[str, int], deltas: dict[str, int]) -> dict[str, int]:
    return {name: baseline.get(name, 0) + delta for name, delta in deltas.items()}


def _closed_without_data(sock: socket.socket) -> bool:
    try:
        return sock.recv(100) == b""
    except ConnectionResetError:
        return True


@pytest.mark.parametrize("splice", ["1", "0"])
def test_a_denied_source_is_closed_and_an_allowed_one_passes(echo, start_proxy, monkeypatch, splice):
    # over both relay paths: the kernel splice must not carry a byte past the check
    monkeypatch.setenv("PYMOSN_DISABLE_SPLICE", "0" if splice == "1" else "1")
    admin = free_port()
    rbac = {"stat_prefix": "l4.", "rules": ONLY_ALLOWED_SOURCE, "shadow_rules": {"action": "DENY", "policies": {}},
            "shadow_rules_stat_prefix": "trial."}
    p = start_proxy(lambda port: tcp_rbac_config(port, admin, echo.port, rbac))
    before, upstream_connections = _settled(admin, echo)
    with _connect(p.port, ALLOWED_SOURCE) as allowed:
        allowed.sendall(b"ping")
        assert allowed.recv(100) == b"ping"
    with _connect(p.port, DENIED_SOURCE) as denied:
        try:
            denied.sendall(b"secret")
        except (BrokenPipeError, ConnectionResetError):
            pass  # closed before the write: as good
        assert _closed_without_data(denied)
    wait_stats(admin, _plus(before, {"l4.rbac.allowed": 1, "l4.rbac.denied": 1, "l4.rbac.trial.shadow_allowed": 2,
                                     "l4.rbac.trial.shadow_denied": 0, "listener.l4.downstream_cx_active": 0,
                                     "listener.l4.downstream_cx_total": 2}))
    assert echo.connections == upstream_connections + 1  # the denied source never reached the upstream


def test_an_envoy_bootstrap_network_rbac_with_delay_deny(echo, start_proxy):
    admin = free_port()

    def bootstrap(port: int) -> dict:
        rbac = {"name": "envoy.filters.network.rbac", "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC",
            "statPrefix": "edge.", "rules": {**ONLY_ALLOWED_SOURCE, "action": "DENY"}, "delayDeny": "0.3s"}}
        tcp = {"name": "envoy.filters.network.tcp_proxy", "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
            "stat_prefix": "tcp", "cluster": "c"}}
        return {
            "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin}}},
            "static_resources": {
                "listeners": [{"name": "l4", "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
                               "filter_chains": [{"filters": [rbac, tcp]}]}],
                "clusters": [{"name": "c", "connect_timeout": "1s", "type": "STATIC", "load_assignment": {
                    "cluster_name": "c", "endpoints": [{"lb_endpoints": [{"endpoint": {"address": {
                        "socket_address": {"address": "127.0.0.1", "port_value": echo.port}}}}]}]}}],
            },
        }

    p = start_proxy(bootstrap)
    before, upstream_connections = _settled(admin, echo)
    with _connect(p.port, DENIED_SOURCE) as other:  # the DENY policy names 127.0.0.1 only
        other.sendall(b"hi")
        assert other.recv(100) == b"hi"
    with _connect(p.port, ALLOWED_SOURCE) as denied:
        denied.sendall(b"x")
        assert _closed_without_data(denied)  # after the delay
    wait_stats(admin, _plus(before, {"edge.rbac.allowed": 1, "edge.rbac.denied": 1,
                                     "listener.l4.downstream_cx_active": 0}))
    assert echo.connections == upstream_connections + 1


# --- the HTTP filter --------------------------------------------------------------------------

RBAC_TYPE = "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC"
PER_ROUTE_TYPE = "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBACPerRoute"
GET = {"header": {"name": ":method", "string_match": {"exact": "GET"}}}
# admins (a token) anywhere; anyone may GET the health check
RULES = {"action": "ALLOW", "policies": {
    "admins": {"permissions": [ANY], "principals": [{"header": {"name": "x-admin-token", "present_match": True}}]},
    "health": {"permissions": [{"and_rules": {"rules": [GET, {"url_path": {"path": {"exact": "/echo/healthz"}}}]}}],
               "principals": [ANY]},
}}
SHADOW = {"action": "DENY", "policies": {"no posts": {"permissions": [{"not_rule": GET}], "principals": [ANY]}}}
NOBODY = {"rbac": {"rules": {"action": "DENY", "policies": {"closed route": {"permissions": [ANY],
                                                                            "principals": [ANY]}}}}}


def mosn_http_config(port: int, admin: int, origin: int, log: str) -> dict:
    routes = [
        {"match": {"prefix": "/echo/open"}, "route": {"cluster_name": "origin"}, "per_filter_config": {"rbac": {}}},
        {"match": {"prefix": "/echo/closed"}, "route": {"cluster_name": "origin"}, "per_filter_config": {"rbac": NOBODY}},
        {"match": {"prefix": "/"}, "route": {"cluster_name": "origin"}},
    ]
    listener = {"access_logs": [{"log_path": log, "log_format": LOG_FORMAT}], "stream_filters": [
        {"type": "rbac", "config": {"version": "1", "rules": RULES, "shadow_rules": SHADOW}}]}
    return simple_config(port, [origin], admin_port=admin, routes=routes, listener=listener)


def envoy_http_config(port: int, admin: int, origin: int, log: str) -> dict:
    routes = [
        {"match": {"prefix": "/echo/open"}, "route": {"cluster": "origin"},
         "typed_per_filter_config": {"authz": {"@type": PER_ROUTE_TYPE}}},
        {"match": {"prefix": "/echo/closed"}, "route": {"cluster": "origin"},
         "typed_per_filter_config": {"authz": {"@type": PER_ROUTE_TYPE, **NOBODY}}},
        {"match": {"prefix": "/"}, "route": {"cluster": "origin"}},
    ]
    return filter_env.envoy_bootstrap(port, admin, origin, log, routes, [
        {"name": "authz", "typed_config": {"@type": RBAC_TYPE, "rules": RULES, "shadowRules": SHADOW}}])


@pytest.fixture(scope="module", params=["mosn", "envoy"])
def http_env(request, tmp_path_factory):
    yield from filter_env.start(request.param, tmp_path_factory, mosn_http_config, envoy_http_config)


def _rbac_counts(admin: int) -> dict[str, int]:
    return {name: value for name, value in stats(admin).items() if ".rbac." in name}


def test_denied_requests_get_envoys_403_and_details_and_the_counters_add_up(http_env):
    counts = _rbac_counts(http_env.admin_port)
    upstream = stats(http_env.admin_port).get("cluster.origin.upstream_rq_total", 0)
    lines = line_count(http_env)
    denied = request(http_env, "/echo/private?x=1")
    assert (denied.status_code, denied.content) == (403, b"RBAC: access denied")
    assert request(http_env, "/echo/private", headers={"x-admin-token": "t"}).status_code == 200
    assert request(http_env, "/echo/healthz?probe=1").status_code == 200  # url_path ignores the query
    assert request(http_env, "/echo/healthz", "POST").status_code == 403  # health is GET only
    assert log_lines(http_env.log, lines + 4)[lines:] == [
        "403 - rbac_access_denied_matched_policy[none] /echo/private?x=1", "200 - via_upstream /echo/private",
        "200 - via_upstream /echo/healthz?probe=1", "403 - rbac_access_denied_matched_policy[none] /echo/healthz"]
    expected = {"http.ingress.rbac.allowed": 2, "http.ingress.rbac.denied": 2,
                "http.ingress.rbac.shadow_allowed": 3, "http.ingress.rbac.shadow_denied": 1}
    wait_stats(http_env.admin_port, {**IDLE, "cluster.origin.upstream_rq_total": upstream + 2,
                                     **{k: counts.get(k, 0) + v for k, v in expected.items()}})


def test_a_routes_rbac_per_route_replaces_or_turns_off_the_rules(http_env):
    counts = _rbac_counts(http_env.admin_port)
    lines = line_count(http_env)
    assert request(http_env, "/echo/open/x").status_code == 200  # RBACPerRoute without rbac: no checks
    closed = request(http_env, "/echo/closed/x", headers={"x-admin-token": "t"})
    assert closed.status_code == 403  # the route's rules replace the filter's
    assert log_lines(http_env.log, lines + 2)[-1] == (
        "403 - rbac_access_denied_matched_policy[closed_route] /echo/closed/x")
    wait_stats(http_env.admin_port, {**IDLE, "http.ingress.rbac.allowed": counts.get("http.ingress.rbac.allowed", 0),
                                     "http.ingress.rbac.denied": counts.get("http.ingress.rbac.denied", 0) + 1})


def test_http2_requests_are_checked_the_same(http_env):
    if http_env.format == "mosn":
        pytest.skip("this MOSN listener speaks HTTP/1.1; the Envoy one detects HTTP/2 (codec AUTO)")
    counts = _rbac_counts(http_env.admin_port)
    with httpx.Client(base_url=f"http://127.0.0.1:{http_env.port}", http1=False, http2=True, timeout=10) as client:
        denied = client.get("/echo/h2")
        allowed = client.get("/echo/h2", headers={"x-admin-token": "t"})
    assert (denied.http_version, denied.status_code, denied.content) == ("HTTP/2", 403, b"RBAC: access denied")
    assert allowed.status_code == 200
    wait_stats(http_env.admin_port, {**IDLE, "http.ingress.rbac.allowed": counts.get("http.ingress.rbac.allowed", 0) + 1,
                                     "http.ingress.rbac.denied": counts.get("http.ingress.rbac.denied", 0) + 1})


def test_the_mtls_principal_is_the_clients_spiffe_id(origin, tmp_path, start_proxy):
    pki = Pki(tmp_path)
    cert, key = pki.server("localhost", "localhost")
    frontend = pki.client("frontend", "spiffe://cluster.local/ns/default/sa/frontend")
    backend = pki.client("backend", "spiffe://cluster.local/ns/default/sa/backend")
    admin = free_port()
    rules = {"action": "ALLOW", "policies": {"frontend": {"permissions": [ANY], "principals": [
        {"authenticated": {"principal_name": {"exact": "spiffe://cluster.local/ns/default/sa/frontend"}}}]}}}

    def config(port: int) -> dict:
        built = simple_config(port, [origin.port], admin_port=admin, listener={"stream_filters": [
            {"type": "rbac", "config": {"version": "1", "rules": rules}}]})
        built["servers"][0]["listeners"][0]["filter_chains"][0]["tls_context"] = {
            "status": True, "cert_chain": cert, "private_key": key, "ca_cert": pki.ca_path,
            "require_client_cert": True}
        return built

    p = start_proxy(config)

    def client(identity: tuple[str, str]) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=pki.ca_path)
        ctx.load_cert_chain(*identity)
        return ctx

    assert httpx.get(f"https://localhost:{p.port}/echo/a", verify=client(frontend), timeout=10).status_code == 200
    refused = httpx.get(f"https://localhost:{p.port}/echo/a", verify=client(backend), timeout=10)
    assert (refused.status_code, refused.content) == (403, b"RBAC: access denied")
    wait_stats(admin, {**IDLE, "http.ingress.rbac.allowed": 1, "http.ingress.rbac.denied": 1})


# --- X-Protocol ------------------------------------------------------------------------------

def test_rbac_on_a_bolt_listener_answers_the_bolt_status(tmp_path):
    rules = {"action": "ALLOW", "policies": {"acme-tenant": {"permissions": [
        {"header": {"name": "x-tenant", "exact_match": "acme"}}], "principals": [ANY]}}}
    log = tmp_path / "access.log"
    with pytest.MonkeyPatch.context() as patch, XExampleServer("a", dialect=BOLT_V2) as upstream:
        patch.setenv("PYMOSN_FILE_FLUSH_INTERVAL_MSEC", "50")
        port, admin = free_port(), free_port()
        config = rpc_config(port, admin, {"a": [upstream.port]}, protocol="boltv2")
        # (the RPC proxy does not record %RESPONSE_CODE_DETAILS% of local replies yet)
        config["servers"][0]["listeners"][0]["access_logs"] = [{"log_path": str(log),
                                                                 "log_format": "%RESPONSE_CODE% %REQ(:PATH)%\n"}]
        config["servers"][0]["listeners"][0]["stream_filters"] = [
            {"type": "rbac", "config": {"version": "1", "rules": rules}}]
        with Pymosn(config, tmp_path, port):
            client = XExampleClient(port, dialect=BOLT_V2)
            refused = client.call({"service": "com.acme.Echo:1.0", "x-tenant": "other"}, b"x")
            served = client.call({"service": "com.acme.Echo:1.0", "x-tenant": "acme"}, b"y")
            client.close()
            assert refused.kind == FrameKind.RESPONSE and refused.status == bolt.SERVER_EXCEPTION
            assert served.status == bolt.SUCCESS and len(upstream.requests) == 1
            assert log_lines(log, 2) == ["403 com.acme.Echo:1.0", "200 com.acme.Echo:1.0"]
            wait_stats(admin, {"http.rpc.rbac.allowed": 1, "http.rpc.rbac.denied": 1,
                               "http.rpc.downstream_rq_active": 0, "rpc.boltv2.downstream_rq_active": 0})
