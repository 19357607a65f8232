"""Strict HTTP/1.1 decoders for requests (server side) and responses (client side).

llhttp (through httptools) already rejects most request-smuggling shapes in its strict mode:
CL+TE together, duplicate Content-Length, bad chunk sizes and terminators, obs-fold, bare CR or
LF, NUL and other control bytes in headers. What it accepts and a proxy must not is checked here:
a missing or repeated Host, transfer codings other than plain `chunked`, and header sections
over the configured size. Every rejection is a ProtocolError carrying the status to answer.

A request with more header fields (or trailers) than `max_headers` is not an error here: it is
delivered with one field past the limit (the head marked `too_many_headers`), so the proxy
answers and accounts it as a request, and is the connection's last (nothing after it is read).
The count costs one length compare per field."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import httptools

from pymosn.api.errors import ProtocolError
from pymosn.protocol.http1.head import (
    BODY_CHUNKED,
    BODY_LENGTH,
    BODY_NONE,
    BODY_UNTIL_CLOSE,
    RequestHead,
    ResponseHead,
)

DEFAULT_MAX_HEADERS = 100  # Envoy's max_headers_count

# Envoy's %RESPONSE_CODE_DETAILS% for a request this decoder refuses: its HTTP/1 codec's (and
# connection manager's) names where Envoy refuses the same; what only pymosn refuses (a repeated
# Host, an Expect other than 100-continue, CONNECT, llhttp's stricter framing) is codec_error.
CODEC_ERROR = "http1.codec_error"
HEADERS_TOO_LARGE = "http1.headers_too_large"
TOO_MANY_HEADERS = "http1.too_many_headers"
INVALID_CHARACTERS = "http1.invalid_characters"
INVALID_TRANSFER_ENCODING = "http1.invalid_transfer_encoding"
INVALID_URL = "http1.invalid_url"
MISSING_HOST = "missing_host_header"
LOW_VERSION = "low_version"
# llhttp's error text -> Envoy's details for the same refusal (its parser says the same once)
_LLHTTP_DETAILS = {
    "Invalid header value char": INVALID_CHARACTERS,
    "Transfer-Encoding can't be present with Content-Length": "http1.content_length_and_chunked_not_allowed",
    "Request has invalid `Transfer-Encoding`": INVALID_TRANSFER_ENCODING,
}


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


class _StopParsing(Exception):
    """Raised from a callback to abandon the current parser (HEAD responses). httptools wraps
    callback exceptions, so the decoder also remembers that it asked to stop."""


class _HeadCollector:
    """What both decoders share: collecting header fields (and trailers after the head) within
    a size budget, and remembering an error raised inside an llhttp callback (httptools only
    reports that a callback failed, not with what)."""

    __slots__ = (
        "_sink",
        "_parser",
        "_max_head_bytes",
        "_max_headers",
        "_head_bytes",
        "_headers",
        "_lower_names",
        "_trailers",
        "_in_head",
        "_error",
        "_head",
        "upgraded",
        "_remaining",
        "_last",
        "_deliver_body",
    )

    # the error's reason, status and %RESPONSE_CODE_DETAILS% ("" for the error's own)
    _TOO_LARGE: tuple[str, int, str] = ("header section too large", 431, "")
    _deliver_body: Callable[[bytes], None]  # the sink's body method, bound once

    def __init__(self, sink, parser, max_head_bytes: int, max_headers: int) -> None:
        self._sink = sink
        self._parser = parser
        self._max_head_bytes = max_head_bytes
        self._max_headers = max_headers
        self._error: ProtocolError | None = None
        self.upgraded = False
        self._remaining = -1  # Content-Length bytes still to come; -1: the body has no length
        self._last = b""  # a Content-Length body's last bytes, held for the message's end
        # (each decoder's on_message_begin makes these stores again for every message)
        self._head_bytes = 0
        self._headers: list[tuple[bytes, bytes]] = []
        self._lower_names: list[bytes] = []
        self._trailers: list[tuple[bytes, bytes]] | None = None
        self._in_head = True

    def _fail(self, error: ProtocolError) -> None:
        self._error = error
        raise error

    def on_header(self, name: bytes, value: bytes) -> None:
        # _count, inlined: a call less per header field pays for the count limit below
        size = self._head_bytes = self._head_bytes + len(name) + len(value) + 4
        if size > self._max_head_bytes:
            self._fail(ProtocolError(*self._TOO_LARGE))
        # Fields past the count limit are not kept; the one just past it marks the message.
        if self._in_head:
            headers = self._headers
            if len(headers) <= self._max_headers:
                headers.append((name, value))
                self._lower_names.append(name.lower())
        else:
            trailers = self._trailers
            if trailers is None:
                trailers = self._trailers = []
            if len(trailers) <= self._max_headers:
                trailers.append((name, value))

    def on_body(self, body: bytes) -> None:
        remaining = self._remaining
        if remaining > 0:
            remaining = self._remaining = remaining - len(body)
            if remaining == 0:
                self._last = body  # on_message_complete follows at once, and takes it
                return
        self._deliver_body(body)


class RequestDecoder(_HeadCollector):
    """Feeds bytes to llhttp and calls the sink:

    sink.on_request_head(head), sink.on_request_body(data), sink.on_request_end(trailers or None,
    last), and after an upgrade request's head, sink.on_upgrade_data(data) for every later byte.
    As the response decoder does, it hands a Content-Length body's last bytes over with the end
    (`last`), in one call."""

    __slots__ = ("_url", "in_message", "_http10", "_over_limit")

    _TOO_LARGE = ("request header section too large", 431, HEADERS_TOO_LARGE)

    def __init__(
        self,
        sink,
        max_head_bytes: int = 60 * 1024,
        max_headers: int = DEFAULT_MAX_HEADERS,
        http10: Http10Policy = MOSN_HTTP10,
    ) -> None:
        self._url = b""
        self.in_message = False  # a request has begun and not ended: bytes of it are held
        self._http10 = http10
        self._over_limit = False  # a request over the header count was delivered: read no more
        self._deliver_body = sink.on_request_body
        self._head: RequestHead | None = None
        super().__init__(sink, httptools.HttpRequestParser(self), max_head_bytes, max_headers)

    def feed(self, data: bytes) -> None:
        if self.upgraded:
            self._sink.on_upgrade_data(data)
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade as upgrade:
            self._start_tunnel(data, upgrade.args[0] if upgrade.args else len(data))
        except httptools.HttpParserError as exc:
            if self._over_limit:
                return  # llhttp was stopped after the request over the limit, and stays stopped
            if self._error is not None:
                raise self._error from None
            raise ProtocolError(_reason(exc), 400, _LLHTTP_DETAILS.get(str(exc), CODEC_ERROR)) from None

    def _stop_after_over_limit(self) -> None:
        self.in_message = False
        self._over_limit = True
        raise _StopParsing

    def _start_tunnel(self, data: bytes, offset: int) -> None:
        if self._head is None or not self._head.upgrade:
            raise ProtocolError("CONNECT is not supported", 405, CODEC_ERROR)
        self.upgraded = True
        self._sink.on_request_end(None, b"")
        if offset < len(data):
            self._sink.on_upgrade_data(data[offset:])

    # --- llhttp callbacks ------------------------------------------------------------------

    # The per-message callbacks below make the head's stores themselves, and count its
    # bytes in line: each runs for every proxied request, where a Python call costs more than
    # the stores it would make. (The response decoder's do the same.)

    def on_message_begin(self) -> None:
        self._head_bytes = 0
        self._headers = []
        self._lower_names = []
        self._trailers = None
        self._in_head = True
        self._url = b""
        self._remaining = -1
        self._last = b""
        self.in_message = True

    def on_url(self, url: bytes) -> None:
        self._url += url
        size = self._head_bytes = self._head_bytes + len(url)
        if size > self._max_head_bytes:
            self._fail(ProtocolError(*self._TOO_LARGE))

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._head_bytes = 0  # trailers get a fresh budget
        parser = self._parser
        version = parser.get_http_version().encode()
        head = RequestHead(parser.get_method(), self._url, version, self._headers, self._lower_names)
        if len(self._headers) > self._max_headers:
            head.too_many_headers = True
            head.keep_alive = False
            self._head = head
            self._sink.on_request_head(head)
            self._stop_after_over_limit()
        if version != b"1.1" and not self._http10.accept:
            self._fail(ProtocolError("HTTP/1.0 requests are not accepted (accept_http_10 is off)", 426, LOW_VERSION))
        head.keep_alive = parser.should_keep_alive()
        host_count = 0
        for lname, (_, value) in zip(self._lower_names, self._headers):
            if lname == b"host":
                host_count += 1
                head.host = value
            elif lname == b"content-length":
                head.body_kind = BODY_LENGTH
                head.content_length = int(value)
            elif lname == b"transfer-encoding":
                if value.strip().lower() != b"chunked":
                    self._fail(ProtocolError("unsupported transfer-encoding", 501, INVALID_TRANSFER_ENCODING))
                head.body_kind = BODY_CHUNKED
            elif lname == b"expect":
                if value.strip().lower() == b"100-continue":
                    head.expect_continue = True
                else:
                    self._fail(ProtocolError("unsupported expectation", 417, CODEC_ERROR))
            elif lname == b"upgrade":
                head.upgrade = True
        if host_count > 1:
            self._fail(ProtocolError("multiple Host headers", 400, CODEC_ERROR))
        if self._url[:1] != b"/" and self._url[:8].lower().startswith((b"http://", b"https://")):
            try:
                _to_origin_form(head)
            except ProtocolError as error:
                self._fail(error)  # remembered: llhttp reports only that a callback failed
        elif host_count == 0:
            self._no_host(head, version)
        if head.method == b"CONNECT":
            self._fail(ProtocolError("CONNECT is not supported", 405, CODEC_ERROR))
        if head.upgrade and not parser.should_upgrade():
            head.upgrade = False  # Upgrade without "Connection: upgrade" is only a header
        if head.body_kind == BODY_LENGTH:
            self._remaining = head.content_length
        self._head = head
        self._sink.on_request_head(head)

    def _no_host(self, head: RequestHead, version: bytes) -> None:
        http10 = self._http10
        if version == b"1.1" or (http10.require_host and not http10.default_host):
            self._fail(ProtocolError("missing Host header", 400, MISSING_HOST))
        if http10.default_host:
            head.host = http10.default_host
            head.headers.insert(0, (b"Host", http10.default_host))
            head.lower_names.insert(0, b"host")

    def on_message_complete(self) -> None:
        self.in_message = False
        last = self._last
        if last:
            self._last = b""
        if self._head is not None and self._head.upgrade:
            if last:
                self._sink.on_request_body(last)
            return  # the tunnel starts in feed(), once llhttp reports where the head ended
        trailers = self._trailers
        self._sink.on_request_end(trailers, last)
        if trailers is not None and len(trailers) > self._max_headers:
            self._stop_after_over_limit()


class ResponseDecoder(_HeadCollector):
    """Client-side decoder. Before each response, call expect(head_request) so a response to
    HEAD is known to carry no body. Calls on the sink: on_response_head(head),
    on_response_body(data), on_response_end(trailers or None, last), on_upgrade_data(data).

    The last bytes of a Content-Length body come with on_response_end (`last`), not in a
    body call of their own: llhttp completes the message in the same feed that delivers
    them, and a small response (the usual one) then costs the proxy one call through every
    layer instead of two."""

    __slots__ = ("_reason", "_head_request", "_stopped", "in_message")

    _TOO_LARGE = ("upstream response header section too large", 502, "")

    def __init__(self, sink, max_head_bytes: int = 60 * 1024, max_headers: int = DEFAULT_MAX_HEADERS) -> None:
        self._reason = b""
        self._head_request = False
        self._stopped = False
        self.in_message = False
        self._deliver_body = sink.on_response_body
        self._head: ResponseHead | None = None
        super().__init__(sink, httptools.HttpResponseParser(self), max_head_bytes, max_headers)

    def expect(self, head_request: bool) -> None:
        self._head_request = head_request

    def feed(self, data: bytes) -> None:
        if self.upgraded:
            self._sink.on_upgrade_data(data)
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade as upgrade:
            offset = upgrade.args[0] if upgrade.args else len(data)
            self.upgraded = True
            self.in_message = False
            self._sink.on_response_end(None, b"")
            if offset < len(data):
                self._sink.on_upgrade_data(data[offset:])
        except httptools.HttpParserError as exc:
            if self._stopped:
                self._stopped = False
                self._parser = httptools.HttpResponseParser(self)
                return
            if self._error is not None:
                raise self._error from None
            raise ProtocolError(_reason(exc), 502) from None

    def feed_eof(self) -> None:
        """The upstream closed. Ends a close-delimited body; anything else in flight is an error."""
        if not self.in_message:
            return
        head = self._head
        if head is not None and not self._in_head and head.body_kind == BODY_UNTIL_CLOSE:
            self.in_message = False
            self._sink.on_response_end(None, b"")
            return
        raise ProtocolError("upstream closed the connection mid-response", 502)

    # --- llhttp callbacks ------------------------------------------------------------------

    def on_message_begin(self) -> None:  # (written out, as RequestDecoder's)
        self._head_bytes = 0
        self._headers = []
        self._lower_names = []
        self._trailers = None
        self._in_head = True
        self._reason = b""
        self._remaining = -1
        self._last = b""
        self.in_message = True

    def on_status(self, reason: bytes) -> None:
        self._reason += reason

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._head_bytes = 0
        if len(self._headers) > self._max_headers:
            self._fail(ProtocolError(f"upstream response has more than {self._max_headers} header fields", 502))
        parser = self._parser
        status = parser.get_status_code()
        head = ResponseHead(
            status, self._reason, parser.get_http_version().encode(), self._headers, self._lower_names
        )
        head.keep_alive = parser.should_keep_alive()
        no_body = self._head_request or status < 200 or status in (204, 304)
        kind = BODY_UNTIL_CLOSE
        for lname, (_, value) in zip(self._lower_names, self._headers):
            if lname == b"content-length":
                kind = BODY_LENGTH
                head.content_length = int(value)
            elif lname == b"transfer-encoding":
                if value.strip().lower() != b"chunked":
                    self._fail(ProtocolError("unsupported upstream transfer-encoding", 502))
                kind = BODY_CHUNKED
        if no_body:
            kind = BODY_NONE
        head.body_kind = kind
        if kind == BODY_UNTIL_CLOSE:
            head.keep_alive = False
        elif kind == BODY_LENGTH:
            self._remaining = head.content_length
        self._head = head
        if 100 <= status < 200 and status != 101:
            return  # interim responses are consumed here (the proxy answers 100-continue itself)
        self._sink.on_response_head(head)
        if self._head_request and status >= 200:
            # llhttp would wait for Content-Length bytes that a HEAD response never carries.
            self.in_message = False
            self._stopped = True
            self._sink.on_response_end(None, b"")
            raise _StopParsing

    def on_message_complete(self) -> None:
        head = self._head
        self.in_message = False
        if head is None or (100 <= head.status < 200):
            return
        trailers = self._trailers
        if trailers is not None and len(trailers) > self._max_headers:
            self._fail(ProtocolError(f"upstream response has more than {self._max_headers} trailer fields", 502))
        last = self._last
        if last:
            self._last = b""
        self._sink.on_response_end(trailers, last)


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


def _reason(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    return f"malformed HTTP/1.1: {text}"
