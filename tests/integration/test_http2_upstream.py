"""HTTP/1.1 clients through pymosn to HTTP/2 upstreams: h2c prior knowledge and h2 over TLS
(ALPN), streams multiplexed on pooled connections, conversion of bodies and trailers, flow
control, resets and GOAWAY."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import socket
import ssl
import struct
import threading
import time

import h2.config
import h2.connection
import h2.events
import httpx
import pytest

from tests.support.certs import Pki
from tests.support.h2_origin import MALFORMED, H2Origin
from tests.support.origin import Origin
from tests.support.proxy import free_port, simple_config

H2_CLUSTER = {"upstream_protocol": "Http2"}


@pytest.fixture
def h2_origin():
    with H2Origin() as origin:
        yield origin


def h2_proxy(start_proxy, origin_port: int, cluster: dict | None = None, **kwargs):
    return start_proxy(lambda port: simple_config(port, [origin_port], cluster={**H2_CLUSTER, **(cluster or {})},
                                                  **kwargs))


def wait_for(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.02)


def raw_exchange(port: int, request: bytes, timeout: float = 10.0) -> bytes:
    """Sends `request` and reads until the response is complete."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(request)
        out = b""
        while not _complete(out):
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
        return out


def _complete(out: bytes) -> bool:
    head, sep, body = out.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            return len(body) >= int(value)
        if name == b"transfer-encoding":
            return body.endswith(b"\r\n\r\n") and (body.startswith(b"0\r\n") or b"\r\n0\r\n" in body)
    return False


def stats(admin_port: int) -> dict:
    text = httpx.get(f"http://127.0.0.1:{admin_port}/stats", timeout=10).text
    return dict(line.split(": ", 1) for line in text.splitlines() if ": " in line and "P50" not in line)


# --- conversion --------------------------------------------------------------------------


def test_get_and_post_are_converted_to_h2_streams(h2_origin, start_proxy):
    p = h2_proxy(start_proxy, h2_origin.port)
    with httpx.Client(timeout=10) as client:
        r = client.get(f"http://127.0.0.1:{p.port}/echo?q=1",
                       headers={"Host": "svc.example", "X-Mixed-Case": "v", "Keep-Alive": "timeout=5",
                                "TE": "gzip"})
        assert r.status_code == 200, r.text
        seen = r.json()
        assert (seen["method"], seen["path"], seen["authority"], seen["scheme"]) == ("GET", "/echo?q=1",
                                                                                    "svc.example", "http")
        names = [n for n, _ in seen["headers"]]
        assert "x-mixed-case" in names and all(n == n.lower() for n in names)
        for hop in ("host", "connection", "keep-alive", "te", "transfer-encoding", "upgrade"):
            assert hop not in names
        r = client.post(f"http://127.0.0.1:{p.port}/echo", content=b"p" * 5000)
        assert r.status_code == 200 and r.json()["body_bytes"] == 5000
        assert ["content-length", "5000"] in r.json()["headers"]
    assert h2_origin.connections == 1  # both requests were streams of one connection


def test_proxy_filter_upstream_protocol_selects_http2(h2_origin, start_proxy):
    """MOSN's place for it: the proxy filter's upstream_protocol, for clusters that say nothing."""
    p = start_proxy(lambda port: simple_config(port, [h2_origin.port], proxy={"upstream_protocol": "Http2"}))
    r = httpx.get(f"http://127.0.0.1:{p.port}/echo", timeout=10)
    assert r.status_code == 200 and r.json()["scheme"] == "http"
    assert h2_origin.connections == 1


def test_auto_upstream_speaks_http2_to_http2_clients(h2_origin, start_proxy):
    """MOSN's upstream_protocol Auto: the upstream speaks what the client spoke."""
    p = start_proxy(lambda port: simple_config(port, [h2_origin.port],
                                               proxy={"downstream_protocol": "Auto", "upstream_protocol": "Auto"}))
    with httpx.Client(http1=False, http2=True, timeout=10) as client:
        r = client.get(f"http://127.0.0.1:{p.port}/echo")
        assert r.http_version == "HTTP/2" and r.status_code == 200 and r.json()["path"] == "/echo"
    assert h2_origin.connections == 1


