"""HTTP/2 downstream through a real pymosn process to the HTTP/1.1 test origin: h2c with prior
knowledge, Auto detection, ALPN over TLS, concurrent streams on one connection, large bodies
both ways, trailers both ways, SETTINGS, PING, 1xx, GOAWAY on drain, resets both ways, flow
control against slow readers and slow upstreams, RFC 9113 header validation and raw-frame
protocol violations, and hypothesis-generated frame sequences that must not hurt the proxy."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time

import h2.connection
import h2.errors
import h2.events
import h2.settings
import hpack
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.certs import Pki
from tests.support.h2_client import H2Client
from tests.support.origin import Origin
from tests.support.proxy import Pymosn, free_port, simple_config, wait_port

needs_curl = pytest.mark.skipif(shutil.which("curl") is None, reason="curl not installed")
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def h2_config(port, upstream_port, admin_port=None, protocol="Http2", routes=None, **proxy):
    return simple_config(port, [upstream_port], admin_port=admin_port, routes=routes,
                         proxy={"downstream_protocol": protocol, **proxy})


@pytest.fixture
def h2proxy(origin, tmp_path):
    port, admin = free_port(), free_port()
    with Pymosn(h2_config(port, origin.port, admin), tmp_path, port) as p:
        p.admin_port = admin
        yield p


def stats(p) -> dict[str, int]:
    text = httpx.get(f"http://127.0.0.1:{p.admin_port}/stats", timeout=10).text
    out = {}
    for line in text.splitlines():
        name, _, value = line.partition(": ")
        if value.strip().lstrip("-").isdigit():
            out[name] = int(value)
    return out


def wait_stat(p, name: str, value: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while stats(p).get(name) != value:
        if time.monotonic() > deadline:
            raise AssertionError(f"{name} = {stats(p).get(name)}, expected {value}")
        time.sleep(0.05)


def curl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["curl", "-sS", "--max-time", "20", *args], capture_output=True, timeout=60)


# --- clients -------------------------------------------------------------------------------------


@needs_curl
def test_curl_prior_knowledge(h2proxy):
    r = curl("--http2-prior-knowledge", "-w", "\n%{http_version}", f"http://127.0.0.1:{h2proxy.port}/echo/curl?x=1")
    assert r.returncode == 0, r.stderr
    body, _, version = r.stdout.decode().rpartition("\n")
    assert version == "2"
    echoed = json.loads(body)
    assert echoed["path"] == "/echo/curl?x=1"
    assert echoed["headers"]["host"] == f"127.0.0.1:{h2proxy.port}"
    assert echoed["headers"]["x-forwarded-proto"] == "http"
    assert echoed["headers"]["x-forwarded-for"] == "127.0.0.1"
    s = stats(h2proxy)
    assert s["http.ingress.downstream_rq_http2_total"] == 1
    assert s["http.ingress.downstream_cx_http2_total"] >= 1


def test_httpx_http2(h2proxy, origin):
    with httpx.Client(http1=False, http2=True, timeout=20) as client:
        for i in range(3):
            r = client.get(f"http://127.0.0.1:{h2proxy.port}/echo/{i}", headers={"Cookie": "a=1", "x-custom": "v"})
            assert r.status_code == 200 and r.http_version == "HTTP/2"
            assert r.json()["headers"]["x-custom"] == "v"
        r = client.post(f"http://127.0.0.1:{h2proxy.port}/mirror", content=b"posted body")
        assert r.content == b"posted body"
        r = client.get(f"http://127.0.0.1:{h2proxy.port}/status/503")
        assert r.status_code == 503
        r = client.head(f"http://127.0.0.1:{h2proxy.port}/echo/head")
        assert r.status_code == 200 and r.content == b""
    assert {r["path"] for r in origin.requests} >= {"/echo/0", "/echo/1", "/echo/2", "/mirror"}


def test_access_log_says_http2(origin, tmp_path, start_proxy):
    log = tmp_path / "h2-access.log"
    listener = {"access_logs": [{"log_path": str(log), "log_format": "%PROTOCOL% %REQ(:METHOD)% %REQ(:PATH)% %RESPONSE_CODE%\n"}]}

    def build(port):
        return simple_config(port, [origin.port], listener=listener, proxy={"downstream_protocol": "Auto"})

    p = start_proxy(build)
    with H2Client(p.port) as c:
        assert c.response(c.request("/echo/logged")).status == 200
    httpx.get(f"http://127.0.0.1:{p.port}/echo/h1", timeout=20)
    deadline = time.monotonic() + 10
    while (not log.exists() or log.read_text().count("\n") < 2) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert log.read_text().splitlines() == ["HTTP/2 GET /echo/logged 200", "HTTP/1.1 GET /echo/h1 200"]


def test_cookie_crumbs_joined_for_http1(h2proxy, origin):
    with H2Client(h2proxy.port) as c:
        sid = c.request("/echo/cookies", headers=[("cookie", "a=1"), ("cookie", "b=2")])
        assert c.response(sid).status == 200
    assert origin.requests[-1]["headers"]["cookie"] == "a=1; b=2"


def test_local_replies_over_h2(origin, start_proxy):
    p = start_proxy(lambda port: h2_config(port, origin.port, routes=[{"match": {"prefix": "/only"}, "route": {"cluster_name": "origin"}}]))
    with H2Client(p.port) as c:
        sid = c.request("/nothing-here")
        r = c.response(sid)
        assert r.status == 404 and bytes(r.body) == b"no route matched\n"


@needs_curl
def test_auto_detects_http2_and_http1(origin, start_proxy):
    p = start_proxy(lambda port: h2_config(port, origin.port, protocol="Auto"))
    r = curl("--http2-prior-knowledge", "-w", "\n%{http_version}", f"http://127.0.0.1:{p.port}/echo/a")
    assert r.returncode == 0 and r.stdout.decode().endswith("\n2"), r.stderr
    r = curl("--http1.1", "-w", "\n%{http_version}", f"http://127.0.0.1:{p.port}/echo/b")
    assert r.returncode == 0 and r.stdout.decode().endswith("\n1.1"), r.stderr


def test_tls_auto_without_alpn_sniffs_the_preface(origin, tmp_path, start_proxy):
    pki = Pki(tmp_path)
    cert, key = pki.server("localhost", "localhost", "127.0.0.1")

    def build(port):
        config = h2_config(port, origin.port, protocol="Auto")
        config["servers"][0]["listeners"][0]["filter_chains"][0]["tls_context"] = {
            "status": True, "cert_chain": cert, "private_key": key}
        return config

    p = start_proxy(build)
    ctx = ssl.create_default_context(cafile=pki.ca_path)  # offers no ALPN
    with H2Client(p.port, ssl_context=ctx) as c:
        assert c.sock.selected_alpn_protocol() is None
        r = c.response(c.request("/echo/sniffed"))
        assert r.status == 200 and json.loads(bytes(r.body))["headers"]["x-forwarded-proto"] == "https"
    r = httpx.get(f"https://localhost:{p.port}/echo/h1", verify=ctx, timeout=20)
    assert r.status_code == 200 and r.http_version == "HTTP/1.1"


@needs_curl
@pytest.mark.parametrize("protocol", ["Http2", "Auto"])
def test_tls_alpn_picks_h2_or_http1(origin, tmp_path, start_proxy, protocol):
    pki = Pki(tmp_path)
    cert, key = pki.server("localhost", "localhost", "127.0.0.1")

    def build(port):
        config = h2_config(port, origin.port, protocol=protocol)
        config["servers"][0]["listeners"][0]["filter_chains"][0]["tls_context"] = {
            "status": True, "cert_chain": cert, "private_key": key, "alpn": "h2,http/1.1"}
        return config

    p = start_proxy(build)
    url = f"https://localhost:{p.port}/echo/tls"
    resolve = f"localhost:{p.port}:127.0.0.1"
    r = curl("--http2", "-k", "--resolve", resolve, "-w", "\n%{http_version}", url)
    assert r.returncode == 0, r.stderr
    body, _, version = r.stdout.decode().rpartition("\n")
    assert version == "2"
    assert json.loads(body)["headers"]["x-forwarded-proto"] == "https"
    r = curl("--http1.1", "-k", "--resolve", resolve, "-w", "\n%{http_version}", url)
    assert r.returncode == 0 and r.stdout.decode().endswith("\n1.1"), r.stderr
    ctx = ssl.create_default_context(cafile=pki.ca_path)
    ctx.set_alpn_protocols(["h2"])
    with H2Client(p.port, ssl_context=ctx) as c:
        assert c.sock.selected_alpn_protocol() == "h2"
        sid = c.request("/chunked")
        r = c.response(sid)
        assert r.status == 200 and bytes(r.body) == b"hello world" and r.trailers == [(b"x-trailer", b"done")]


# --- multiplexing and bodies ------------------------------------------------------------------


def test_httpx_async_multiplexes_on_one_connection(h2proxy, origin):
    async def main():
        async with httpx.AsyncClient(http1=False, http2=True, timeout=30) as client:
            url = f"http://127.0.0.1:{h2proxy.port}"
            return await asyncio.gather(*(client.get(f"{url}/slow/200/{i}") for i in range(40)))

    before = origin.connections
    responses = asyncio.run(main())
    assert [r.status_code for r in responses] == [200] * 40
    assert {r.http_version for r in responses} == {"HTTP/2"}
    assert stats(h2proxy)["http.ingress.downstream_cx_http2_total"] >= 1
    assert origin.connections - before >= 10  # fanned out to parallel upstream connections


def test_many_concurrent_streams_on_one_connection(h2proxy, origin):
    with H2Client(h2proxy.port) as c:
        started = time.monotonic()
        sids = [c.request(f"/slow/300/{i}") for i in range(60)]
        for sid in sids:
            r = c.response(sid, timeout=30)
            assert r.status == 200 and bytes(r.body) == b"slow\n"
        elapsed = time.monotonic() - started
    assert elapsed < 60 * 0.3 / 3  # in parallel, not one after another
    assert len([r for r in origin.requests if r["path"].startswith("/slow/300")]) == 60
    wait_stat(h2proxy, "http.ingress.downstream_rq_active", 0)


def test_concurrent_streams_over_more_than_max_concurrent(origin, start_proxy):
    """h2load-like: several connections x streams, more requests in total than one connection's
    stream limit, all answered."""
    p = start_proxy(lambda port: h2_config(port, origin.port, http2_protocol_options={"max_concurrent_streams": 8}))
    errors = []

    def one_connection(n):
        try:
            with H2Client(p.port) as c:
                c.wait(lambda: 3 in c.remote_settings)
                assert c.remote_settings[3] == 8
                for _ in range(3):
                    sids = [c.request(f"/echo/{n}") for _ in range(8)]
                    for sid in sids:
                        assert c.response(sid).status == 200
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=one_connection, args=(n,)) for n in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors


@pytest.mark.parametrize("with_length", [True, False])
def test_large_request_body_streams_through(h2proxy, origin, with_length):
    body = bytes(range(256)) * (8 * 1024 * 1024 // 256)
    with H2Client(h2proxy.port, timeout=60) as c:
        headers = [("content-length", str(len(body)))] if with_length else []
        sid = c.request("/mirror", method="POST", headers=headers, end_stream=False)
        c.send_body(sid, body)
        r = c.response(sid, timeout=60)
    assert r.status == 200
    assert len(r.body) == len(body) and hashlib.sha256(r.body).digest() == hashlib.sha256(body).digest()
    sent = origin.requests[-1]["headers"]
    assert sent.get("content-length") == str(len(body)) if with_length else sent.get("transfer-encoding") == "chunked"


def test_large_response_body(h2proxy):
    with httpx.Client(http1=False, http2=True, timeout=60) as client:
        r = client.get(f"http://127.0.0.1:{h2proxy.port}/big/8000000")
    assert r.status_code == 200 and len(r.content) == 8_000_000


def test_request_trailers_reach_a_chunked_upstream(h2proxy, origin):
    with H2Client(h2proxy.port) as c:
        sid = c.request("/echo/trailers", method="POST", end_stream=False)
        c.send_body(sid, b"part one, ", end_stream=False)
        c.send_body(sid, b"part two", end_stream=False)
        c.trailers(sid, [(b"x-checksum", b"abc123")])
        r = c.response(sid)
    assert r.status == 200 and json.loads(bytes(r.body))["body_bytes"] == 18
    seen = origin.requests[-1]
    assert seen["headers"]["transfer-encoding"] == "chunked"
    assert (b"x-checksum", b"abc123") in seen["raw_headers"]  # llhttp reports trailers as fields


def test_response_trailers_from_chunked_upstream(h2proxy):
    with H2Client(h2proxy.port) as c:
        sid = c.request("/chunked")
        r = c.response(sid)
    assert r.status == 200 and bytes(r.body) == b"hello world"
    assert r.trailers == [(b"x-trailer", b"done")]
    names = [n for n, _ in r.headers]
    assert b"transfer-encoding" not in names and b"trailer" not in names and b"connection" not in names


def test_expect_100_continue_is_informational(h2proxy):
    with H2Client(h2proxy.port) as c:
        sid = c.request("/mirror", method="POST", headers=[("expect", "100-continue"), ("content-length", "4")], end_stream=False)
        c.wait(lambda: c.responses[sid].informational)
        assert dict(c.responses[sid].informational[0])[b":status"] == b"100"
        c.send_body(sid, b"body")
        r = c.response(sid)
    assert r.status == 200 and bytes(r.body) == b"body"


# --- settings, ping, goaway ---------------------------------------------------------------------


def test_settings_from_config(origin, start_proxy):
    options = {"max_concurrent_streams": 7, "initial_stream_window_size": 131072,
               "initial_connection_window_size": 4194304, "max_frame_size": 32768}
    p = start_proxy(lambda port: h2_config(port, origin.port, http2_protocol_options=options, max_request_headers_kb=16))
    with H2Client(p.port) as c:
        c.wait(lambda: 4 in c.remote_settings)
        codes = h2.settings.SettingCodes
        assert c.remote_settings[codes.MAX_CONCURRENT_STREAMS] == 7
        assert c.remote_settings[codes.INITIAL_WINDOW_SIZE] == 131072
        assert c.remote_settings[codes.MAX_FRAME_SIZE] == 32768
        assert c.remote_settings[codes.MAX_HEADER_LIST_SIZE] == 16 * 1024
        assert c.remote_settings[codes.ENABLE_PUSH] == 0
        c.wait(lambda: c.conn.outbound_flow_control_window == 4194304)


def test_bad_settings_are_config_errors(origin, tmp_path):
    port = free_port()
    config = h2_config(port, origin.port, http2_protocol_options={"max_frame_size": 1000, "initial_stream_window_size": 100})
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(config))
    import sys

    r = subprocess.run([sys.executable, "-m", "pymosn", "validate", "-c", str(path)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
    assert "http2_protocol_options.max_frame_size: must be 16384..16777215, got 1000" in r.stdout + r.stderr
    assert "initial_stream_window_size: must be 65535..2147483647" in r.stdout + r.stderr


def test_ping_is_answered(h2proxy):
    with H2Client(h2proxy.port) as c:
        c.ping(b"pingpong")
        c.wait(lambda: any(isinstance(e, h2.events.PingAckReceived) and e.ping_data == b"pingpong" for e in c.events))


def test_header_list_over_the_limit_is_431(origin, start_proxy):
    p = start_proxy(lambda port: h2_config(port, origin.port, max_request_headers_kb=4))
    with H2Client(p.port) as c:
        c.wait(lambda: 6 in c.remote_settings)
        sid = c.request("/echo", headers=[("x-big", "v" * 6000)])
        assert c.response(sid).status == 431
        sid = c.request("/echo/after")
        assert c.response(sid).status == 200  # the connection lives on


def test_goaway_on_sigterm_finishes_in_flight(origin, tmp_path):
    port, admin = free_port(), free_port()
    with Pymosn(h2_config(port, origin.port, admin), tmp_path, port, ["--drain-time-s", "10"]) as p:
        with H2Client(port) as c:
            slow = c.request("/slow/1500")
            c.wait(lambda: any(r["path"] == "/slow/1500" for r in origin.requests))
            p.proc.send_signal(signal.SIGTERM)
            c.wait(lambda: c.goaway is not None)
            assert c.goaway.error_code == 0
            r = c.response(slow)
            assert r.status == 200 and bytes(r.body) == b"slow\n"
            c.wait_closed()
            assert c.goaway.last_stream_id == slow
        assert p.proc.wait(20) == 0


def test_drained_connection_refuses_new_streams(origin, tmp_path):
    port, admin = free_port(), free_port()
    with Pymosn(h2_config(port, origin.port, admin), tmp_path, port, ["--drain-time-s", "10"]) as p:
        with H2Client(port) as c:
            slow = c.request("/slow/1500")
            c.wait(lambda: any(r["path"] == "/slow/1500" for r in origin.requests))
            p.proc.send_signal(signal.SIGTERM)
            c.wait(lambda: c.goaway is not None and c.goaway.last_stream_id == slow)
            # a client that ignores the GOAWAY: h2 would refuse to send, so bypass its state
            c.conn.state_machine.state = h2.connection.ConnectionState.CLIENT_OPEN
            late = c.request("/echo/late")
            assert c.response(late).reset_code == h2.errors.ErrorCodes.REFUSED_STREAM
            assert c.response(slow).status == 200


# --- resets -----------------------------------------------------------------------------------------


def test_client_reset_cancels_the_upstream_request(h2proxy, origin):
    with H2Client(h2proxy.port) as c:
        sid = c.request("/slow/5000")
        c.wait(lambda: any(r["path"] == "/slow/5000" for r in origin.requests))
        before = stats(h2proxy)
        c.reset(sid)
        wait_stat(h2proxy, "http.ingress.downstream_rq_active", 0, timeout=3)  # long before 5 s
        after = stats(h2proxy)
        assert after["http.ingress.downstream_rq_rx_reset"] == before.get("http.ingress.downstream_rq_rx_reset", 0) + 1
        assert after["cluster.origin.upstream_cx_destroy"] > before.get("cluster.origin.upstream_cx_destroy", 0)
        sid = c.request("/echo/next")
        assert c.response(sid).status == 200


def test_upstream_failure_after_headers_resets_only_that_stream(h2proxy):
    with H2Client(h2proxy.port) as c:
        other = c.request("/slow/500")
        sid = c.request("/half")
        r = c.response(sid)
        assert r.reset_code == h2.errors.ErrorCodes.INTERNAL_ERROR
        assert r.status == 200 and len(r.body) <= 50
        assert c.response(other).status == 200
        assert c.goaway is None
        sid = c.request("/echo/after")
        assert c.response(sid).status == 200


def test_upstream_failure_before_headers_is_a_local_reply(h2proxy):
    with H2Client(h2proxy.port) as c:
        sid = c.request("/reset")
        assert c.response(sid).status == 502


# --- flow control ---------------------------------------------------------------------------------


def rss_kb(p) -> int:
    with open(f"/proc/{p.proc.pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


def test_slow_reader_stalls_only_its_own_stream(h2proxy, origin):
    """A client that stops granting window on one stream: that stream's upstream is paused
    (the origin stops getting its body out), the proxy's memory stays flat, other streams on
    the same connection are served; granting window again lets the whole body through."""
    size = 32 * 1024 * 1024
    with H2Client(h2proxy.port, timeout=60) as c:
        slow = c.request(f"/big/{size}")
        c.hold.add(slow)
        c.wait(lambda: c.responses[slow].headers)
        time.sleep(1.0)
        c.read_once(timeout=0.5)
        stalled_at = origin.streamed
        baseline = rss_kb(h2proxy)
        time.sleep(1.0)
        c.read_once(timeout=0.5)
        assert origin.streamed < size // 2, "the upstream was not paused"
        assert origin.streamed - stalled_at < 1024 * 1024
        assert len(c.responses[slow].body) <= 70_000  # the client's stream window
        for i in range(5):
            sid = c.request(f"/echo/meanwhile/{i}")
            assert c.response(sid).status == 200
        assert rss_kb(h2proxy) - baseline < 16 * 1024
        c.hold.discard(slow)
        c.conn.acknowledge_received_data(c.held, slow)
        c.flush()
        r = c.response(slow, timeout=60)
    assert len(r.body) == size
    wait_stat(h2proxy, "http.ingress.downstream_rq_active", 0)


class Sink:
    """An upstream that accepts and never reads: request bodies back up into the proxy."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.accepted: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            self.accepted.append(conn)

    def close(self) -> None:
        self.sock.close()
        for conn in self.accepted:
            conn.close()


