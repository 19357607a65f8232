"""Filter chains chosen per connection on one listener (TLS vs plaintext, SNI with each chain's
own certificate and routes, wildcard SNI, destination port, ALPN, no match, the default chain,
slow and silent clients), and routing on the mTLS peer identity with x-forwarded-client-cert
as the origin sees it. Real pymosn processes, real origins, real TLS clients."""

from __future__ import annotations

import datetime
import json
import os
import socket
import ssl
import threading
import time

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.support.certs import Pki
from tests.support.proxy import Pymosn, free_port
from tests.support.tcp_servers import TcpServer

FOO = "spiffe://cluster.local/ns/default/sa/foo"
BAR = "spiffe://cluster.local/ns/default/sa/bar"
PROXY_ID = "spiffe://cluster.local/ns/mesh/sa/pymosn"


@pytest.fixture
def pki(tmp_path):
    return Pki(tmp_path)


def issue(pki: Pki, name: str, *, dns=(), uris=(), server: bool = True) -> tuple[str, str]:
    """A certificate from the test CA with exactly these SANs (trustme cannot put URIs in)."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    ca_cert = x509.load_pem_x509_certificate(pki.ca.cert_pem.bytes())
    ca_key = serialization.load_pem_private_key(pki.ca.private_key_pem.bytes(), password=None)
    sans = [x509.DNSName(d) for d in dns] + [x509.UniformResourceIdentifier(u) for u in uris]
    usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "mesh"),
                                 x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    cert_path, key_path = str(pki.dir / f"{name}-issued.crt"), str(pki.dir / f"{name}-issued.key")
    with open(cert_path, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(key_path, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    return cert_path, key_path


def tls(cert: tuple[str, str], **extra) -> dict:
    return {"status": True, "cert_chain": cert[0], "private_key": cert[1], **extra}


def chain(router: str, match: dict | None = None, tls_context: dict | None = None, **proxy) -> dict:
    found: dict = {"filters": [{"type": "proxy", "config": {"router_config_name": router, **proxy}}]}
    if match is not None:
        found["filter_chain_match"] = match
    if tls_context is not None:
        found["tls_context"] = tls_context
    return found


def direct(name: str, body: str) -> dict:
    return {"router_config_name": name, "virtual_hosts": [{"name": name, "domains": ["*"], "routers": [
        {"match": {"prefix": "/"}, "direct_response": {"status": 200, "body": body}}]}]}


def to_cluster(name: str, cluster: str) -> dict:
    return {"router_config_name": name, "virtual_hosts": [{"name": name, "domains": ["*"], "routers": [
        {"match": {"prefix": "/"}, "route": {"cluster_name": cluster}}]}]}


def config(port: int, chains: list[dict], routers: list[dict], *, clusters: list[dict] | None = None,
           admin: int | None = None, **listener) -> dict:
    found = {
        "servers": [{"listeners": [{"name": "shared", "address": f"127.0.0.1:{port}", "filter_chains": chains,
                                    **listener}], "routers": routers}],
        "cluster_manager": {"clusters": clusters or []},
    }
    if admin is not None:
        found["admin"] = {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin}}}
    return found


def cluster(name: str, port: int) -> dict:
    return {"name": name, "hosts": [{"address": f"127.0.0.1:{port}"}]}


@pytest.fixture
def run(tmp_path):
    """run(build) starts pymosn with build(port) (admin on p.admin) and stops it after the test."""
    started = []

    def start(build) -> Pymosn:
        port, admin = free_port(), free_port()
        p = Pymosn(build(port, admin), tmp_path, port)
        p.__enter__()
        p.admin = admin
        started.append(p)
        return p

    yield start
    for p in started:
        p.stop()


def client_context(pki: Pki, cert: tuple[str, str] | None = None, alpn: list[str] | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=pki.ca_path)
    ctx.check_hostname = False
    if cert is not None:
        ctx.load_cert_chain(*cert)
    if alpn:
        ctx.set_alpn_protocols(alpn)
    return ctx


def get(port: int, *, ctx: ssl.SSLContext | None = None, sni: str | None = None, path: str = "/",
        headers: dict | None = None) -> tuple[int, bytes, list[str]]:
    """(status, body, the server certificate's SANs) of one HTTP/1.1 request on a new
    connection, over TLS when `ctx` is given."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=5)
    sans: list[str] = []
    sock = raw
    if ctx is not None:
        sock = ctx.wrap_socket(raw, server_hostname=sni)
        sans = [v for _, v in sock.getpeercert()["subjectAltName"]]
    lines = [f"GET {path} HTTP/1.1", f"Host: {sni or 'localhost'}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    with sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        return (*_response(_read_all(sock)), sans)


def _read_all(sock) -> bytes:
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, ssl.SSLEOFError):
            break
        if not chunk:
            break
        data += chunk
    return data


def _response(data: bytes) -> tuple[int, bytes]:
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), body


