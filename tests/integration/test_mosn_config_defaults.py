"""MOSN-format configs as MOSN's own samples write them, served end to end: a proxy filter without
upstream_protocol speaks the client's protocol upstream (configs/mosn_config.json's Auto listener,
the sofarpc samples), and routers written in the deprecated connection_manager filter route
(test/benchmark/mosn_benchmark.json)."""

from __future__ import annotations

import json
import subprocess
import sys

import httpx
import pytest

from pymosn.protocol.xprotocol import bolt
from tests.integration.test_xprotocol import rpc_config
from tests.support.admin import wait_stats
from tests.support.h2_origin import H2Origin
from tests.support.proxy import Pymosn, free_port, simple_config
from tests.support.xexample_peer import BOLT, XExampleClient, XExampleServer


def _without_upstream_protocol(config: dict) -> dict:
    for network_filter in config["servers"][0]["listeners"][0]["filter_chains"][0]["filters"]:
        network_filter["config"].pop("upstream_protocol", None)
    return config


@pytest.fixture
def h2_origin():
    with H2Origin() as origin:
        yield origin


def test_auto_listener_without_upstream_protocol_speaks_each_clients_protocol(h2_origin, origin, start_proxy):
    """h2 clients reach an h2c-only origin as HTTP/2; HTTP/1.1 clients an HTTP/1.1-only one as HTTP/1.1
    (either origin refuses the other protocol)."""
    admin = free_port()
    routes = [{"match": {"prefix": "/", "headers": [{"name": "x-to", "value": "h2"}]}, "route": {"cluster_name": "h2"}},
              {"match": {"prefix": "/"}, "route": {"cluster_name": "origin"}}]
    h2_cluster = {"name": "h2", "type": "SIMPLE", "lb_type": "LB_ROUNDROBIN",
                  "hosts": [{"address": f"127.0.0.1:{h2_origin.port}"}]}
    p = start_proxy(lambda port: _without_upstream_protocol(simple_config(
        port, [origin.port], admin_port=admin, routes=routes, extra_clusters=[h2_cluster],
        proxy={"downstream_protocol": "Auto"})))
    with httpx.Client(http1=False, http2=True, timeout=10) as client:
        r = client.get(f"http://127.0.0.1:{p.port}/echo", headers={"x-to": "h2"})
        assert (r.http_version, r.status_code) == ("HTTP/2", 200)
        assert r.json()["path"] == "/echo"
    with httpx.Client(timeout=10) as client:
        r = client.get(f"http://127.0.0.1:{p.port}/echo")
        assert (r.http_version, r.status_code) == ("HTTP/1.1", 200)
        assert r.json()["path"] == "/echo"
    assert h2_origin.connections == 1 and len(h2_origin.requests) == 1
    assert [request["path"] for request in origin.requests] == ["/echo"]
    wait_stats(admin, {"http.ingress.downstream_rq_active": 0, "cluster.h2.upstream_rq_total": 1,
                       "cluster.origin.upstream_rq_total": 1})


def test_bolt_proxy_without_upstream_protocol_loads_and_forwards(tmp_path):
    with XExampleServer("a", dialect=BOLT) as server:
        port, admin = free_port(), free_port()
        config = _without_upstream_protocol(rpc_config(port, admin, {"a": [server.port]}, protocol="bolt"))
        with Pymosn(config, tmp_path, port):
            client = XExampleClient(port, dialect=BOLT)
            answer = client.call({"service": "com.acme.Echo:1.0"}, b"hello")
            assert answer.status == bolt.SUCCESS and BOLT.body(answer) == b"hello"
            assert len(server.requests) == 1
            client.close()


def _connection_manager_config(port: int, origin_port: int) -> dict:
    """Routers inside the filter chain, none in the server's routers."""
    config = simple_config(port, [origin_port], routes=[
        {"match": {"headers": [{"name": "service", "value": "com.alipay.test.TestService:1.0"}]},
         "route": {"cluster_name": "origin"}}])
    server = config["servers"][0]
    router = server.pop("routers")[0]
    server["listeners"][0]["filter_chains"][0]["filters"].append({"type": "connection_manager", "config": router})
    return config


def test_connection_manager_routers_route_requests(origin, start_proxy):
    p = start_proxy(lambda port: _connection_manager_config(port, origin.port))
    r = httpx.get(f"http://127.0.0.1:{p.port}/echo", headers={"service": "com.alipay.test.TestService:1.0"},
                  timeout=10)
    assert r.status_code == 200 and r.json()["path"] == "/echo"
    assert httpx.get(f"http://127.0.0.1:{p.port}/echo", timeout=10).status_code == 404  # no route matches


def test_validate_prints_the_connection_manager_deprecation(tmp_path):
    path = tmp_path / "mosn.json"
    path.write_text(json.dumps(_connection_manager_config(free_port(), free_port())))
    done = subprocess.run([sys.executable, "-m", "pymosn", "validate", "-c", str(path)], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines() == [
        "warning: $.servers[0].listeners[0].filter_chains[0].filters[1]: network filter 'connection_manager' is "
        "deprecated in MOSN; its router config 'r' is served as if it were in the server's routers (move it there)"]