def test_slow_upstream_closes_only_its_streams_window(origin, start_proxy):
    sink = Sink()
    try:
        routes = [{"match": {"prefix": "/sink"}, "route": {"cluster_name": "sink"}},
                  {"match": {"prefix": "/"}, "route": {"cluster_name": "origin"}}]

        def build(port):
            config = h2_config(port, origin.port, routes=routes)
            config["cluster_manager"]["clusters"].append(
                {"name": "sink", "type": "SIMPLE", "lb_type": "LB_ROUNDROBIN", "hosts": [{"address": f"127.0.0.1:{sink.port}"}]})
            return config

        p = start_proxy(build)
        with H2Client(p.port, timeout=30) as c:
            sid = c.request("/sink/upload", method="POST", end_stream=False)
            chunk = b"u" * 16384
            sent = 0
            deadline = time.monotonic() + 20
            stuck_since = None
            while time.monotonic() < deadline:
                if c.conn.local_flow_control_window(sid) >= len(chunk):
                    c.conn.send_data(sid, chunk)
                    c.flush()
                    sent += len(chunk)
                    stuck_since = None
                    continue
                stuck_since = stuck_since or time.monotonic()
                if time.monotonic() - stuck_since > 1.5:
                    break  # no WINDOW_UPDATE for 1.5 s: the proxy stopped taking this stream
                c.read_once(timeout=0.1)
            assert stuck_since is not None, "the proxy kept acknowledging a body nobody reads"
            assert sent < 64 * 1024 * 1024
            # the same connection still carries other streams, bodies included
            other = c.request("/mirror", method="POST", body=b"x" * 200_000)
            r = c.response(other)
            assert r.status == 200 and len(r.body) == 200_000
    finally:
        sink.close()


