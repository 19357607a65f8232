"""Active health checks: hosts failing their checks leave load balancing and come back when
they pass again; RPC hosts are checked with their protocol's heartbeat."""

from __future__ import annotations

import time

import httpx

from tests.integration.test_xprotocol import rpc_config, stats
from tests.support.origin import Origin
from tests.support.proxy import Pymosn, free_port, simple_config
from tests.support.xexample_peer import XExampleClient, XExampleServer


def host_health(admin: int, cluster: str) -> dict[str, str]:
    found = httpx.get(f"http://127.0.0.1:{admin}/clusters?format=json", timeout=5).json()
    for status in found["cluster_statuses"]:
        if status["name"] == cluster:
            return {
                f'{h["address"]["socket_address"]["address"]}:{h["address"]["socket_address"]["port_value"]}':
                    h["health_status"]["eds_health_status"]
                for h in status["host_statuses"]
            }
    raise KeyError(cluster)


def wait_until(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached")


def test_rpc_heartbeat_health_check_takes_a_dead_host_out_and_back(tmp_path):
    dead_port = free_port()
    with XExampleServer("a") as a:
        port, admin = free_port(), free_port()
        config = rpc_config(port, admin, {"rpc": [a.port, dead_port]})
        config["cluster_manager"]["clusters"][0]["health_check"] = {
            "protocol": "x_example", "interval": "100ms", "timeout": "200ms",
            "healthy_threshold": 1, "unhealthy_threshold": 2,
        }
        with Pymosn(config, tmp_path, port):
            wait_until(lambda: stats(admin).get("cluster.rpc.health_check_failure", 0) >= 2)
            client = XExampleClient(port)
            for _ in range(20):  # round robin would send half to the dead host
                assert client.call({"service": "s"}).status == 0
            assert a.heartbeats >= 2  # checked with heartbeats, on a kept connection
            health = host_health(admin, "rpc")
            assert health[f"127.0.0.1:{dead_port}"] == "UNHEALTHY"
            assert health[f"127.0.0.1:{a.port}"] == "HEALTHY"
            with XExampleServer("b", port=dead_port) as b:
                wait_until(lambda: host_health(admin, "rpc")[f"127.0.0.1:{dead_port}"] == "HEALTHY")
                for _ in range(20):
                    assert client.call({"service": "s"}).status == 0
                assert len(b.requests) > 0
            client.close()


def test_http_health_check_uses_the_configured_path(tmp_path):
    with Origin() as good, Origin("bad") as bad:
        port, admin = free_port(), free_port()
        config = simple_config(port, [good.port, bad.port], admin_port=admin)
        config["cluster_manager"]["clusters"][0]["health_check"] = {
            "protocol": "Http1", "interval": "100ms", "timeout": "500ms",
            "check_config": {"http_check_config": {"path": "/status/200", "codes": [{"start": 200, "end": 300}]}},
        }
        with Pymosn(config, tmp_path, port):
            wait_until(lambda: stats(admin).get("cluster.origin.health_check_success", 0) >= 4)
            assert set(host_health(admin, "origin").values()) == {"HEALTHY"}
            assert any(r["path"] == "/status/200" for r in good.requests)
        config["cluster_manager"]["clusters"][0]["health_check"]["check_config"]["http_check_config"]["path"] = "/status/503"
        with Pymosn(config, tmp_path, port):
            wait_until(lambda: set(host_health(admin, "origin").values()) == {"UNHEALTHY"})
            response = httpx.get(f"http://127.0.0.1:{port}/echo")
            assert response.status_code == 503  # no healthy upstream


def test_tcp_health_check(tmp_path):
    dead = free_port()
    with Origin() as good:
        port, admin = free_port(), free_port()
        config = simple_config(port, [good.port, dead], admin_port=admin)
        config["cluster_manager"]["clusters"][0]["health_check"] = {"protocol": "tcp", "interval": "100ms"}
        with Pymosn(config, tmp_path, port):
            wait_until(lambda: host_health(admin, "origin")[f"127.0.0.1:{dead}"] == "UNHEALTHY")
            for _ in range(10):
                assert httpx.get(f"http://127.0.0.1:{port}/echo").status_code == 200
