"""RFC 9113 request validation and the conversion between HTTP/2 header blocks and heads."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pymosn.api.errors import ProtocolError
from pymosn.protocol.http1.head import BODY_CHUNKED, BODY_LENGTH, BODY_NONE
from pymosn.protocol.http2 import (
    MalformedHeaders,
    checked_trailers,
    request_head,
    response_block,
    trailer_block,
)

BASE = [(b":method", b"GET"), (b":scheme", b"https"), (b":authority", b"example.com"), (b":path", b"/a?b=c")]


def test_request_head_as_http1_would_build_it():
    head = request_head(BASE + [(b"user-agent", b"t"), (b"accept", b"*/*")], end_stream=True)
    assert (head.method, head.target, head.version, head.host) == (b"GET", b"/a?b=c", b"2", b"example.com")
    assert head.headers == [(b"host", b"example.com"), (b"user-agent", b"t"), (b"accept", b"*/*")]
    assert head.lower_names == [b"host", b"user-agent", b"accept"]
    assert head.body_kind == BODY_NONE
    assert head.keep_alive and not head.upgrade and not head.expect_continue


@pytest.mark.parametrize(
    ("extra", "end_stream", "kind", "length"),
    [
        ([], True, BODY_NONE, 0),
        ([(b"content-length", b"42")], False, BODY_LENGTH, 42),
        ([(b"content-length", b"0")], False, BODY_LENGTH, 0),
        ([], False, BODY_CHUNKED, 0),
        ([(b"content-length", b"5"), (b"content-length", b"5")], False, BODY_LENGTH, 5),
    ],
)
def test_body_kind(extra, end_stream, kind, length):
    head = request_head(BASE + extra, end_stream)
    assert head.body_kind == kind and head.content_length == length
    assert [n for n, _ in head.headers].count(b"content-length") == (1 if extra else 0)


def test_host_header_without_authority():
    head = request_head([BASE[0], BASE[1], BASE[3], (b"host", b"h.example")], True)
    assert head.host == b"h.example" and head.headers[0] == (b"host", b"h.example")


def test_host_equal_to_authority_is_kept_once():
    head = request_head(BASE + [(b"host", b"example.com")], True)
    assert head.headers == [(b"host", b"example.com")]


def test_cookie_crumbs_joined():
    head = request_head(BASE + [(b"cookie", b"a=1"), (b"x", b"y"), (b"cookie", b"b=2")], True)
    assert head.headers[-1] == (b"cookie", b"a=1; b=2")
    assert [n for n, _ in head.headers].count(b"cookie") == 1


def test_te_trailers_and_expect():
    head = request_head(BASE + [(b"te", b"trailers"), (b"expect", b"100-continue")], False)
    assert head.expect_continue
    assert not request_head(BASE + [(b"expect", b"100-continue")], True).expect_continue


def test_options_star_and_connect():
    assert request_head([(b":method", b"OPTIONS"), BASE[1], BASE[2], (b":path", b"*")], True).target == b"*"
    head = request_head([(b":method", b"CONNECT"), (b":authority", b"example.com:443")], False)
    assert head.method == b"CONNECT" and head.target == b""


MALFORMED = [
    BASE + [(b"X-Upper", b"v")],
    BASE + [(b"connection", b"close")],
    BASE + [(b"keep-alive", b"1")],
    BASE + [(b"proxy-connection", b"1")],
    BASE + [(b"transfer-encoding", b"chunked")],
    BASE + [(b"upgrade", b"h2c")],
    BASE + [(b"te", b"gzip")],
    BASE[:3],
    BASE[1:],
    [BASE[0], BASE[2], BASE[3]],
    [BASE[0], BASE[1], BASE[3]],  # no authority, no host
    BASE[:3] + [(b":path", b"")],
    BASE[:3] + [(b":path", b"a")],
    BASE[:1] + [(b"x", b"1")] + BASE[1:],
    BASE + [(b":path", b"/b")],
    BASE + [(b":method", b"POST")],
    BASE + [(b":status", b"200")],
    BASE + [(b":protocol", b"websocket")],
    BASE + [(b"x", b"a\nb")],
    BASE + [(b"x", b"a\x00")],
    BASE + [(b"x", b"a\x01")],
    BASE + [(b"x", b"a ")],
    BASE + [(b"x", b"\ta")],
    BASE + [(b"a b", b"1")],
    BASE + [(b"a:b", b"1")],
    BASE + [(b"", b"1")],
    BASE + [(b"host", b"other")],
    BASE + [(b"content-length", b"-1")],
    BASE + [(b"content-length", b"1"), (b"content-length", b"2")],
    [(b":method", b"G E T")] + BASE[1:],
    [(b":method", b"CONNECT"), (b":authority", b"x:1"), (b":path", b"/")],
]


@pytest.mark.parametrize("block", MALFORMED)
def test_malformed_blocks_are_refused(block):
    with pytest.raises(MalformedHeaders) as error:
        request_head(block, True)
    assert error.value.reason


def test_header_list_limit_counts_as_settings_does():
    block = BASE + [(b"x", b"v" * 100)]
    size = sum(len(n) + len(v) + 32 for n, v in block)
    request_head(block, True, max_bytes=size)
    with pytest.raises(ProtocolError) as error:
        request_head(block, True, max_bytes=size - 1)
    assert error.value.status == 431 and not isinstance(error.value, MalformedHeaders)


def test_trailers():
    assert checked_trailers([(b"x-checksum", b"1")]) == [(b"x-checksum", b"1")]
    for bad in ([(b":path", b"/")], [(b"X-A", b"1")], [(b"connection", b"close")], [(b"x", b"\r")]):
        with pytest.raises(MalformedHeaders):
            checked_trailers(bad)


def test_response_block_lowercases_and_drops_connection_specific():
    block = response_block(200, [(b"Content-Type", b"text/plain"), (b"Connection", b"keep-alive"),
                                 (b"Transfer-Encoding", b"chunked"), (b"Keep-Alive", b"5"), (b"Upgrade", b"x"),
                                 (b"Proxy-Connection", b"x"), (b"X-Multi", b"1"), (b"x-multi", b"2")])
    assert block == [(b":status", b"200"), (b"content-type", b"text/plain"), (b"x-multi", b"1"), (b"x-multi", b"2")]
    assert response_block(103, [(b"Link", b"</a>")]) == [(b":status", b"103"), (b"link", b"</a>")]
    assert trailer_block([(b"Grpc-Status", b"0"), (b"Transfer-Encoding", b"x")]) == [(b"grpc-status", b"0")]


NAME = st.binary(min_size=0, max_size=12)
VALUE = st.binary(max_size=20)


@given(st.lists(st.tuples(NAME, VALUE), max_size=8), st.booleans())
def test_any_block_is_a_head_or_a_clear_error(extra, end_stream):
    try:
        head = request_head(BASE + extra, end_stream)
    except ProtocolError as error:
        assert error.reason
        return
    # whatever passed is safe to write out as HTTP/1.1
    for name, value in head.headers:
        assert name == name.lower() and name and b":" not in name
        assert not any(c in value for c in b"\r\n\x00")


def test_header_count_includes_pseudo_headers_and_not_cookie_crumbs():
    at_limit = BASE + [(b"x-f%d" % i, b"v") for i in range(96)]  # 4 pseudo + 96 = 100 fields
    assert not request_head(at_limit, True, max_count=100).too_many_headers
    assert request_head(at_limit + [(b"x-one-more", b"v")], True, max_count=100).too_many_headers
    crumbs = [(b"cookie", b"c%d=1" % i) for i in range(50)]
    head = request_head(at_limit + crumbs, True, max_count=100)
    assert not head.too_many_headers and head.headers[-1][0] == b"cookie"
    assert not request_head(at_limit + [(b"x-one-more", b"v")], True).too_many_headers  # 0: no limit


def test_fields_that_passed_are_remembered_bounded_and_bad_ones_still_refused():
    from pymosn.protocol.http2 import headers

    headers.check_fields(list(zip([b"content-type", b"x-a"], [b"application/grpc", b"1"])))
    assert b"application/grpc" in headers._CHECKED.by_name[b"content-type"]
    for bad in (b"application/grpc\r\nx: y", b" application/grpc", b"a\x00b"):
        with pytest.raises(MalformedHeaders):
            headers.check_fields(list(zip([b"content-type", b"x-a"], [bad, b"1"])))
        assert bad not in headers._CHECKED.by_name[b"content-type"]
    with pytest.raises(MalformedHeaders):
        headers.check_fields(list(zip([b"Content-Type"], [b"application/grpc"])))  # the value is known, the name is not
    for n in range(headers._MAX_CHECKED + 10):
        headers.check_fields(list(zip([b"x-id"], [b"%d" % n])))
    assert headers._CHECKED.count <= headers._MAX_CHECKED
    headers.check_fields(list(zip([b"x-long"], [b"v" * 300])))
    assert b"x-long" not in headers._CHECKED.by_name  # long values are checked each time
