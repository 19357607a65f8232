"""Strict HTTP/1.1 decoders for requests (server side) and responses (client side).

A head is taken whole once its blank line has arrived, and handed to the sink in one call: one
search for its end, one split into lines, and RFC 9112's grammar checked per line (grammar.py,
which remembers the lines it has parsed). Framing follows the head's fields; what request smuggling needs is refused: CL and
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

from dataclasses import dataclass
from typing import Any

from pymosn.api.errors import ProtocolError
from pymosn.protocol.http1.diagnosis import diagnose_head
from pymosn.protocol.http1.framing import AT_HEAD, IN_TUNNEL, STOPPED, UNTIL_CLOSE, MessageDecoder
from pymosn.protocol.http1.grammar import (
    CODEC_ERROR,
    CONTENT_LENGTH_AND_CHUNKED,
    HEADERS_TOO_LARGE,
    INVALID_TRANSFER_ENCODING,
    INVALID_URL,
    LOW_VERSION,
    LOWER_TABLE,
    METHODS,
    MISSING_HOST,
    TARGET_TABLE,
    TOO_MANY_HEADERS,
    Fields,
    content_length_of,
    persistent,
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


def _content_length(value: bytes, status: int) -> int:
    length = content_length_of(value)
    if length < 0:
        what = "empty Content-Length" if not value else "invalid Content-Length"
        raise ProtocolError(f"malformed HTTP/1.1: {what}", status, CODEC_ERROR)
    return length


class RequestDecoder(MessageDecoder):
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
            self._state = STOPPED
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
        head.keep_alive = version == b"1.1" if connection is None else persistent(version, connection)
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
            self._state = IN_TUNNEL
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
            self._state = STOPPED  # delivered marked, and the connection's last
        else:
            self._state = AT_HEAD
        self._deliver_end(trailers, last)


def _refuse_transfer_coding(value: bytes) -> None:
    codings = tokens_of(value)
    if codings.count(b"chunked") > 1:
        raise ProtocolError("malformed HTTP/1.1: chunked applied twice", 400, CODEC_ERROR)
    raise ProtocolError("unsupported transfer-encoding", 501, INVALID_TRANSFER_ENCODING)


class ResponseDecoder(MessageDecoder):
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
        if self._state == UNTIL_CLOSE:
            self._state = AT_HEAD
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
        head.keep_alive = version == b"1.1" if connection is None else persistent(version, connection)
        self._head = head
        if status < 200:
            if status == 101:
                if not upgrade:
                    raise ProtocolError("malformed HTTP/1.1: 101 without Upgrade", 502, CODEC_ERROR)
                self._deliver_head(head)
                self._state = IN_TUNNEL
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
        self._state = AT_HEAD
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