# --- RFC 9113 header validation ---------------------------------------------------------------------

BASE = [(b":method", b"GET"), (b":scheme", b"http"), (b":authority", b"localhost"), (b":path", b"/echo")]
MALFORMED = {
    "uppercase name": BASE + [(b"X-Upper", b"v")],
    "connection header": BASE + [(b"connection", b"keep-alive")],
    "transfer-encoding": BASE + [(b"transfer-encoding", b"chunked")],
    "upgrade": BASE + [(b"upgrade", b"websocket")],
    "keep-alive": BASE + [(b"keep-alive", b"5")],
    "proxy-connection": BASE + [(b"proxy-connection", b"close")],
    "te other than trailers": BASE + [(b"te", b"gzip")],
    "missing :path": BASE[:3],
    "missing :method": BASE[1:],
    "missing :scheme": [BASE[0], BASE[2], BASE[3]],
    "empty :path": BASE[:3] + [(b":path", b"")],
    "relative :path": BASE[:3] + [(b":path", b"echo")],
    "pseudo after regular": BASE[:3] + [(b"x-a", b"1"), (b":path", b"/")],
    "duplicate :path": BASE + [(b":path", b"/again")],
    "unknown pseudo": BASE + [(b":foo", b"bar")],
    "response pseudo": BASE + [(b":status", b"200")],
    "extended CONNECT": BASE + [(b":protocol", b"websocket")],
    "CR in value": BASE + [(b"x-a", b"a\rb")],
    "NUL in value": BASE + [(b"x-a", b"a\x00b")],
    "leading space in value": BASE + [(b"x-a", b" a")],
    "space in name": BASE + [(b"x a", b"1")],
    "empty name": BASE + [(b"", b"1")],
    "host differs from :authority": BASE + [(b"host", b"elsewhere")],
}
# h2 checks content-length itself, before our validation, and makes these connection errors
BAD_LENGTHS = {
    "bad content-length": BASE + [(b"content-length", b"12x")],
    "conflicting content-length": BASE + [(b"content-length", b"1"), (b"content-length", b"2")],
}