def stat(p: Pymosn, name: str) -> int:
    for line in httpx.get(f"http://127.0.0.1:{p.admin}/stats").text.splitlines():
        if line.startswith(name + ": "):
            return int(line.split(": ")[1])
    raise KeyError(name)


# --- TLS and plaintext on one port ------------------------------------------------------------

def test_tls_and_plaintext_clients_share_a_listener(origin, pki, run):
    cert = pki.server("localhost", "localhost")
    p = run(lambda port, admin: config(port, [
        chain("secure", {"transport_protocol": "tls"}, tls(cert)),
        chain("plain", {"transport_protocol": "raw_buffer"}),
    ], [to_cluster("secure", "origin"), direct("plain", "plaintext chain")], clusters=[cluster("origin", origin.port)],
        admin=admin))
    r = httpx.get(f"https://localhost:{p.port}/echo/tls", verify=client_context(pki))
    assert r.status_code == 200
    assert r.json()["origin"] == "origin-a" and r.json()["headers"]["x-forwarded-proto"] == "https"
    r = httpx.get(f"http://127.0.0.1:{p.port}/anything")
    assert (r.status_code, r.text) == (200, "plaintext chain")
    # keep-alive on both kinds of connection
    with httpx.Client(verify=client_context(pki)) as c:
        assert [c.get(f"https://localhost:{p.port}/echo/{i}").status_code for i in range(3)] == [200] * 3
    with httpx.Client() as c:
        assert [c.get(f"http://127.0.0.1:{p.port}/x").text for _ in range(3)] == ["plaintext chain"] * 3
    assert stat(p, "listener.shared.no_filter_chain_match") == 0


def test_mosn_inspector_serves_plaintext_on_a_tls_chain(origin, pki, run):
    cert = pki.server("localhost", "localhost")
    p = run(lambda port, admin: config(port, [chain("r", tls_context=tls(cert))], [to_cluster("r", "origin")],
                                       clusters=[cluster("origin", origin.port)], inspector=True))
    secure = httpx.get(f"https://localhost:{p.port}/echo", verify=client_context(pki)).json()
    plain = httpx.get(f"http://127.0.0.1:{p.port}/echo").json()
    assert secure["headers"]["x-forwarded-proto"] == "https"
    assert plain["headers"]["x-forwarded-proto"] == "http"  # a plaintext client is not told it is secure


# --- SNI ----------------------------------------------------------------------------------------

def test_sni_picks_the_chain_its_certificate_and_its_routes(origin, origin_b, pki, run):
    a, b, wild = pki.server("a.example.com"), pki.server("b.example.com"), pki.server("*.example.com")
    p = run(lambda port, admin: config(port, [
        chain("to-a", {"server_names": ["a.example.com"]}, tls(a)),
        chain("to-b", {"server_names": ["B.example.com"]}, tls(b)),
        chain("wild", {"server_names": ["*.example.com"]}, tls(wild)),
    ], [to_cluster("to-a", "ca"), to_cluster("to-b", "cb"), direct("wild", "wildcard chain")],
        clusters=[cluster("ca", origin.port), cluster("cb", origin_b.port)], admin=admin))
    ctx = client_context(pki)
    status, body, sans = get(p.port, ctx=ctx, sni="a.example.com", path="/echo")
    assert (status, json.loads(body)["origin"], sans) == (200, "origin-a", ["a.example.com"])
    status, body, sans = get(p.port, ctx=ctx, sni="b.example.com", path="/echo")
    assert (status, json.loads(body)["origin"], sans) == (200, "origin-b", ["b.example.com"])
    for name in ("c.example.com", "x.y.example.com"):
        status, body, sans = get(p.port, ctx=ctx, sni=name)
        assert (status, body, sans) == (200, b"wildcard chain", ["*.example.com"])
    # no chain serves another name, or a client without SNI: closed, counted
    for name in ("example.org", None):
        with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
            get(p.port, ctx=ctx, sni=name)
    assert stat(p, "listener.shared.no_filter_chain_match") == 2


