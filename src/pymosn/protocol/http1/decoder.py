"""Strict HTTP/1.1 decoders for requests (server side) and responses (client side).

A head is taken in one pass once its blank line has arrived: one regular-expression check of
the whole head against RFC 9112's grammar (grammar.py), one split into lines, one partition
per field. Framing follows the head's fields; what request smuggling needs is refused: CL and
TE together, a repeated or malformed Content-Length, transfer codings other than one plain
`chunked`, bad chunk sizes and terminators, obs-fold, a bare CR or LF, control bytes, a
missing or repeated Host, and header sections over the configured size. Every refusal is a
ProtocolError carrying the status to answer and Envoy's %RESPONSE_CODE_DETAILS% name.

Why not llhttp (through httptools): it calls back into Python once per header field, method,
URL, body piece and message edge, and asks again for the method, version and keep-alive;
those crossings were the largest part of the codec's cost in the compiled build, where this
module is C too. Binding llhttp or picohttpparser ourselves would put their C into the repo.

A request with more header fields (or trailers) than `max_headers` is not an error here: it is
delivered with one field past the limit (the head marked `too_many_headers`), so the proxy
answers and accounts it as a request, and is the connection's last (nothing after it is read)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from pymosn.api.errors import ProtocolError
from pymosn.protocol.http1.diagnosis import diagnose_head, diagnose_partial
from pymosn.protocol.http1.grammar import (
    CODEC_ERROR,
    CONTENT_LENGTH_AND_CHUNKED,
    HEADERS_TOO_LARGE,
    INCOMPLETE,
    INVALID_TRANSFER_ENCODING,
    INVALID_URL,
    LOW_VERSION,
    LOWER_TABLE,
    MALFORMED,
    MAX_CHUNK_LINE,
    METHODS,
    MISSING_HOST,
    TARGET_TABLE,
    TOO_MANY_HEADERS,
    Fields,
    chunk_line_may_continue,
    chunk_size_of,
    content_length_of,
    scan_fields,
    split_field_lines,
    status_of,
    tokens_of,
)
from pymosn.protocol.http1.head import (
    BODY_CHUNKED,
    BODY_LENGTH,
    BODY_NONE,
    BODY_UNTIL_CLOSE,
    RequestHead,
    ResponseHead,
)

__all__ = ["DEFAULT_MAX_HEADERS", "MOSN_HTTP10", "TOO_MANY_HEADERS", "Http10Policy", "RequestDecoder", "ResponseDecoder"]

DEFAULT_MAX_HEADERS = 100  # Envoy's max_headers_count

# where the decoder is in the byte stream
_HEAD: Final = 0  # before or inside a message head
_LENGTH: Final = 1  # inside a Content-Length body
_CHUNK_SIZE: Final = 2  # before a chunk-size line
_CHUNK_DATA: Final = 3  # inside a chunk's data
_CHUNK_END: Final = 4  # before the CRLF that ends a chunk's data
_TRAILERS: Final = 5  # after the last chunk: the trailer section or the blank line
_UNTIL_CLOSE: Final = 6  # a response body that the connection's close ends
_TUNNEL: Final = 7  # after an upgrade: every byte is the new protocol's
_STOPPED: Final = 8  # after a request over the field limit: nothing more is decoded


@dataclass(frozen=True, slots=True)
class Http10Policy:
    """How a request older than HTTP/1.1 (RFC 9112 requires Host only from 1.1) is taken.

    The default is MOSN's and nginx's: accepted, and one without Host has an empty authority,
    which the default virtual host (`*`) serves. Envoy's Http1ProtocolOptions: refused with 426
    unless `accept` (accept_http_10); one without Host gets `default_host`
    (default_host_for_http_10), or without one is refused as an HTTP/1.1 request would be."""

    accept: bool = True
    default_host: bytes = b""
    require_host: bool = False


MOSN_HTTP10 = Http10Policy()


class _MessageDecoder:
    """The byte-stream side both decoders share: heads found and checked, bodies framed by
    length or chunks, trailers, and bytes held between feeds only while a line is unfinished.

    A feed that holds whole messages (the usual case) is parsed where it lies, without a copy
    into a buffer; the sink is called with slices of it."""

    __slots__ = (
        "_sink",
        "_max_head_bytes",
        "_max_headers",
        "_state",
        "_remaining",
        "_pending",
        "_checked",
        "_first_line_checked",
        "_deliver_head",
        "_deliver_body",
        "_deliver_end",
        "_request",
        "upgraded",
        "in_message",
    )

    # the error's reason, status and %RESPONSE_CODE_DETAILS% ("" for the error's own)
    _TOO_LARGE: tuple[str, int, str] = ("header section too large", 431, "")
    # the sink's methods, bound once: a bound-method call costs less than a method lookup
    _deliver_head: Callable[[Any], None]
    _deliver_body: Callable[[bytes], None]
    _deliver_end: Callable[[Fields | None, bytes], None]

    def __init__(self, sink: Any, max_head_bytes: int, max_headers: int, request: bool) -> None:
        self._sink = sink
        self._max_head_bytes = max_head_bytes
        self._max_headers = max_headers
        self._request = request  # which grammar and which status an error answers with
        self._state = _HEAD
        self._remaining = 0  # bytes still to come of a Content-Length body or of a chunk
        self._pending = bytearray()  # an unfinished line and what came before it, if any
        self._checked = 0  # how much of _pending the partial-head diagnosis has looked at
        self._first_line_checked = False
        self.upgraded = False
        self.in_message = False  # a message has begun and not ended: bytes of it are held

    # --- bytes in ----------------------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        # one method, not two: a call more per read costs the interpreted build more than the
        # rest of a small message's framing
        pending = self._pending
        if pending:
            state = self._state
            scan_from = len(pending) - 3
            pending += data
            if (state == _HEAD or state == _TRAILERS) and not pending.startswith(b"\r\n"):
                if pending.find(b"\r\n\r\n", scan_from if scan_from > 0 else 0) < 0:
                    self._check_unfinished(pending)
                    return
            data = bytes(pending)
            pending.clear()
        buf = data
        pos = 0
        end = len(buf)
        while pos < end:
            state = self._state
            if state == _HEAD:
                pos = self._take_head(buf, pos)
            elif state == _LENGTH:
                remaining = self._remaining
                if end - pos < remaining:
                    self._remaining = remaining - (end - pos)
                    self._deliver_body(buf[pos:] if pos else buf)
                    return
                last = buf[pos : pos + remaining] if pos or remaining != end else buf
                pos += remaining
                self._end_message(None, last)
            elif state == _CHUNK_SIZE:
                pos = self._take_chunk_line(buf, pos)
            elif state == _CHUNK_DATA:
                remaining = self._remaining
                if end - pos <= remaining:
                    self._remaining = remaining - (end - pos)
                    if self._remaining == 0:
                        self._state = _CHUNK_END
                    self._deliver_body(buf[pos:] if pos else buf)
                    return
                self._state = _CHUNK_END
                self._deliver_body(buf[pos : pos + remaining])
                pos += remaining
            elif state == _CHUNK_END:
                if end - pos < 2:
                    if buf[pos] != 13:
                        raise self._framing_error("chunk data not followed by CRLF")
                    pos = self._hold(buf, pos)
                elif buf[pos] != 13 or buf[pos + 1] != 10:
                    raise self._framing_error("chunk data not followed by CRLF")
                else:
                    pos += 2
                    self._state = _CHUNK_SIZE
            elif state == _TRAILERS:
                pos = self._take_trailers(buf, pos)
            elif state == _UNTIL_CLOSE:
                self._deliver_body(buf[pos:] if pos else buf)
                return
            elif state == _TUNNEL:
                self._sink.on_upgrade_data(buf[pos:] if pos else buf)
                return
            else:  # _STOPPED
                return

    def _hold(self, buf: bytes, pos: int) -> int:
        """Keeps buf[pos:] for the next feed; returns the end of buf (nothing more to parse)."""
        self._pending += buf[pos:] if pos else buf
        return len(buf)

    def _take_head(self, buf: bytes, pos: int) -> int:
        while buf.startswith(b"\r\n", pos):  # RFC 9112 2.2: empty lines before a message
            pos += 2
        end = len(buf)
        if pos >= end:
            return end
        self.in_message = end - pos > 1 or buf[pos] != 13  # more than half an empty line
        blank = buf.find(b"\r\n\r\n", pos) if pos else buf.find(b"\r\n\r\n")
        if blank < 0 or blank + 4 - pos > self._max_head_bytes:
            if blank >= 0 or end - pos > self._max_head_bytes:
                raise ProtocolError(*self._TOO_LARGE)
            self._checked = 0
            self._first_line_checked = False
            self._hold(buf, pos)
            self._check_unfinished(self._pending)
            return end
        block = buf[pos:blank]
        lines = block.split(b"\r\n")
        headers: Fields = []
        lower_names: list[bytes] = []
        if not split_field_lines(lines, 1, self._max_headers, headers, lower_names):
            raise diagnose_head(block, self._request)
        self._head_taken(lines[0], headers, lower_names)
        return blank + 4

    def _check_unfinished(self, pending: bytearray) -> None:
        """A head (or trailer section) whose blank line has not come: refused now if it is
        already too large or already broken, else kept for the next feed."""
        if len(pending) > self._max_head_bytes:
            raise ProtocolError(*self._TOO_LARGE)
        checked = self._checked
        if self._state == _TRAILERS:
            error = diagnose_partial(pending, checked, True, self._request)
        else:
            error = diagnose_partial(pending, checked, self._first_line_checked, self._request)
        if error is not None:
            raise error
        last_line = pending.rfind(b"\r\n", checked)
        if last_line >= 0:
            self._checked = last_line + 2
            self._first_line_checked = True

    def _take_chunk_line(self, buf: bytes, pos: int) -> int:
        line_end = buf.find(b"\r\n", pos)
        if line_end < 0:
            if len(buf) - pos > MAX_CHUNK_LINE:
                raise self._framing_error("chunk-size line too long")
            if not chunk_line_may_continue(buf, pos):
                raise self._framing_error("invalid chunk size")
            return self._hold(buf, pos)
        size = chunk_size_of(buf, pos, line_end)
        if size < 0:
            raise self._framing_error("invalid chunk size")
        if size == 0:
            self._state = _TRAILERS
        else:
            self._state = _CHUNK_DATA
            self._remaining = size
        return line_end + 2

    def _take_trailers(self, buf: bytes, pos: int) -> int:
        end = len(buf)
        limit = pos + self._max_head_bytes
        trailers: Fields = []
        lower_names: list[bytes] = []
        after = scan_fields(buf, pos, end if end < limit else limit, self._max_headers, trailers, lower_names)
        if after == INCOMPLETE:
            if end > limit:
                raise ProtocolError(*self._TOO_LARGE)
            self._checked = 0
            self._hold(buf, pos)
            self._check_unfinished(self._pending)
            return end
        if after == MALFORMED:
            error = diagnose_partial(buf, pos, True, self._request)
            raise error if error is not None else self._framing_error("malformed trailer section")
        self._end_message(trailers if trailers else None, b"")
        return after

    def _framing_error(self, what: str) -> ProtocolError:
        return ProtocolError(f"malformed HTTP/1.1: {what}", 400 if self._request else 502, CODEC_ERROR)

    def _frame_body(self, kind: int, length: int) -> None:
        """After a head: where its body's bytes go. A body of none ends the message now."""
        if kind == BODY_LENGTH and length > 0:
            self._state = _LENGTH
            self._remaining = length
        elif kind == BODY_CHUNKED:
            self._state = _CHUNK_SIZE
        elif kind == BODY_UNTIL_CLOSE:
            self._state = _UNTIL_CLOSE
        else:
            self._end_message(None, b"")

    # --- what each decoder does with a message -------------------------------------------------

    def _head_taken(self, start_line: bytes, headers: Fields, lower_names: list[bytes]) -> None:
        raise NotImplementedError

    def _end_message(self, trailers: Fields | None, last: bytes) -> None:
        raise NotImplementedError