def test_malformed_requests_are_stream_errors(h2proxy, origin):
    before = len(origin.requests)
    with H2Client(h2proxy.port, validate=False) as c:
        for name, block in MALFORMED.items():
            sid = c.conn.get_next_available_stream_id()
            c.send_block(sid, block, end_stream=True)
            r = c.response(sid)
            assert r.reset_code == h2.errors.ErrorCodes.PROTOCOL_ERROR, name
        assert c.goaway is None
        sid = c.request("/echo/still-fine")
        assert c.response(sid).status == 200
    assert len(origin.requests) == before + 1  # none of the malformed ones went upstream
    s = stats(h2proxy)
    assert s["http.ingress.downstream_rq_protocol_error"] >= len(MALFORMED)
    assert s["http.ingress.downstream_rq_active"] == 0


@pytest.mark.parametrize("name", list(BAD_LENGTHS))
def test_bad_content_length_is_a_protocol_error(h2proxy, origin, name):
    with H2Client(h2proxy.port, validate=False) as c:
        sid = c.conn.get_next_available_stream_id()
        c.send_block(sid, BAD_LENGTHS[name], end_stream=True)
        c.wait(lambda: c.responses[sid].reset_code is not None or c.goaway is not None)
        code = c.responses[sid].reset_code if c.goaway is None else c.goaway.error_code
        assert code == h2.errors.ErrorCodes.PROTOCOL_ERROR
    assert not any(r["path"] == "/echo" for r in origin.requests)


