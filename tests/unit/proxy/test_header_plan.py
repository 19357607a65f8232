"""The header lists the router sends: hop-by-hop fields and those a Connection header names are
not passed on, whichever side they came from and however many Connection fields there were."""

from __future__ import annotations

from types import SimpleNamespace

from pymosn.api.stream_info import StreamInfo
from pymosn.metrics.groups import ListenerStats
from pymosn.protocol.http1 import RequestHead, ResponseHead
from pymosn.proxy.header_plan import HeaderPlan, filter_response_headers, upstream_request_headers
from pymosn.proxy.settings import ProxySettings
from pymosn.proxy.snapshot import SnapshotRef


def _response(*headers: tuple[bytes, bytes]) -> ResponseHead:
    return ResponseHead(200, b"OK", b"1.1", list(headers), [n.lower() for n, _ in headers])


def test_response_fields_a_connection_header_names_are_dropped_across_connection_fields() -> None:
    head = _response((b"Connection", b"keep-alive, X-One"), (b"X-One", b"1"), (b"Content-Length", b"2"),
                     (b"connection", b"x-two"), (b"X-Two", b"2"), (b"Keep-Alive", b"timeout=5"), (b"X-Kept", b"k"))
    assert filter_response_headers(head, None) == [(b"Content-Length", b"2"), (b"X-Kept", b"k")]


def test_response_with_only_keep_alive_named_keeps_every_end_to_end_field() -> None:
    head = _response((b"Server", b"nginx"), (b"Connection", b"keep-alive"), (b"Content-Type", b"text/plain"))
    assert filter_response_headers(head, None) == [(b"Server", b"nginx"), (b"Content-Type", b"text/plain")]


def test_request_fields_named_by_connection_are_dropped_and_a_request_id_added() -> None:
    fields = [(b"Host", b"a"), (b"Connection", b"X-A"), (b"X-A", b"1"), (b"Connection", b"x-b, close"),
              (b"x-b", b"2"), (b"X-C", b"3")]
    head = RequestHead(b"GET", b"/", b"1.1", fields, [n.lower() for n, _ in fields])
    plan = HeaderPlan(SimpleNamespace(request_headers_to_remove=(), request_headers_to_add=(), host_rewrite=None,
                                      response_headers_to_remove=(), response_headers_to_add=()))
    settings = ProxySettings("l", "r", SnapshotRef(None), ListenerStats())  # type: ignore[arg-type]
    info = StreamInfo()
    conn = SimpleNamespace(remote=("127.0.0.9", 5000))
    out = upstream_request_headers(head, plan, conn, settings, info)
    names = [n for n, _ in out]
    assert names == [b"Host", b"X-C", b"x-forwarded-for", b"x-forwarded-proto", b"x-request-id"]
    assert out[2][1] == b"127.0.0.9" and out[4][1].decode() == info.request_id