# --- destination port, ALPN ----------------------------------------------------------------------

def test_destination_port_and_alpn(pki, run):
    cert = pki.server("localhost", "localhost")
    other_port = free_port()
    p = run(lambda port, admin: config(port, [
        chain("h2", {"destination_port": port, "transport_protocol": "tls", "application_protocols": ["h2"]},
              tls(cert)),
        chain("other-alpn", {"destination_port": port, "transport_protocol": "tls"}, tls(cert)),
        chain("plain", {"destination_port": port, "transport_protocol": "raw_buffer"}),
        chain("wrong-port", {"destination_port": other_port}),
    ], [direct("h2", "offered h2"), direct("other-alpn", "no h2"), direct("plain", "plain"),
        direct("wrong-port", "never")]))
    assert get(p.port, ctx=client_context(pki, alpn=["h2", "http/1.1"]), sni="localhost")[1] == b"offered h2"
    assert get(p.port, ctx=client_context(pki, alpn=["http/1.1", "h2"]), sni="localhost")[1] == b"offered h2"
    assert get(p.port, ctx=client_context(pki, alpn=["http/1.1"]), sni="localhost")[1] == b"no h2"
    assert get(p.port, ctx=client_context(pki), sni="localhost")[1] == b"no h2"
    assert get(p.port)[1] == b"plain"


# --- no match, default chain ---------------------------------------------------------------------

def test_no_chain_matches_closes_and_counts_unless_a_default_chain_serves(pki, run):
    cert = pki.server("localhost", "localhost")
    tls_only = run(lambda port, admin: config(port, [chain("r", {"transport_protocol": "tls"}, tls(cert))],
                                              [direct("r", "tls")], admin=admin))
    with socket.create_connection(("127.0.0.1", tls_only.port), timeout=5) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert _read_all(s) == b""  # closed without an answer
    assert stat(tls_only, "listener.shared.no_filter_chain_match") == 1
    assert stat(tls_only, "listener.shared.downstream_cx_active") == 0
    assert get(tls_only.port, ctx=client_context(pki), sni="localhost")[1] == b"tls"

    with_default = run(lambda port, admin: config(
        port, [chain("r", {"transport_protocol": "tls"}, tls(cert))], [direct("r", "tls"), direct("d", "default")],
        default_filter_chain=chain("d"), admin=admin))
    assert get(with_default.port) == (200, b"default", [])
    assert get(with_default.port, ctx=client_context(pki), sni="localhost")[1] == b"tls"
    assert stat(with_default, "listener.shared.no_filter_chain_match") == 0


# --- slow and silent clients ---------------------------------------------------------------------