def test_malformed_trailers_reset_the_stream(h2proxy):
    with H2Client(h2proxy.port, validate=False) as c:
        sid = c.request("/mirror", method="POST", end_stream=False)
        c.send_body(sid, b"abc", end_stream=False)
        c.trailers(sid, [(b":path", b"/x")])
        assert c.response(sid).reset_code == h2.errors.ErrorCodes.PROTOCOL_ERROR
        sid = c.request("/echo/ok")
        assert c.response(sid).status == 200
    wait_stat(h2proxy, "http.ingress.downstream_rq_active", 0)


def test_te_trailers_is_accepted(h2proxy):
    with H2Client(h2proxy.port) as c:
        sid = c.request("/echo/te", headers=[("te", "trailers")])
        assert c.response(sid).status == 200


def test_connect_is_refused(h2proxy):
    with H2Client(h2proxy.port, validate=False) as c:
        sid = c.conn.get_next_available_stream_id()
        c.send_block(sid, [(b":method", b"CONNECT"), (b":authority", b"example.com:443")], end_stream=False)
        assert c.response(sid).status == 501


# --- raw frames -------------------------------------------------------------------------------------


def raw_frame(kind: int, flags: int, sid: int, payload: bytes) -> bytes:
    return len(payload).to_bytes(3, "big") + bytes([kind, flags]) + (sid & 0x7FFFFFFF).to_bytes(4, "big") + payload


