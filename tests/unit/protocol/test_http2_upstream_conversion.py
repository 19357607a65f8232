"""HTTP/1.1 requests as HTTP/2 header blocks, HTTP/2 responses as ResponseHeads."""

from __future__ import annotations

from pymosn.protocol.http1 import BODY_CHUNKED, BODY_LENGTH, BODY_NONE
from pymosn.protocol.http2.upstream_conversion import (
    request_headers,
    response_head,
    response_trailers,
    trailer_fields,
)


def test_request_pseudo_headers_come_first_and_host_becomes_authority():
    fields = request_headers(b"GET", b"/a?b=1", [(b"Host", b"svc:8080"), (b"X-Up", b"1")], b"https", b"fallback")
    assert fields == [(b":method", b"GET"), (b":scheme", b"https"), (b":authority", b"svc:8080"),
                      (b":path", b"/a?b=1"), (b"x-up", b"1")]


def test_connection_specific_headers_are_dropped_and_te_kept_only_as_trailers():
    headers = [(b"Connection", b"close"), (b"Keep-Alive", b"5"), (b"Proxy-Connection", b"x"),
               (b"Transfer-Encoding", b"chunked"), (b"Upgrade", b"ws"), (b"TE", b"Trailers"), (b"A", b"b")]
    fields = request_headers(b"POST", b"/", headers, b"http", b"h")
    assert fields[4:] == [(b"te", b"trailers"), (b"a", b"b")]
    assert (b"te", b"gzip") not in request_headers(b"GET", b"/", [(b"TE", b"gzip")], b"http", b"h")


def test_missing_host_uses_the_upstream_address_and_forged_pseudo_headers_are_dropped():
    fields = request_headers(b"GET", b"", [(b":path", b"/evil")], b"http", b"10.0.0.1:80")
    assert fields == [(b":method", b"GET"), (b":scheme", b"http"), (b":authority", b"10.0.0.1:80"), (b":path", b"/")]


def test_grpc_requests_carry_te_trailers():
    fields = request_headers(b"POST", b"/pkg.Svc/M", [(b"content-type", b"application/grpc+proto")], b"http", b"h")
    assert (b"te", b"trailers") in fields


def test_request_trailers_are_lowercased_without_connection_fields():
    assert trailer_fields([(b"X-Sum", b"1"), (b"Connection", b"x")]) == [(b"x-sum", b"1")]


def test_response_heads_choose_the_http1_body_framing():
    head = response_head([(b":status", b"200"), (b"content-length", b"5"), (b"x", b"y")], False)
    assert (head.status, head.body_kind, head.content_length) == (200, BODY_LENGTH, 5)
    assert head.headers == [(b"content-length", b"5"), (b"x", b"y")] and head.lower_names == [b"content-length", b"x"]
    assert response_head([(b":status", b"200")], False).body_kind == BODY_CHUNKED  # trailers can follow
    assert response_head([(b":status", b"204")], True).body_kind == BODY_NONE
    assert response_trailers([(b"grpc-status", b"0")]) == [(b"grpc-status", b"0")]