def _cpu_seconds(pid: int) -> float:
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class TrickleRelay:
    """Relays one connection to `port`, sending the client's first write (its ClientHello)
    one byte at a time over about `seconds`; everything else passes at full speed."""

    def __init__(self, port: int, seconds: float) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.target, self.seconds = port, seconds
        self.trickled = 0.0
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        client, _ = self.server.accept()
        upstream = socket.create_connection(("127.0.0.1", self.target))
        upstream.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=self._copy, args=(upstream, client), daemon=True).start()
        first = client.recv(65536)
        started = time.monotonic()
        for i in range(len(first)):
            upstream.sendall(first[i : i + 1])
            time.sleep(self.seconds / len(first))
        self.trickled = time.monotonic() - started
        self._copy(client, upstream)

    @staticmethod
    def _copy(source: socket.socket, destination: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                destination.sendall(data)
            destination.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def test_a_client_hello_sent_byte_by_byte(pki, run):
    cert = pki.server("slow.example.com")
    p = run(lambda port, admin: config(port, [
        chain("slow", {"server_names": ["slow.example.com"]}, tls(cert)),
        chain("plain", {"transport_protocol": "raw_buffer"}),
    ], [direct("slow", "patience"), direct("plain", "plain")]))
    relay = TrickleRelay(p.port, seconds=1.0)
    cpu_before = _cpu_seconds(p.proc.pid)
    status, body, sans = get(relay.port, ctx=client_context(pki), sni="slow.example.com")
    cpu = _cpu_seconds(p.proc.pid) - cpu_before
    assert (status, body, sans) == (200, b"patience", ["slow.example.com"])
    assert relay.trickled > 0.8
    # waiting for the rest of the ClientHello must not spin the proxy's CPU
    assert cpu < 0.5 * relay.trickled, (cpu, relay.trickled)


def test_a_silent_client_falls_back_to_plaintext_after_the_timeout(run):
    banner = TcpServer("banner")  # speaks first
    try:
        p = run(lambda port, admin: {
            **config(port, [
                chain("never", {"transport_protocol": "tls"}),
                {"filter_chain_match": {"transport_protocol": "raw_buffer"},
                 "filters": [{"type": "tcp_proxy", "config": {"cluster": "banner"}}]},
            ], [direct("never", "tls")], clusters=[cluster("banner", banner.port)], admin=admin,
                listener_filters_timeout="300ms"),
        })
        started = time.monotonic()
        with socket.create_connection(("127.0.0.1", p.port), timeout=5) as s:
            assert s.recv(100) == b"HELLO\n"  # heard without sending a byte
            waited = time.monotonic() - started
            s.sendall(b"ping")
            assert s.recv(100) == b"ping"
        assert 0.25 <= waited < 3, waited
        assert stat(p, "listener.shared.downstream_pre_cx_timeout") == 1

        closing = run(lambda port, admin: config(port, [
            {"filter_chain_match": {"transport_protocol": "raw_buffer"},
             "filters": [{"type": "tcp_proxy", "config": {"cluster": "banner"}}]},
            chain("never", {"transport_protocol": "tls"}),
        ], [direct("never", "tls")], clusters=[cluster("banner", banner.port)], admin=admin,
            listener_filters_timeout="200ms", continue_on_listener_filters_timeout=False))
        with socket.create_connection(("127.0.0.1", closing.port), timeout=5) as s:
            assert _read_all(s) == b""
        assert stat(closing, "listener.shared.downstream_pre_cx_timeout") == 1
        with socket.create_connection(("127.0.0.1", closing.port), timeout=5) as s:
            s.sendall(b"hi")  # a client that speaks is served at once
            assert s.recv(100).startswith(b"HELLO\n")
    finally:
        banner.close()


# --- mTLS peer identity: routes, XFCC, access log -----------------------------------------------

def mtls_config(pki, origin, origin_b, tmp_path, forwarding: str = "SANITIZE_SET"):
    server = issue(pki, "proxy", dns=["localhost"], uris=[PROXY_ID])
    log = tmp_path / "access.log"
    routes = [
        {"match": {"prefix": "/", "downstream_peer_uri_san": {"exact": FOO}}, "route": {"cluster_name": "a"}},
        {"match": {"prefix": "/", "downstream_peer_uri_san": {"prefix": "spiffe://cluster.local/ns/default/"}},
         "route": {"cluster_name": "b"}},
        {"match": {"prefix": "/"}, "direct_response": {"status": 403, "body": "who are you"}},
    ]

    def build(port, admin):
        return config(port, [
            chain("mesh", {"transport_protocol": "tls"},
                  tls(server, ca_cert=pki.ca_path, require_client_cert=True),
                  forward_client_cert_details=forwarding,
                  set_current_client_cert_details={"uri": True, "subject": True, "dns": True}),
            chain("mesh", {"transport_protocol": "raw_buffer"}),
        ], [{"router_config_name": "mesh", "virtual_hosts": [{"name": "v", "domains": ["*"], "routers": routes}]}],
            clusters=[cluster("a", origin.port), cluster("b", origin_b.port)], admin=admin,
            access_logs=[{"log_path": str(log),
                          "log_format": "%DOWNSTREAM_PEER_URI_SAN% %UPSTREAM_CLUSTER% %RESPONSE_CODE%\n"}])

    return build, log


def test_routes_on_the_client_spiffe_id_and_tells_the_origin(origin, origin_b, pki, tmp_path, run):
    build, log = mtls_config(pki, origin, origin_b, tmp_path)
    p = run(build)
    foo = issue(pki, "foo", uris=[FOO], dns=["foo.default.svc"], server=False)
    bar = issue(pki, "bar", uris=[BAR], server=False)
    spoof = {"x-forwarded-client-cert": f"By=evil;URI={FOO}"}

    status, body, _ = get(p.port, ctx=client_context(pki, foo), sni="localhost", path="/echo", headers=spoof)
    seen = json.loads(body)
    assert (status, seen["origin"]) == (200, "origin-a")
    xfcc = seen["headers"]["x-forwarded-client-cert"]
    parts = xfcc.split(";")
    assert parts[0] == f"By={PROXY_ID}"
    assert parts[1].startswith("Hash=") and len(parts[1]) == len("Hash=") + 64
    assert parts[2:] == ['Subject="CN=foo,O=mesh"', f"URI={FOO}", "DNS=foo.default.svc"]
    assert "evil" not in xfcc  # SANITIZE_SET replaced what the client sent

    status, body, _ = get(p.port, ctx=client_context(pki, bar), sni="localhost", path="/echo", headers=spoof)
    assert (status, json.loads(body)["origin"]) == (200, "origin-b")
    assert f"URI={BAR}" in json.loads(body)["headers"]["x-forwarded-client-cert"]

    # plaintext: no identity, whatever the headers claim; no XFCC reaches anyone
    status, body, _ = get(p.port, path="/echo", headers=spoof)
    assert (status, body) == (403, b"who are you")

    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and len(log.read_text().splitlines() if log.exists() else []) < 3:
        time.sleep(0.1)
    assert log.read_text().splitlines() == [f"{FOO} a 200", f"{BAR} b 200", "- - 403"]


def test_spoofed_xfcc_never_reaches_the_origin_by_default(origin, pki, run):
    p = run(lambda port, admin: config(port, [chain("r")], [to_cluster("r", "origin")],
                                       clusters=[cluster("origin", origin.port)]))
    r = httpx.get(f"http://127.0.0.1:{p.port}/echo", headers={"x-forwarded-client-cert": f"URI={FOO}"})
    assert "x-forwarded-client-cert" not in r.json()["headers"]


def test_xfcc_modes_and_routing_on_the_header(origin, origin_b, pki, run):
    server = issue(pki, "proxy2", dns=["localhost"], uris=[PROXY_ID])
    foo = issue(pki, "foo2", uris=[FOO], server=False)
    routes = [  # routes see XFCC as it will be sent, never as the client wrote it
        {"match": {"prefix": "/", "headers": [{"name": "x-forwarded-client-cert", "value": f".*URI={FOO}$",
                                               "regex": True}]}, "route": {"cluster_name": "b"}},
        {"match": {"prefix": "/"}, "route": {"cluster_name": "a"}},
    ]

    def build(mode):
        return lambda port, admin: config(port, [
            chain("r", {"transport_protocol": "tls"}, tls(server, ca_cert=pki.ca_path, require_client_cert=True),
                  forward_client_cert_details=mode, set_current_client_cert_details={"uri": True}),
            chain("r", {"transport_protocol": "raw_buffer"}, forward_client_cert_details=mode),
        ], [{"router_config_name": "r", "virtual_hosts": [{"name": "v", "domains": ["*"], "routers": routes}]}],
            clusters=[cluster("a", origin.port), cluster("b", origin_b.port)])

    incoming = {"x-forwarded-client-cert": "By=spiffe://upstream-proxy;URI=spiffe://client"}
    spoof = {"x-forwarded-client-cert": f"By=evil;URI={FOO}"}
    mtls = client_context(pki, foo)

    def seen(p, ctx, headers):
        status, body, _ = get(p.port, ctx=ctx, sni="localhost" if ctx else None, path="/echo", headers=headers)
        answer = json.loads(body)
        return answer["origin"], answer["headers"].get("x-forwarded-client-cert")

    append = run(build("APPEND_FORWARD"))
    origin_name, value = seen(append, mtls, incoming)
    assert origin_name == "origin-b"
    assert value.startswith(incoming["x-forwarded-client-cert"] + f",By={PROXY_ID};Hash=")
    assert value.endswith(f";URI={FOO}")
    assert seen(append, None, spoof) == ("origin-a", None)  # plaintext: stripped, and not routed on

    forward = run(build("FORWARD_ONLY"))
    assert seen(forward, mtls, incoming) == ("origin-a", incoming["x-forwarded-client-cert"])
    assert seen(forward, None, incoming) == ("origin-a", None)

    always = run(build("ALWAYS_FORWARD_ONLY"))
    assert seen(always, None, spoof) == ("origin-b", spoof["x-forwarded-client-cert"])  # trusted downstream only
