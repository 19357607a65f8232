"""RBAC through a real pymosn: the network filter in front of a tcp_proxy closes a denied
source's connection before anything reaches the upstream, passes an allowed one, and counts
both (and its shadow rules) in /stats."""

from __future__ import annotations

import socket

import pytest

from tests.support.admin import wait_stats
from tests.support.proxy import free_port
from tests.support.tcp_servers import TcpServer

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