def goaway_code(c: H2Client) -> int:
    c.wait(lambda: c.goaway is not None or c.closed, timeout=10)
    return c.goaway.error_code if c.goaway is not None else -1


SETTINGS_ACK = raw_frame(4, 1, 0, b"")
VIOLATIONS = {
    "DATA on stream 0": (raw_frame(0, 1, 0, b"x"), h2.errors.ErrorCodes.PROTOCOL_ERROR),
    "HEADERS on an even stream": (None, h2.errors.ErrorCodes.PROTOCOL_ERROR),
    "SETTINGS on a stream": (raw_frame(4, 0, 1, b""), h2.errors.ErrorCodes.PROTOCOL_ERROR),
    "SETTINGS window too large": (raw_frame(4, 0, 0, b"\x00\x04\x80\x00\x00\x00"), h2.errors.ErrorCodes.FLOW_CONTROL_ERROR),
    "SETTINGS bad length": (raw_frame(4, 0, 0, b"\x00\x04\x00"), h2.errors.ErrorCodes.FRAME_SIZE_ERROR),
    "PING wrong size": (raw_frame(6, 0, 0, b"1234"), h2.errors.ErrorCodes.FRAME_SIZE_ERROR),
    "WINDOW_UPDATE overflow": (raw_frame(8, 0, 0, (2**31 - 1).to_bytes(4, "big")), h2.errors.ErrorCodes.FLOW_CONTROL_ERROR),
    "WINDOW_UPDATE zero": (raw_frame(8, 0, 0, b"\x00\x00\x00\x00"), h2.errors.ErrorCodes.PROTOCOL_ERROR),
    "frame over max_frame_size": (raw_frame(0, 0, 1, b"x" * 20000), h2.errors.ErrorCodes.FRAME_SIZE_ERROR),
    "CONTINUATION without HEADERS": (raw_frame(9, 4, 1, b""), h2.errors.ErrorCodes.PROTOCOL_ERROR),
    "garbage HPACK": (raw_frame(1, 5, 1, b"\xff\xff\xff\xff\xff"), h2.errors.ErrorCodes.COMPRESSION_ERROR),
    "PUSH_PROMISE from a client": (raw_frame(5, 4, 1, b"\x00\x00\x00\x02"), h2.errors.ErrorCodes.PROTOCOL_ERROR),
}


