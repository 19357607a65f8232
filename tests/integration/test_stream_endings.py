"""Every way a stream can end, each checked the same way: the listener's downstream_rq_active,
every cluster's upstream_rq_active and every host's rq_active are back to zero, and the stream
wrote exactly one access-log line, with the status and response flags Envoy would log.

One pymosn serves the whole module (tests/support/endings.py builds it); each test finds its
own log lines by its client's address."""

from __future__ import annotations

import socket
import time

import httpx
import pytest

from pymosn.protocol.xprotocol.api import FrameKind
from tests.support import endings
from tests.support.admin import log_lines, rss_kib, stats, wait_for, wait_stats
from tests.support.bystander import Bystander
from tests.support.endings import (
    IDLE,
    Env,
    address,
    ended,
    exchange,
    hang_up,
    hosts_rq_active,
    lines_of,
    read_all,
    status_of,
    statuses_of,
)
from tests.support.h2_client import H2Client
from tests.support.proxy import Pymosn, free_port
from tests.support.xexample_peer import XExampleClient


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        # each test waits for its lines: a short flush interval keeps the module quick
        patch.setenv("PYMOSN_FILE_FLUSH_INTERVAL_MSEC", "50")
        yield from endings.start(tmp_path_factory)


@pytest.fixture(autouse=True)
def log_marks(env):
    """A client port may recur within the module: a test reads only the lines after its start
    (every earlier line is in the file by then: each test ends by waiting for its last one)."""
    env.marks = {name: len(path.read_text().splitlines()) if path.exists() else 0 for name, path in env.logs.items()}


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
        ((b"GET /direct HTTP/1.1\r\nHost: x\r\n" + CLOSE + b"\r\n",), 200, "200 - GET /direct"),
        ((b"GET /redirect HTTP/1.1\r\nHost: x\r\n" + CLOSE + b"\r\n",), 302, "302 - GET /redirect"),
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
        wait_for(lambda: any(hosts_rq_active(env)), what="the request at its upstream")
        s.shutdown(socket.SHUT_WR)
        assert read_all(s, timeout=5) == b""
        h1_client = address(s)
    with _h2(env) as client:
        sid = client.request("/h2up/hang")
        wait_for(lambda: any(hosts_rq_active(env)), what="the request at its upstream")
        client.reset(sid)
        h2_client = address(client.sock)
        wait_for(lambda: len(env.h2_origin.resets) >= resets + 2, what="two streams reset at the upstream")
    assert sorted(env.h2_origin.resets[resets:]) == [("/echo/fin", 8), ("/hang", 8)]
    assert ended(env, "h1", h1_client) == ["0 DC POST /h2up/echo/fin"]
    assert ended(env, "h2", h2_client) == ["0 DR GET /h2up/hang"]


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
    assert ended(env, "h1", client, count=3) == ["200 - GET /slow/100", "200 - GET /echo", "200 - GET /direct"]


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
        ("/direct", [], 200, "200 - GET /direct"),
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
            # closing now would race the reset: a socket closed with unread response bytes
            # sends a TCP RST, which can reach pymosn before the RST_STREAM frame is read
            wait_stats(env.admin, IDLE)
        elif how == "connection-error":
            client.send_raw(b"\x00\x00\x01\x00\x00\x00\x00\x00\x00x")  # DATA on stream 0
            client.wait_closed()
    expected = {"rst-mid-request": "0 DR POST /echo", "rst-mid-response": "200 DR GET /big/50000000",
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
        "servers": [{"listeners": [endings.listener_config("d", port, log, "Http1")], "routers": [
            {"router_config_name": "r", "virtual_hosts": [{"name": "all", "domains": ["*"], "routers": [
                {"match": {"prefix": "/"}, "route": {"cluster_name": "origin"}}]}]}]}],
        "cluster_manager": {"clusters": [endings.cluster_config("origin", env.origin.port)]},
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin}}},
    }
    # the quick request must still be running when the stats are read, and end within the drain
    with Pymosn(config, tmp_path, port, ["--drain-time-s", "5"]) as p:
        quick = socket.create_connection(("127.0.0.1", port), timeout=10)
        slow = socket.create_connection(("127.0.0.1", port), timeout=10)
        quick.sendall(b"GET /slow/2000 HTTP/1.1\r\nHost: x\r\n\r\n")
        slow.sendall(b"GET /slow/30000 HTTP/1.1\r\nHost: x\r\n\r\n")
        wait_stats(admin, {"http.d.downstream_rq_active": 2})
        p.proc.terminate()
        out = read_all(quick)
        assert status_of(out) == 200 and b"connection: close" in out.lower()
        assert read_all(slow) == b""
        p.proc.wait(timeout=20)
    lines = log.read_text().splitlines()
    assert sorted(line.split(" ", 1)[1] for line in lines) == ["0 DC GET /slow/30000", "200 - GET /slow/2000"]
    quick.close()
    slow.close()
