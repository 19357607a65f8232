"""Hot upgrade under load: a new pymosn takes the listening sockets and the idle connections of
the running one while clients keep sending HTTP/1.1 requests over persistent connections and
echo traffic over proxied TCP connections. No request may fail and no connection may be reset."""

from __future__ import annotations

import json
import os
import socket
import ssl
import subprocess
import sys
import threading
import time

import httpx
import pytest

from tests.support.certs import Pki
from tests.support.origin import Origin
from tests.support.proxy import free_port, wait_port
from tests.support.tcp_servers import TcpServer


def upgrade_config(http_port: int, tcp_port: int, admin_port: int, origin_port: int, echo_port: int) -> dict:
    return {
        "servers": [
            {
                "listeners": [
                    {
                        "name": "http",
                        "address": f"127.0.0.1:{http_port}",
                        "filter_chains": [
                            {"filters": [{"type": "proxy", "config": {"router_config_name": "r"}}]}
                        ],
                    },
                    {
                        "name": "tcp",
                        "address": f"127.0.0.1:{tcp_port}",
                        "filter_chains": [{"filters": [{"type": "tcp_proxy", "config": {"cluster": "echo"}}]}],
                    },
                ],
                "routers": [
                    {
                        "router_config_name": "r",
                        "virtual_hosts": [
                            {"name": "all", "domains": ["*"], "routers": [{"match": {"prefix": "/"}, "route": {"cluster_name": "origin"}}]}
                        ],
                    }
                ],
            }
        ],
        "cluster_manager": {
            "clusters": [
                {"name": "origin", "hosts": [{"address": f"127.0.0.1:{origin_port}"}]},
                {"name": "echo", "hosts": [{"address": f"127.0.0.1:{echo_port}"}]},
            ]
        },
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin_port}}},
    }


def start(config_path, control, *extra) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "pymosn", "start", "-c", str(config_path), "--upgrade-socket", str(control),
         "--drain-time-s", "3", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )


