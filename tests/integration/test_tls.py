"""TLS: termination with SNI-chosen certificates, mTLS with the peer's SPIFFE ID, upstream
origination with verification, and bad input that must only hurt its own connection."""

from __future__ import annotations

import socket
import ssl
import time

import httpx
import pytest

from tests.support.admin import wait_stats
from tests.support.certs import Pki
from tests.support.origin import Origin
from tests.support.proxy import free_port, simple_config


@pytest.fixture
def pki(tmp_path):
    return Pki(tmp_path)


def with_tls(config: dict, tls: dict | None = None, tls_set: list | None = None) -> dict:
    chain = config["servers"][0]["listeners"][0]["filter_chains"][0]
    if tls is not None:
        chain["tls_context"] = tls
    if tls_set is not None:
        chain["tls_context_set"] = tls_set
    return config


def client_ctx(pki: Pki, cert=None, **kw) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=pki.ca_path)
    if cert:
        ctx.load_cert_chain(*cert)
    for k, v in kw.items():
        setattr(ctx, k, v)
    return ctx


def test_https_termination(origin, pki, start_proxy):
    cert, key = pki.server("localhost", "localhost", "127.0.0.1")
    p = start_proxy(lambda port: with_tls(simple_config(port, [origin.port]), {"status": True, "cert_chain": cert, "private_key": key}))
    r = httpx.get(f"https://localhost:{p.port}/echo/tls", verify=client_ctx(pki))
    assert r.status_code == 200
    assert r.json()["headers"]["x-forwarded-proto"] == "https"


def test_sni_picks_the_certificate(origin, pki, start_proxy):
    a = pki.server("a.test")
    b = pki.server("b.test")
    p = start_proxy(
        lambda port: with_tls(
            simple_config(port, [origin.port]),
            tls_set=[
                {"status": True, "cert_chain": a[0], "private_key": a[1]},
                {"status": True, "cert_chain": b[0], "private_key": b[1]},
            ],
        )
    )
    for name in ("a.test", "b.test", "unknown.test"):
        ctx = client_ctx(pki)
        ctx.check_hostname = False
        with socket.create_connection(("127.0.0.1", p.port), timeout=5) as raw, ctx.wrap_socket(raw, server_hostname=name) as s:
            sans = [v for k, v in s.getpeercert()["subjectAltName"] if k == "DNS"]
        assert sans == (["a.test"] if name != "b.test" else ["b.test"])  # the first is the default


def test_mtls_requires_a_client_certificate_and_exposes_its_spiffe_id(origin, pki, tmp_path, start_proxy):
    cert, key = pki.server("localhost", "localhost")
    client = pki.client("foo", "spiffe://cluster.local/ns/default/sa/foo")
    log = tmp_path / "access.log"
    p = start_proxy(
        lambda port: with_tls(
            simple_config(
                port,
                [origin.port],
                listener={"access_logs": [{"log_path": str(log), "log_format": "%RESPONSE_CODE% %DOWNSTREAM_PEER_URI_SAN%\n"}]},
            ),
            {"status": True, "cert_chain": cert, "private_key": key, "ca_cert": pki.ca_path, "require_client_cert": True},
        )
    )
    with pytest.raises((httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError)):
        httpx.get(f"https://localhost:{p.port}/echo", verify=client_ctx(pki))
    r = httpx.get(f"https://localhost:{p.port}/echo", verify=client_ctx(pki, client))
    assert r.status_code == 200
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and "spiffe" not in (log.read_text() if log.exists() else ""):
        time.sleep(0.1)
    assert "200 spiffe://cluster.local/ns/default/sa/foo" in log.read_text().splitlines()


def test_min_version_is_enforced(origin, pki, start_proxy):
    cert, key = pki.server("localhost", "localhost")
    p = start_proxy(
        lambda port: with_tls(
            simple_config(port, [origin.port]), {"status": True, "cert_chain": cert, "private_key": key, "min_version": "TLSv1_3"}
        )
    )
    old = client_ctx(pki, maximum_version=ssl.TLSVersion.TLSv1_2)
    with pytest.raises((httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError)):
        httpx.get(f"https://localhost:{p.port}/echo", verify=old)
    assert httpx.get(f"https://localhost:{p.port}/echo", verify=client_ctx(pki)).status_code == 200


