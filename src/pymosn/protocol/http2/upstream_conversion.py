"""HTTP/1.1 messages as HTTP/2 upstream requests, and HTTP/2 responses as the heads the
HTTP/1.1 side of the proxy understands (RFC 9113 sections 8.2.2 and 8.3).

Sans-IO: lists of (name, value) byte pairs in, lists out."""

from __future__ import annotations

from pymosn.protocol.http1.head import BODY_CHUNKED, BODY_LENGTH, BODY_NONE, ResponseHead

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


def response_head(fields: Headers, end_stream: bool) -> ResponseHead:
    """The ResponseHead of an HTTP/2 response HEADERS frame (h2 has validated it).

    Without Content-Length the body is relayed chunked, which is also what lets HTTP/2
    trailers reach an HTTP/1.1 client."""
    status = 0
    headers: Headers = []
    content_length = -1
    for name, value in fields:
        if name[:1] == b":":
            if name == b":status":
                status = int(value)
            continue
        if name == b"content-length":
            content_length = int(value)
        headers.append((name, value))
    head = ResponseHead(status, b"", b"2", headers, [name for name, _ in headers])
    if end_stream:
        head.body_kind = BODY_NONE
    elif content_length >= 0:
        head.body_kind = BODY_LENGTH
        head.content_length = content_length
    else:
        head.body_kind = BODY_CHUNKED
    return head


def response_trailers(fields: Headers) -> Headers:
    return [(name, value) for name, value in fields if name[:1] != b":"]
