"""The tcp_proxy network filter through a real pymosn process."""

from __future__ import annotations

import socket
import time

import httpx
import pytest

from tests.support.proxy import free_port
from tests.support.tcp_servers import TcpServer


def tcp_config(port, clusters, tcp, admin_port=None, listener=None):
    config = {
        "servers": [
            {
                "listeners": [
                    {
                        "name": "l4",
                        "address": f"127.0.0.1:{port}",
                        "filter_chains": [{"filters": [{"type": "tcp_proxy", "config": tcp}]}],
                        **(listener or {}),
                    }
                ]
            }
        ],
        "cluster_manager": {
            "clusters": [
                {"name": name, "lb_type": "LB_ROUNDROBIN", "connect_timeout": "1s", "hosts": [{"address": f"127.0.0.1:{p}"} for p in ports]}
                for name, ports in clusters.items()
            ]
        },
    }
    if admin_port:
        config["admin"] = {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin_port}}}
    return config


@pytest.fixture(autouse=True, params=["splice", "no-splice"])
def relay_path(request, monkeypatch):
    """Every test runs over both paths: the os.splice zero-copy relay and the ordinary one."""
    monkeypatch.setenv("PYMOSN_DISABLE_SPLICE", "1" if request.param == "no-splice" else "0")
    return request.param


@pytest.fixture
def echo():
    server = TcpServer("echo")
    yield server
    server.close()


def recv_all(sock: socket.socket) -> bytes:
    out = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return out
        out += chunk


def test_bytes_flow_both_ways_and_half_close_is_passed_on(echo, start_proxy):
    p = start_proxy(lambda port: tcp_config(port, {"c": [echo.port]}, {"cluster": "c"}))
    with socket.create_connection(("127.0.0.1", p.port), timeout=5) as s:
        s.sendall(b"ping")
        assert s.recv(100) == b"ping"
        payload = bytes(range(256)) * 4000
        s.sendall(payload)
        s.shutdown(socket.SHUT_WR)  # half-close: the server still answers, then ends
        assert recv_all(s) == payload


def test_server_speaks_first(start_proxy):
    banner = TcpServer("banner")
    try:
        p = start_proxy(lambda port: tcp_config(port, {"c": [banner.port]}, {"cluster": "c"}))
        with socket.create_connection(("127.0.0.1", p.port), timeout=5) as s:
            assert s.recv(100) == b"HELLO\n"
            s.sendall(b"x")
            assert s.recv(100) == b"x"
    finally:
        banner.close()


def test_upload_then_answer_after_client_half_close(start_proxy):
    counter = TcpServer("count")
    try:
        p = start_proxy(lambda port: tcp_config(port, {"c": [counter.port]}, {"cluster": "c"}))
        with socket.create_connection(("127.0.0.1", p.port), timeout=10) as s:
            for _ in range(64):
                s.sendall(b"u" * 65536)
            s.shutdown(socket.SHUT_WR)
            assert recv_all(s) == b"%d" % (64 * 65536)
    finally:
        counter.close()


def test_connect_failure_closes_the_client_and_is_counted(start_proxy):
    dead = free_port()
    admin = free_port()
    p = start_proxy(lambda port: tcp_config(port, {"c": [dead]}, {"cluster": "c"}, admin_port=admin))
    with socket.create_connection(("127.0.0.1", p.port), timeout=5) as s:
        s.sendall(b"hello")
        try:
            assert s.recv(10) == b""
        except ConnectionResetError:
            pass
    stats = dict(line.split(": ", 1) for line in httpx.get(f"http://127.0.0.1:{admin}/stats").text.splitlines() if ": " in line)
    # (the test harness's own readiness probe was a connection too)
    assert int(stats["cluster.c.upstream_cx_connect_fail"]) >= 1
    assert stats["cluster.c.upstream_cx_active"] == "0"


def test_max_connect_attempts_tries_the_next_host(echo, start_proxy):
    dead = free_port()
    p = start_proxy(lambda port: tcp_config(port, {"c": [dead, echo.port]}, {"cluster": "c", "max_connect_attempts": 2}))
    for _ in range(4):
        with socket.create_connection(("127.0.0.1", p.port), timeout=5) as s:
            s.sendall(b"again")
            assert s.recv(100) == b"again"