def test_alpn_is_offered(origin, pki, start_proxy):
    cert, key = pki.server("localhost", "localhost")
    p = start_proxy(
        lambda port: with_tls(simple_config(port, [origin.port]), {"status": True, "cert_chain": cert, "private_key": key, "alpn": "http/1.1"})
    )
    ctx = client_ctx(pki)
    ctx.set_alpn_protocols(["h2", "http/1.1"])
    with socket.create_connection(("127.0.0.1", p.port), timeout=5) as raw, ctx.wrap_socket(raw, server_hostname="localhost") as s:
        assert s.selected_alpn_protocol() == "http/1.1"


def test_upstream_tls_origination_and_verification(pki, start_proxy):
    cert, key = pki.server("localhost", "localhost")
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    with Origin("tls-origin", ssl_context=server_ctx) as tls_origin:
        good = start_proxy(
            lambda port: simple_config(
                port, [tls_origin.port], cluster={"tls_context": {"status": True, "ca_cert": pki.ca_path, "server_name": "localhost"}}
            )
        )
        r = httpx.get(f"http://127.0.0.1:{good.port}/echo/up")
        assert r.status_code == 200 and r.json()["origin"] == "tls-origin"
        other = Pki(pki.dir / "..")  # a CA that did not sign the origin's certificate
        log_path = pki.dir / "access.log"
        log = {"access_logs": [{"log_path": str(log_path),
                                "log_format": "%RESPONSE_CODE% %RESPONSE_FLAGS% %UPSTREAM_TRANSPORT_FAILURE_REASON%"}]}
        bad = start_proxy(
            lambda port: simple_config(
                port, [tls_origin.port], listener=log,
                cluster={"tls_context": {"status": True, "ca_cert": other.ca_path, "server_name": "localhost"}},
            )
        )
        r = httpx.get(f"http://127.0.0.1:{bad.port}/echo/up")
        # 503 UF as in Envoy (a refused TCP connect is 502); the reason is in the body and the log
        assert r.status_code == 503 and "CERTIFICATE_VERIFY_FAILED" in r.text
        deadline = time.monotonic() + 10
        while not (log_path.exists() and log_path.read_text().strip()) and time.monotonic() < deadline:
            time.sleep(0.1)
        line = log_path.read_text().strip()
        assert line.startswith("503 UF ") and "CERTIFICATE_VERIFY_FAILED" in line, line


def test_plaintext_and_garbage_on_a_tls_port_only_hurt_themselves(origin, pki, start_proxy):
    cert, key = pki.server("localhost", "localhost")
    p = start_proxy(
        lambda port: with_tls(
            simple_config(port, [origin.port]), {"status": True, "cert_chain": cert, "private_key": key, "handshake_timeout": "500ms"}
        )
    )
    good = client_ctx(pki)
    with httpx.Client(verify=good) as c:
        assert c.get(f"https://localhost:{p.port}/echo/1").status_code == 200
        for garbage in (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"\x16\x03\x01\x00\x05hello"):
            with socket.create_connection(("127.0.0.1", p.port), timeout=5) as s:
                s.sendall(garbage)
                received = b""
                try:
                    while chunk := s.recv(100):
                        received += chunk
                except ConnectionResetError:
                    pass
                # closed, with at most a TLS alert record (content type 21): never an HTTP answer
                assert received == b"" or received[0] == 21, received
        # a client that never finishes the handshake is dropped after the handshake timeout
        with socket.create_connection(("127.0.0.1", p.port), timeout=5) as s:
            start = time.monotonic()
            try:
                assert s.recv(10) == b""
            except ConnectionResetError:
                pass
            assert time.monotonic() - start < 4
        assert c.get(f"https://localhost:{p.port}/echo/2").status_code == 200


def test_tcp_proxy_terminates_tls_without_splice(pki, start_proxy):
    from tests.support.tcp_servers import TcpServer

    echo = TcpServer("echo")
    cert, key = pki.server("localhost", "localhost")
    try:
        def config(port):
            return {
                "servers": [
                    {
                        "listeners": [
                            {
                                "name": "l4tls",
                                "address": f"127.0.0.1:{port}",
                                "filter_chains": [
                                    {
                                        "tls_context": {"status": True, "cert_chain": cert, "private_key": key},
                                        "filters": [{"type": "tcp_proxy", "config": {"cluster": "c"}}],
                                    }
                                ],
                            }
                        ]
                    }
                ],
                "cluster_manager": {"clusters": [{"name": "c", "hosts": [{"address": f"127.0.0.1:{echo.port}"}]}]},
            }

        p = start_proxy(config)
        with socket.create_connection(("127.0.0.1", p.port), timeout=5) as raw, client_ctx(pki).wrap_socket(raw, server_hostname="localhost") as s:
            s.sendall(b"secret")
            assert s.recv(100) == b"secret"
    finally:
        echo.close()


