"""The X-Protocol proxy end to end with the x_example codec: routing on frame headers,
multiplexed upstream connections with request-id rewriting, out-of-order answers, timeouts and
late answers, heartbeats, one-way calls, dead backends, bad bytes, and Auto detection."""

from __future__ import annotations

import socket
import threading
import time

import httpx
import pytest

from pymosn.protocol.xprotocol.api import FrameKind
from tests.support.admin import log_lines
from tests.support.origin import Origin
from tests.support.proxy import Pymosn, free_port
from tests.support.tcp_servers import TcpServer
from tests.support.xexample_peer import XExampleClient, XExampleServer, body_of


def rpc_config(port, admin, clusters: dict[str, list[int]], *, protocol="x_example", routes=None, proxy=None,
               extra_filters=None):
    routes = routes or [{"match": {"headers": [{"name": "service", "value": ".*", "regex": True}]},
                         "route": {"cluster_name": next(iter(clusters))}}]
    return {
        "servers": [
            {
                "listeners": [
                    {
                        "name": "rpc",
                        "address": f"127.0.0.1:{port}",
                        "filter_chains": [
                            {
                                "filters": [
                                    {
                                        "type": "proxy",
                                        "config": {
                                            "downstream_protocol": protocol,
                                            "upstream_protocol": protocol,
                                            "router_config_name": "r",
                                            **(proxy or {}),
                                        },
                                    },
                                    *(extra_filters or []),
                                ]
                            }
                        ],
                    }
                ],
                "routers": [
                    {"router_config_name": "r", "virtual_hosts": [{"name": "all", "domains": ["*"], "routers": routes}]}
                ],
            }
        ],
        "cluster_manager": {
            "clusters": [
                {"name": name, "connect_timeout": "1s", "hosts": [{"address": f"127.0.0.1:{p}"} for p in ports]}
                for name, ports in clusters.items()
            ]
        },
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin}}},
    }


def stats(admin: int) -> dict[str, int]:
    text = httpx.get(f"http://127.0.0.1:{admin}/stats", timeout=5).text
    return {k.strip(): int(v) for k, _, v in (line.partition(":") for line in text.splitlines()) if v.strip().isdigit()}


@pytest.fixture
def servers():
    with XExampleServer("a") as a, XExampleServer("b") as b:
        yield a, b


def test_routes_on_frame_headers_and_rewrites_ids(tmp_path, servers):
    a, b = servers
    port, admin = free_port(), free_port()
    routes = [
        {"match": {"headers": [{"name": "service", "value": "com.example.B"}]}, "route": {"cluster_name": "b"}},
        {"match": {"headers": [{"name": "service", "value": "com\\.example\\..*", "regex": True}]},
         "route": {"cluster_name": "a"}},
    ]
    with Pymosn(rpc_config(port, admin, {"a": [a.port], "b": [b.port]}, routes=routes), tmp_path, port):
        client = XExampleClient(port)
        answer = client.call({"service": "com.example.A"}, b"hello")
        assert answer.status == 0 and answer.headers["server"] == "a" and body_of(answer) == b"hello"
        answer = client.call({"service": "com.example.B"}, b"bye")
        assert answer.headers["server"] == "b" and body_of(answer) == b"bye"
        answer = client.call({"service": "org.other"})
        assert answer.status == 2 and "no route" in answer.headers["error"]  # NO_ROUTE, local reply
        assert len(a.requests) == 1 and len(b.requests) == 1
        client.close()
        counters = stats(admin)
        assert counters["rpc.x_example.downstream_rq_total"] == 3
        assert counters["rpc.x_example.downstream_rq_local_reply"] == 1
        assert counters["rpc.x_example.response_status.0"] == 2