def test_chunked_upload_with_trailers_becomes_data_and_trailing_headers(h2_origin, start_proxy):
    p = h2_proxy(start_proxy, h2_origin.port)
    request = (b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTrailer: X-Checksum\r\n\r\n"
               b"5\r\nhello\r\n6\r\n world\r\n0\r\nX-Checksum: abc\r\n\r\n")
    out = raw_exchange(p.port, request)
    assert out.startswith(b"HTTP/1.1 200")
    seen = json.loads(out.partition(b"\r\n\r\n")[2])
    assert seen["body_bytes"] == 11
    assert seen["trailers"] == [["x-checksum", "abc"]]
    assert "transfer-encoding" not in [n for n, _ in seen["headers"]]


def test_response_trailers_reach_an_http1_client_as_chunked_trailers(h2_origin, start_proxy):
    p = h2_proxy(start_proxy, h2_origin.port)
    out = raw_exchange(p.port, b"GET /trailers HTTP/1.1\r\nHost: x\r\nTE: trailers\r\n\r\n")
    head, _, body = out.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert b"transfer-encoding: chunked" in head.lower()
    assert body.startswith(b"e\r\nhello trailers\r\n")
    assert body.endswith(b"0\r\nx-trailer: done\r\ngrpc-status: 0\r\n\r\n")


# --- multiplexing and the pool -----------------------------------------------------------


def test_concurrent_requests_share_one_upstream_connection(h2_origin, start_proxy):
    p = h2_proxy(start_proxy, h2_origin.port)

    def call(i):
        return httpx.get(f"http://127.0.0.1:{p.port}/slow/300?i={i}", timeout=20).status_code

    with concurrent.futures.ThreadPoolExecutor(20) as pool:
        codes = list(pool.map(call, range(20)))
    assert codes == [200] * 20
    assert h2_origin.connections == 1
    assert h2_origin.peak_streams > 1


def test_server_stream_limit_opens_another_connection(start_proxy):
    with H2Origin(max_concurrent_streams=2) as origin:
        p = h2_proxy(start_proxy, origin.port)

        def call(i):
            return httpx.get(f"http://127.0.0.1:{p.port}/slow/400?i={i}", timeout=20).status_code

        with concurrent.futures.ThreadPoolExecutor(6) as pool:
            codes = list(pool.map(call, range(6)))
        assert codes == [200] * 6
        assert origin.peak_streams <= 2  # never more than the server allows on one connection
        assert origin.connections >= 2
        assert not origin.errors


def test_a_server_allowing_no_streams_is_not_dialled_again_and_again(start_proxy):
    with H2Origin(max_concurrent_streams=0) as origin:
        routes = [{"match": {"prefix": "/"}, "route": {"cluster_name": "origin", "timeout": "500ms"}}]
        p = h2_proxy(start_proxy, origin.port, routes=routes)
        assert httpx.get(f"http://127.0.0.1:{p.port}/echo", timeout=10).status_code == 504
        assert origin.connections == 1 and not origin.requests


def test_requests_wait_for_a_free_stream_when_no_connection_may_open(start_proxy):
    with H2Origin(max_concurrent_streams=1) as origin:
        p = h2_proxy(start_proxy, origin.port, cluster={"circuit_breakers": [{"max_connections": 1}]})

        def call(i):
            return httpx.get(f"http://127.0.0.1:{p.port}/slow/200?i={i}", timeout=20).status_code

        with concurrent.futures.ThreadPoolExecutor(3) as pool:
            assert list(pool.map(call, range(3))) == [200] * 3
        assert origin.connections == 1 and origin.peak_streams == 1


