"""HTTP/2 header blocks <-> the message heads the proxy layer works with, checked per RFC 9113.

A request block becomes a `RequestHead` as the HTTP/1.1 decoder would have built it: lowercase
names, a `host` header carrying :authority (routing, XFF and an HTTP/1.1 upstream need one),
cookie crumbs joined back into one field (8.2.3), and a body kind from END_STREAM and
content-length. A block that breaks 8.2/8.3 raises MalformedHeaders: the caller resets that
stream with PROTOCOL_ERROR (8.1.1), and the connection lives on.

Field names must be lowercase tokens and values free of control characters (HTAB aside) and of
leading or trailing whitespace: stricter than 8.2.1 demands, because these fields may be
written out again as HTTP/1.1, where anything looser is a request-smuggling vector."""

from __future__ import annotations

import re
from typing import Final

from pymosn.api.errors import ProtocolError
from pymosn.protocol.http1.head import BODY_CHUNKED, BODY_LENGTH, BODY_NONE, RequestHead

# 8.2.2: meaningless in HTTP/2, and a request carrying one is malformed
CONNECTION_SPECIFIC: Final = frozenset({b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"upgrade"})
# dropped from responses on the way out (the proxy layer drops most already)
_RESPONSE_DROP: Final = CONNECTION_SPECIFIC | {b"te", b"trailer"}
# request fields that need more than copying; most requests have none of them
_SPECIAL: Final = CONNECTION_SPECIFIC | {b"te", b"host", b"cookie", b"content-length", b"expect"}

_TOKEN: Final = re.compile(rb"[!#$%&'*+\-.^_`|~0-9a-z]+")
_METHOD: Final = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_BAD_VALUE: Final = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
_WS: Final = b" \t"
_DIGITS: Final = re.compile(rb"[0-9]{1,18}")


# Envoy's %RESPONSE_CODE_DETAILS% for what its HTTP/2 codec refuses: a field it rejects, a
# required pseudo-header missing, too many fields, a header list over the limit
INVALID_HEADER_FIELD = "http2.invalid.header.field"
MESSAGING_RULE = "http2.violation.of.messaging.rule"
TOO_MANY_HEADERS = "http2.too_many_headers"
HEADER_LIST_TOO_LARGE = "http2.header_list_size_too_large"


class MalformedHeaders(ProtocolError):
    """A header block RFC 9113 calls malformed: a stream error of type PROTOCOL_ERROR."""

    def __init__(self, reason: str, details: str = INVALID_HEADER_FIELD) -> None:
        super().__init__(reason, 400, details)


class _CheckedFields:
    """Fields (name, value) that passed check_fields, per worker: most fields of most messages
    repeat (content-type, user-agent, te, grpc-*), and a lookup costs a fifth of the checks.
    Bounded: values up to 256 bytes, and it starts over after 4,096 fields."""

    __slots__ = ("by_name", "count")

    def __init__(self) -> None:
        self.by_name: dict[bytes, set[bytes]] = {}
        self.count = 0

    def remember(self, fields: list[tuple[bytes, bytes]], start: int) -> None:
        by_name = self.by_name
        for i in range(start, len(fields)):
            name, value = fields[i]
            if len(value) > _MAX_CHECKED_VALUE:
                continue
            if self.count >= _MAX_CHECKED:
                by_name.clear()
                self.count = 0
            seen = by_name.get(name)
            if seen is None:
                seen = by_name[name] = set()
            if value not in seen:
                seen.add(value)
                self.count += 1


_MAX_CHECKED: Final = 4096
_MAX_CHECKED_VALUE: Final = 256
_CHECKED: Final = _CheckedFields()

# Names as they are lowercased for HTTP/2, each one object: it keeps its hash, and a dict holding
# it as a key (the HPACK encoder's) finds it by identity. Bounded as _CHECKED is.
_LOWERCASE: Final[dict[bytes, bytes]] = {}


def lowercase(name: bytes) -> bytes:
    """`name.lower()`, the same object each time for the same name."""
    lower = _LOWERCASE.get(name)
    if lower is None:
        lower = name.lower()
        if len(name) <= _MAX_CHECKED_VALUE:
            if len(_LOWERCASE) >= _MAX_CHECKED:
                _LOWERCASE.clear()
            _LOWERCASE[name] = lower
    return lower


def content_length_of(value: bytes) -> int:
    """A content-length field's value: 1-18 digits, or the message is malformed."""
    if _DIGITS.fullmatch(value) is None:
        raise MalformedHeaders(f"invalid content-length {value!r}")
    return int(value)