@pytest.mark.parametrize("name", list(VIOLATIONS))
def test_connection_errors_get_goaway(h2proxy, name):
    payload, code = VIOLATIONS[name]
    with H2Client(h2proxy.port, validate=False) as c:
        c.wait(lambda: 4 in c.remote_settings)
        if payload is None:  # a well-formed HEADERS block on stream 2
            payload = raw_frame(1, 5, 2, hpack.Encoder().encode(BASE))
        c.send_raw(payload)
        assert goaway_code(c) == code, name
        c.wait_closed()
    wait_stat(h2proxy, "http.ingress.downstream_cx_http2_active", 0)


def test_body_longer_than_content_length_is_refused(h2proxy, origin):
    with H2Client(h2proxy.port, validate=False) as c:
        sid = c.request("/mirror", method="POST", headers=[("content-length", "3")], end_stream=False)
        c.send_raw(raw_frame(0, 1, sid, b"too long"))
        c.wait(lambda: c.responses[sid].reset_code is not None or c.goaway is not None or c.closed)
        r = c.responses[sid]
        assert r.reset_code == h2.errors.ErrorCodes.PROTOCOL_ERROR or c.goaway.error_code == h2.errors.ErrorCodes.PROTOCOL_ERROR
    assert not any(r["path"] == "/mirror" and r.get("body") for r in origin.requests)
    wait_stat(h2proxy, "http.ingress.downstream_rq_active", 0)


def test_not_a_preface_is_closed(h2proxy):
    with socket.create_connection(("127.0.0.1", h2proxy.port), timeout=10) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    assert b"\x00\x00\x07\x00\x00\x00\x00\x00" in data or data[3:4] == b"\x04"  # SETTINGS, then GOAWAY
    wait_stat(h2proxy, "http.ingress.downstream_cx_http2_active", 0)