def test_http2_client_to_http2_upstream_multiplexes_and_keeps_trailers(h2_origin, start_proxy):
    p = start_proxy(lambda port: simple_config(port, [h2_origin.port], cluster=H2_CLUSTER,
                                               proxy={"downstream_protocol": "Http2"}))
    # One asyncio client, not threads sharing a sync one: httpcore's HTTP/2 connection can put a
    # thread's HEADERS on the wire after a later stream's, which a server must refuse (RFC 9113 5.1.1).
    async def main():
        async with httpx.AsyncClient(http1=False, http2=True, timeout=20) as client:
            url = f"http://127.0.0.1:{p.port}"
            answers = await asyncio.gather(*(client.get(f"{url}/slow/200?i={i}") for i in range(8)))
            mirrored = await client.post(f"{url}/mirror", content=b"m" * 300000)
            return [r.status_code for r in answers], mirrored

    codes, r = asyncio.run(main())
    assert codes == [200] * 8
    assert r.http_version == "HTTP/2" and r.content == b"m" * 300000
    assert h2_origin.connections == 1
    # httpx cannot show response trailers: read them with h2 directly
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding=None))
    conn.initiate_connection()
    conn.send_headers(1, [(b":method", b"GET"), (b":scheme", b"http"), (b":authority", b"x"),
                          (b":path", b"/trailers")], end_stream=True)
    trailers = None
    with socket.create_connection(("127.0.0.1", p.port), timeout=10) as s:
        s.sendall(conn.data_to_send())
        while trailers is None:
            data = s.recv(65536)
            assert data
            for event in conn.receive_data(data):
                if isinstance(event, h2.events.TrailersReceived):
                    trailers = event.headers
            s.sendall(conn.data_to_send())
    assert trailers == [(b"x-trailer", b"done"), (b"grpc-status", b"0")]


def test_cluster_http2_options_cap_streams_per_connection(h2_origin, start_proxy):
    options = {"max_concurrent_streams": 2, "initial_stream_window_size": 1048576, "max_frame_size": 65536}
    p = h2_proxy(start_proxy, h2_origin.port, cluster={"http2_protocol_options": options})

    def call(i):
        return httpx.get(f"http://127.0.0.1:{p.port}/slow/400?i={i}", timeout=20).status_code

    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        assert list(pool.map(call, range(6))) == [200] * 6
    assert h2_origin.peak_streams <= 2 and h2_origin.connections >= 2
    r = httpx.get(f"http://127.0.0.1:{p.port}/big/{2 * 1024 * 1024}", timeout=20)
    assert r.status_code == 200 and len(r.content) == 2 * 1024 * 1024


def test_max_request_per_conn_moves_to_a_new_connection(h2_origin, start_proxy):
    p = h2_proxy(start_proxy, h2_origin.port, cluster={"max_request_per_conn": 2})
    with httpx.Client(timeout=10) as client:
        for _ in range(4):
            assert client.get(f"http://127.0.0.1:{p.port}/echo").status_code == 200
    assert h2_origin.connections == 2


def test_idle_timeout_counts_time_without_streams_not_without_bytes(h2_origin, start_proxy):
    p = h2_proxy(start_proxy, h2_origin.port, cluster={"idle_timeout": "1s"})
    with httpx.Client(timeout=20) as client:
        # 1.5 s without a byte on the connection, but a stream is open: it stays
        assert client.get(f"http://127.0.0.1:{p.port}/slow/1500").status_code == 200
        assert h2_origin.closed == 0
        wait_for(lambda: h2_origin.closed == 1)  # then idle with no stream: GOAWAY and close
        assert h2_origin.goaways == [0]
        assert client.get(f"http://127.0.0.1:{p.port}/echo").status_code == 200
    assert h2_origin.connections == 2


def test_upstream_http2_stats(h2_origin, start_proxy):
    admin = free_port()
    p = start_proxy(lambda port: simple_config(port, [h2_origin.port], cluster=H2_CLUSTER, admin_port=admin))
    with httpx.Client(timeout=10) as client:
        for _ in range(3):
            assert client.get(f"http://127.0.0.1:{p.port}/echo").status_code == 200
    lines = stats(admin)
    assert lines["cluster.origin.upstream_cx_http2_total"] == "1"
    assert lines["cluster.origin.upstream_cx_total"] == "1"
    assert lines["cluster.origin.upstream_rq_total"] == "3"
    assert lines["cluster.origin.upstream_rq_2xx"] == "3"
    assert lines["cluster.origin.upstream_cx_active"] == "1"


