"""Sans-IO tests of the HTTP/1.1 decoders: strictness, framing, and property tests."""

from __future__ import annotations

import h11
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pymosn.api.errors import ProtocolError
from pymosn.protocol.http1 import (
    BODY_CHUNKED,
    BODY_LENGTH,
    BODY_NONE,
    BODY_UNTIL_CLOSE,
    RequestDecoder,
    ResponseDecoder,
)
from pymosn.protocol.http1.encoder import (
    encode_chunk,
    encode_last_chunk,
    encode_request_head,
    encode_response_head,
)


class Sink:
    def __init__(self) -> None:
        self.events: list[tuple] = []

    def on_request_head(self, head):
        self.events.append(("head", head))

    def on_request_body(self, data):
        self.events.append(("body", bytes(data)))

    def on_request_end(self, trailers, last):
        if last:  # a Content-Length body's last bytes, which come with the end
            self.events.append(("body", bytes(last)))
        self.events.append(("end", trailers))

    on_response_head = on_request_head
    on_response_body = on_request_body

    on_response_end = on_request_end

    def on_upgrade_data(self, data):
        self.events.append(("raw", bytes(data)))

    def heads(self):
        return [e[1] for e in self.events if e[0] == "head"]

    def body(self):
        return b"".join(e[1] for e in self.events if e[0] == "body")


def decode(data: bytes, max_head: int = 60 * 1024) -> Sink:
    sink = Sink()
    RequestDecoder(sink, max_head).feed(data)
    return sink


SMUGGLING = {
    "cl_and_te": b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "duplicate_cl_differing": b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
    "invalid_chunk_size": b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
    "chunk_size_overflow": b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFF1\r\nabc\r\n",
    "chunk_missing_crlf": b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXX0\r\n\r\n",
    "obs_fold": b"GET / HTTP/1.1\r\nHost: a\r\nX-A: a\r\n b\r\n\r\n",
    "bare_lf": b"GET / HTTP/1.1\nHost: a\n\n",
    "bare_cr": b"GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n",
    "nul_in_header": b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n",
    "missing_host": b"GET / HTTP/1.1\r\nX: b\r\n\r\n",
    "duplicate_host": b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    "space_before_colon": b"GET / HTTP/1.1\r\nHost : a\r\n\r\n",
    "negative_cl": b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n",
}


@pytest.mark.parametrize("name", sorted(SMUGGLING))
def test_smuggling_shapes_are_rejected_with_400(name):
    sink = Sink()
    with pytest.raises(ProtocolError) as info:
        RequestDecoder(sink).feed(SMUGGLING[name])
    assert info.value.status == 400
    # only well-framed bytes before the violation may have been decoded, never what follows it
    assert sink.body() in (b"", b"abc")
    assert not any(e[0] == "end" for e in sink.events)