def test_many_callers_share_one_multiplexed_upstream_connection(tmp_path, servers):
    """50 concurrent callers over 4 downstream connections: one upstream connection carries
    them all, answers come back out of order, and every caller gets its own answer."""
    a, _ = servers
    port, admin = free_port(), free_port()
    with Pymosn(rpc_config(port, admin, {"a": [a.port]}), tmp_path, port):
        clients = [XExampleClient(port) for _ in range(4)]
        errors: list[str] = []

        def caller(i: int) -> None:
            client = clients[i % 4]
            for j in range(20):
                body = f"caller {i} call {j}".encode() + b"x" * (i * 100)
                answer = client.call({"service": "s", "delay-ms": str((i * 7 + j * 3) % 20)}, body)
                if body_of(answer) != body:
                    errors.append(f"{i}/{j}: got {body_of(answer)[:30]!r}")

        threads = [threading.Thread(target=caller, args=(i,)) for i in range(50)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert errors == []
        assert len(a.requests) == 1000
        assert a.connections == 1
        assert stats(admin)["cluster.a.upstream_cx_total"] == 1
        for client in clients:
            client.close()


def test_64k_payloads(tmp_path, servers):
    a, _ = servers
    port, admin = free_port(), free_port()
    with Pymosn(rpc_config(port, admin, {"a": [a.port]}), tmp_path, port):
        client = XExampleClient(port)
        body = bytes(range(256)) * 256
        for _ in range(5):
            assert body_of(client.call({"service": "s"}, body)) == body
        client.close()


def test_timeout_answers_the_caller_and_drops_the_late_answer(tmp_path, servers):
    a, _ = servers
    port, admin = free_port(), free_port()
    routes = [{"match": {"headers": [{"name": "service", "value": "slow"}]}, "route": {"cluster_name": "a", "timeout": "300ms"}},
              {"match": {"headers": [{"name": "service", "value": "fast"}]}, "route": {"cluster_name": "a"}}]
    with Pymosn(rpc_config(port, admin, {"a": [a.port]}, routes=routes), tmp_path, port):
        client = XExampleClient(port)
        slow = client.send(FrameKind.REQUEST, {"service": "slow", "delay-ms": "800"}, b"late")
        started = time.monotonic()
        answer = client.wait(slow)
        assert answer.status == 4 and 0.25 < time.monotonic() - started < 0.7  # TIMEOUT
        # The upstream answers the timed-out request later; its id must not reach anyone else.
        fast_ids = [client.send(FrameKind.REQUEST, {"service": "fast", "delay-ms": "50"}, f"f{i}".encode()) for i in range(20)]
        time.sleep(0.8)
        for i, request_id in enumerate(fast_ids):
            got = client.wait(request_id)
            assert got.status == 0 and body_of(got) == f"f{i}".encode()
        assert not client.answers, client.answers  # nothing else arrived
        counters = stats(admin)
        assert counters["rpc.x_example.upstream_late_response_dropped"] == 1
        assert counters["rpc.x_example.downstream_rq_timeout"] == 1
        assert counters["cluster.a.upstream_rq_timeout"] == 1
        client.close()


def test_heartbeats_are_answered_by_the_proxy_and_oneway_is_forwarded(tmp_path, servers):
    a, _ = servers
    port, admin = free_port(), free_port()
    with Pymosn(rpc_config(port, admin, {"a": [a.port]}), tmp_path, port):
        client = XExampleClient(port)
        beat = client.send(FrameKind.REQUEST, {}, heartbeat=True)
        answer = client.wait(beat)
        assert answer.heartbeat and answer.kind == FrameKind.RESPONSE
        client.send(FrameKind.ONEWAY, {"service": "s"}, b"fire and forget")
        assert client.call({"service": "s"}, b"after").status == 0
        assert a.heartbeats == 0  # answered by the proxy, not forwarded
        assert [body_of(f) for f in a.requests] == [b"fire and forget", b"after"]
        assert a.requests[0].kind == FrameKind.ONEWAY
        counters = stats(admin)
        assert counters["rpc.x_example.downstream_heartbeat"] == 1
        assert counters["rpc.x_example.downstream_rq_oneway"] == 1
        client.close()


def test_backend_killed_mid_request_fails_only_its_callers(tmp_path, servers):
    a, b = servers
    port, admin = free_port(), free_port()
    routes = [{"match": {"headers": [{"name": "service", "value": "a"}]}, "route": {"cluster_name": "a"}},
              {"match": {"headers": [{"name": "service", "value": "b"}]}, "route": {"cluster_name": "b"}}]
    with Pymosn(rpc_config(port, admin, {"a": [a.port], "b": [b.port]}, routes=routes), tmp_path, port):
        client = XExampleClient(port)
        pending_a = client.send(FrameKind.REQUEST, {"service": "a", "delay-ms": "300"}, b"in flight")
        pending_b = client.send(FrameKind.REQUEST, {"service": "b", "delay-ms": "300"}, b"other backend")
        time.sleep(0.05)
        killer = client.send(FrameKind.REQUEST, {"service": "a", "die": "1"}, b"")
        assert client.wait(killer).status == 5  # CONNECTION_FAILURE
        assert client.wait(pending_a).status == 5
        other = client.wait(pending_b)
        assert other.status == 0 and body_of(other) == b"other backend"
        assert client.call({"service": "a"}, b"again").status == 0  # a new upstream connection
        client.close()


def test_unreachable_backend_and_garbage(tmp_path):
    port, admin = free_port(), free_port()
    with Pymosn(rpc_config(port, admin, {"a": [free_port()]}), tmp_path, port):
        client = XExampleClient(port)
        assert client.call({"service": "s"}).status == 5
        client.close()
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(b"\x00 definitely not x_example\r\n")
            assert sock.recv(100) == b""  # closed, nothing answered
        assert stats(admin)["rpc.x_example.protocol_error"] == 1


def test_auto_detects_http_and_rpc_on_one_listener(tmp_path, servers):
    a, _ = servers
    port, admin = free_port(), free_port()
    with Origin() as origin:
        config = rpc_config(port, admin, {"a": [a.port], "web": [origin.port]}, protocol="Auto",
                            routes=[{"match": {"prefix": "/"}, "route": {"cluster_name": "web"}},
                                    {"match": {"headers": [{"name": "service", "value": "s"}]},
                                     "route": {"cluster_name": "a"}}])
        # RPC requests have no path: the header route must come first for them
        config["servers"][0]["routers"][0]["virtual_hosts"][0]["routers"].reverse()
        with Pymosn(config, tmp_path, port):
            assert httpx.get(f"http://127.0.0.1:{port}/echo").status_code == 200
            client = XExampleClient(port)
            assert body_of(client.call({"service": "s"}, b"rpc")) == b"rpc"
            client.close()
            with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                sock.sendall(b"\x16\x03\x01 not a protocol we speak")
                assert sock.recv(100) == b""
            with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                sock.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
                assert sock.recv(100)[3] == 0x04  # HTTP/2 is served: the server's SETTINGS
            counters = stats(admin)
            assert counters["listener.rpc.downstream_cx_protocol_unknown"] == 1
            assert counters["listener.rpc.downstream_cx_protocol_unsupported"] == 0


def test_auto_answers_a_request_line_with_an_unknown_method_400_and_logs_it(tmp_path, servers):
    """As Envoy's AUTO codec: what starts like a request line but names no method a protocol
    claims goes to the HTTP/1 codec, which answers it 400 DPE (one access-log line), instead of
    a close nothing records."""
    a, _ = servers
    port, admin = free_port(), free_port()
    log = tmp_path / "access.log"
    with Origin() as origin:
        config = rpc_config(port, admin, {"a": [a.port], "web": [origin.port]}, protocol="Auto",
                            routes=[{"match": {"prefix": "/"}, "route": {"cluster_name": "web"}}])
        config["servers"][0]["listeners"][0]["access_logs"] = [
            {"log_path": str(log), "log_format": "%RESPONSE_CODE% %RESPONSE_FLAGS%\n"}]
        with Pymosn(config, tmp_path, port):
            with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                sock.sendall(b"FROB / HTTP/1.1\r\nHost: x\r\n\r\n")
                answer = sock.recv(1000)
            assert answer.startswith(b"HTTP/1.1 400 "), answer
            assert httpx.get(f"http://127.0.0.1:{port}/echo").status_code == 200  # HTTP/1 still served
            counters = stats(admin)
            assert counters["listener.rpc.downstream_cx_protocol_unknown"] == 0
            assert log_lines(log, 2) == ["400 DPE", "200 -"]


def test_auto_falls_back_to_tcp_proxy_for_unknown_bytes(tmp_path, servers):
    a, _ = servers
    echo = TcpServer("echo")
    port, admin = free_port(), free_port()
    try:
        config = rpc_config(
            port, admin, {"a": [a.port], "echo": [echo.port]}, protocol="Auto",
            proxy={"fallback_for_unknown_protocol": True},
            extra_filters=[{"type": "tcp_proxy", "config": {"cluster": "echo"}}],
        )
        with Pymosn(config, tmp_path, port):
            with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                sock.sendall(b"\x07 some private protocol\n")
                got = b""
                while len(got) < 24:
                    got += sock.recv(100)
                assert got == b"\x07 some private protocol\n"
            client = XExampleClient(port)
            assert body_of(client.call({"service": "x"}, b"still rpc")) == b"still rpc"
            client.close()
    finally:
        echo.close()
