"""pymosn's HTTP/1.1 decoders against llhttp, the parser they replaced, on generated messages.

The messages are built from well-formed and broken pieces (methods, spacing, targets, versions,
line ends, field names, separators and values with control bytes and obs-text, every framing
and its malformed forms). Two properties: whatever pymosn accepts llhttp accepts and reads the
same way (pymosn is never more lenient); whatever llhttp accepts pymosn accepts, except the
shapes pymosn refuses on purpose, named in STRICTER. A third: however the bytes are split
across reads, pymosn decodes them the same."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pymosn.api.errors import ProtocolError
from pymosn.protocol.http1 import RequestDecoder, ResponseDecoder
from tests.support import llhttp_oracle
from tests.support.llhttp_oracle import Message

# Shapes llhttp takes and pymosn refuses, each against RFC 9112:
STRICTER = {
    "two spaces": "the request line is method SP target SP version (3.)",
    "version": "only HTTP/1.0 and HTTP/1.1 are HTTP/1 versions a proxy forwards (2.3)",
    "reason control": "a reason phrase has no control bytes but HTAB (4.)",
    "status range": "status codes are 100-599 (RFC 9110 15.)",
}

_VALUE_BYTES = [b"a", b"Z", b"0", b" ", b"\t", b";", b"=", b",", b"\x80", b"\xff", b'"']
_BAD_VALUE_BYTES = [b"\x00", b"\x01", b"\x7f", b"\r", b"\n"]
_TARGET_BYTES = [b"a", b"/", b"?", b"=", b"&", b"%", b"~", b'"', b"<", b"#"]
_BAD_TARGET_BYTES = [b"\x7f", b"\x80", b"\t"]


def _often(*good: bytes) -> list[bytes]:
    """Each of `good` eight times as likely as any other choice it is listed with."""
    return list(good) * 8


def _value(draw, alphabet=_VALUE_BYTES, bad=_BAD_VALUE_BYTES) -> bytes:
    if draw(st.integers(0, 7)) == 0:  # one in eight has a byte of the wrong kind
        alphabet = alphabet + bad
    return b"".join(draw(st.lists(st.sampled_from(alphabet), max_size=8)))


@st.composite
def requests(draw) -> tuple[bytes, set[str]]:
    """Request bytes and which of STRICTER's shapes they have."""
    shapes: set[str] = set()
    method = draw(st.sampled_from(_often(b"GET", b"POST", b"PUT", b"M-SEARCH", b"OPTIONS") + [b"get", b"FOO", b"GE T"]))
    spaces = [draw(st.sampled_from([b" "] * 30 + [b"  ", b"\t"])) for _ in range(2)]
    if b"  " in spaces:
        shapes.add("two spaces")
    target = b"/" + _value(draw, _TARGET_BYTES, _BAD_TARGET_BYTES)
    version = draw(st.sampled_from(_often(b"HTTP/1.1", b"HTTP/1.0") + [b"HTTP/1.2", b"HTTP/2.0", b"http/1.1", b"HTTP/1.10"]))
    if version in (b"HTTP/2.0", b"HTTP/0.9"):
        shapes.add("version")
    eol = st.sampled_from([b"\r\n"] * 60 + [b"\n", b"\r"])
    lines = [method + spaces[0] + target + spaces[1] + version, b"Host: h"]
    for _ in range(draw(st.integers(0, 4))):
        name = draw(st.sampled_from(_often(b"x-a", b"X-B", b"x_c", b"x.d", b"x!#$%&'*+^`|~") + [b"", b"x y", b"x(", b"x\x80", b" x-fold"]))
        separator = draw(st.sampled_from(_often(b": ", b":", b":\t", b":  ") + [b" :", b"\t:"]))
        lines.append(name + separator + _value(draw))
    framing = draw(st.sampled_from(["none", "length", "chunked"] * 4 + ["both", "two lengths", "bad length", "bad chunks"]))
    body = draw(st.binary(max_size=20))
    if framing in ("length", "both", "two lengths"):
        lines.append(b"Content-Length: %d" % len(body))
    if framing == "two lengths":
        lines.append(b"Content-Length: %d" % len(body))
    if framing == "bad length":
        lines.append(b"Content-Length: " + draw(st.sampled_from([b"+1", b"1,1", b"0x1", b"", b"1 1", b"-1"])))
    if framing in ("chunked", "both", "bad chunks"):
        lines.append(b"Transfer-Encoding: chunked")
    head = b"".join(line + draw(eol) for line in lines) + b"\r\n"
    if framing in ("chunked", "both"):
        payload = (b"%x\r\n" % len(body) + body + b"\r\n" if body else b"") + b"0\r\n\r\n"
    elif framing == "bad chunks":
        payload = draw(st.sampled_from([b"z\r\n", b"1 \r\na\r\n", b"1\r\nab", b"1\na\r\n", b"-1\r\n", b"1;x\r\na\r\n0\r\n\r\n"]))
    elif framing in ("length", "two lengths"):
        payload = body
    else:
        payload = b""
    return head + payload, shapes


