"""The kit of tests/integration/test_stream_endings.py: one pymosn with an HTTP/1.1, an HTTP/2
and an X-Protocol listener over one route table, the upstreams behind them (a working origin,
an HTTP/2 origin, an RPC server, a refused port, a port that never completes a handshake, a
one-request circuit breaker, a one-connection pool), and `ended`, which checks that a stream
ended once: every rq_active gauge back to zero and exactly one access-log line."""

from __future__ import annotations

import contextlib
import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pymosn.protocol.xprotocol.api import FrameKind
from tests.support import admin as admin_kit
from tests.support.admin import log_lines, wait_for, wait_stats
from tests.support.h2_client import H2Client
from tests.support.h2_origin import H2Origin
from tests.support.origin import Origin
from tests.support.proxy import Pymosn, free_port
from tests.support.raw_http import read_all
from tests.support.tcp_servers import blackhole
from tests.support.xexample_peer import XExampleClient, XExampleServer

LOG_FORMAT = "%DOWNSTREAM_REMOTE_ADDRESS% %RESPONSE_CODE% %RESPONSE_FLAGS% %REQ(:METHOD)% %REQ(:PATH)%"
CLUSTERS = ("origin", "one", "queue", "dead", "blackhole", "h2up", "xup")
LISTENERS = ("h1", "h2", "rpc")
IDLE = {**{f"http.{name}.downstream_rq_active": 0 for name in LISTENERS},
        **{f"cluster.{name}.upstream_rq_active": 0 for name in CLUSTERS}}


def _routes() -> list[dict]:
    # the origin's own paths; no catch-all, so anything else has no route
    routes = [{"match": {"prefix": p}, "route": {"cluster_name": "origin"}}
              for p in ("/echo", "/slow", "/reset", "/half", "/big", "/garbage", "/badchunk", "/switch")]
    routes += [
        {"match": {"prefix": "/direct"}, "direct_response": {"status": 200, "body": "direct"}},
        {"match": {"prefix": "/redirect"}, "redirect": {"path_redirect": "/elsewhere", "response_code": 302}},
        {"match": {"prefix": "/nocluster"}, "route": {"cluster_header": "x-cluster"}},
        {"match": {"prefix": "/dead"}, "route": {"cluster_name": "dead"}},
        {"match": {"prefix": "/blackhole"}, "route": {"cluster_name": "blackhole"}},
        {"match": {"prefix": "/timed/"}, "route": {"cluster_name": "origin", "timeout": "300ms", "prefix_rewrite": "/"}},
    ]
    for prefix in ("one", "queue", "h2up"):
        routes.append({"match": {"prefix": f"/{prefix}/"}, "route": {"cluster_name": prefix, "prefix_rewrite": "/"}})
    return routes


def listener_config(name: str, port: int, log: Path, protocol: str, **proxy) -> dict:
    return {
        "name": name,
        "address": f"127.0.0.1:{port}",
        "bind_port": True,
        "access_logs": [{"log_path": str(log), "log_format": LOG_FORMAT}],
        "filter_chains": [{"filters": [{"type": "proxy", "config": {
            "downstream_protocol": protocol, "upstream_protocol": protocol if protocol == "x_example" else "Http1",
            "router_config_name": "rpc" if protocol == "x_example" else "r", **proxy}}]}],
    }


def cluster_config(name: str, port: int, **extra) -> dict:
    return {"name": name, "type": "SIMPLE", "lb_type": "LB_ROUNDROBIN", "connect_timeout": "300ms",
            "hosts": [{"address": f"127.0.0.1:{port}"}], **extra}


@dataclass
class Env:
    proxy: Pymosn
    h1: int
    h2: int
    rpc: int
    admin: int
    logs: dict[str, Path]
    origin: Origin
    h2_origin: H2Origin
    x_server: XExampleServer
    marks: dict[str, int] | None = None  # access-log lines per listener before the test began