def test_unsupported_transfer_coding_is_501():
    with pytest.raises(ProtocolError) as info:
        decode(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n")
    assert info.value.status == 501


def test_header_section_over_limit_is_431():
    big = b"GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + b"a" * 2000 + b"\r\n\r\n"
    with pytest.raises(ProtocolError) as info:
        decode(big, max_head=1024)
    assert info.value.status == 431
    assert decode(big, max_head=4096).heads()[0].headers[1][0] == b"X-Big"


def test_header_limit_counts_across_feeds():
    sink = Sink()
    dec = RequestDecoder(sink, 1024)
    dec.feed(b"GET / HTTP/1.1\r\nHost: a\r\n")
    with pytest.raises(ProtocolError) as info:
        for _ in range(40):
            dec.feed(b"X-Many: " + b"b" * 40 + b"\r\n")
    assert info.value.status == 431


def test_pipelined_requests_in_one_feed():
    sink = decode(b"GET /a HTTP/1.1\r\nHost: a\r\n\r\nPOST /b HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhiGET /c HTTP/1.0\r\n\r\n")
    heads = sink.heads()
    assert [h.target for h in heads] == [b"/a", b"/b", b"/c"]
    assert heads[1].body_kind == BODY_LENGTH and heads[1].content_length == 2
    assert heads[2].version == b"1.0" and heads[2].keep_alive is False
    assert sink.body() == b"hi"


def test_chunked_body_and_trailers():
    sink = decode(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\nX-T: 1\r\n\r\n")
    assert sink.heads()[0].body_kind == BODY_CHUNKED
    assert sink.body() == b"abcde"
    assert sink.events[-1] == ("end", [(b"X-T", b"1")])


def test_expect_continue_and_upgrade_flags():
    head = decode(b"POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx").heads()[0]
    assert head.expect_continue
    sink = decode(b"GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nRAW")
    assert sink.heads()[0].upgrade
    assert sink.events[-1] == ("raw", b"RAW")


def test_connect_is_refused():
    with pytest.raises(ProtocolError) as info:
        decode(b"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n")
    assert info.value.status == 405


def test_response_framings():
    sink = Sink()
    dec = ResponseDecoder(sink)
    dec.expect(True)
    dec.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n")
    assert sink.heads()[0].body_kind == BODY_NONE and sink.events[-1] == ("end", None)
    dec.expect(False)
    dec.feed(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n")
    assert [h.status for h in sink.heads()] == [200, 204]
    dec.feed(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nT: v\r\n\r\n")
    assert sink.heads()[-1].body_kind == BODY_CHUNKED and sink.events[-1] == ("end", [(b"T", b"v")])
    dec.feed(b"HTTP/1.1 200 OK\r\n\r\nuntil")
    assert sink.heads()[-1].body_kind == BODY_UNTIL_CLOSE and not sink.heads()[-1].keep_alive
    dec.feed_eof()
    assert sink.events[-1] == ("end", None)


def test_a_content_length_bodys_last_bytes_come_with_the_end():
    """One call for the last bytes and the end, however the body is split across reads."""
    calls = []

    class Recorder:
        def on_response_head(self, head):
            calls.append("head")

        def on_response_body(self, data):
            calls.append(("body", bytes(data)))

        def on_response_end(self, trailers, last):
            calls.append(("end", trailers, bytes(last)))

    dec = ResponseDecoder(Recorder())
    dec.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
    dec.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nab")
    dec.feed(b"cd")
    dec.feed(b"ef")
    dec.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    dec.feed(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n")
    assert calls == ["head", ("end", None, b"hello"),
                     "head", ("body", b"ab"), ("body", b"cd"), ("end", None, b"ef"),
                     "head", ("end", None, b""),
                     "head", ("body", b"abc"), ("end", None, b"")]


def test_a_content_length_request_bodys_last_bytes_come_with_the_end():
    calls = []

    class Recorder:
        def on_request_head(self, head):
            calls.append("head")

        def on_request_body(self, data):
            calls.append(("body", bytes(data)))

        def on_request_end(self, trailers, last):
            calls.append(("end", trailers, bytes(last)))

    dec = RequestDecoder(Recorder())
    dec.feed(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhel")
    dec.feed(b"lo")
    dec.feed(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n")
    assert calls == ["head", ("body", b"hel"), ("end", None, b"lo"), "head", ("body", b"ab"), ("end", None, b"")]


def test_response_truncated_is_an_error_at_eof():
    sink = Sink()
    dec = ResponseDecoder(sink)
    dec.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
    with pytest.raises(ProtocolError):
        dec.feed_eof()


# --- properties ---------------------------------------------------------------------------

token = st.text(alphabet="abcdefghijklmnopqrstuvwxyz-", min_size=1, max_size=12).filter(lambda s: s.strip("-"))
value = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789 ;=/.", max_size=30).map(str.strip)
header_lists = st.lists(st.tuples(token, value), max_size=8).map(
    lambda hs: [(f"x-{n}".encode(), v.encode()) for n, v in hs]
)


@settings(max_examples=200, deadline=None)
@given(
    path=st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789/_-.", max_size=40).map(lambda p: "/" + p),
    headers=header_lists,
    chunks=st.lists(st.binary(min_size=1, max_size=200), max_size=5),
    chunked=st.booleans(),
    split=st.integers(min_value=1, max_value=64),
)
def test_encode_then_decode_round_trips_any_request(path, headers, chunks, chunked, split):
    body = b"".join(chunks)
    hs = [(b"Host", b"example")] + headers
    if chunked:
        hs.append((b"Transfer-Encoding", b"chunked"))
        wire = encode_request_head(b"POST", path.encode(), hs) + b"".join(encode_chunk(c) for c in chunks) + encode_last_chunk(None)
    else:
        hs.append((b"Content-Length", b"%d" % len(body)))
        wire = encode_request_head(b"POST", path.encode(), hs) + body
    sink = Sink()
    dec = RequestDecoder(sink)
    for i in range(0, len(wire), split):  # any split of the bytes gives the same result
        dec.feed(wire[i : i + split])
    head = sink.heads()[0]
    assert head.target == path.encode()
    assert head.headers == hs
    assert sink.body() == body
    assert sink.events[-1][0] == "end"
    # and h11, a reference implementation, reads our bytes the same way
    conn = h11.Connection(h11.SERVER)
    conn.receive_data(wire)
    request = conn.next_event()
    assert request.target == path.encode()
    data = b""
    while True:
        event = conn.next_event()
        if isinstance(event, h11.Data):
            data += event.data
        else:
            break
    assert data == body


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_escape_as_other_exceptions(data):
    try:
        decode(b"GET / HTTP/1.1\r\nHost: a\r\n" + data)
    except ProtocolError as error:
        assert 400 <= error.status < 600
    sink = Sink()
    try:
        ResponseDecoder(sink).feed(data)
    except ProtocolError:
        pass


@settings(max_examples=100, deadline=None)
@given(status=st.integers(min_value=200, max_value=599), headers=header_lists, body=st.binary(max_size=300))
def test_response_round_trip(status, headers, body):
    if status in (204, 304):
        body = b""  # these responses never carry a body: extra bytes would be the next response
    hs = headers + [(b"content-length", b"%d" % len(body))]
    sink = Sink()
    dec = ResponseDecoder(sink)
    dec.feed(encode_response_head(status, hs) + body)
    head = sink.heads()[0]
    assert head.status == status
    assert head.headers == hs
    assert sink.body() == body


def test_absolute_form_target_becomes_origin_form_with_its_authority_as_host():
    head = decode(b"GET http://Example.com:8080/a/b?q=1 HTTP/1.1\r\nHost: ignored\r\nX: y\r\n\r\n").heads()[0]
    assert head.target == b"/a/b?q=1"
    assert head.host == b"Example.com:8080"
    assert head.headers == [(b"Host", b"Example.com:8080"), (b"X", b"y")]
    assert head.lower_names == [b"host", b"x"]
    head = decode(b"GET https://h HTTP/1.1\r\n\r\n").heads()[0]
    assert head.target == b"/" and head.host == b"h"


def test_a_field_line_from_the_memo_is_what_its_parse_gives():
    """Field lines are parsed once and then served from a bounded memo (grammar.py): a line
    seen before decodes the same, a malformed one is refused every time, never remembered."""
    wire = b"GET / HTTP/1.1\r\nHost: a\r\nX-Memo:  v \t\r\nAccept: */*\r\n\r\n"
    first, again = decode(wire).heads()[0], decode(wire).heads()[0]
    assert first.headers == again.headers == [(b"Host", b"a"), (b"X-Memo", b"v"), (b"Accept", b"*/*")]
    assert again.lower_names == [b"host", b"x-memo", b"accept"]
    for _ in range(2):
        with pytest.raises(ProtocolError):
            decode(b"GET / HTTP/1.1\r\nHost: a\r\nX-Memo : v\r\n\r\n")


def test_the_field_line_memo_stays_bounded():
    from pymosn.protocol.http1 import grammar

    for i in range(grammar._MAX_FIELD_LINES + 10):
        decode(b"GET / HTTP/1.1\r\nHost: a\r\nX-Unique: %d\r\n\r\n" % i)
    assert 0 < len(grammar._FIELD_LINES) <= grammar._MAX_FIELD_LINES
    long_line = b"X-Long: " + b"v" * grammar._MAX_MEMO_LINE
    head = decode(b"GET / HTTP/1.1\r\nHost: a\r\n" + long_line + b"\r\n\r\n").heads()[0]
    assert head.headers[1] == (b"X-Long", b"v" * grammar._MAX_MEMO_LINE)
    assert long_line not in grammar._FIELD_LINES  # long lines are not kept: memory stays bounded


def test_a_dribbled_head_is_refused_as_soon_as_it_breaks():
    """Heads that come a byte per read are looked at when a line ends and each time the held
    bytes double: garbage is refused within twice its length, not at the size limit."""
    for garbage in (b"GEX / HTTP/1.1\r\n", b"GET / HTTP/1.1\nHost: a\n", b"GET / HTTP/1.1\r\nHost: a\x01b"):
        decoder = RequestDecoder(Sink())
        with pytest.raises(ProtocolError) as info:
            for i in range(len(garbage)):
                decoder.feed(garbage[i : i + 1])
            decoder.feed(b"x" * len(garbage))  # the held bytes double: looked at again
        assert info.value.status == 400
    decoder = RequestDecoder(Sink())
    for byte in b"GET / HTTP/1.1\r\nHost: a\r\nX: " + b"v" * 3000:
        decoder.feed(bytes([byte]))
    decoder.feed(b"\r\n\r\n")


def test_an_empty_line_between_requests_may_be_split_across_reads():
    sink = Sink()
    decoder = RequestDecoder(sink)
    for part in (b"GET /a HTTP/1.1\r\nHost: a\r\n\r\n", b"\r", b"\nGET /b HTTP/1.1\r\nHost: a\r\n\r\n"):
        decoder.feed(part)
    assert [h.target for h in sink.heads()] == [b"/a", b"/b"] and not decoder.in_message