# --- failures ----------------------------------------------------------------------------


def test_upstream_rst_stream_is_502_with_flag_uc(h2_origin, start_proxy, tmp_path):
    log = tmp_path / "access.log"
    p = h2_proxy(start_proxy, h2_origin.port,
                 listener={"access_logs": [{"log_path": str(log), "log_format": "%RESPONSE_CODE% %RESPONSE_FLAGS%\n"}]})
    with httpx.Client(timeout=10) as client:
        r = client.get(f"http://127.0.0.1:{p.port}/rst")
        assert r.status_code == 502 and "reset" in r.text
        # the connection and the proxy go on serving
        assert client.get(f"http://127.0.0.1:{p.port}/echo").status_code == 200
    assert h2_origin.connections == 1
    wait_for(lambda: log.exists() and len(log.read_text().splitlines()) >= 2)
    assert log.read_text().splitlines()[0] == "502 UC"


@pytest.mark.parametrize("kind", sorted(MALFORMED))
def test_a_malformed_upstream_response_is_502_upe_and_reset(h2_origin, start_proxy, tmp_path, kind):
    """RFC 9113 8.1.1: a malformed response is a stream error (RST_STREAM PROTOCOL_ERROR); the
    proxy answers 502 as Envoy does, passes none of it on, and the connection serves on."""
    log = tmp_path / "access.log"
    p = h2_proxy(start_proxy, h2_origin.port,
                 listener={"access_logs": [{"log_path": str(log), "log_format": "%RESPONSE_CODE% %RESPONSE_FLAGS%\n"}]})
    with httpx.Client(timeout=10) as client:
        r = client.get(f"http://127.0.0.1:{p.port}/malformed/{kind}")
        assert r.status_code == 502 and "set-cookie" not in r.headers and "x-upper" not in r.headers
        assert client.get(f"http://127.0.0.1:{p.port}/echo").status_code == 200
    assert h2_origin.connections == 1
    wait_for(lambda: (f"/malformed/{kind}", 1) in h2_origin.resets)
    wait_for(lambda: log.exists() and len(log.read_text().splitlines()) >= 2)
    assert log.read_text().splitlines()[0] == "502 UPE"


def test_interim_responses_are_read_and_not_relayed(h2_origin, start_proxy):
    p = h2_proxy(start_proxy, h2_origin.port)
    with httpx.Client(timeout=10) as client:
        r = client.get(f"http://127.0.0.1:{p.port}/malformed/info")
        assert r.status_code == 200 and r.json()["path"] == "/malformed/info" and "link" not in r.headers


def test_refused_stream_is_retried(h2_origin, start_proxy):
    """REFUSED_STREAM means the server did not process the request (RFC 9113 8.7)."""
    p = h2_proxy(start_proxy, h2_origin.port)
    r = httpx.get(f"http://127.0.0.1:{p.port}/refuse-once", timeout=10)
    assert r.status_code == 200 and r.json()["path"] == "/refuse-once"
    assert h2_origin.refused


def test_client_disconnect_cancels_the_upstream_stream(h2_origin, start_proxy):
    p = h2_proxy(start_proxy, h2_origin.port)
    with socket.create_connection(("127.0.0.1", p.port), timeout=10) as s:
        s.sendall(b"GET /hang HTTP/1.1\r\nHost: x\r\n\r\n")
        wait_for(lambda: any(r["path"] == "/hang" for r in h2_origin.requests))
        # An abort (RST), not a half-close: HTTP/1.1 lets a half-closed client still get its answer.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    wait_for(lambda: h2_origin.resets)
    assert h2_origin.resets == [("/hang", 0x8)]  # RST_STREAM(CANCEL)
    assert httpx.get(f"http://127.0.0.1:{p.port}/echo", timeout=10).status_code == 200
    assert h2_origin.connections == 1  # a cancelled stream does not cost the connection