def check_fields(fields: list[tuple[bytes, bytes]], start: int = 0) -> None:
    """RFC 9113 8.2.1 (and this module's stricter rules) for the fields from `start` on."""
    by_name = _CHECKED.by_name
    for i in range(start, len(fields)):
        name, value = fields[i]
        seen = by_name.get(name)
        if seen is None or value not in seen:
            _check_each(fields, start)
            return
    # every field checked before


def _check_each(fields: list[tuple[bytes, bytes]], start: int) -> None:
    names = [fields[i][0] for i in range(start, len(fields))]
    values = [fields[i][1] for i in range(start, len(fields))]
    # One regex pass over all names at once: a concatenation of tokens is a token, and an
    # empty name (legal in HPACK) is caught by the length comparison.
    if _TOKEN.fullmatch(b"".join(names)) is None or b"" in names:
        bad = next(n for n in names if _TOKEN.fullmatch(n) is None)
        raise MalformedHeaders(f"invalid header field name {bad!r} (names must be lowercase tokens)")
    if _BAD_VALUE.search(b"\t".join(values)) is not None:
        bad = next(n for n, v in zip(names, values) if _BAD_VALUE.search(v))
        raise MalformedHeaders(f"header field {bad.decode('latin-1')} has a control character in its value")
    for name, value in zip(names, values):
        if value and (value[0] in _WS or value[-1] in _WS):
            raise MalformedHeaders(f"header field {name.decode('latin-1')} value has leading or trailing whitespace")
    _CHECKED.remember(fields, start)


_NO_HOST: Final = (b"host", b"")  # the place of the host field, set once the head is read


def request_head(block: list[tuple], end_stream: bool, max_bytes: int = 0, max_count: int = 0) -> RequestHead:
    """The request a HEADERS block opens. `max_bytes` limits the header list as SETTINGS_MAX_
    HEADER_LIST_SIZE counts it (name + value + 32 each); over it is a ProtocolError with
    status 431, answered rather than reset. More than `max_count` fields (pseudo-header fields
    included, cookie crumbs not, as Envoy counts them) mark the head `too_many_headers`: the
    proxy resets that stream. The fields are (name, value, ...) tuples: HPACK decoders add a
    never-indexed flag, which is ignored."""
    method: bytes | None = None
    scheme: bytes | None = None
    path: bytes | None = None
    authority: bytes | None = None
    # the head's fields as they are built: host first (set below), then the regular fields
    headers: list[tuple[bytes, bytes]] = [_NO_HOST]
    lower_names: list[bytes] = [b"host"]
    special = False
    size = 32 * len(block)
    for field in block:
        name: bytes = field[0]
        value: bytes = field[1]
        size += len(name) + len(value)
        if name.startswith(b":"):
            if len(headers) > 1:
                raise MalformedHeaders(f"pseudo-header {name.decode('latin-1')} after a regular header field")
            if name == b":method":
                if method is not None:
                    raise MalformedHeaders("repeated :method")
                method = value
            elif name == b":path":
                if path is not None:
                    raise MalformedHeaders("repeated :path")
                path = value
            elif name == b":scheme":
                if scheme is not None:
                    raise MalformedHeaders("repeated :scheme")
                scheme = value
            elif name == b":authority":
                if authority is not None:
                    raise MalformedHeaders("repeated :authority")
                authority = value
            else:
                raise MalformedHeaders(f"pseudo-header {name.decode('latin-1', 'replace')!r} is not allowed in a request")
            continue
        if name in _SPECIAL and (value != b"trailers" or name != b"te"):  # (every gRPC request has te)
            special = True
        headers.append((name, value))
        lower_names.append(name)
    if max_bytes and size > max_bytes:
        raise ProtocolError(f"request header list of {size} bytes is over the limit of {max_bytes}", 431,
                            HEADER_LIST_TOO_LARGE)
    check_fields(headers, 1)

    if method is None:
        raise MalformedHeaders("missing :method", MESSAGING_RULE)
    if method == b"CONNECT":
        # 8.5: only :method and :authority. Parsed so the caller can refuse it properly.
        if scheme is not None or path is not None or not authority:
            raise MalformedHeaders("CONNECT takes :authority and neither :scheme nor :path", MESSAGING_RULE)
        path = b""
    else:
        if scheme is None or not path:
            if path is None or scheme is None:
                raise MalformedHeaders("missing :scheme or :path", MESSAGING_RULE)
            raise MalformedHeaders("empty :path")
        if not path.startswith(b"/") and not (path == b"*" and method == b"OPTIONS"):
            raise MalformedHeaders("`:path` must be an origin-form path (or * for OPTIONS)")
    if _METHOD.fullmatch(method) is None:
        raise MalformedHeaders(f"invalid :method {method!r}")

    host: bytes | None = None
    content_length = -1
    expect_continue = False
    if special:
        host, content_length, expect_continue = _special_fields(headers, lower_names)
    if authority is not None:
        if host is not None and host != authority:
            raise MalformedHeaders("host header differs from :authority")
        host = authority
    if not host:
        raise MalformedHeaders("missing :authority (and host)", MESSAGING_RULE)
    headers[0] = (b"host", host)

    head = RequestHead(method, path, b"2", headers, lower_names)
    head.host = host
    if scheme is not None:
        head.scheme = scheme
    if max_count and len(block) > max_count:
        crumbs = sum(1 for field in block if field[0] == b"cookie")
        head.too_many_headers = len(block) - crumbs > max_count
    head.expect_continue = expect_continue and not end_stream
    if end_stream:
        head.body_kind = BODY_NONE
    elif content_length >= 0:
        head.body_kind = BODY_LENGTH
        head.content_length = content_length
    else:
        head.body_kind = BODY_CHUNKED  # streamed, length unknown
    return head


