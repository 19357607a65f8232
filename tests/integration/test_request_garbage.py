"""Every request's objects are freed by their last reference going, not by the cycle collector.

Left in reference cycles (stream <-> router <-> upstream try, stream <-> filter manager), each
request is garbage only the collector frees: microseconds per request plus pauses of
milliseconds on a busy worker (BENCHMARKS.md, 2026-12-03). Real clients and servers run
requests through a real listener in this process with the collector off; what the collector
then finds must hold none of the proxy's per-request objects: for HTTP/1.1 with and without
stream filters, HTTP/2, and Bolt, on answered, locally answered and failed requests alike.
The connections stay open while the collector looks, so only cycles count, not live state."""

from __future__ import annotations

import gc
import http.client
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import grpc
import pytest

from pymosn.api.headers import RequestHeaderMap
from pymosn.api.stream_info import StreamInfo
from pymosn.protocol.xprotocol import bolt
from pymosn.proxy.active_stream import ActiveStream
from pymosn.proxy.filter_manager import FilterManager
from pymosn.proxy.filter_sides import DecoderChain, EncoderChain
from pymosn.proxy.filtered_stream import FilteredStream
from pymosn.proxy.grpc import GrpcCall
from pymosn.proxy.router import Router
from pymosn.proxy.rpc import RpcRequest
from pymosn.proxy.upstream_request import UpstreamRequest
from pymosn.stream.http2.client_stream import Http2ClientStream
from pymosn.stream.http2.server_stream import Http2Stream
from tests.integration.test_grpc import Servicer
from tests.integration.test_xprotocol import rpc_config
from tests.support.h2_client import H2Client
from tests.support.h2_origin import H2Origin
from tests.support.in_process import InProcessProxy
from tests.support.origin import Origin
from tests.support.proxy import free_port, simple_config
from tests.support.xexample_peer import BOLT_V2, XExampleClient, XExampleServer

REQUESTS = 30
# the proxy's per-request classes, whichever listener kind made them: named from the classes
# themselves, so that a class moving to another module is still looked for
PER_REQUEST = {f"{cls.__module__}.{cls.__qualname__}" for cls in (
    ActiveStream, FilteredStream, Router, UpstreamRequest, FilterManager, DecoderChain, EncoderChain,
    StreamInfo, RequestHeaderMap, RpcRequest, Http2Stream, Http2ClientStream, GrpcCall,
)}
ROUTES = [
    {"match": {"prefix": "/direct"}, "direct_response": {"status": 204}},
    {"match": {"prefix": "/nowhere"}, "route": {"cluster_name": "refused"}},
    {"match": {"prefix": "/"}, "route": {"cluster_name": "origin"}},
]
HEADER_MUTATION = {"mutations": {
    "request_mutations": [{"append": {"header": {"key": "x-caller", "value": "mesh"}}}],
    "response_mutations": [{"append": {"header": {"key": "x-served-by", "value": "pymosn"}}}],
}}


def _per_request_garbage(send: Callable[[], None]) -> Counter:
    """Runs `send` with the cycle collector off; returns how many of each per-request class the
    collector found unreachable afterwards."""
    gc.collect()
    gc.disable()
    try:
        send()
        gc.set_debug(gc.DEBUG_SAVEALL)
        gc.collect()
        names = (f"{type(o).__module__}.{type(o).__qualname__}" for o in gc.garbage)
        return Counter(name for name in names if name in PER_REQUEST)
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()


@contextmanager
def _http_proxy(protocol: str, **listener) -> Iterator[int]:
    port = free_port()
    with Origin() as origin:
        refused = {"name": "refused", "type": "SIMPLE", "hosts": [{"address": f"127.0.0.1:{free_port()}"}]}
        config = simple_config(port, [origin.port], routes=ROUTES, listener=listener, extra_clusters=[refused],
                               proxy={"downstream_protocol": protocol})
        with InProcessProxy(config):
            yield port


def _http1_requests(port: int) -> Callable[[], None]:
    """Keep-alive requests on one connection: proxied (with and without a body), a direct
    response, an upstream that refuses connections, an upstream's 503."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)

    def send() -> None:
        for n in range(REQUESTS):
            method, path, body = [("GET", "/echo", None), ("POST", "/echo", b"x" * 100), ("GET", "/direct", None),
                                  ("GET", "/nowhere", None), ("GET", "/status/503", None)][n % 5]
            connection.request(method, path, body=body)
            response = connection.getresponse()
            response.read()
            assert response.status in (200, 204, 502, 503), (path, response.status)

    return send


@pytest.mark.parametrize("filters", [False, True], ids=["no-filters", "stream-filters"])
def test_http1_requests_leave_no_cycles(filters):
    listener = {"stream_filters": [{"type": "header_mutation", "config": HEADER_MUTATION}]} if filters else {}
    with _http_proxy("Http1", **listener) as port:
        assert _per_request_garbage(_http1_requests(port)) == Counter()


def test_http2_requests_leave_no_cycles():
    with _http_proxy("Http2") as port:
        client = H2Client(port)

        def send() -> None:
            for n in range(REQUESTS):
                sid = client.request(["/echo", "/direct", "/nowhere"][n % 3])
                assert client.response(sid).status in (200, 204, 502)

        assert _per_request_garbage(send) == Counter()
        client.sock.close()


def test_http2_upstream_requests_leave_no_cycles():
    """HTTP/2 both ways (the upstream stream is the try's client stream)."""
    with H2Origin() as origin:
        port = free_port()
        config = simple_config(port, [origin.port], proxy={"downstream_protocol": "Http2",
                                                            "upstream_protocol": "Http2"})
        with InProcessProxy(config):
            client = H2Client(port)

            def send() -> None:
                for n in range(REQUESTS):
                    # a body makes the upstream stream report its watermarks to the try
                    body = b"x" * 100 if n % 2 else None
                    assert client.response(client.request("/echo", "POST" if body else "GET", body=body)).status == 200

            assert _per_request_garbage(send) == Counter()
            client.sock.close()


def test_grpc_calls_leave_no_cycles():
    """A real grpcio client and server, HTTP/2 both ways: a body each way and trailers."""
    server = Servicer("a")
    try:
        port = free_port()
        config = simple_config(port, [server.port], proxy={"downstream_protocol": "Http2", "upstream_protocol": "Http2"})
        with InProcessProxy(config), grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            call = channel.unary_unary("/test.Echo/Unary")
            call(b"warm-up")

            def send() -> None:
                for _ in range(REQUESTS):
                    assert call(b"hello") == b"hello"

            assert _per_request_garbage(send) == Counter()
    finally:
        server.stop()


def test_bolt_requests_leave_no_cycles():
    with XExampleServer("a", dialect=BOLT_V2) as upstream:
        port = free_port()
        with InProcessProxy(rpc_config(port, free_port(), {"a": [upstream.port]}, protocol="boltv2")):
            client = XExampleClient(port, dialect=BOLT_V2)

            def send() -> None:
                for _ in range(REQUESTS):
                    answer = client.call({"service": "com.acme.Echo:1.0"}, b"hello")
                    assert answer.status == bolt.SUCCESS

            assert _per_request_garbage(send) == Counter()
            client.close()