class HttpLoad(threading.Thread):
    """One persistent HTTP/1.1 connection sending requests back to back; counts what fails.
    A raw socket, so a connection that is closed or reset is seen, not silently replaced; only
    a response saying Connection: close allows a new connection."""

    def __init__(self, port: int, stop: threading.Event, tls: ssl.SSLContext | None = None) -> None:
        super().__init__(daemon=True)
        self.port, self.stop, self.tls = port, stop, tls
        self.ok = 0
        self.failures: list[str] = []
        self.reconnects = 0

    def connect(self) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        return self.tls.wrap_socket(sock, server_hostname="localhost") if self.tls else sock

    def run(self) -> None:
        sock = self.connect()
        n = 0
        while not self.stop.is_set():
            n += 1
            body = f"req-{n}".encode()
            try:
                sock.sendall(b"POST /mirror HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
                status, headers, got = read_response(sock)
            except OSError as error:
                self.failures.append(f"request {n}: {error!r}")
                return
            if status != 200 or got != body:
                self.failures.append(f"request {n}: {status} {got!r}")
                return
            self.ok += 1
            if headers.get("connection") == "close":
                sock.close()
                self.reconnects += 1
                sock = self.connect()
        sock.close()


def read_response(sock: socket.socket) -> tuple[int, dict, bytes]:
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed before a response")
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed mid-body")
        rest += chunk
    return status, headers, rest[:length]


class EchoLoad(threading.Thread):
    """One proxied TCP connection: write a line, read it back, again and again."""

    def __init__(self, port: int, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.port, self.stop = port, stop
        self.ok = 0
        self.failures: list[str] = []

    def run(self) -> None:
        sock = socket.create_connection(("127.0.0.1", self.port))
        sock.settimeout(10)
        n = 0
        while not self.stop.is_set():
            n += 1
            line = b"line %d %s\n" % (n, b"x" * (n % 200))
            try:
                sock.sendall(line)
                got = b""
                while len(got) < len(line):
                    chunk = sock.recv(65536)
                    if not chunk:
                        raise ConnectionError("closed by the proxy")
                    got += chunk
            except OSError as error:
                self.failures.append(f"echo {n}: {error!r}")
                return
            if got != line:
                self.failures.append(f"echo {n}: {got!r}")
                return
            self.ok += 1
            time.sleep(0.002)
        sock.close()


def stats(admin_port: int) -> dict:
    text = httpx.get(f"http://127.0.0.1:{admin_port}/stats", timeout=5).text
    return {k.strip(): int(v) for k, _, v in (line.partition(":") for line in text.splitlines()) if v.strip().isdigit()}


@pytest.fixture
def servers():
    with Origin() as origin:
        echo = TcpServer("echo")
        yield origin, echo
        echo.close()


@pytest.mark.parametrize(("relay", "workers"), [("splice", 1), ("no-splice", 1), ("splice", 2)])
def test_hot_upgrade_under_load_loses_nothing(tmp_path, servers, relay, workers, monkeypatch):
    """Single process (workers=1) or a master with worker processes, each old worker handing
    its connections to a new one."""
    monkeypatch.setenv("PYMOSN_DISABLE_SPLICE", "1" if relay == "no-splice" else "0")
    origin, echo = servers
    http_port, tcp_port, admin_port = free_port(), free_port(), free_port()
    config = tmp_path / "pymosn.json"
    config.write_text(json.dumps(upgrade_config(http_port, tcp_port, admin_port, origin.port, echo.port)))
    control = tmp_path / "control.sock"
    old = start(config, control, "--concurrency", str(workers))
    new = None
    try:
        wait_port(http_port, proc=old)
        wait_port(admin_port, proc=old)
        stop = threading.Event()
        loads = [HttpLoad(http_port, stop) for _ in range(8)] + [EchoLoad(tcp_port, stop) for _ in range(4)]
        for load in loads:
            load.start()
        time.sleep(1.0)
        before = sum(load.ok for load in loads)
        new = start(config, control, "--upgrade", "--concurrency", str(workers))
        assert old.wait(timeout=30) == 0, old.stderr.read().decode()
        old_log = old.stderr.read().decode()
        time.sleep(1.0)  # load keeps running on the new process alone
        stop.set()
        for load in loads:
            load.join(timeout=10)
        failures = [f for load in loads for f in load.failures]
        assert failures == [], failures
        after = sum(load.ok for load in loads)
        assert after > before + 100, (before, after)
        assert new.poll() is None, new.stderr.read().decode()
        time.sleep(0.5)  # worker stats reach the master four times a second
        counters = stats(admin_port)
        migrated_in = counters.get("listener.http.downstream_cx_migrated_in", 0) + counters.get(
            "listener.tcp.downstream_cx_migrated_in", 0
        )
        migrated_out = counters.get("listener.http.downstream_cx_migrated_out", 0) + counters.get(
            "listener.tcp.downstream_cx_migrated_out", 0
        )
        assert migrated_in > 0 and migrated_in == migrated_out, (counters, old_log)
        assert counters.get("listener.tcp.downstream_cx_migrated_in", 0) > 0, old_log
        assert counters.get("listener.http.downstream_cx_migrated_in", 0) > 0, old_log
        print("migrated:", {k: v for k, v in counters.items() if "migrated" in k}, "requests:", after)
        # The counters continue: the new process reports the requests the old one served too.
        http_ok = sum(load.ok for load in loads if isinstance(load, HttpLoad))
        assert counters["http.http.downstream_rq_total"] >= http_ok
        # every connection counted once across both processes (1: wait_port's probe)
        assert counters["http.http.downstream_cx_total"] == 1 + 8 + sum(
            load.reconnects for load in loads if isinstance(load, HttpLoad)
        )
        assert "connections migrated" in old_log
    finally:
        for proc in (old, new):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=10)


def test_upgrade_without_a_running_process_fails_clearly(tmp_path):
    config = tmp_path / "pymosn.json"
    config.write_text(json.dumps(upgrade_config(free_port(), free_port(), free_port(), 1, 1)))
    proc = start(config, tmp_path / "nobody.sock", "--upgrade")
    assert proc.wait(timeout=20) == 1
    assert "no running pymosn serves" in proc.stderr.read().decode()


def test_busy_connection_finishes_in_the_old_process_then_moves(tmp_path, servers):
    """A request in flight during the upgrade is answered by the old process; the connection
    then moves and the next request on it is served by the new one."""
    origin, echo = servers
    http_port, tcp_port, admin_port = free_port(), free_port(), free_port()
    config = tmp_path / "pymosn.json"
    config.write_text(json.dumps(upgrade_config(http_port, tcp_port, admin_port, origin.port, echo.port)))
    control = tmp_path / "control.sock"
    old = start(config, control)
    new = None
    try:
        wait_port(http_port, proc=old)
        sock = socket.create_connection(("127.0.0.1", http_port))
        sock.settimeout(10)
        sock.sendall(b"GET /slow/1500 HTTP/1.1\r\nHost: t\r\n\r\n")
        time.sleep(0.3)
        new = start(config, control, "--upgrade")
        status, headers, _ = read_response(sock)
        assert status == 200 and headers.get("connection") != "close"
        sock.sendall(b"POST /mirror HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nagain")
        assert read_response(sock)[::2] == (200, b"again")
        assert old.wait(timeout=20) == 0
        sock.sendall(b"POST /mirror HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\nlast")
        assert read_response(sock)[::2] == (200, b"last")
        counters = stats(admin_port)
        assert counters["listener.http.downstream_cx_migrated_in"] == 1
        sock.close()
    finally:
        for proc in (old, new):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=10)