def start(tmp_path_factory) -> Iterator[Env]:
    """Starts the upstreams and the pymosn the module shares (a generator: the module fixture)."""
    tmp = tmp_path_factory.mktemp("endings")
    dead = socket.socket()  # bound, never listening: every connect is refused
    dead.bind(("127.0.0.1", 0))
    with Origin() as origin, H2Origin() as h2_origin, XExampleServer("x") as x_server, blackhole() as hole, dead:
        h1, h2, rpc, admin = free_port(), free_port(), free_port(), free_port()
        logs = {name: tmp / f"{name}.log" for name in LISTENERS}
        config = {
            "servers": [{
                "listeners": [
                    listener_config("h1", h1, logs["h1"], "Http1", max_request_bytes=1000),
                    listener_config("h2", h2, logs["h2"], "Http2", max_request_headers_kb=8),
                    listener_config("rpc", rpc, logs["rpc"], "x_example"),
                ],
                "routers": [
                    {"router_config_name": "r", "virtual_hosts": [{"name": "all", "domains": ["*"], "routers": _routes()}]},
                    {"router_config_name": "rpc", "virtual_hosts": [{"name": "all", "domains": ["*"], "routers": [
                        {"match": {"headers": [{"name": "service", "value": ".*", "regex": True}]},
                         "route": {"cluster_name": "xup"}}]}]},
                ],
            }],
            "cluster_manager": {"clusters": [
                cluster_config("origin", origin.port),
                cluster_config("one", origin.port, circuit_breakers=[{"max_requests": 1}]),
                cluster_config("queue", origin.port, circuit_breakers=[{"max_connections": 1, "max_pending_requests": 1}]),
                cluster_config("dead", dead.getsockname()[1]),
                cluster_config("blackhole", hole),
                cluster_config("h2up", h2_origin.port, upstream_protocol="Http2"),
                cluster_config("xup", x_server.port),
            ]},
            "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin}}},
        }
        with Pymosn(config, tmp, h1) as proxy:
            yield Env(proxy, h1, h2, rpc, admin, logs, origin, h2_origin, x_server)


# --- checking an ending ---------------------------------------------------------------------


def hosts_rq_active(env: Env) -> list[int]:
    return list(admin_kit.hosts_rq_active(env.admin).values())


SENTINEL = " /direct/sentinel"  # how the sentinel's lines end (" sentinel" on the rpc listener)


def _sentinel(env: Env, listener: str) -> str:
    """A request answered without an upstream; returns its client address."""
    if listener == "h2":
        with H2Client(env.h2) as client:
            assert client.response(client.request(SENTINEL.strip())).status == 200
            return address(client.sock)
    if listener == "rpc":
        client = XExampleClient(env.rpc)
        try:
            assert client.call({"service": "sentinel"}).kind == FrameKind.RESPONSE
            return address(client.sock)
        finally:
            hang_up(client.sock)
    with socket.create_connection(("127.0.0.1", env.h1), timeout=10) as s:
        s.sendall(b"GET /direct/sentinel HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert read_all(s).startswith(b"HTTP/1.1 200")
        return address(s)


def _is_sentinel(line: str) -> bool:
    return line.endswith((SENTINEL, " sentinel"))


def ended(env: Env, listener: str, client: str, count: int = 1) -> list[str]:
    """Waits until nothing is in flight anywhere; returns the `code flags method path` of
    each access-log line of `client` since the test began, asserting there are `count`. The
    log is flushed as a whole, so once a later stream's line is in it, every line of this
    client's is too."""
    wait_stats(env.admin, IDLE)
    wait_for(lambda: not any(hosts_rq_active(env)), what="every host's rq_active at 0")
    marker = _sentinel(env, listener)
    lines: list[str] = []

    def marker_logged() -> bool:
        nonlocal lines
        lines = log_lines(env.logs[listener], 1)[env.marks[listener]:]
        return any(line.startswith(marker + " ") and _is_sentinel(line) for line in lines)

    wait_for(marker_logged, what="the sentinel's access-log line")
    return lines_of(lines, client, count)


def lines_of(lines: list[str], client: str, count: int = 1) -> list[str]:
    # (a closed client's port may be the sentinel's next)
    mine = [line.split(" ", 1)[1] for line in lines if line.startswith(client + " ") and not _is_sentinel(line)]
    assert len(mine) == count, f"{client}: expected {count} access-log lines, got {mine}"
    return mine


def address(s: socket.socket) -> str:
    return "{}:{}".format(*s.getsockname())


def hang_up(s: socket.socket) -> None:
    with contextlib.suppress(OSError):
        s.shutdown(socket.SHUT_RDWR)  # also wakes a thread blocked reading it
    s.close()


def exchange(env: Env, *parts: bytes) -> tuple[bytes, str]:
    """Sends `parts` on a fresh connection (each after the first once the request has gone
    upstream, so a body that breaks arrives after its head was sent on); returns all the
    server sent until it closed, and the client address."""
    with socket.create_connection(("127.0.0.1", env.h1), timeout=10) as s:
        for i, part in enumerate(parts):
            if i:
                wait_for(lambda: any(hosts_rq_active(env)), what="the request at its upstream")
            s.sendall(part)
        return read_all(s), address(s)


def status_of(out: bytes) -> int:
    return int(out.split(b" ", 2)[1])


def statuses_of(out: bytes) -> list[int]:
    return [int(code) for code in re.findall(rb"HTTP/1\.1 (\d{3}) ", out)]
