"""gRPC through pymosn with real grpcio clients and servers: HTTP/2 downstream to HTTP/2
upstream, the four call kinds, large messages, metadata (text and -bin) both ways, trailers,
deadlines and cancellation, error statuses, the proxy's own trailers-only answers, routing and
the grpc stats. Messages are raw bytes (grpcio's generic handlers): no .proto to compile."""

from __future__ import annotations

import json
import socket
import threading
import time
from concurrent import futures

import h2.config
import h2.connection
import h2.events
import httpx
import pytest

from tests.support.certs import Pki
from tests.support.h2_origin import H2Origin
from tests.support.proxy import Pymosn, free_port, simple_config

grpc = pytest.importorskip("grpc")

BIN = b"\x00\x01\xfe\xff binary"


class Servicer:
    """One grpcio server answering `test.Echo/*` (and `other.Service/Who`) as `name`."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.cancelled = threading.Event()  # the endless stream saw its RPC end
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
        methods = {
            "/test.Echo/Unary": grpc.unary_unary_rpc_method_handler(self.unary),
            "/test.Echo/ServerStream": grpc.unary_stream_rpc_method_handler(self.server_stream),
            "/test.Echo/ClientStream": grpc.stream_unary_rpc_method_handler(self.client_stream),
            "/test.Echo/Bidi": grpc.stream_stream_rpc_method_handler(self.bidi),
            "/test.Echo/Forever": grpc.unary_stream_rpc_method_handler(self.forever),
            "/other.Service/Who": grpc.unary_unary_rpc_method_handler(self.who),
        }

        class Handler(grpc.GenericRpcHandler):
            def service(self, details):
                return methods.get(details.method)

        self.server.add_generic_rpc_handlers((Handler(),))
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()

    def stop(self) -> None:
        self.server.stop(grace=None)

    def _echo_metadata(self, context) -> None:
        echoed = [(k, v) for k, v in context.invocation_metadata() if k.startswith("x-")]
        context.send_initial_metadata([("x-server", self.name), *echoed])
        context.set_trailing_metadata(
            [("x-trailer", "done"), ("x-trailer-bin", BIN), *((f"echo-{k}", v) for k, v in echoed)]
        )

    def unary(self, request: bytes, context) -> bytes:
        if request.startswith(b"abort"):
            context.set_trailing_metadata([("x-why-bin", b"\x00missing")])
            context.abort(grpc.StatusCode.NOT_FOUND, "no such thing: 100% caf\u00e9")
        if request.startswith(b"sleep"):
            time.sleep(float(request.split(b":")[1]))
        self._echo_metadata(context)
        return request

    def server_stream(self, request: bytes, context):
        self._echo_metadata(context)
        for i in range(int(request)):
            yield b"%d" % i

    def client_stream(self, requests, context) -> bytes:
        self._echo_metadata(context)
        return b"|".join(requests)

    def bidi(self, requests, context):
        self._echo_metadata(context)
        for r in requests:
            yield b"echo:" + r

    def forever(self, request: bytes, context):
        context.add_callback(self.cancelled.set)
        while context.is_active():
            yield b"tick"
            time.sleep(0.02)

    def who(self, request: bytes, context) -> bytes:
        return self.name.encode()


@pytest.fixture
def servers():
    a, b = Servicer("a"), Servicer("b")
    yield a, b
    a.stop()
    b.stop()


# A port bound but never listened on refuses every connection, and no other process on the
# machine can take it while the test runs (a port that was merely free could be).
_DEAD = socket.socket()
_DEAD.bind(("127.0.0.1", 0))
DEAD_PORT = _DEAD.getsockname()[1]


def grpc_config(
    port: int,
    admin: int,
    a: int,
    b: int,
    dead: int,
    downstream: str = "Http2",
    upstream: str = "Http2",
    hang: int | None = None,
) -> dict:
    routes = [
        # to an h2 server that never answers (not a gRPC server, which would enforce
        # grpc-timeout itself): the deadlines seen are pymosn's
        {"match": {"prefix": "/slow.Service/"}, "route": {"cluster_name": "hang", "prefix_rewrite": "/hang/", "timeout": "30s"}},
        {"match": {"prefix": "/brief.Service/"}, "route": {"cluster_name": "hang", "prefix_rewrite": "/hang/", "timeout": "1s"}},
        {"match": {"prefix": "/other.Service/"}, "route": {"cluster_name": "b"}},
        {"match": {"prefix": "/dead.Service/"}, "route": {"cluster_name": "dead"}},
        {
            "match": {"prefix": "/test.Echo/", "headers": [{"name": "x-tenant", "value": "b"}]},
            "route": {"cluster_name": "b"},
        },
        {"match": {"prefix": "/test.Echo/"}, "route": {"cluster_name": "origin"}},
    ]
    config = simple_config(
        port,
        [a],
        admin_port=admin,
        routes=routes,
        proxy={"downstream_protocol": downstream, "upstream_protocol": upstream},
        extra_clusters=[
            {"name": "b", "type": "SIMPLE", "lb_type": "LB_ROUNDROBIN", "hosts": [{"address": f"127.0.0.1:{b}"}]},
            {"name": "dead", "type": "SIMPLE", "lb_type": "LB_ROUNDROBIN", "hosts": [{"address": f"127.0.0.1:{dead}"}]},
            {"name": "hang", "type": "SIMPLE", "lb_type": "LB_ROUNDROBIN", "hosts": [{"address": f"127.0.0.1:{hang or dead}"}]},
        ],
    )
    vhosts = config["servers"][0]["routers"][0]["virtual_hosts"]
    vhosts.insert(
        0, {"name": "b-host", "domains": ["b.example", "b.example:*"], "routers": [{"match": {"prefix": "/"}, "route": {"cluster_name": "b"}}]}
    )
    return config


@pytest.fixture
def hang_origin():
    with H2Origin() as origin:
        yield origin


@pytest.fixture
def mesh(servers, hang_origin, tmp_path):
    a, b = servers
    port, admin = free_port(), free_port()
    config = grpc_config(port, admin, a.port, b.port, DEAD_PORT, hang=hang_origin.port)
    log = tmp_path / "access.log"
    config["servers"][0]["listeners"][0]["access_logs"] = [
        {"log_path": str(log), "log_format": "%REQ(:PATH)% %RESPONSE_CODE% %GRPC_STATUS% %RESPONSE_FLAGS%"}
    ]
    with Pymosn(config, tmp_path, port) as p:
        p.admin_port = admin
        p.access_log = log
        yield p


@pytest.fixture
def channel(mesh):
    with grpc.insecure_channel(f"127.0.0.1:{mesh.port}") as ch:
        yield ch


def stats(p) -> dict[str, str]:
    text = httpx.get(f"http://127.0.0.1:{p.admin_port}/stats", timeout=10).text
    return dict(line.split(": ", 1) for line in text.splitlines() if ": " in line)


# --- the four call kinds --------------------------------------------------------------------


def test_unary_with_metadata_both_ways(channel):
    call = channel.unary_unary("/test.Echo/Unary")
    response, info = call.with_call(b"hello", metadata=[("x-text", "v1"), ("x-data-bin", BIN)], timeout=20)
    assert response == b"hello"
    initial = dict(info.initial_metadata())
    assert initial["x-server"] == "a"
    assert initial["x-text"] == "v1"
    assert initial["x-data-bin"] == BIN
    trailing = dict(info.trailing_metadata())
    assert trailing["x-trailer"] == "done"
    assert trailing["x-trailer-bin"] == BIN
    assert trailing["echo-x-data-bin"] == BIN
    assert info.code() == grpc.StatusCode.OK


def test_server_streaming(channel):
    call = channel.unary_stream("/test.Echo/ServerStream")(b"50", timeout=20)
    assert [m for m in call] == [b"%d" % i for i in range(50)]
    assert call.code() == grpc.StatusCode.OK
    assert dict(call.trailing_metadata())["x-trailer-bin"] == BIN


def test_client_streaming(channel):
    call = channel.stream_unary("/test.Echo/ClientStream")
    response, info = call.with_call(iter([b"a", b"b", b"c" * 1000]), metadata=[("x-k", "v")], timeout=20)
    assert response == b"a|b|" + b"c" * 1000
    assert dict(info.trailing_metadata())["echo-x-k"] == "v"


def test_bidi_streaming_interleaved(channel):
    """Each request is answered before the next is sent: messages flow both ways at once."""
    outbox: list[bytes] = []
    ready = threading.Event()
    got: list[bytes] = []

    def requests():
        for i in range(20):
            outbox.append(b"m%d" % i)
            yield outbox[-1]
            ready.wait(10)
            ready.clear()

    call = channel.stream_stream("/test.Echo/Bidi")(requests(), timeout=30)
    for message in call:
        got.append(message)
        ready.set()
    assert got == [b"echo:m%d" % i for i in range(20)]
    assert call.code() == grpc.StatusCode.OK


def test_one_megabyte_messages(channel):
    big = bytes(range(256)) * 4096  # 1 MiB
    assert channel.unary_unary("/test.Echo/Unary")(big, timeout=30) == big
    replies = list(channel.stream_stream("/test.Echo/Bidi")(iter([big, big[::-1]]), timeout=30))
    assert replies == [b"echo:" + big, b"echo:" + big[::-1]]


def test_many_concurrent_calls_share_the_connections(channel):
    call = channel.unary_unary("/test.Echo/Unary")
    pending = [call.future(b"n%d" % i, timeout=30) for i in range(100)]
    assert [f.result() for f in pending] == [b"n%d" % i for i in range(100)]


# --- errors, deadlines, cancellation -----------------------------------------------------------


def test_error_status_with_message_and_trailers(channel):
    with pytest.raises(grpc.RpcError) as err:
        channel.unary_unary("/test.Echo/Unary")(b"abort", timeout=20)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    assert err.value.details() == "no such thing: 100% caf\u00e9"
    assert dict(err.value.trailing_metadata())["x-why-bin"] == b"\x00missing"


def test_client_deadline_shorter_than_the_server(channel):
    start = time.monotonic()
    with pytest.raises(grpc.RpcError) as err:
        channel.unary_unary("/test.Echo/Unary")(b"sleep:3", timeout=0.5)
    assert err.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert time.monotonic() - start < 2.5


def test_cancelled_stream_reaches_the_upstream(channel, servers):
    a, _ = servers
    call = channel.unary_stream("/test.Echo/Forever")(b"", timeout=30)
    it = iter(call)
    assert next(it) == b"tick"
    assert next(it) == b"tick"
    call.cancel()
    assert a.cancelled.wait(10), "the upstream servicer never saw the call end"
    assert call.code() == grpc.StatusCode.CANCELLED


def test_grpc_timeout_is_the_proxy_deadline(mesh, hang_origin):
    """A raw HTTP/2 client (no deadline of its own) sends grpc-timeout: 1S on a route whose
    timeout is 30 s to a server that never answers: pymosn ends the call with a trailers-only
    DEADLINE_EXCEEDED after about a second, and resets the upstream stream."""
    start = time.monotonic()
    reply = raw_h2_call(mesh.port, "/slow.Service/Call", [("grpc-timeout", "1S")], frame(b"x"), timeout=15)
    elapsed = time.monotonic() - start
    assert reply.trailers_only
    assert reply.headers[":status"] == "200"
    assert reply.headers["grpc-status"] == "4"
    assert reply.headers["grpc-message"] == "grpc-timeout exceeded"
    assert 0.9 <= elapsed < 5
    assert _eventually(lambda: [r for r in hang_origin.resets if r[0] == "/hang/Call"]), "upstream never reset"
    assert ("grpc-timeout", "1S") in hang_origin.requests[0]["headers"]  # passed on as received
    s = stats(mesh)
    assert s["http.ingress.downstream_rq_max_duration_reached"] == "1"
    assert s["cluster.hang.grpc.4"] == "1"


def test_route_timeout_shorter_than_grpc_timeout_wins(mesh, hang_origin):
    start = time.monotonic()
    reply = raw_h2_call(mesh.port, "/brief.Service/Call", [("grpc-timeout", "20S")], frame(b"x"), timeout=15)
    elapsed = time.monotonic() - start
    assert reply.trailers_only
    assert reply.headers["grpc-status"] == "4"
    assert reply.headers["grpc-message"] == "upstream request timeout"
    assert 0.9 <= elapsed < 5
    s = stats(mesh)
    assert s["cluster.hang.upstream_rq_timeout"] == "1"
    assert s["http.ingress.downstream_rq_max_duration_reached"] == "0"


def test_invalid_grpc_timeout_is_ignored(mesh, hang_origin):
    """'1.5S' is no grpc-timeout: no deadline of the proxy's own, the request goes on."""
    reply = raw_h2_call(mesh.port, "/slow.Service/Call", [("grpc-timeout", "1.5S")], frame(b"ok"), timeout=2.5)
    assert reply.headers == {}  # still waiting on the upstream when the client gave up
    assert _eventually(lambda: hang_origin.requests)
    assert ("grpc-timeout", "1.5S") in hang_origin.requests[0]["headers"]


