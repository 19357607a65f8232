"""SOFARPC Bolt v1 and v2 (with CRC32) through pymosn end to end, in MOSN's config shapes:
routing on the header map and the class name, multiplexed upstream connections, out-of-order
answers, timeouts with late answers dropped, heartbeats, one-way calls, dead backends, 64 KB
payloads, Auto detection, and heartbeat health checks. The peers speak Bolt framing built
from the SOFABolt layout (tests/support/xexample_peer.py)."""

from __future__ import annotations

import threading
import time

import pytest

from pymosn.protocol.xprotocol import bolt
from pymosn.protocol.xprotocol.api import FrameKind
from tests.integration.test_health_check import host_health, wait_until
from tests.integration.test_xprotocol import rpc_config, stats
from tests.support.proxy import Pymosn, free_port
from tests.support.xexample_peer import BOLT, BOLT_V2, XExampleClient, XExampleServer

DIALECTS = {"bolt": BOLT, "boltv2": BOLT_V2}


@pytest.fixture(params=["bolt", "boltv2"])
def protocol(request):
    return request.param


def mosn_x(config: dict, sub_protocol: str) -> dict:
    """MOSN's classic shape: protocol X with extend_config.sub_protocol."""
    proxy = config["servers"][0]["listeners"][0]["filter_chains"][0]["filters"][0]["config"]
    proxy.update(downstream_protocol="X", upstream_protocol="X", extend_config={"sub_protocol": sub_protocol})
    return config


def test_routes_on_service_and_method_and_answers_locally(tmp_path, protocol):
    dialect = DIALECTS[protocol]
    with XExampleServer("a", dialect=dialect) as a, XExampleServer("b", dialect=dialect) as b:
        port, admin = free_port(), free_port()
        routes = [
            {"match": {"headers": [{"name": "service", "value": "com.acme.Echo:1.0"},
                                   {"name": "sofa_head_method_name", "value": "slow.*", "regex": True}]},
             "route": {"cluster_name": "b", "timeout": "300ms"}},
            {"match": {"headers": [{"name": "service", "value": "com.acme.Echo:1.0"}]}, "route": {"cluster_name": "a"}},
            {"match": {"headers": [{"name": "class_name", "value": bolt.SOFA_REQUEST_CLASS}]},
             "route": {"cluster_name": "b"}},
        ]
        config = mosn_x(rpc_config(port, admin, {"a": [a.port], "b": [b.port]}, routes=routes), protocol)
        with Pymosn(config, tmp_path, port):
            client = XExampleClient(port, dialect=dialect)
            answer = client.call({"service": "com.acme.Echo:1.0", "sofa_head_method_name": "echo"}, b"hello")
            assert answer.status == bolt.SUCCESS and dialect.body(answer) == b"hello"
            assert len(a.requests) == 1 and a.requests[0].class_name == bolt.SOFA_REQUEST_CLASS
            # routed on the request class alone
            assert dialect.body(client.call({"service": "com.acme.Other:1.0"}, b"by class")) == b"by class"
            assert len(b.requests) == 1
            # no route -> NO_PROCESSOR, the caller's own id
            raw_client = XExampleClient(port, dialect=dialect)
            frame = dialect.codec.request(77, {"service": "com.acme.Unknown:1.0"}, b"", class_name="x.Other")
            raw_client.sock.sendall(frame)
            assert raw_client.wait(77).status == bolt.NO_PROCESSOR
            raw_client.close()
            # the route's timeout -> TIMEOUT; the late answer is dropped
            late = client.send(FrameKind.REQUEST, {"service": "com.acme.Echo:1.0", "sofa_head_method_name": "slowly",
                                                   "delay-ms": "700"}, b"late")
            assert client.wait(late).status == bolt.TIMEOUT
            time.sleep(0.6)
            assert client.call({"service": "com.acme.Echo:1.0", "sofa_head_method_name": "echo"}, b"x").status == 0
            assert not client.answers
            counters = stats(admin)
            assert counters[f"rpc.{protocol}.upstream_late_response_dropped"] == 1
            assert counters[f"rpc.{protocol}.response_status.0"] == 3
            client.close()


def test_multiplexed_callers_heartbeats_oneway_and_big_payloads(tmp_path, protocol):
    dialect = DIALECTS[protocol]
    with XExampleServer("a", dialect=dialect) as a:
        port, admin = free_port(), free_port()
        config = rpc_config(port, admin, {"a": [a.port]}, protocol=protocol)
        with Pymosn(config, tmp_path, port):
            clients = [XExampleClient(port, dialect=dialect) for _ in range(4)]
            errors: list[str] = []

            def caller(i: int) -> None:
                for j in range(10):
                    body = bytes([i]) * (64 * 1024 if j == 0 else 100 + i)
                    answer = clients[i % 4].call({"service": "s", "delay-ms": str((i + j) % 7)}, body)
                    if dialect.body(answer) != body:
                        errors.append(f"{i}/{j}")

            threads = [threading.Thread(target=caller, args=(i,)) for i in range(50)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
            assert errors == [] and len(a.requests) == 500 and a.connections == 1
            beat = clients[0].send(FrameKind.REQUEST, {}, heartbeat=True)
            assert clients[0].wait(beat).heartbeat and a.heartbeats == 0
            clients[0].send(FrameKind.ONEWAY, {"service": "s"}, b"fire")
            assert clients[0].call({"service": "s"}, b"after").status == 0
            assert a.requests[-2].kind == FrameKind.ONEWAY
            for client in clients:
                client.close()


def test_dead_backend_and_health_check(tmp_path, protocol):
    dialect = DIALECTS[protocol]
    dead = free_port()
    with XExampleServer("a", dialect=dialect) as a:
        port, admin = free_port(), free_port()
        config = rpc_config(port, admin, {"a": [a.port, dead]}, protocol=protocol)
        config["cluster_manager"]["clusters"][0]["health_check"] = {
            "protocol": protocol, "interval": "100ms", "timeout": "300ms", "unhealthy_threshold": 2}
        with Pymosn(config, tmp_path, port):
            client = XExampleClient(port, dialect=dialect)
            killer = client.send(FrameKind.REQUEST, {"service": "s", "die": "1"}, b"")
            first = client.wait(killer).status
            # round robin may have sent it to the dead port: either way a Bolt error status
            assert first == bolt.CONNECTION_CLOSED
            wait_until(lambda: host_health(admin, "a")[f"127.0.0.1:{dead}"] == "UNHEALTHY")
            for _ in range(10):
                assert client.call({"service": "s"}).status == 0
            assert a.heartbeats >= 2
            client.close()


def test_auto_detects_bolt_next_to_http(tmp_path):
    with XExampleServer("a", dialect=BOLT) as a, XExampleServer("b", dialect=BOLT_V2) as b:
        port, admin = free_port(), free_port()
        routes = [{"match": {"headers": [{"name": "service", "value": "v2"}]}, "route": {"cluster_name": "b"}},
                  {"match": {"headers": [{"name": "service", "value": "v1"}]}, "route": {"cluster_name": "a"}}]
        config = rpc_config(port, admin, {"a": [a.port], "b": [b.port]}, protocol="Auto", routes=routes)
        with Pymosn(config, tmp_path, port):
            v1 = XExampleClient(port, dialect=BOLT)
            v2 = XExampleClient(port, dialect=BOLT_V2)
            assert BOLT.body(v1.call({"service": "v1"}, b"one")) == b"one"
            assert BOLT_V2.body(v2.call({"service": "v2"}, b"two")) == b"two"
            assert len(a.requests) == 1 and len(b.requests) == 1
            v1.close()
            v2.close()