def test_weighted_clusters_and_routes(start_proxy):
    a, b = TcpServer("banner"), TcpServer("echo")
    try:
        p = start_proxy(
            lambda port: tcp_config(
                port,
                {"a": [a.port], "b": [b.port]},
                {
                    "routes": [{"cluster": "b", "source_addrs": [{"address": "10.0.0.0", "length": 8}]}],
                    "weighted_clusters": {"clusters": [{"name": "a", "weight": 1}]},
                },
            )
        )
        with socket.create_connection(("127.0.0.1", p.port), timeout=5) as s:
            assert s.recv(100) == b"HELLO\n"  # 127.0.0.1 is not in 10/8: the weighted cluster
        p2 = start_proxy(
            lambda port: tcp_config(
                port, {"a": [a.port], "b": [b.port]}, {"routes": [{"cluster": "b", "source_addrs": [{"address": "127.0.0.0", "length": 8}]}]}
            )
        )
        with socket.create_connection(("127.0.0.1", p2.port), timeout=5) as s:
            s.sendall(b"routed")
            assert s.recv(100) == b"routed"
    finally:
        a.close()
        b.close()


def test_idle_timeout_closes_both_sides(echo, start_proxy):
    p = start_proxy(lambda port: tcp_config(port, {"c": [echo.port]}, {"cluster": "c", "idle_timeout": "300ms"}))
    with socket.create_connection(("127.0.0.1", p.port), timeout=5) as s:
        s.sendall(b"x")
        assert s.recv(10) == b"x"
        start = time.monotonic()
        assert s.recv(10) == b""
        assert 0.25 < time.monotonic() - start < 3


def test_byte_counters_and_access_log(echo, tmp_path, start_proxy):
    admin = free_port()
    log = tmp_path / "tcp.log"
    p = start_proxy(
        lambda port: tcp_config(
            port,
            {"c": [echo.port]},
            {"cluster": "c"},
            admin_port=admin,
            listener={"access_logs": [{"log_path": str(log), "log_format": "%BYTES_RECEIVED% %BYTES_SENT% %UPSTREAM_CLUSTER% %PROTOCOL%\n"}]},
        )
    )
    with socket.create_connection(("127.0.0.1", p.port), timeout=5) as s:
        s.sendall(b"a" * 1000)
        got = b""
        while len(got) < 1000:
            got += s.recv(65536)
        s.shutdown(socket.SHUT_WR)
        recv_all(s)
    # The readiness probe's connection logs a line first; wait for ours, the log flushes on a timer.
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and not (log.exists() and "1000 1000" in log.read_text()):
        time.sleep(0.1)
    # (the probe's line may come before or after ours: its connection ends when it will)
    lines = log.read_text().splitlines()
    assert [line for line in lines if line != "0 0 c TCP"] == ["1000 1000 c TCP"], lines
    stats = httpx.get(f"http://127.0.0.1:{admin}/stats").text
    assert "cluster.c.upstream_cx_tx_bytes_total: 1000" in stats
    assert "cluster.c.upstream_cx_rx_bytes_total: 1000" in stats


def test_slow_client_pauses_the_upstream(start_proxy):
    """A server pushing 300 MB to a client that does not read: the proxy must stop reading from
    the server (its RSS stays small) and deliver every byte once the client reads."""
    import threading

    total = 300 * 1024 * 1024
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    sent = [0]

    def push(conn):
        sent[0] = 0
        block = b"d" * 65536
        try:
            while sent[0] < total:
                conn.sendall(block)
                sent[0] += len(block)
        except OSError:
            pass
        conn.close()

    def accept():  # the harness's readiness probe is a connection too: serve every one
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            threading.Thread(target=push, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    p = start_proxy(lambda port: tcp_config(port, {"c": [srv.getsockname()[1]]}, {"cluster": "c"}, listener={"per_connection_buffer_limit_bytes": 65536}))
    time.sleep(0.3)  # let the probe's connection end
    with socket.create_connection(("127.0.0.1", p.port), timeout=20) as s:
        time.sleep(1.5)
        assert sent[0] < 64 * 1024 * 1024
        with open(f"/proc/{p.proc.pid}/status") as f:
            rss = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
        assert rss < 120 * 1024
        received = 0
        while received < total:
            chunk = s.recv(1 << 20)
            if not chunk:
                break
            received += len(chunk)
        assert received == total
    srv.close()