def _content_length(value: bytes, status: int) -> int:
    length = content_length_of(value)
    if length < 0:
        what = "empty Content-Length" if not value else "invalid Content-Length"
        raise ProtocolError(f"malformed HTTP/1.1: {what}", status, CODEC_ERROR)
    return length


class RequestDecoder(_MessageDecoder):
    """Takes bytes from a client and calls the sink:

    sink.on_request_head(head), sink.on_request_body(data), sink.on_request_end(trailers or None,
    last), and after an upgrade request's head, sink.on_upgrade_data(data) for every later byte.
    A Content-Length body's last bytes come with the end (`last`), in one call."""

    __slots__ = ("_http10",)

    _TOO_LARGE = ("request header section too large", 431, HEADERS_TOO_LARGE)

    def __init__(
        self,
        sink: Any,
        max_head_bytes: int = 60 * 1024,
        max_headers: int = DEFAULT_MAX_HEADERS,
        http10: Http10Policy = MOSN_HTTP10,
    ) -> None:
        super().__init__(sink, max_head_bytes, max_headers, True)
        self._http10 = http10
        self._deliver_head = sink.on_request_head
        self._deliver_body = sink.on_request_body
        self._deliver_end = sink.on_request_end

    def _head_taken(self, start_line: bytes, headers: Fields, lower_names: list[bytes]) -> None:
        # method SP target SP version, as grammar.py's rules have it (written out here: a call
        # per request costs the interpreted build more than this)
        parts = start_line.split(b" ")
        if len(parts) != 3:
            raise diagnose_head(start_line, True)
        method, target, version = parts
        if (
            method not in METHODS
            or not target
            or (version != b"HTTP/1.1" and version != b"HTTP/1.0")
            or 0 in target.translate(TARGET_TABLE)
        ):
            raise diagnose_head(start_line, True)
        version = version[5:]
        head = RequestHead(method, target, version, headers, lower_names)
        if len(headers) > self._max_headers:
            head.too_many_headers = True
            head.keep_alive = False
            self._state = _STOPPED
            self.in_message = False
            self._deliver_head(head)
            return
        if version != b"1.1" and not self._http10.accept:
            raise ProtocolError("HTTP/1.0 requests are not accepted (accept_http_10 is off)", 426, LOW_VERSION)
        host_count = 0
        length = -1
        chunked = False
        connection: list[bytes] | None = None
        for lname, (_, value) in zip(lower_names, headers):
            if lname == b"host":
                host_count += 1
                head.host = value
            elif lname == b"content-length":
                if length >= 0:
                    raise ProtocolError("malformed HTTP/1.1: duplicate Content-Length", 400, CODEC_ERROR)
                length = _content_length(value, 400)
            elif lname == b"transfer-encoding":
                if chunked:
                    raise ProtocolError("malformed HTTP/1.1: repeated Transfer-Encoding", 400, CODEC_ERROR)
                if value.translate(LOWER_TABLE) != b"chunked":
                    _refuse_transfer_coding(value)
                chunked = True
            elif lname == b"connection":
                tokens = tokens_of(value)
                connection = tokens if connection is None else connection + tokens
            elif lname == b"expect":
                if value.translate(LOWER_TABLE) == b"100-continue":
                    head.expect_continue = True
                else:
                    raise ProtocolError("unsupported expectation", 417, CODEC_ERROR)
            elif lname == b"upgrade":
                head.upgrade = True
        if chunked:
            if length >= 0:
                raise ProtocolError(
                    "malformed HTTP/1.1: Content-Length with Transfer-Encoding", 400, CONTENT_LENGTH_AND_CHUNKED
                )
            head.body_kind = BODY_CHUNKED
        elif length >= 0:
            head.body_kind = BODY_LENGTH
            head.content_length = length
        if connection is None:
            head.keep_alive = version == b"1.1"
        elif version == b"1.1":
            head.keep_alive = b"close" not in connection
        else:
            head.keep_alive = b"keep-alive" in connection
        if host_count > 1:
            raise ProtocolError("multiple Host headers", 400, CODEC_ERROR)
        if method == b"CONNECT":
            raise ProtocolError("CONNECT is not supported", 405, CODEC_ERROR)
        if target[:1] != b"/" and target[:8].lower().startswith((b"http://", b"https://")):
            _to_origin_form(head)
        else:
            if target[:1] != b"/" and target != b"*":
                raise ProtocolError("malformed HTTP/1.1: invalid request target", 400, CODEC_ERROR)
            if host_count == 0:
                self._no_host(head, version)
        if head.upgrade and (connection is None or b"upgrade" not in connection):
            head.upgrade = False  # Upgrade without "Connection: upgrade" is only a header
        self._deliver_head(head)
        if head.upgrade:
            # what follows the head is the new protocol's, a body included (as llhttp did)
            self._state = _TUNNEL
            self.upgraded = True
            self.in_message = False
            self._deliver_end(None, b"")
        else:
            self._frame_body(head.body_kind, head.content_length)

    def _no_host(self, head: RequestHead, version: bytes) -> None:
        http10 = self._http10
        if version == b"1.1" or (http10.require_host and not http10.default_host):
            raise ProtocolError("missing Host header", 400, MISSING_HOST)
        if http10.default_host:
            head.host = http10.default_host
            head.headers.insert(0, (b"Host", http10.default_host))
            head.lower_names.insert(0, b"host")

    def _end_message(self, trailers: Fields | None, last: bytes) -> None:
        self.in_message = False
        if trailers is not None and len(trailers) > self._max_headers:
            self._state = _STOPPED  # delivered marked, and the connection's last
        else:
            self._state = _HEAD
        self._deliver_end(trailers, last)


