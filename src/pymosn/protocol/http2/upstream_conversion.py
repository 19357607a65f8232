"""HTTP/1.1 messages as HTTP/2 upstream requests, and HTTP/2 responses as the heads the
HTTP/1.1 side of the proxy understands (RFC 9113 sections 8.2.2 and 8.3).

Sans-IO: lists of (name, value) byte pairs in, lists out."""

from __future__ import annotations

from pymosn.protocol.http1.head import BODY_CHUNKED, BODY_LENGTH, BODY_NONE, ResponseHead
from pymosn.protocol.http2.headers import (
    CONNECTION_SPECIFIC,
    MalformedHeaders,
    check_fields,
    checked_trailers,
    content_length_of,
)

Headers = list[tuple[bytes, bytes]]

# Connection-specific fields HTTP/2 forbids (RFC 9113 8.2.2); Host becomes :authority, and
# TE survives only as "trailers".
_NOT_FORWARDED = frozenset(
    {b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"upgrade", b"host", b"te"}
)


def request_headers(method: bytes, target: bytes, headers: Headers, scheme: bytes, default_authority: bytes) -> Headers:
    """The HEADERS frame fields of an HTTP/1.1 request: pseudo-header fields first, then the
    others with lowercase names. `default_authority` stands in for a missing Host (HTTP/1.0)."""
    authority = None
    te_trailers = False
    grpc = False
    out: Headers = []
    append = out.append
    for name, value in headers:
        lname = name.lower()
        if lname in _NOT_FORWARDED:
            if lname == b"host":
                if authority is None:
                    authority = value
            elif lname == b"te" and value.strip().lower() == b"trailers" and not te_trailers:
                te_trailers = True
                append((b"te", b"trailers"))
            continue
        if lname[:1] == b":":
            continue  # HTTP/1.1 has no pseudo-header fields: never let one be forged
        if lname == b"content-type" and value.startswith(b"application/grpc"):
            grpc = True
        append((lname, value))
    if grpc and not te_trailers:
        # gRPC servers require it, and the proxy drops TE as hop-by-hop before it gets here.
        append((b"te", b"trailers"))
    head = [
        (b":method", method),
        (b":scheme", scheme),
        (b":authority", authority if authority is not None else default_authority),
        (b":path", target or b"/"),
    ]
    return head + out


def trailer_fields(trailers: Headers) -> Headers:
    """HTTP/1.1 chunked trailers as a trailing HEADERS frame: lowercase, no
    connection-specific or pseudo-header fields."""
    return [
        (name.lower(), value)
        for name, value in trailers
        if name.lower() not in _NOT_FORWARDED and name[:1] != b":"
    ]


def response_head(fields: list, end_stream: bool) -> ResponseHead:
    """The ResponseHead of a final response HEADERS block, checked as RFC 9113 8.3.2 and 8.2
    ask (MalformedHeaders otherwise: the stream is reset, the proxy answers 502): one :status
    of three digits, 200-599, before the other fields; those as strict as a request's, since
    they may be written out as HTTP/1.1. Fields are (name, value, ...) as HPACK decoded them.

    Without Content-Length the body is relayed chunked, which is also what lets HTTP/2
    trailers reach an HTTP/1.1 client."""
    status = 0
    names: list[bytes] = []
    values: list[bytes] = []
    content_length = -1
    for field in fields:
        name = field[0]
        value = field[1]
        if name[:1] == b":":
            if name != b":status" or status or names:
                raise MalformedHeaders(f"pseudo-header {name.decode('latin-1', 'replace')!r} not allowed here in a response")
            if len(value) != 3 or not value.isdigit() or not 50 <= value[0] <= 53:  # 200-599
                raise MalformedHeaders(f"invalid :status {value!r}")
            status = value[0] * 100 + value[1] * 10 + value[2] - 5328  # (int() of bytes is slow)
            continue
        if name == b"content-length":
            length = content_length_of(value)
            if content_length >= 0 and length != content_length:
                raise MalformedHeaders("conflicting content-length header fields")
            content_length = length
        elif name in CONNECTION_SPECIFIC:
            raise MalformedHeaders(f"connection-specific header field {name.decode()} is not allowed in HTTP/2")
        names.append(name)
        values.append(value)
    if not status:
        raise MalformedHeaders("missing :status")
    check_fields(names, values)
    head = ResponseHead(status, b"", b"2", list(zip(names, values)), names)
    if end_stream:
        head.body_kind = BODY_NONE
    elif content_length >= 0:
        head.body_kind = BODY_LENGTH
        head.content_length = content_length
    else:
        head.body_kind = BODY_CHUNKED
    return head


def response_trailers(fields: Headers) -> Headers:
    """A trailing HEADERS block of a response, checked as a request's (no pseudo-headers)."""
    return checked_trailers(fields)