@st.composite
def responses(draw) -> tuple[bytes, set[str]]:
    shapes: set[str] = set()
    version = draw(st.sampled_from(_often(b"HTTP/1.1", b"HTTP/1.0") + [b"HTTP/2", b"HTTP/1.2"]))
    status = draw(st.sampled_from(_often(b"200", b"204", b"404", b"503") + [b"099", b"999", b"20", b"2000"]))
    if status in (b"099", b"999"):
        shapes.add("status range")
    reason = draw(st.sampled_from(_often(b" OK", b"", b" ", b" Not Found", b" O\x80K", b" O\tK") + [b" O\x01K"]))
    if b"\x01" in reason:
        shapes.add("reason control")
    lines = [version + b" " + status + reason]
    for _ in range(draw(st.integers(0, 3))):
        name = draw(st.sampled_from(_often(b"x-a", b"Server") + [b"x y", b"", b" fold"]))
        lines.append(name + draw(st.sampled_from(_often(b": ", b":") + [b" :"])) + _value(draw))
    body = draw(st.binary(max_size=20))
    framing = draw(st.sampled_from(["length", "chunked"] * 4 + ["both", "two lengths"]))
    if framing in ("length", "both", "two lengths"):
        lines.append(b"Content-Length: %d" % len(body))
    if framing == "two lengths":
        lines.append(b"Content-Length: %d" % len(body))
    if framing in ("chunked", "both"):
        lines.append(b"Transfer-Encoding: chunked")
    eol = st.sampled_from([b"\r\n"] * 40 + [b"\n"])
    head = b"".join(line + draw(eol) for line in lines) + b"\r\n"
    if status == b"204":
        body = b""
    if framing in ("chunked", "both"):
        payload = (b"%x\r\n" % len(body) + body + b"\r\n" if body else b"") + b"0\r\n\r\n"
    else:
        payload = body
    return head + payload, shapes


class _Recorder:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    def _head(self, head) -> None:
        message = Message(headers=list(head.headers), version=head.version.decode(), complete=False)
        if hasattr(head, "method"):
            message.method, message.target = head.method, head.target
        else:
            message.status = head.status
        self.messages.append(message)

    def _body(self, data) -> None:
        self.messages[-1].body += bytes(data)

    def _end(self, trailers, last) -> None:
        self.messages[-1].body += bytes(last)
        self.messages[-1].trailers = list(trailers or [])
        self.messages[-1].complete = True

    on_request_head = on_response_head = _head
    on_request_body = on_response_body = _body
    on_request_end = on_response_end = _end

    def on_upgrade_data(self, data) -> None:
        raise AssertionError("no upgrades are generated")


def _pymosn(decoder_type, data: bytes, split: int = 0) -> list[Message] | None:
    recorder = _Recorder()
    decoder = decoder_type(recorder)
    try:
        for i in range(0, len(data), split or len(data) or 1):
            decoder.feed(data[i : i + (split or len(data))])
    except ProtocolError:
        return None
    return recorder.messages


def _without_partial(messages: list[Message] | None) -> list[Message] | None:
    """llhttp reports a message from its first byte; pymosn once its head is whole."""
    if messages is None:
        return None
    return [m for m in messages if m.complete or m.headers or m.status]


def _check(decoder_type, oracle, data: bytes, shapes: set[str]) -> None:
    ours = _pymosn(decoder_type, data)
    theirs = oracle(data)
    if ours is not None:
        assert theirs is not None, f"pymosn accepted what llhttp refuses: {data!r}"
        assert [m for m in ours] == _without_partial(theirs)[: len(ours)], data
    elif theirs is not None and not shapes:
        raise AssertionError(f"pymosn refused what llhttp accepts: {data!r} -> {theirs}")


@settings(max_examples=1500, deadline=None)
@given(requests())
def test_requests_are_read_as_llhttp_reads_them(case):
    data, shapes = case
    _check(RequestDecoder, llhttp_oracle.parse_requests, data, shapes)


@settings(max_examples=600, deadline=None)
@given(responses())
def test_responses_are_read_as_llhttp_reads_them(case):
    data, shapes = case
    _check(ResponseDecoder, llhttp_oracle.parse_responses, data, shapes)


@settings(max_examples=400, deadline=None)
@given(requests(), st.integers(1, 16))
def test_any_split_of_the_bytes_decodes_the_same(case, split):
    data = case[0] * 2  # two messages back to back, when the first is whole
    assert _pymosn(RequestDecoder, data, split) == _pymosn(RequestDecoder, data)


@settings(max_examples=300, deadline=None)
@given(responses(), st.integers(1, 16))
def test_any_split_of_a_response_decodes_the_same(case, split):
    data = case[0] * 2
    assert _pymosn(ResponseDecoder, data, split) == _pymosn(ResponseDecoder, data)


def test_the_stricter_shapes_are_refused_and_llhttp_takes_them():
    for data in (b"GET  / HTTP/1.1\r\nHost: h\r\n\r\n", b"GET / HTTP/2.0\r\nHost: h\r\n\r\n",
                 b"GET /\r\nHost: h\r\n\r\n"):
        assert llhttp_oracle.parse_requests(data) is not None
        assert _pymosn(RequestDecoder, data) is None
    for data in (b"HTTP/1.1 200 O\x01K\r\nContent-Length: 0\r\n\r\n", b"HTTP/1.1 099 X\r\nContent-Length: 0\r\n\r\n"):
        assert llhttp_oracle.parse_responses(data) is not None
        assert _pymosn(ResponseDecoder, data) is None