def _refuse_transfer_coding(value: bytes) -> None:
    codings = tokens_of(value)
    if codings.count(b"chunked") > 1:
        raise ProtocolError("malformed HTTP/1.1: chunked applied twice", 400, CODEC_ERROR)
    raise ProtocolError("unsupported transfer-encoding", 501, INVALID_TRANSFER_ENCODING)


class ResponseDecoder(_MessageDecoder):
    """Client-side decoder. Before each response, call expect(head_request) so a response to
    HEAD is known to carry no body. Calls on the sink: on_response_head(head),
    on_response_body(data), on_response_end(trailers or None, last), on_upgrade_data(data).

    The last bytes of a Content-Length body come with on_response_end (`last`), not in a body
    call of their own: a small response (the usual one) then costs the proxy one call through
    every layer instead of two. Interim (1xx) responses other than 101 are consumed here."""

    __slots__ = ("_head_request", "_head")

    _TOO_LARGE = ("upstream response header section too large", 502, "")

    def __init__(self, sink: Any, max_head_bytes: int = 60 * 1024, max_headers: int = DEFAULT_MAX_HEADERS) -> None:
        super().__init__(sink, max_head_bytes, max_headers, False)
        self._head_request = False
        self._head: ResponseHead | None = None
        self._deliver_head = sink.on_response_head
        self._deliver_body = sink.on_response_body
        self._deliver_end = sink.on_response_end

    def expect(self, head_request: bool) -> None:
        self._head_request = head_request

    def feed_eof(self) -> None:
        """The upstream closed. Ends a close-delimited body; anything else in flight is an error."""
        if self._state == _UNTIL_CLOSE:
            self._state = _HEAD
            self.in_message = False
            self._deliver_end(None, b"")
        elif self.in_message:
            raise ProtocolError("upstream closed the connection mid-response", 502)

    def _head_taken(self, start_line: bytes, headers: Fields, lower_names: list[bytes]) -> None:
        status = status_of(start_line)
        if status < 0:
            raise diagnose_head(start_line, False)
        if status < 100 or status > 599:
            raise ProtocolError(f"malformed HTTP/1.1: status code {status} out of range", 502, CODEC_ERROR)
        version = start_line[5:8]
        reason = start_line[13:]
        max_headers = self._max_headers
        if len(headers) > max_headers:
            raise ProtocolError(f"upstream response has more than {max_headers} header fields", 502)
        head = ResponseHead(status, reason, version, headers, lower_names)
        length = -1
        chunked = False
        upgrade = False
        connection: list[bytes] | None = None
        for lname, (_, value) in zip(lower_names, headers):
            if lname == b"content-length":
                if length >= 0:
                    raise ProtocolError("malformed HTTP/1.1: duplicate Content-Length", 502, CODEC_ERROR)
                length = _content_length(value, 502)
            elif lname == b"transfer-encoding":
                if chunked or value.translate(LOWER_TABLE) != b"chunked":
                    raise ProtocolError("unsupported upstream transfer-encoding", 502)
                chunked = True
            elif lname == b"connection":
                tokens = tokens_of(value)
                connection = tokens if connection is None else connection + tokens
            elif lname == b"upgrade":
                upgrade = True
        if chunked and length >= 0:
            raise ProtocolError("malformed HTTP/1.1: Content-Length with Transfer-Encoding", 502, CODEC_ERROR)
        if connection is None:
            head.keep_alive = version == b"1.1"
        elif version == b"1.1":
            head.keep_alive = b"close" not in connection
        else:
            head.keep_alive = b"keep-alive" in connection
        self._head = head
        if status < 200:
            if status == 101:
                if not upgrade:
                    raise ProtocolError("malformed HTTP/1.1: 101 without Upgrade", 502, CODEC_ERROR)
                self._deliver_head(head)
                self._state = _TUNNEL
                self.upgraded = True
                self.in_message = False
                self._deliver_end(None, b"")
                return
            self.in_message = False  # an interim response, consumed here (the proxy answers 100-continue)
            return
        if self._head_request or status == 204 or status == 304:
            kind = BODY_NONE
        elif chunked:
            kind = BODY_CHUNKED
        elif length >= 0:
            kind = BODY_LENGTH
            head.content_length = length
        else:
            kind = BODY_UNTIL_CLOSE
            head.keep_alive = False
        head.body_kind = kind
        self._deliver_head(head)
        self._frame_body(kind, length)

    def _end_message(self, trailers: Fields | None, last: bytes) -> None:
        self._state = _HEAD
        self.in_message = False
        max_headers = self._max_headers
        if trailers is not None and len(trailers) > max_headers:
            raise ProtocolError(f"upstream response has more than {max_headers} trailer fields", 502)
        self._deliver_end(trailers, last)


def _to_origin_form(head: RequestHead) -> None:
    """RFC 9112 3.2.2: for an absolute-form target, the target's authority replaces the Host
    header, and the request is forwarded in origin-form."""
    scheme, rest = head.target.split(b"://", 1)
    head.scheme = scheme
    authority, slash, path = rest.partition(b"/")
    if not authority:
        raise ProtocolError("absolute-form target without an authority", 400, INVALID_URL)
    head.target = b"/" + path if slash else b"/"
    head.host = authority
    kept = [(n, ln) for n, ln in zip(head.headers, head.lower_names) if ln != b"host"]
    head.headers = [(b"Host", authority)] + [h for h, _ in kept]
    head.lower_names = [b"host"] + [ln for _, ln in kept]
