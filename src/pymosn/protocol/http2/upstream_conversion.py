"""HTTP/1.1 messages as HTTP/2 upstream requests, and HTTP/2 responses as the heads the
HTTP/1.1 side of the proxy understands (RFC 9113 sections 8.2.2 and 8.3).

Sans-IO: lists of (name, value) byte pairs in, lists out."""

from __future__ import annotations

from typing import Final

from pymosn.protocol.http1.head import BODY_CHUNKED, BODY_LENGTH, BODY_NONE, ResponseHead
from pymosn.protocol.http2.headers import (
    CONNECTION_SPECIFIC,
    MalformedHeaders,
    check_fields,
    checked_trailers,
    content_length_of,
    lowercase,
)

Headers = list[tuple[bytes, bytes]]

# Connection-specific fields HTTP/2 forbids (RFC 9113 8.2.2); Host becomes :authority, and
# TE survives only as "trailers".
_NOT_FORWARDED: Final = frozenset(
    {b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"upgrade", b"host", b"te"}
)
_NO_AUTHORITY: Final = (b":authority", b"")  # its place, set once the headers are read


def request_headers(method: bytes, target: bytes, headers: Headers, scheme: bytes, default_authority: bytes) -> Headers:
    """The HEADERS frame fields of an HTTP/1.1 request: pseudo-header fields first, then the
    others with lowercase names. `default_authority` stands in for a missing Host (HTTP/1.0)."""
    authority: bytes | None = None
    te_trailers = False
    grpc = False
    out: Headers = [(b":method", method), (b":scheme", scheme), _NO_AUTHORITY, (b":path", target or b"/")]
    for name, value in headers:
        lname = lowercase(name)
        if lname in _NOT_FORWARDED:
            if lname == b"host":
                if authority is None:
                    authority = value
            elif lname == b"te" and value.strip().lower() == b"trailers" and not te_trailers:
                te_trailers = True
                out.append((b"te", b"trailers"))
            continue
        if lname.startswith(b":"):
            continue  # HTTP/1.1 has no pseudo-header fields: never let one be forged
        if lname == b"content-type" and value.startswith(b"application/grpc"):
            grpc = True
        out.append((lname, value))
    if grpc and not te_trailers:
        # gRPC servers require it, and the proxy drops TE as hop-by-hop before it gets here.
        out.append((b"te", b"trailers"))
    out[2] = (b":authority", authority if authority is not None else default_authority)
    return out


def trailer_fields(trailers: Headers) -> Headers:
    """HTTP/1.1 chunked trailers as a trailing HEADERS frame: lowercase, no
    connection-specific or pseudo-header fields."""
    fields: Headers = []
    for name, value in trailers:
        lname = lowercase(name)
        if lname not in _NOT_FORWARDED and not lname.startswith(b":"):
            fields.append((lname, value))
    return fields


def response_head(fields: list[tuple], end_stream: bool) -> ResponseHead:
    """The ResponseHead of a final response HEADERS block, checked as RFC 9113 8.3.2 and 8.2
    ask (MalformedHeaders otherwise: the stream is reset, the proxy answers 502): one :status
    of three digits, 200-599, before the other fields; those as strict as a request's, since
    they may be written out as HTTP/1.1. Fields are (name, value, ...) as HPACK decoded them.

    Without Content-Length the body is relayed chunked, which is also what lets HTTP/2
    trailers reach an HTTP/1.1 client."""
    status = 0
    headers: Headers = []
    names: list[bytes] = []
    content_length = -1
    for field in fields:
        name: bytes = field[0]
        value: bytes = field[1]
        if name.startswith(b":"):
            if name != b":status" or status or names:
                raise MalformedHeaders(f"pseudo-header {name.decode('latin-1', 'replace')!r} not allowed here in a response")
            # 200-599 (by byte values: int() of bytes is slow)
            if len(value) != 3 or not 50 <= value[0] <= 53 or not 48 <= value[1] <= 57 or not 48 <= value[2] <= 57:
                raise MalformedHeaders(f"invalid :status {value!r}")
            status = value[0] * 100 + value[1] * 10 + value[2] - 5328
            continue
        if name == b"content-length":
            length = content_length_of(value)
            if content_length >= 0 and length != content_length:
                raise MalformedHeaders("conflicting content-length header fields")
            content_length = length
        elif name in CONNECTION_SPECIFIC:
            raise MalformedHeaders(f"connection-specific header field {name.decode()} is not allowed in HTTP/2")
        headers.append((name, value))
        names.append(name)
    if not status:
        raise MalformedHeaders("missing :status")
    check_fields(headers)
    head = ResponseHead(status, b"", b"2", headers, names)
    if end_stream:
        head.body_kind = BODY_NONE
    elif content_length >= 0:
        head.body_kind = BODY_LENGTH
        head.content_length = content_length
    else:
        head.body_kind = BODY_CHUNKED
    return head


def response_trailers(fields: list[tuple]) -> Headers:
    """A trailing HEADERS block of a response, checked as a request's (no pseudo-headers)."""
    return checked_trailers(fields)
