"""Dubbo through pymosn end to end: routing on interface, method and the group attachment,
many concurrent calls multiplexed upstream, timeouts (CLIENT_TIMEOUT) with late answers
dropped, heartbeats answered by the proxy, one-way calls, a dead backend, Auto detection."""

from __future__ import annotations

import threading
import time

from pymosn.protocol.xprotocol import dubbo
from pymosn.protocol.xprotocol.api import FrameKind
from tests.integration.test_xprotocol import rpc_config, stats
from tests.support.proxy import Pymosn, free_port
from tests.support.xexample_peer import DUBBO, XExampleClient, XExampleServer


def test_dubbo_routes_on_interface_method_and_group(tmp_path):
    with XExampleServer("a", dialect=DUBBO) as a, XExampleServer("b", dialect=DUBBO) as b:
        port, admin = free_port(), free_port()
        routes = [
            {"match": {"headers": [{"name": "service", "value": "com.acme.Echo"}, {"name": "group", "value": "blue"}]},
             "route": {"cluster_name": "b"}},
            {"match": {"headers": [{"name": "service", "value": "com.acme.Echo"}]},
             "route": {"cluster_name": "a", "timeout": "300ms"}},
        ]
        with Pymosn(rpc_config(port, admin, {"a": [a.port], "b": [b.port]}, protocol="dubbo", routes=routes),
                    tmp_path, port):
            client = XExampleClient(port, dialect=DUBBO)
            assert DUBBO.body(client.call({"service": "com.acme.Echo", "group": "blue"}, b"to b")) == b"to b"
            assert DUBBO.body(client.call({"service": "com.acme.Echo"}, b"to a")) == b"to a"
            assert (len(a.requests), len(b.requests)) == (1, 1)
            assert client.call({"service": "com.acme.Other"}).status == dubbo.SERVICE_NOT_FOUND
            late = client.send(FrameKind.REQUEST, {"service": "com.acme.Echo", "delay-ms": "700"}, b"late")
            assert client.wait(late).status == dubbo.CLIENT_TIMEOUT
            time.sleep(0.6)
            beat = client.send(FrameKind.REQUEST, {}, heartbeat=True)
            assert client.wait(beat).heartbeat and a.heartbeats == 0
            client.send(FrameKind.ONEWAY, {"service": "com.acme.Echo"}, b"oneway")
            assert client.call({"service": "com.acme.Echo"}, b"x").status == dubbo.OK
            assert a.requests[-2].kind == FrameKind.ONEWAY
            assert not client.answers
            counters = stats(admin)
            assert counters["rpc.dubbo.upstream_late_response_dropped"] == 1
            assert counters["rpc.dubbo.response_status.20"] == 3
            client.close()


def test_dubbo_many_callers_and_a_dead_backend(tmp_path):
    with XExampleServer("a", dialect=DUBBO) as a:
        port, admin = free_port(), free_port()
        with Pymosn(rpc_config(port, admin, {"a": [a.port]}, protocol="Auto"), tmp_path, port):
            clients = [XExampleClient(port, dialect=DUBBO) for _ in range(4)]
            errors: list[str] = []

            def caller(i: int) -> None:
                for j in range(10):
                    body = f"{i}-{j}-".encode() * (1 + i)
                    if DUBBO.body(clients[i % 4].call({"service": "s", "delay-ms": str(j % 5)}, body)) != body:
                        errors.append(f"{i}/{j}")

            threads = [threading.Thread(target=caller, args=(i,)) for i in range(50)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
            assert errors == [] and len(a.requests) == 500 and a.connections == 1
            pending = clients[0].send(FrameKind.REQUEST, {"service": "s", "delay-ms": "300"}, b"in flight")
            killer = clients[1].send(FrameKind.REQUEST, {"service": "s", "die": "1"}, b"")
            assert clients[1].wait(killer).status == dubbo.SERVICE_NOT_FOUND  # connection failure
            assert clients[0].wait(pending).status == dubbo.SERVICE_NOT_FOUND
            assert DUBBO.body(clients[2].call({"service": "s"}, b"again")) == b"again"
            for client in clients:
                client.close()


def test_dubbo_64k_payloads_answered_out_of_order(tmp_path):
    """64 KB (and larger-than-one-hessian-chunk) string arguments cross the proxy untouched, while
    a slower call on the same connection is answered after faster ones sent behind it."""
    with XExampleServer("a", dialect=DUBBO) as a:
        port, admin = free_port(), free_port()
        with Pymosn(rpc_config(port, admin, {"a": [a.port]}, protocol="dubbo"), tmp_path, port):
            client = XExampleClient(port, dialect=DUBBO)
            slow = client.send(FrameKind.REQUEST, {"service": "s", "delay-ms": "2000"}, b"slow")
            bodies = {client.send(FrameKind.REQUEST, {"service": "s"}, bytes([65 + i]) * size): bytes([65 + i]) * size
                      for i, size in enumerate((64 * 1024, 70_000, 100))}
            for request_id, body in bodies.items():
                assert DUBBO.body(client.wait(request_id)) == body
            with client.cond:
                assert slow not in client.answers  # still being worked on: answers came out of order
            assert DUBBO.body(client.wait(slow)) == b"slow"
            assert a.connections == 1
            client.close()