def test_route_timeout_is_504_and_cancels_the_stream(h2_origin, start_proxy):
    routes = [{"match": {"prefix": "/"}, "route": {"cluster_name": "origin", "timeout": "300ms"}}]
    p = h2_proxy(start_proxy, h2_origin.port, routes=routes)
    r = httpx.get(f"http://127.0.0.1:{p.port}/hang", timeout=10)
    assert r.status_code == 504
    wait_for(lambda: h2_origin.resets)
    assert h2_origin.resets == [("/hang", 0x8)]


def test_goaway_lets_in_flight_streams_finish_and_new_ones_use_a_new_connection(h2_origin, start_proxy):
    p = h2_proxy(start_proxy, h2_origin.port)
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        first = pool.submit(httpx.get, f"http://127.0.0.1:{p.port}/slow/800", timeout=20)
        wait_for(lambda: any(r["path"] == "/slow/800" for r in h2_origin.requests))
        draining = pool.submit(httpx.get, f"http://127.0.0.1:{p.port}/goaway/300", timeout=20)
        assert draining.result().status_code == 200
        assert first.result().status_code == 200  # started before the GOAWAY: finished
    r = httpx.get(f"http://127.0.0.1:{p.port}/echo", timeout=10)
    assert r.status_code == 200
    assert h2_origin.connections == 2
    assert not h2_origin.errors


def test_upgrade_requests_are_refused_to_an_h2_upstream(h2_origin, start_proxy):
    p = h2_proxy(start_proxy, h2_origin.port)
    out = raw_exchange(p.port, b"GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 502")
    assert not h2_origin.requests


def test_a_stream_the_goaway_left_unprocessed_is_retried_on_a_new_connection(h2_origin, start_proxy):
    p = h2_proxy(start_proxy, h2_origin.port)
    r = httpx.get(f"http://127.0.0.1:{p.port}/ignore-once", timeout=10)
    assert r.status_code == 200 and r.json()["path"] == "/ignore-once"
    assert h2_origin.ignored and h2_origin.connections == 2


def test_connect_failure_fails_the_waiting_requests(start_proxy):
    dead = free_port()
    p = h2_proxy(start_proxy, dead)

    def call(_):
        return httpx.get(f"http://127.0.0.1:{p.port}/", timeout=10).status_code

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        assert list(pool.map(call, range(4))) == [502] * 4


def test_http1_only_server_fails_the_h2_handshake_as_a_connect_error(origin, start_proxy):
    p = h2_proxy(start_proxy, origin.port, cluster={"connect_timeout": "2s"})
    r = httpx.get(f"http://127.0.0.1:{p.port}/echo", timeout=10)
    assert r.status_code == 502 and "upstream connect error" in r.text


# --- flow control and large bodies -------------------------------------------------------


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


@pytest.mark.timeout(180)
def test_large_download_to_a_slow_client_is_flow_controlled(h2_origin, start_proxy):
    size = 8 * 1024 * 1024
    p = h2_proxy(start_proxy, h2_origin.port, listener={"per_connection_buffer_limit_bytes": 65536})
    base = rss_kib(p.proc.pid)
    with socket.create_connection(("127.0.0.1", p.port), timeout=30) as slow:
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        slow.sendall(b"GET /big/%d HTTP/1.1\r\nHost: x\r\n\r\n" % size)
        slow.recv(1000)
        time.sleep(1.0)  # the client reads nothing
        # Another stream on the same upstream connection is not held up by the stalled one.
        started = time.monotonic()
        r = httpx.get(f"http://127.0.0.1:{p.port}/echo", timeout=10)
        assert r.status_code == 200 and time.monotonic() - started < 5
        assert h2_origin.connections == 1
        assert rss_kib(p.proc.pid) - base < 2 * 1024  # nowhere near the 8 MiB body
        received = 0
        while True:
            chunk = slow.recv(1 << 20)
            if not chunk:
                break
            received += len(chunk)
            if received >= size - 1000:
                slow.settimeout(0.5)
                try:
                    while slow.recv(1 << 20):
                        pass
                except TimeoutError:
                    pass
                break
    assert received >= size - 1000