# --- hypothesis: arbitrary frame sequences ------------------------------------------------------------

FRAME_TYPES = st.sampled_from([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0x10])
STREAM_IDS = st.sampled_from([0, 1, 2, 3, 5, 7, 2**31 - 1])


@st.composite
def frames(draw):
    kind = draw(FRAME_TYPES)
    sid = draw(STREAM_IDS)
    flags = draw(st.sampled_from([0, 1, 4, 5, 8, 0x20, 0x25, 0xFF]))
    choice = draw(st.integers(0, 3))
    if kind == 1 and choice < 2:  # mostly well-formed requests, so streams really start

        block = BASE + draw(st.lists(st.tuples(st.sampled_from([b"x-a", b"content-length", b"te", b"cookie"]),
                                               st.sampled_from([b"1", b"trailers", b"", b"a=b"])), max_size=3))
        payload = hpack.Encoder().encode(block)
    elif kind == 4 and choice < 2:
        payload = b"".join(draw(st.sampled_from([1, 3, 4, 5, 6])).to_bytes(2, "big") + draw(st.integers(0, 2**32 - 1)).to_bytes(4, "big")
                           for _ in range(draw(st.integers(0, 3))))
    elif kind == 8 and choice < 2:
        payload = draw(st.integers(0, 2**31 - 1)).to_bytes(4, "big")
    else:
        payload = draw(st.binary(max_size=64))
    return raw_frame(kind, flags, sid, payload)


@pytest.fixture(scope="module")
def fuzz_proxy(tmp_path_factory):
    with Origin("fuzz-origin") as origin:
        port, admin = free_port(), free_port()
        with Pymosn(h2_config(port, origin.port, admin), tmp_path_factory.mktemp("fuzz"), port) as p:
            p.admin_port = admin
            yield p
            alive = p.proc.poll() is None
        assert alive, "pymosn died"
        assert b"unexpected error" not in p.errors, p.errors.decode()[-3000:]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sequence=st.lists(frames(), min_size=1, max_size=12))
def test_generated_frame_sequences_never_hurt_the_proxy(fuzz_proxy, sequence):
    with socket.create_connection(("127.0.0.1", fuzz_proxy.port), timeout=10) as s:
        s.sendall(PREFACE + raw_frame(4, 0, 0, b"") + b"".join(sequence))
        s.settimeout(0.3)
        try:
            while s.recv(65536):
                pass
        except (TimeoutError, ConnectionResetError):
            pass
    assert fuzz_proxy.proc.poll() is None


def test_after_the_fuzzing_nothing_leaked(fuzz_proxy):
    wait_stat(fuzz_proxy, "http.ingress.downstream_cx_active", 0, timeout=20)
    wait_stat(fuzz_proxy, "http.ingress.downstream_rq_active", 0)
    with H2Client(fuzz_proxy.port) as c:
        sid = c.request("/echo/alive")
        assert c.response(sid).status == 200


# --- hot upgrade --------------------------------------------------------------------------------------


def test_hot_upgrade_sends_goaway_and_finishes_in_flight(origin, tmp_path):
    """HTTP/2 connections are not handed over: the old process sends GOAWAY at once, answers
    the stream in flight, and the client's next connection reaches the new process."""
    port, admin = free_port(), free_port()
    config = tmp_path / "h2-upgrade.json"
    config.write_text(json.dumps(h2_config(port, origin.port, admin)))
    control = tmp_path / "control.sock"

    def start(*extra):
        return subprocess.Popen(
            [sys.executable, "-m", "pymosn", "start", "-c", str(config), "--upgrade-socket", str(control),
             "--drain-time-s", "5", *extra],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=dict(os.environ, PYTHONUNBUFFERED="1"))

    old = start()
    new = None
    try:
        wait_port(port, proc=old)
        with H2Client(port) as c:
            slow = c.request("/slow/1500")
            c.wait(lambda: any(r["path"] == "/slow/1500" for r in origin.requests))
            new = start("--upgrade")
            c.wait(lambda: c.goaway is not None, timeout=20)
            r = c.response(slow)
            assert r.status == 200 and bytes(r.body) == b"slow\n"
            c.wait_closed()
        assert old.wait(timeout=30) == 0
        with H2Client(port) as c:
            sid = c.request("/echo/after-upgrade")
            assert c.response(sid).status == 200
    finally:
        for proc in (old, new):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=10)
