"""Every way a stream can end, each checked the same way: the listener's downstream_rq_active,
every cluster's upstream_rq_active and every host's rq_active are back to zero, and the stream
wrote exactly one access-log line, with the status and response flags Envoy would log.

One pymosn serves the whole module: an HTTP/1.1 listener, an HTTP/2 listener and an X-Protocol
listener over one route table, with clusters for a working origin, an HTTP/2 origin, a refused
port, a port that never completes a handshake, a one-request circuit breaker and a
one-connection pool. Each test finds its own log lines by its client's address."""

from __future__ import annotations

import contextlib
import re
import socket
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from pymosn.protocol.xprotocol.api import FrameKind
from tests.support.admin import log_lines, rss_kib, stats, wait_for, wait_stats
from tests.support.bystander import Bystander
from tests.support.h2_client import H2Client
from tests.support.h2_origin import H2Origin
from tests.support.origin import Origin
from tests.support.proxy import Pymosn, free_port
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


def _listener(name: str, port: int, log: Path, protocol: str, **proxy) -> dict:
    return {
        "name": name,
        "address": f"127.0.0.1:{port}",
        "bind_port": True,
        "access_logs": [{"log_path": str(log), "log_format": LOG_FORMAT}],
        "filter_chains": [{"filters": [{"type": "proxy", "config": {
            "downstream_protocol": protocol, "upstream_protocol": protocol if protocol == "x_example" else "Http1",
            "router_config_name": "rpc" if protocol == "x_example" else "r", **proxy}}]}],
    }


def _cluster(name: str, port: int, **extra) -> dict:
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


@contextlib.contextmanager
def _blackhole():
    """A listening socket whose accept queue is full: new connections never complete."""
    hole = socket.socket()
    hole.bind(("127.0.0.1", 0))
    hole.listen(0)
    fillers = []
    for _ in range(8):
        s = socket.socket()
        s.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            s.connect(hole.getsockname())
        fillers.append(s)
    try:
        yield hole.getsockname()[1]
    finally:
        for s in fillers:
            s.close()
        hole.close()


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        # each test waits for its lines: a short flush interval keeps the module quick
        patch.setenv("PYMOSN_FILE_FLUSH_INTERVAL_MSEC", "50")
        yield from _env(tmp_path_factory)