def _special_fields(headers: list[tuple[bytes, bytes]], lower_names: list[bytes]) -> tuple[bytes | None, int, bool]:
    """The request fields that need more than copying (most requests have none), rewritten
    in place from index 1 on: connection-specific ones refused, host taken out (re-added once,
    from :authority when there is one), cookie crumbs joined (8.2.3), one content-length kept.
    Returns (host, content-length or -1, expects 100-continue)."""
    fields = headers[1:]
    del headers[1:]
    del lower_names[1:]
    host: bytes | None = None
    content_length = -1
    cookies: bytes | None = None
    expect_continue = False
    for name, value in fields:
        if name in CONNECTION_SPECIFIC:
            raise MalformedHeaders(f"connection-specific header field {name.decode()} is not allowed in HTTP/2")
        if name == b"te":
            if value.lower() != b"trailers":
                raise MalformedHeaders("te may only be \"trailers\" in HTTP/2")
        elif name == b"host":
            if host is not None and host != value:
                raise MalformedHeaders("conflicting host header fields")
            host = value
            continue
        elif name == b"cookie":
            cookies = value if cookies is None else cookies + b"; " + value
            continue
        elif name == b"content-length":
            length = content_length_of(value)
            if content_length >= 0 and content_length != length:
                raise MalformedHeaders("conflicting content-length header fields")
            if content_length >= 0:
                continue
            content_length = length
        elif name == b"expect":
            expect_continue = value.lower() == b"100-continue"
        headers.append((name, value))
        lower_names.append(name)
    if cookies is not None:
        headers.append((b"cookie", cookies))
        lower_names.append(b"cookie")
    return host, content_length, expect_continue


def checked_trailers(block: list[tuple]) -> list[tuple[bytes, bytes]]:
    """A trailing HEADERS block: no pseudo-headers (8.1), the same field rules as the head.
    The fields are (name, value, ...) tuples, as decoded."""
    trailers: list[tuple[bytes, bytes]] = []
    for field in block:
        name: bytes = field[0]
        if name.startswith(b":"):
            raise MalformedHeaders(f"pseudo-header {name.decode('latin-1', 'replace')} in trailers")
        if name in CONNECTION_SPECIFIC:
            raise MalformedHeaders(f"connection-specific header field {name.decode()} in trailers")
        trailers.append((name, field[1]))
    check_fields(trailers)
    return trailers


_STATUS: Final = {code: b"%d" % code for code in range(100, 600)}


def response_block(status: int, headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """The HEADERS block of a response (or 1xx): names lowercased, connection-specific fields
    dropped (8.2.2)."""
    block = [(b":status", _STATUS.get(status) or b"%d" % status)]
    for name, value in headers:
        lname = lowercase(name)
        if lname not in _RESPONSE_DROP:
            block.append((lname, value))
    return block


def trailer_block(trailers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    block: list[tuple[bytes, bytes]] = []
    for name, value in trailers:
        lname = lowercase(name)
        if lname not in _RESPONSE_DROP:
            block.append((lname, value))
    return block