# --- the proxy's own answers ----------------------------------------------------------------------


def test_no_route_is_unimplemented(channel, mesh):
    with pytest.raises(grpc.RpcError) as err:
        channel.unary_unary("/missing.Service/Nope")(b"x", timeout=20)
    assert err.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert "no route" in err.value.details()
    reply = raw_h2_call(mesh.port, "/missing.Service/Nope", [], frame(b"x"), timeout=15)
    assert reply.trailers_only  # one HEADERS frame with END_STREAM, no DATA
    assert reply.headers[":status"] == "200"
    assert reply.headers["content-type"] == "application/grpc"
    assert reply.headers["grpc-status"] == "12"
    assert reply.headers["grpc-message"] == "no route matched"


def test_no_route_answers_a_stream_still_being_sent(channel):
    """The trailers-only reply goes out while the client is still streaming its request."""

    def requests():
        for i in range(5):
            yield b"m%d" % i
            time.sleep(0.1)

    with pytest.raises(grpc.RpcError) as err:
        channel.stream_unary("/missing.Service/Upload")(requests(), timeout=20)
    assert err.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert channel.unary_unary("/test.Echo/Unary")(b"after", timeout=20) == b"after"  # connection fine


def test_dead_upstream_is_unavailable(channel, mesh):
    with pytest.raises(grpc.RpcError) as err:
        channel.unary_unary("/dead.Service/Call")(b"x", timeout=20)
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "upstream connect error" in err.value.details()