def _env(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("endings")
    dead = socket.socket()  # bound, never listening: every connect is refused
    dead.bind(("127.0.0.1", 0))
    with Origin() as origin, H2Origin() as h2_origin, XExampleServer("x") as x_server, _blackhole() as hole, dead:
        h1, h2, rpc, admin = free_port(), free_port(), free_port(), free_port()
        logs = {name: tmp / f"{name}.log" for name in LISTENERS}
        config = {
            "servers": [{
                "listeners": [
                    _listener("h1", h1, logs["h1"], "Http1", max_request_bytes=1000),
                    _listener("h2", h2, logs["h2"], "Http2", max_request_headers_kb=8),
                    _listener("rpc", rpc, logs["rpc"], "x_example"),
                ],
                "routers": [
                    {"router_config_name": "r", "virtual_hosts": [{"name": "all", "domains": ["*"], "routers": _routes()}]},
                    {"router_config_name": "rpc", "virtual_hosts": [{"name": "all", "domains": ["*"], "routers": [
                        {"match": {"headers": [{"name": "service", "value": ".*", "regex": True}]},
                         "route": {"cluster_name": "xup"}}]}]},
                ],
            }],
            "cluster_manager": {"clusters": [
                _cluster("origin", origin.port),
                _cluster("one", origin.port, circuit_breakers=[{"max_requests": 1}]),
                _cluster("queue", origin.port, circuit_breakers=[{"max_connections": 1, "max_pending_requests": 1}]),
                _cluster("dead", dead.getsockname()[1]),
                _cluster("blackhole", hole),
                _cluster("h2up", h2_origin.port, upstream_protocol="Http2"),
                _cluster("xup", x_server.port),
            ]},
            "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin}}},
        }
        with Pymosn(config, tmp, h1) as proxy:
            yield Env(proxy, h1, h2, rpc, admin, logs, origin, h2_origin, x_server)


@pytest.fixture(autouse=True)
def log_marks(env):
    """A client port may recur within the module: a test reads only the lines after its start
    (every earlier line is in the file by then: each test ends by waiting for its last one)."""
    env.marks = {name: len(path.read_text().splitlines()) if path.exists() else 0 for name, path in env.logs.items()}


# --- checking an ending ----------------------------------------------------------------------


def _hosts_rq_active(env: Env) -> list[int]:
    text = httpx.get(f"http://127.0.0.1:{env.admin}/clusters", timeout=10).text
    return [int(line.rpartition("::")[2]) for line in text.splitlines() if "::rq_active::" in line]


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
    wait_for(lambda: not any(_hosts_rq_active(env)), what="every host's rq_active at 0")
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


def read_all(s: socket.socket, timeout: float = 10.0) -> bytes:
    """Everything the server sends until it closes (a reset counts as a close)."""
    s.settimeout(timeout)
    out = b""
    with contextlib.suppress(ConnectionResetError):
        while chunk := s.recv(65536):
            out += chunk
    return out


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
                wait_for(lambda: any(_hosts_rq_active(env)), what="the request at its upstream")
            s.sendall(part)
        return read_all(s), address(s)


def status_of(out: bytes) -> int:
    return int(out.split(b" ", 2)[1])


def statuses_of(out: bytes) -> list[int]:
    return [int(code) for code in re.findall(rb"HTTP/1\.1 (\d{3}) ", out)]


CLOSE = b"Connection: close\r\n"
CHUNKED_POST = b"POST %b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"
GRPC_CALL = (b"POST /slow/3000 HTTP/1.1\r\nHost: x\r\ncontent-type: application/grpc\r\ngrpc-timeout: 200m\r\n"
             b"content-length: 0\r\n" + CLOSE + b"\r\n")


# --- HTTP/1.1: one request, one ending -------------------------------------------------------


@pytest.mark.parametrize(
    ("parts", "status", "logged"),
    [
        # downstream errors
        ((b"GARBAGE\r\n\r\n",), 400, "400 DPE - -"),
        ((CHUNKED_POST % b"/echo" + b"zz\r\nbad\r\n",), 400, "400 DPE POST /echo"),
        ((CHUNKED_POST % b"/echo", b"zz\r\nbad\r\n"), 400, "400 DPE POST /echo"),  # after it went upstream
        ((b"GET /echo HTTP/1.1\r\nHost: x\r\nx-big: " + b"v" * 70000 + b"\r\n\r\n",), 431, "431 DPE - -"),
        ((b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",), 501, "501 DPE - -"),
        ((b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n",), 413, "413 RT POST /echo"),
        ((CHUNKED_POST % b"/echo", b"3e8\r\n" + b"x" * 1000 + b"\r\n"), 413, "413 RT POST /echo"),
        # local replies
        ((b"GET /nowhere HTTP/1.1\r\nHost: x\r\n" + CLOSE + b"\r\n",), 404, "404 NR GET /nowhere"),
        ((b"GET /nocluster HTTP/1.1\r\nHost: x\r\nx-cluster: missing\r\n" + CLOSE + b"\r\n",), 503, "503 UH GET /nocluster"),
        ((b"GET /direct HTTP/1.1\r\nHost: x\r\n" + CLOSE + b"\r\n",), 200, "200 DR GET /direct"),
        ((b"GET /redirect HTTP/1.1\r\nHost: x\r\n" + CLOSE + b"\r\n",), 302, "302 DR GET /redirect"),
        # upstream errors
        ((b"GET /dead HTTP/1.1\r\nHost: x\r\n" + CLOSE + b"\r\n",), 502, "502 UF GET /dead"),
        ((b"GET /blackhole HTTP/1.1\r\nHost: x\r\n" + CLOSE + b"\r\n",), 502, "502 UF GET /blackhole"),
        ((b"GET /reset HTTP/1.1\r\nHost: x\r\n" + CLOSE + b"\r\n",), 502, "502 UC GET /reset"),
        ((b"GET /half HTTP/1.1\r\nHost: x\r\n" + CLOSE + b"\r\n",), 200, "200 UC GET /half"),
        ((b"GET /garbage HTTP/1.1\r\nHost: x\r\n" + CLOSE + b"\r\n",), 502, "502 UPE GET /garbage"),
        ((b"GET /badchunk HTTP/1.1\r\nHost: x\r\n" + CLOSE + b"\r\n",), None, "200 UPE GET /badchunk"),
        ((b"GET /switch HTTP/1.1\r\nHost: x\r\n" + CLOSE + b"\r\n",), 502, "502 UPE GET /switch"),
        ((b"GET /h2up/rst HTTP/1.1\r\nHost: x\r\n" + CLOSE + b"\r\n",), 502, "502 UC GET /h2up/rst"),
        # timeouts
        ((b"GET /timed/slow/3000 HTTP/1.1\r\nHost: x\r\n" + CLOSE + b"\r\n",), 504, "504 UT GET /timed/slow/3000"),
        ((b"GET /timed/stall HTTP/1.1\r\nHost: x\r\n" + CLOSE + b"\r\n",), 200, "200 UT GET /timed/stall"),
        ((GRPC_CALL,), 200, "200 DT POST /slow/3000"),
    ],
    ids=lambda v: v.split(" ", 1)[1] if isinstance(v, str) else None,
)
def test_http1_ending(env, parts, status, logged):
    out, client = exchange(env, *parts)
    if status is not None:  # None: reset after the head; what reached the client is not certain
        assert status_of(out) == status
    assert ended(env, "h1", client) == [logged]


def test_malformed_body_does_not_wedge_a_one_request_cluster(env):
    """The regression: the 400 left the request counted in the circuit breaker for good, so
    every later request to the cluster was 503."""
    before = stats(env.admin).get("http.h1.downstream_rq_protocol_error", 0)
    out, client = exchange(env, CHUNKED_POST % b"/one/echo", b"zz\r\nbad\r\n")
    assert status_of(out) == 400
    assert ended(env, "h1", client) == ["400 DPE POST /one/echo"]
    assert stats(env.admin)["http.h1.downstream_rq_protocol_error"] == before + 1
    for _ in range(3):
        assert httpx.get(f"http://127.0.0.1:{env.h1}/one/echo", timeout=10).status_code == 200


def _holding(env: Env, prefix: str, name: str) -> socket.socket:
    """A request that keeps its upstream connection (and its place in the circuit breaker)
    until the test sends the last 2 bytes of its body."""
    s = socket.create_connection(("127.0.0.1", env.h1), timeout=10)
    s.sendall(b"POST %b/echo/%b HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n" % (prefix, name.encode()) + CLOSE
              + b"\r\nha")
    wait_for(lambda: f"/echo/{name}" in env.origin.heads, what="the holding request at the upstream")
    return s


def test_circuit_breaker_overflow(env):
    with _holding(env, b"/one", "overflow") as busy:
        out, client = exchange(env, b"GET /one/echo HTTP/1.1\r\nHost: x\r\n" + CLOSE + b"\r\n")
        assert status_of(out) == 503
        busy.sendall(b"lf")
        assert status_of(read_all(busy)) == 200
        assert ended(env, "h1", client) == ["503 UO GET /one/echo"]
        assert ended(env, "h1", address(busy)) == ["200 - POST /one/echo/overflow"]


# --- HTTP/1.1: the client goes away ----------------------------------------------------------


def _abort(s: socket.socket) -> None:
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    s.close()


@pytest.mark.parametrize(
    ("request_bytes", "wait_for_stat", "logged"),
    [
        (b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\npart", "cluster.origin.upstream_rq_active",
         "0 DC POST /echo"),
        (b"GET /slow/5000 HTTP/1.1\r\nHost: x\r\n\r\n", "cluster.origin.upstream_rq_active", "0 DC GET /slow/5000"),
        (b"GET /big/50000000 HTTP/1.1\r\nHost: x\r\n\r\n", None, "200 DC GET /big/50000000"),
        (b"GET /blackhole HTTP/1.1\r\nHost: x\r\n\r\n", "cluster.blackhole.upstream_rq_active", "0 DC GET /blackhole"),
    ],
    ids=["mid-request", "awaiting-response", "mid-response", "awaiting-connect"],
)
def test_http1_client_reset(env, request_bytes, wait_for_stat, logged):
    s = socket.create_connection(("127.0.0.1", env.h1), timeout=10)
    client = address(s)
    s.sendall(request_bytes)
    if wait_for_stat:
        wait_stats(env.admin, {wait_for_stat: 1})
    else:
        assert s.recv(65536).startswith(b"HTTP/1.1 200")
    _abort(s)
    assert ended(env, "h1", client) == [logged]


def test_client_closing_mid_body_resets_the_upstream_request_at_once(env):
    """A FIN in the middle of a request body: the request can never complete, so its upstream
    request is reset and the connection closed now, not after an idle timeout."""
    with socket.create_connection(("127.0.0.1", env.h1), timeout=10) as s:
        s.sendall(b"POST /echo/cut HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\npart")
        wait_for(lambda: "/echo/cut" in env.origin.heads, what="the request at the upstream")
        s.shutdown(socket.SHUT_WR)
        started = time.monotonic()
        assert read_all(s, timeout=5) == b""  # closed without an answer
        client = address(s)
        wait_for(lambda: any(path == "/echo/cut" for path, _ in env.origin.cut_short),
                 what="the upstream seeing its request cut short")
    # well before any idle timeout (the stream idle timeout is 300 s)
    assert time.monotonic() - started < 3
    assert ended(env, "h1", client) == ["0 DC POST /echo/cut"]


def test_client_leaving_cancels_the_http2_upstream_stream(env):
    """Over an HTTP/2 upstream the cut request is a RST_STREAM(CANCEL) its server sees, from
    an HTTP/1.1 client's FIN mid-body and from an HTTP/2 client's own reset alike."""
    resets = len(env.h2_origin.resets)
    with socket.create_connection(("127.0.0.1", env.h1), timeout=10) as s:
        s.sendall(b"POST /h2up/echo/fin HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\npart")
        wait_for(lambda: any(_hosts_rq_active(env)), what="the request at its upstream")
        s.shutdown(socket.SHUT_WR)
        assert read_all(s, timeout=5) == b""
        h1_client = address(s)
    with _h2(env) as client:
        sid = client.request("/h2up/hang")
        wait_for(lambda: any(_hosts_rq_active(env)), what="the request at its upstream")
        client.reset(sid)
        h2_client = address(client.sock)
        wait_for(lambda: len(env.h2_origin.resets) >= resets + 2, what="two streams reset at the upstream")
    assert sorted(env.h2_origin.resets[resets:]) == [("/echo/fin", 8), ("/hang", 8)]
    assert ended(env, "h1", h1_client) == ["0 DC POST /h2up/echo/fin"]
    assert ended(env, "h2", h2_client) == ["0 DC GET /h2up/hang"]


def test_client_half_close_after_a_complete_request_still_gets_its_response(env):
    with socket.create_connection(("127.0.0.1", env.h1), timeout=10) as s:
        s.sendall(b"POST /slow/200 HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nbody")
        s.shutdown(socket.SHUT_WR)
        out = read_all(s)
        client = address(s)
    assert status_of(out) == 200 and out.endswith(b"slow\n")
    assert ended(env, "h1", client) == ["200 - POST /slow/200"]


def test_client_half_close_after_pipelined_requests_gets_every_response(env):
    with socket.create_connection(("127.0.0.1", env.h1), timeout=10) as s:
        s.sendall(b"GET /slow/100 HTTP/1.1\r\nHost: x\r\n\r\nGET /echo HTTP/1.1\r\nHost: x\r\n\r\n"
                  b"GET /direct HTTP/1.1\r\nHost: x\r\n\r\n")
        s.shutdown(socket.SHUT_WR)
        out = read_all(s)
        client = address(s)
    assert statuses_of(out) == [200, 200, 200]
    assert ended(env, "h1", client, count=3) == ["200 - GET /slow/100", "200 - GET /echo", "200 DR GET /direct"]


def test_client_gone_while_waiting_for_a_pooled_connection(env):
    """`queue` has one connection and room for one waiter: a waiter that leaves must free its
    place, so the next one waits too instead of being refused as pending overflow."""
    busy = _holding(env, b"/queue", "queued")
    waiter = socket.create_connection(("127.0.0.1", env.h1), timeout=10)
    waiter.sendall(b"GET /queue/echo HTTP/1.1\r\nHost: x\r\n" + CLOSE + b"\r\n")
    wait_stats(env.admin, {"cluster.queue.upstream_rq_active": 2})
    gone = address(waiter)
    _abort(waiter)
    wait_stats(env.admin, {"cluster.queue.upstream_rq_active": 1})
    with socket.create_connection(("127.0.0.1", env.h1), timeout=10) as after:
        after.sendall(b"GET /queue/echo HTTP/1.1\r\nHost: x\r\n" + CLOSE + b"\r\n")
        wait_stats(env.admin, {"cluster.queue.upstream_rq_active": 2})  # waiting, not refused
        busy.sendall(b"lf")
        assert status_of(read_all(busy)) == 200
        assert status_of(read_all(after)) == 200
        busy.close()
        assert ended(env, "h1", gone) == ["0 DC GET /queue/echo"]
        assert ended(env, "h1", address(after)) == ["200 - GET /queue/echo"]


@pytest.mark.parametrize(
    ("requests", "statuses", "logged"),
    [
        (b"GET /echo HTTP/1.1\r\nHost: x\r\n\r\n" + CHUNKED_POST % b"/echo" + b"zz\r\n",
         [200, 400], ["200 - GET /echo", "400 DPE POST /echo"]),
        (b"GET /echo HTTP/1.1\r\nHost: x\r\n\r\nGARBAGE\r\n\r\n", [200, 400], ["200 - GET /echo", "400 DPE - -"]),
        (b"GET /reset HTTP/1.1\r\nHost: x\r\n\r\nGET /echo HTTP/1.1\r\nHost: x\r\n" + CLOSE + b"\r\n",
         [502, 200], ["502 UC GET /reset", "200 - GET /echo"]),
        (b"GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\nGET /echo HTTP/1.1\r\nHost: x\r\n" + CLOSE + b"\r\n",
         [404, 200], ["404 NR GET /nowhere", "200 - GET /echo"]),
    ],
    ids=["bad-chunk-behind-good", "bad-head-behind-good", "good-behind-reset", "good-behind-local-reply"],
)
def test_pipelined_requests_each_end_once(env, requests, statuses, logged):
    out, client = exchange(env, requests)
    assert statuses_of(out) == statuses
    assert ended(env, "h1", client, count=2) == logged


# --- HTTP/2 downstream ---------------------------------------------------------------------


def _h2(env: Env) -> H2Client:
    return H2Client(env.h2, validate=False, timeout=10)


@pytest.mark.parametrize(
    ("path", "headers", "status", "logged"),
    [
        ("/nowhere", [], 404, "404 NR GET /nowhere"),
        ("/direct", [], 200, "200 DR GET /direct"),
        ("/reset", [], 502, "502 UC GET /reset"),
        ("/h2up/rst", [], 502, "502 UC GET /h2up/rst"),
        ("/switch", [], 502, "502 UPE GET /switch"),
        ("/timed/slow/3000", [], 504, "504 UT GET /timed/slow/3000"),
        ("/slow/3000", [("content-type", "application/grpc"), ("grpc-timeout", "200m")], 200, "200 DT GET /slow/3000"),
        ("/echo", [("x-big", "v" * 9000)], 431, "431 DPE - -"),
        ("/echo", [("Bad-Case", "1")], None, "0 DPE - -"),  # malformed: RST_STREAM
    ],
    ids=["no-route", "direct", "upstream-reset", "h2-upstream-rst", "upstream-101", "route-timeout", "grpc-deadline",
         "header-list-too-large", "malformed-head"],
)
def test_http2_ending(env, path, headers, status, logged):
    with _h2(env) as client:
        response = client.response(client.request(path, headers=headers))
        assert (response.status if response.headers else None) == status
        address_ = address(client.sock)
    assert ended(env, "h2", address_) == [logged]


def test_http2_body_other_than_content_length(env):
    with _h2(env) as client:
        sid = client.request("/echo", method="POST", headers=[("content-length", "3")], end_stream=False)
        client.send_body(sid, b"too long")
        assert client.response(sid).reset_code == 1  # PROTOCOL_ERROR
        address_ = address(client.sock)
    assert ended(env, "h2", address_) == ["0 DPE POST /echo"]


@pytest.mark.parametrize("how", ["rst-mid-request", "rst-mid-response", "close-mid-request", "connection-error"])
def test_http2_client_ends_the_stream(env, how):
    with _h2(env) as client:
        address_ = address(client.sock)
        if how == "rst-mid-response":
            sid = client.request("/big/50000000")
            client.wait(lambda: client.responses[sid].headers)
        else:
            sid = client.request("/echo", method="POST", body=None, end_stream=False)
            client.send_body(sid, b"part", end_stream=False)
            wait_stats(env.admin, {"cluster.origin.upstream_rq_active": 1})
        if how.startswith("rst"):
            client.reset(sid)
        elif how == "connection-error":
            client.send_raw(b"\x00\x00\x01\x00\x00\x00\x00\x00\x00x")  # DATA on stream 0
            client.wait_closed()
    expected = {"rst-mid-request": "0 DC POST /echo", "rst-mid-response": "200 DC GET /big/50000000",
                "close-mid-request": "0 DC POST /echo", "connection-error": "0 DPE POST /echo"}[how]
    assert ended(env, "h2", address_) == [expected]


# --- X-Protocol ------------------------------------------------------------------------------


def test_rpc_caller_gone_ends_its_request_at_once(env):
    """A caller that closes with a request in flight: the request ends now (DC), not when the
    upstream answers or the request times out."""
    client = XExampleClient(env.rpc)
    address_ = address(client.sock)
    client.send(FrameKind.REQUEST, {"service": "svc", "delay-ms": "5000"})
    wait_stats(env.admin, {"cluster.xup.upstream_rq_active": 1})
    hang_up(client.sock)
    started = time.monotonic()
    assert ended(env, "rpc", address_) == ["0 DC - svc"]
    assert time.monotonic() - started < 4


# --- many clients closing mid-body -----------------------------------------------------------


def test_many_clients_closing_mid_body_stay_bounded(env):
    """200 clients send half a body and half-close: each is closed promptly, the upstream sees
    each request cut short, memory stays flat and a client beside them keeps being served."""
    pid = env.proxy.proc.pid
    addresses = []
    with Bystander(f"http://127.0.0.1:{env.h1}/echo") as bystander:
        wait_for(lambda: bystander.ok, what="the bystander's first answer")
        rss_before = rss_kib(pid)
        for _ in range(10):
            batch = [socket.create_connection(("127.0.0.1", env.h1), timeout=10) for _ in range(20)]
            for s in batch:
                s.sendall(b"POST /echo/many HTTP/1.1\r\nHost: x\r\nContent-Length: 900\r\n\r\n" + b"x" * 500)
            for s in batch:
                addresses.append(address(s))
                s.shutdown(socket.SHUT_WR)
            for s in batch:
                assert read_all(s, timeout=5) == b""
                s.close()
        wait_stats(env.admin, IDLE)
        rss_after = rss_kib(pid)
        wait_for(lambda: bystander.ok >= 5, what="five bystander answers")
        bystander.check()
    assert rss_after - rss_before < 20 * 1024, f"RSS grew {rss_after - rss_before} KiB"
    # every request that reached the upstream was cut short there, none left open
    wait_for(lambda: env.origin.heads.count("/echo/many") == sum(p == "/echo/many" for p, _ in env.origin.cut_short),
             what="the upstream seeing every request it got cut short")
    assert ended(env, "h1", addresses[-1]) == ["0 DC POST /echo/many"]
    lines = log_lines(env.logs["h1"], 1)[env.marks["h1"]:]
    for client in addresses:
        assert lines_of(lines, client) == ["0 DC POST /echo/many"]


# --- drain -----------------------------------------------------------------------------------


def test_drain_ends_every_stream_once(tmp_path, env):
    """SIGTERM: a request that finishes within the drain time is answered, one that does not
    is cut when the connections close; each writes its line before the process exits."""
    port, admin = free_port(), free_port()
    log = tmp_path / "drain.log"
    config = {
        "servers": [{"listeners": [_listener("d", port, log, "Http1")], "routers": [
            {"router_config_name": "r", "virtual_hosts": [{"name": "all", "domains": ["*"], "routers": [
                {"match": {"prefix": "/"}, "route": {"cluster_name": "origin"}}]}]}]}],
        "cluster_manager": {"clusters": [_cluster("origin", env.origin.port)]},
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin}}},
    }
    with Pymosn(config, tmp_path, port, ["--drain-time-s", "2"]) as p:
        quick = socket.create_connection(("127.0.0.1", port), timeout=10)
        slow = socket.create_connection(("127.0.0.1", port), timeout=10)
        quick.sendall(b"GET /slow/100 HTTP/1.1\r\nHost: x\r\n\r\n")
        slow.sendall(b"GET /slow/8000 HTTP/1.1\r\nHost: x\r\n\r\n")
        wait_stats(admin, {"http.d.downstream_rq_active": 2})
        p.proc.terminate()
        out = read_all(quick)
        assert status_of(out) == 200 and b"connection: close" in out.lower()
        assert read_all(slow) == b""
        p.proc.wait(timeout=15)
    lines = log.read_text().splitlines()
    assert sorted(line.split(" ", 1)[1] for line in lines) == ["0 DC GET /slow/8000", "200 - GET /slow/100"]
    quick.close()
    slow.close()