def test_failed_new_process_leaves_the_old_one_serving(tmp_path, servers):
    """The new config cannot start (its extra listener's port is taken): the new process exits
    with an error before accepting anything, and the old one keeps every connection."""
    origin, echo = servers
    http_port, tcp_port, admin_port = free_port(), free_port(), free_port()
    config = tmp_path / "pymosn.json"
    config.write_text(json.dumps(upgrade_config(http_port, tcp_port, admin_port, origin.port, echo.port)))
    control = tmp_path / "control.sock"
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    broken = upgrade_config(http_port, tcp_port, admin_port, origin.port, echo.port)
    broken["servers"][0]["listeners"].append(
        {
            "name": "taken",
            "address": f"127.0.0.1:{blocker.getsockname()[1]}",
            "filter_chains": [{"filters": [{"type": "tcp_proxy", "config": {"cluster": "echo"}}]}],
        }
    )
    broken_path = tmp_path / "broken.json"
    broken_path.write_text(json.dumps(broken))
    old = start(config, control)
    try:
        wait_port(http_port, proc=old)
        sock = socket.create_connection(("127.0.0.1", http_port))
        sock.settimeout(10)
        new = start(broken_path, control, "--upgrade")
        assert new.wait(timeout=30) == 1
        assert "cannot start" in new.stderr.read().decode()
        sock.sendall(b"POST /mirror HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nok")
        assert read_response(sock)[::2] == (200, b"ok")
        assert old.poll() is None
        # and the old process can still be upgraded afterwards
        time.sleep(0.5)
        new = start(config, control, "--upgrade")
        assert old.wait(timeout=30) == 0
        sock.sendall(b"POST /mirror HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nok")
        assert read_response(sock)[::2] == (200, b"ok")
        sock.close()
        new.terminate()
        assert new.wait(timeout=15) == 0
    finally:
        blocker.close()
        if old.poll() is None:
            old.terminate()
            old.wait(timeout=10)


def test_tls_connections_end_between_requests_and_reconnect_to_the_new_process(tmp_path, servers):
    """TLS sessions cannot move: each gets Connection: close on its next response during the
    upgrade and the client reconnects, to the new process, without a failed request."""
    origin, echo = servers
    pki = Pki(tmp_path)
    cert, key = pki.server("localhost")
    http_port, tcp_port, admin_port = free_port(), free_port(), free_port()
    cfg = upgrade_config(http_port, tcp_port, admin_port, origin.port, echo.port)
    cfg["servers"][0]["listeners"][0]["filter_chains"][0]["tls_context"] = {
        "status": True, "cert_chain": cert, "private_key": key,
    }
    config = tmp_path / "pymosn.json"
    config.write_text(json.dumps(cfg))
    control = tmp_path / "control.sock"
    old = start(config, control, "--concurrency", "1")
    new = None
    try:
        wait_port(http_port, proc=old)
        stop = threading.Event()
        loads = [HttpLoad(http_port, stop, ssl.create_default_context(cafile=pki.ca_path)) for _ in range(4)]
        for load in loads:
            load.start()
        time.sleep(0.5)
        new = start(config, control, "--upgrade", "--concurrency", "1")
        assert old.wait(timeout=30) == 0
        time.sleep(0.5)
        stop.set()
        for load in loads:
            load.join(timeout=10)
        assert [f for load in loads for f in load.failures] == []
        assert all(load.reconnects == 1 for load in loads), [load.reconnects for load in loads]
        assert stats(admin_port).get("listener.http.downstream_cx_migrated_in", 0) == 0
    finally:
        for proc in (old, new):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=10)


def test_rpc_connections_move_with_their_queued_requests(tmp_path):
    """Multiplexed RPC connections are always busy under load: during an upgrade they stop
    taking requests (which wait in the socket buffer), fall idle, and move with those requests
    to the new process; callers see no failure."""
    from tests.integration.test_xprotocol import rpc_config
    from tests.support.xexample_peer import XExampleClient, XExampleServer, body_of

    with XExampleServer("a") as server:
        port, admin = free_port(), free_port()
        config = tmp_path / "rpc.json"
        config.write_text(json.dumps(rpc_config(port, admin, {"a": [server.port]})))
        control = tmp_path / "control.sock"
        old = start(config, control, "--concurrency", "1")
        new = None
        try:
            wait_port(port, proc=old)
            clients = [XExampleClient(port) for _ in range(3)]
            stop = threading.Event()
            failures: list[str] = []
            done = [0]

            def caller(i: int) -> None:
                client = clients[i % 3]
                n = 0
                while not stop.is_set():
                    n += 1
                    body = f"{i}-{n}".encode()
                    try:
                        answer = client.call({"service": "s", "delay-ms": str(n % 5)}, body)
                    except (TimeoutError, ConnectionError) as error:
                        failures.append(f"{i}/{n}: {error!r}")
                        return
                    if answer.status != 0 or body_of(answer) != body:
                        failures.append(f"{i}/{n}: status {answer.status} {body_of(answer)!r}")
                        return
                    done[0] += 1

            threads = [threading.Thread(target=caller, args=(i,), daemon=True) for i in range(12)]
            for t in threads:
                t.start()
            time.sleep(0.7)
            new = start(config, control, "--upgrade", "--concurrency", "1")
            assert old.wait(timeout=30) == 0
            time.sleep(0.7)
            stop.set()
            for t in threads:
                t.join(10)
            assert failures == []
            assert done[0] > 100
            assert stats(admin)["listener.rpc.downstream_cx_migrated_in"] == 3
            for client in clients:
                client.close()
        finally:
            for proc in (old, new):
                if proc is not None and proc.poll() is None:
                    proc.terminate()
                    proc.wait(timeout=10)
