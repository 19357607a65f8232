"""The HTTP/1.x decoders' header count limit and their HTTP/1.0 policies (MOSN's and Envoy's)."""

from __future__ import annotations

import pytest

from pymosn.api.errors import ProtocolError
from pymosn.protocol.http1 import RequestDecoder, ResponseDecoder
from pymosn.protocol.http1.decoder import Http10Policy
from tests.unit.protocol.test_http1_decoder import Sink


def fields(count: int, prefix: bytes = b"X-F") -> bytes:
    return b"".join(b"%s%d: v\r\n" % (prefix, i) for i in range(count))


def request(header_count: int) -> bytes:
    """A GET with `header_count` header fields, Host among them."""
    return b"GET /a HTTP/1.1\r\nHost: h\r\n" + fields(header_count - 1) + b"\r\n"


NEXT = b"GET /next HTTP/1.1\r\nHost: h\r\n\r\n"


def test_a_request_at_the_limit_is_decoded_as_usual():
    sink = Sink()
    RequestDecoder(sink, max_headers=100).feed(request(100) + NEXT)
    first, second = sink.heads()
    assert not first.too_many_headers and len(first.headers) == 100 and first.host == b"h"
    assert second.target == b"/next"


def test_one_header_over_the_limit_marks_the_request_and_ends_decoding():
    sink = Sink()
    decoder = RequestDecoder(sink, max_headers=100)
    decoder.feed(request(101) + NEXT)
    decoder.feed(NEXT)  # a later read is not decoded either
    (head,) = sink.heads()
    assert head.too_many_headers and not head.keep_alive
    assert len(head.headers) == 101 and head.target == b"/a"
    assert sink.events == [("head", head)]
    assert not decoder.in_message


def test_fields_past_the_limit_are_not_kept():
    sink = Sink()
    RequestDecoder(sink, max_headers=100).feed(request(5000))
    (head,) = sink.heads()
    assert head.too_many_headers and len(head.headers) == len(head.lower_names) == 101


def test_the_byte_limit_still_applies_to_a_request_over_the_count():
    with pytest.raises(ProtocolError) as caught:
        RequestDecoder(Sink(), max_head_bytes=1024, max_headers=10).feed(request(500))
    assert caught.value.status == 431


def chunked_with_trailers(count: int) -> bytes:
    return (b"POST /t HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n"
            + fields(count, b"X-T") + b"\r\n")


def test_trailers_at_the_limit_pass():
    sink = Sink()
    RequestDecoder(sink, max_headers=100).feed(chunked_with_trailers(100) + NEXT)
    ends = [e[1] for e in sink.events if e[0] == "end"]
    assert len(ends[0]) == 100
    assert [h.target for h in sink.heads()] == [b"/t", b"/next"]


def test_trailers_over_the_limit_are_delivered_marked_and_end_decoding():
    sink = Sink()
    RequestDecoder(sink, max_headers=100).feed(chunked_with_trailers(300) + NEXT)
    ends = [e[1] for e in sink.events if e[0] == "end"]
    assert len(ends) == 1 and len(ends[0]) == 101  # one past the limit: the receiver sees it is over
    assert [h.target for h in sink.heads()] == [b"/t"]
    assert sink.body() == b"hello"


def response(count: int) -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n" + fields(count - 1) + b"\r\nok"


def test_a_response_over_its_limit_is_an_upstream_protocol_error():
    sink = Sink()
    ResponseDecoder(sink, max_headers=100).feed(response(100))
    assert sink.heads()[0].status == 200
    with pytest.raises(ProtocolError) as caught:
        ResponseDecoder(Sink(), max_headers=100).feed(response(101))
    assert caught.value.status == 502 and "more than 100 header fields" in str(caught.value)


def test_response_trailers_over_the_limit_are_an_upstream_protocol_error():
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n"
    sink = Sink()
    ResponseDecoder(sink, max_headers=3).feed(head + fields(3) + b"\r\n")
    assert sink.events[-1] == ("end", [(b"X-F%d" % i, b"v") for i in range(3)])
    with pytest.raises(ProtocolError) as caught:
        ResponseDecoder(Sink(), max_headers=3).feed(head + fields(4) + b"\r\n")
    assert caught.value.status == 502


# --- HTTP/1.0 ----------------------------------------------------------------------------------

ENVOY_DEFAULT = Http10Policy(accept=False, require_host=True)
ENVOY_ACCEPT = Http10Policy(accept=True, require_host=True)
ENVOY_DEFAULT_HOST = Http10Policy(accept=True, default_host=b"fallback.example", require_host=True)


def decode(data: bytes, http10: Http10Policy | None = None) -> Sink:
    sink = Sink()
    if http10 is None:
        RequestDecoder(sink).feed(data)
    else:
        RequestDecoder(sink, http10=http10).feed(data)
    return sink


def test_http10_without_host_has_an_empty_authority_by_default():
    (head,) = decode(b"GET / HTTP/1.0\r\n\r\n").heads()
    assert head.host == b"" and head.version == b"1.0"
    assert all(name != b"host" for name in head.lower_names)


def test_http11_without_host_is_400_whatever_the_policy():
    for policy in (None, ENVOY_ACCEPT, ENVOY_DEFAULT_HOST):
        with pytest.raises(ProtocolError) as caught:
            decode(b"GET / HTTP/1.1\r\n\r\n", policy)
        assert caught.value.status == 400 and "missing Host" in caught.value.reason


def test_envoy_refuses_http10_unless_accepted():
    for data in (b"GET / HTTP/1.0\r\n\r\n", b"GET / HTTP/1.0\r\nHost: a\r\n\r\n"):
        with pytest.raises(ProtocolError) as caught:
            decode(data, ENVOY_DEFAULT)
        assert caught.value.status == 426
    (head,) = decode(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", ENVOY_DEFAULT).heads()
    assert head.host == b"a"


def test_envoy_accepting_http10_requires_host_without_a_default():
    with pytest.raises(ProtocolError) as caught:
        decode(b"GET / HTTP/1.0\r\n\r\n", ENVOY_ACCEPT)
    assert caught.value.status == 400
    (head,) = decode(b"GET / HTTP/1.0\r\nHost: given\r\n\r\n", ENVOY_ACCEPT).heads()
    assert head.host == b"given"


def test_default_host_for_http10_becomes_the_host_header():
    (head,) = decode(b"GET / HTTP/1.0\r\nAccept: */*\r\n\r\n", ENVOY_DEFAULT_HOST).heads()
    assert head.host == b"fallback.example"
    assert head.headers == [(b"Host", b"fallback.example"), (b"Accept", b"*/*")]
    assert head.lower_names == [b"host", b"accept"]
    (given,) = decode(b"GET / HTTP/1.0\r\nHost: given\r\n\r\n", ENVOY_DEFAULT_HOST).heads()
    assert given.host == b"given" and len(given.headers) == 1