def test_http1_grpc_request_gets_a_trailers_only_style_reply(servers, tmp_path):
    a, b = servers
    port, admin = free_port(), free_port()
    with Pymosn(grpc_config(port, admin, a.port, b.port, DEAD_PORT, "Http1", "Http1"), tmp_path, port):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(
                b"POST /missing.Service/Nope HTTP/1.1\r\nHost: x\r\ncontent-type: application/grpc\r\n"
                b"te: trailers\r\ncontent-length: 6\r\n\r\n" + frame(b"x")
            )
            head = _read_until(s, b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0] == "HTTP/1.1 200 OK"
    fields = {k.lower(): v for k, v in (line.split(": ", 1) for line in lines[1:] if line)}
    assert fields["content-type"] == "application/grpc"
    assert fields["grpc-status"] == "12"
    assert fields["content-length"] == "0"


class Silent:
    """An upstream that accepts and reads but never answers; `closed` is set when the proxy
    hangs up on it."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.received = threading.Event()
        self.closed = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        try:
            conn, _ = self.sock.accept()
        except OSError:
            return
        with conn:
            try:
                while conn.recv(65536):
                    self.received.set()
            except OSError:
                pass
        self.closed.set()


def _http1_grpc(port: int, path: str, extra: bytes = b"") -> tuple[str, dict[str, str]]:
    with socket.create_connection(("127.0.0.1", port), timeout=15) as s:
        s.sendall(
            b"POST " + path.encode() + b" HTTP/1.1\r\nHost: x\r\ncontent-type: application/grpc\r\n"
            b"te: trailers\r\n" + extra + b"content-length: 6\r\n\r\n" + frame(b"x")
        )
        head = _read_until(s, b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    return lines[0], {k.lower(): v for k, v in (line.split(": ", 1) for line in lines[1:] if line)}


def test_http1_grpc_timeout_and_dead_upstream(tmp_path):
    """gRPC over HTTP/1.1 both sides (rare, but it happens): grpc-timeout still ends the call
    with DEADLINE_EXCEEDED and hangs up on the upstream; a dead upstream is UNAVAILABLE."""
    silent = Silent()
    port, admin = free_port(), free_port()
    config = grpc_config(port, admin, silent.port, DEAD_PORT, DEAD_PORT, "Http1", "Http1")
    with Pymosn(config, tmp_path, port) as p:
        p.admin_port = admin
        start = time.monotonic()
        status, fields = _http1_grpc(port, "/test.Echo/Hang", b"grpc-timeout: 800m\r\n")
        elapsed = time.monotonic() - start
        assert status == "HTTP/1.1 200 OK"
        assert fields["grpc-status"] == "4"
        assert fields["content-length"] == "0"
        assert 0.7 <= elapsed < 5
        assert silent.received.is_set()
        assert silent.closed.wait(10), "pymosn kept the upstream request open"
        status, fields = _http1_grpc(port, "/dead.Service/Call")
        assert fields["grpc-status"] == "14"
        assert fields["grpc-message"].startswith("upstream connect error")
        s = stats(p)
    assert s["http.ingress.downstream_rq_max_duration_reached"] == "1"
    assert s["http.ingress.grpc.4"] == "1"
    assert s["http.ingress.grpc.14"] == "1"
    assert s["cluster.dead.grpc.14"] == "1"
    assert s["http.ingress.downstream_rq_2xx"] == "2"  # the status the client got


def test_request_too_large_and_overflow(servers, hang_origin, tmp_path):
    """A request body over max_request_bytes is RESOURCE_EXHAUSTED; a call over the cluster's
    max_requests is UNAVAILABLE (upstream overflow)."""
    a, b = servers
    port, admin = free_port(), free_port()
    config = grpc_config(port, admin, a.port, b.port, DEAD_PORT, hang=hang_origin.port)
    listener = config["servers"][0]["listeners"][0]
    listener["filter_chains"][0]["filters"][0]["config"]["max_request_bytes"] = 65536
    hang = next(c for c in config["cluster_manager"]["clusters"] if c["name"] == "hang")
    hang["circuit_breakers"] = [{"max_requests": 1}]
    with Pymosn(config, tmp_path, port), grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
        with pytest.raises(grpc.RpcError) as err:
            ch.unary_unary("/test.Echo/Unary")(b"x" * 200_000, timeout=20)
        assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert ch.unary_unary("/test.Echo/Unary")(b"small", timeout=20) == b"small"
        first = ch.unary_unary("/slow.Service/Call").future(b"x", timeout=20)
        assert _eventually(lambda: hang_origin.requests), "the first call never reached the upstream"
        with pytest.raises(grpc.RpcError) as err:
            ch.unary_unary("/slow.Service/Call")(b"x", timeout=20)
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE
        assert err.value.details() == "upstream overflow"
        first.cancel()


@pytest.mark.parametrize(("protocol", "upstream"), [("Http2", "Http2"), ("Auto", "Http2"), ("Auto", "Auto")])
def test_grpc_over_tls_and_auto(servers, tmp_path, protocol, upstream):
    """grpcio's secure channel negotiates h2 by ALPN; Auto also finds gRPC's h2c preface; an
    Auto upstream speaks HTTP/2 to the server when the client did."""
    a, b = servers
    pki = Pki(tmp_path)
    cert, key = pki.server("localhost", "localhost", "127.0.0.1")
    tls_port, plain_port, admin = free_port(), free_port(), free_port()
    config = grpc_config(tls_port, admin, a.port, b.port, DEAD_PORT, protocol, upstream)
    listeners = config["servers"][0]["listeners"]
    plain = json.loads(json.dumps(listeners[0]))
    plain.update(name="plain", address=f"127.0.0.1:{plain_port}")
    listeners[0]["filter_chains"][0]["tls_context"] = {
        "status": True, "cert_chain": cert, "private_key": key, "alpn": "h2,http/1.1"}
    listeners.append(plain)
    with Pymosn(config, tmp_path, tls_port):
        credentials = grpc.ssl_channel_credentials(root_certificates=open(pki.ca_path, "rb").read())
        options = [("grpc.ssl_target_name_override", "localhost")]
        with grpc.secure_channel(f"127.0.0.1:{tls_port}", credentials, options=options) as ch:
            _, info = ch.unary_unary("/test.Echo/Unary").with_call(b"over tls", metadata=[("x-k-bin", BIN)], timeout=20)
            assert dict(info.trailing_metadata())["echo-x-k-bin"] == BIN
            assert list(ch.unary_stream("/test.Echo/ServerStream")(b"3", timeout=20)) == [b"0", b"1", b"2"]
        with grpc.insecure_channel(f"127.0.0.1:{plain_port}") as ch:
            assert ch.unary_unary("/test.Echo/Unary")(b"plain", timeout=20) == b"plain"


# --- routing -----------------------------------------------------------------------------------------


def test_routing_on_service_prefix(channel):
    assert channel.unary_unary("/other.Service/Who")(b"", timeout=20) == b"b"


def test_routing_on_metadata_header(channel):
    _, info = channel.unary_unary("/test.Echo/Unary").with_call(b"x", metadata=[("x-tenant", "b")], timeout=20)
    assert dict(info.initial_metadata())["x-server"] == "b"


def test_routing_on_authority(mesh):
    options = [("grpc.default_authority", "b.example")]
    with grpc.insecure_channel(f"127.0.0.1:{mesh.port}", options=options) as ch:
        _, info = ch.unary_unary("/test.Echo/Unary").with_call(b"x", timeout=20)
    assert dict(info.initial_metadata())["x-server"] == "b"


# --- stats -----------------------------------------------------------------------------------------


def test_grpc_stats_by_status(channel, mesh):
    unary = channel.unary_unary("/test.Echo/Unary")
    for _ in range(3):
        unary(b"ok", timeout=20)
    with pytest.raises(grpc.RpcError):
        unary(b"abort", timeout=20)
    with pytest.raises(grpc.RpcError):
        channel.unary_unary("/missing.Service/Nope")(b"x", timeout=20)
    with pytest.raises(grpc.RpcError):
        channel.unary_unary("/dead.Service/Call")(b"x", timeout=20)
    s = stats(mesh)
    assert s["cluster.origin.grpc.0"] == "3"
    assert s["cluster.origin.grpc.5"] == "1"
    assert s["cluster.origin.grpc.test.Echo.Unary.0"] == "3"
    assert s["cluster.origin.grpc.test.Echo.Unary.5"] == "1"
    assert s["cluster.origin.grpc.success"] == "3"
    assert s["cluster.origin.grpc.failure"] == "1"
    assert s["cluster.dead.grpc.14"] == "1"
    assert s["http.ingress.grpc.12"] == "1"
    assert s["http.ingress.grpc.total"] == "6"
    prom = httpx.get(f"http://127.0.0.1:{mesh.admin_port}/stats/prometheus", timeout=10).text
    assert 'envoy_cluster_grpc_0{envoy_cluster_name="origin"} 3' in prom
    lines = _eventually(lambda: mesh.access_log.exists() and len(mesh.access_log.read_text().splitlines()) >= 6 and
                        mesh.access_log.read_text().splitlines())
    assert lines[0] == "/test.Echo/Unary 200 OK -"
    assert lines[3] == "/test.Echo/Unary 200 NotFound -"
    assert lines[4] == "/missing.Service/Nope 200 Unimplemented NR"
    assert lines[5].startswith("/dead.Service/Call 200 Unavailable U")  # UF (connect failure)


# --- helpers ---------------------------------------------------------------------------------------


def _eventually(check, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.05)
    return check()


def frame(message: bytes) -> bytes:
    """One gRPC length-prefixed message, uncompressed."""
    return b"\x00" + len(message).to_bytes(4, "big") + message


def _read_until(s: socket.socket, marker: bytes) -> bytes:
    data = b""
    while marker not in data:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


class RawReply:
    def __init__(self) -> None:
        self.headers: dict[str, str] = {}
        self.trailers: dict[str, str] = {}
        self.data = b""
        self.trailers_only = False
        self.reset = False


def raw_h2_call(port: int, path: str, extra: list[tuple[str, str]], body: bytes, timeout: float) -> RawReply:
    """One gRPC call from a bare h2 client, so the test sees the frames pymosn sends."""
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
    conn.initiate_connection()
    headers = [
        (":method", "POST"),
        (":scheme", "http"),
        (":authority", f"127.0.0.1:{port}"),
        (":path", path),
        ("content-type", "application/grpc"),
        ("te", "trailers"),
        *extra,
    ]
    reply = RawReply()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.settimeout(timeout)
        conn.send_headers(1, headers)
        conn.send_data(1, body, end_stream=True)
        s.sendall(conn.data_to_send())
        deadline = time.monotonic() + timeout
        done = False
        while not done and time.monotonic() < deadline:
            try:
                data = s.recv(65536)
            except TimeoutError:
                break
            if not data:
                break
            for event in conn.receive_data(data):
                if isinstance(event, h2.events.ResponseReceived):
                    reply.headers = dict(event.headers)
                    if event.stream_ended is not None:
                        reply.trailers_only = True
                        done = True
                elif isinstance(event, h2.events.DataReceived):
                    reply.data += event.data
                    conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                elif isinstance(event, h2.events.TrailersReceived):
                    reply.trailers = dict(event.headers)
                elif isinstance(event, h2.events.StreamEnded):
                    done = True
                elif isinstance(event, h2.events.StreamReset):
                    reply.reset = done = True
            s.sendall(conn.data_to_send())
    return reply