@pytest.mark.timeout(180)
def test_large_upload_to_a_slow_upstream_pauses_the_client(h2_origin, start_proxy):
    size = 16 * 1024 * 1024
    p = h2_proxy(start_proxy, h2_origin.port)
    base = rss_kib(p.proc.pid)
    peak = 0
    block = b"u" * 65536
    with socket.create_connection(("127.0.0.1", p.port), timeout=60) as s:
        s.sendall(b"POST /slowsink HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % size)
        for i in range(size // len(block)):
            s.sendall(block)
            if i % 8 == 0:
                peak = max(peak, rss_kib(p.proc.pid))
        out = b""
        while not _complete(out):
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
    assert out.startswith(b"HTTP/1.1 200")
    assert json.loads(out.partition(b"\r\n\r\n")[2])["body_bytes"] == size
    assert peak - base < 4 * 1024, (base, peak)  # a quarter of the body: bounded, not buffered


@pytest.mark.timeout(180)
def test_large_bodies_both_ways_through_one_stream(h2_origin, start_proxy):
    size = 8 * 1024 * 1024
    p = h2_proxy(start_proxy, h2_origin.port)
    body = bytes(range(256)) * (size // 256)
    base = rss_kib(p.proc.pid)
    peak = [base]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.02):
            peak[0] = max(peak[0], rss_kib(p.proc.pid))

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        # httpx writes the whole body before it reads: the echo waits in the proxy's bounded
        # buffers and the origin, not in full in the proxy
        r = httpx.post(f"http://127.0.0.1:{p.port}/mirror", content=body, timeout=60)
    finally:
        done.set()
        sampler.join()
    assert r.status_code == 200
    assert r.content == body
    assert peak[0] - base < 4 * 1024, (base, peak[0])


# --- TLS and ALPN ------------------------------------------------------------------------


def _server_context(pki: Pki, alpn: list[str]) -> ssl.SSLContext:
    cert, key = pki.server("localhost")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    ctx.set_alpn_protocols(alpn)
    return ctx


def _tls_cluster(pki: Pki, alpn: str) -> dict:
    return {"tls_context": {"status": True, "ca_cert": pki.ca_path, "server_name": "localhost", "alpn": alpn}}


def test_tls_upstream_negotiates_h2_by_alpn(tmp_path, start_proxy):
    pki = Pki(tmp_path)
    with H2Origin(ssl_context=_server_context(pki, ["h2", "http/1.1"])) as origin:
        p = start_proxy(lambda port: simple_config(port, [origin.port], cluster=_tls_cluster(pki, "h2,http/1.1")))
        with httpx.Client(timeout=10) as client:
            for _ in range(3):
                r = client.get(f"http://127.0.0.1:{p.port}/echo")
                assert r.status_code == 200 and r.json()["scheme"] == "https"
        assert origin.alpn == ["h2"] and origin.connections == 1


def test_tls_http2_cluster_offers_h2_without_an_alpn_list(tmp_path, start_proxy):
    pki = Pki(tmp_path)
    with H2Origin(ssl_context=_server_context(pki, ["h2"])) as origin:
        cluster = {**_tls_cluster(pki, ""), "upstream_protocol": "Http2"}
        p = start_proxy(lambda port: simple_config(port, [origin.port], cluster=cluster))
        assert httpx.get(f"http://127.0.0.1:{p.port}/echo", timeout=10).status_code == 200
        assert origin.alpn == ["h2"]


def test_alpn_falls_back_to_http1_when_the_server_offers_only_that(tmp_path, start_proxy):
    pki = Pki(tmp_path)
    with Origin("tls-h1", ssl_context=_server_context(pki, ["http/1.1"])) as origin:
        p = start_proxy(lambda port: simple_config(port, [origin.port], cluster=_tls_cluster(pki, "h2,http/1.1")))
        with httpx.Client(timeout=10) as client:
            for _ in range(3):
                r = client.get(f"http://127.0.0.1:{p.port}/echo")
                assert r.status_code == 200
            r = client.post(f"http://127.0.0.1:{p.port}/echo", content=b"z" * 100)
            assert r.status_code == 200 and r.json()["body_bytes"] == 100
        assert origin.connections == 1  # the ALPN-negotiated connection is reused as HTTP/1.1