def test_certificate_files_reload_without_dropping_connections(origin, pki, start_proxy):
    import os
    import shutil

    cert, key = pki.server("localhost", "localhost")
    live_cert, live_key = str(pki.dir / "live.crt"), str(pki.dir / "live.key")
    shutil.copy(cert, live_cert)
    shutil.copy(key, live_key)
    p = start_proxy(
        lambda port: with_tls(simple_config(port, [origin.port]), {"status": True, "cert_chain": live_cert, "private_key": live_key})
    )

    def serial_seen() -> int:
        ctx = client_ctx(pki)
        with socket.create_connection(("127.0.0.1", p.port), timeout=5) as raw, ctx.wrap_socket(raw, server_hostname="localhost") as s:
            return int(s.getpeercert()["serialNumber"], 16)

    first = serial_seen()
    with httpx.Client(verify=client_ctx(pki)) as kept:
        assert kept.get(f"https://localhost:{p.port}/echo/before").status_code == 200
        new_cert, new_key = pki.server("renewed", "localhost")
        shutil.copy(new_key, live_key + ".tmp")
        shutil.copy(new_cert, live_cert + ".tmp")
        os.replace(live_key + ".tmp", live_key)
        os.replace(live_cert + ".tmp", live_cert)
        deadline = time.monotonic() + 6
        while time.monotonic() < deadline and serial_seen() == first:
            time.sleep(0.2)
        assert serial_seen() != first
        # the connection made before the reload carries on
        assert kept.get(f"https://localhost:{p.port}/echo/after").status_code == 200


# --- the TLS session (network/tls_session.py) -----------------------------------------------------


def _tls_proxy(origin, pki, start_proxy, admin_port=None):
    cert, key = pki.server("localhost", "localhost", "127.0.0.1")
    return start_proxy(lambda port: with_tls(simple_config(port, [origin.port], admin_port=admin_port),
                                              {"status": True, "cert_chain": cert, "private_key": key}))


def _read_responses(s: ssl.SSLSocket, count: int) -> bytes:
    received = b""
    while received.count(b"HTTP/1.1 ") < count or not received.endswith(b"}"):
        chunk = s.recv(65536)
        if not chunk:
            break
        received += chunk
    return received


def test_bodies_over_many_records_both_ways(origin, pki, start_proxy):
    """A megabyte up and down: each read takes one record (16 KiB of plaintext), each write
    leaves as many records as it needs."""
    p = _tls_proxy(origin, pki, start_proxy)
    body = bytes(range(256)) * 4096
    with httpx.Client(verify=client_ctx(pki), timeout=20) as c:
        up = c.post(f"https://localhost:{p.port}/mirror", content=body)
        assert up.status_code == 200 and up.content == body
        down = c.get(f"https://localhost:{p.port}/big/3000000")
        assert down.status_code == 200 and len(down.content) == 3_000_000


def test_pipelined_requests_in_one_record_are_all_answered(origin, pki, start_proxy):
    p = _tls_proxy(origin, pki, start_proxy)
    request = b"GET /echo/p HTTP/1.1\r\nHost: localhost\r\n\r\n"
    with socket.create_connection(("127.0.0.1", p.port), timeout=5) as raw, \
            client_ctx(pki).wrap_socket(raw, server_hostname="localhost") as s:
        s.sendall(request * 3)  # one write: one TLS record holding three requests
        received = _read_responses(s, 3)
        assert received.count(b"HTTP/1.1 200 ") == 3, received


def test_the_clients_close_notify_ends_the_connection_and_every_counter(origin, pki, start_proxy):
    admin = free_port()
    p = _tls_proxy(origin, pki, start_proxy, admin)
    with socket.create_connection(("127.0.0.1", p.port), timeout=5) as raw:
        s = client_ctx(pki).wrap_socket(raw, server_hostname="localhost")
        s.sendall(b"GET /echo/n HTTP/1.1\r\nHost: localhost\r\n\r\n")
        assert b"HTTP/1.1 200 " in _read_responses(s, 1)
        plain = s.unwrap()  # our close_notify, and the proxy's back
        assert plain.recv(10) == b""  # then the TCP close
    wait_stats(admin, {"http.ingress.downstream_cx_active": 0, "http.ingress.downstream_rq_active": 0})
