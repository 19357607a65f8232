"""HTTP/2 sans-IO pieces: the server codecs (`fast_server`, ours; `h2_server`, over `h2` or
its API-compatible fork jh2), connection settings, RFC 9113 header checks, and the
conversion between HTTP/2 header blocks and the message heads the proxy layer works with.

No sockets and no asyncio here: the stream layer owns the h2 connection and the transport."""

from pymosn.protocol.http2.headers import (
    CONNECTION_SPECIFIC,
    MalformedHeaders,
    checked_trailers,
    request_head,
    response_block,
    trailer_block,
)
from pymosn.protocol.http2.settings import Http2Settings

__all__ = [
    "CONNECTION_SPECIFIC",
    "Http2Settings",
    "MalformedHeaders",
    "request_head",
    "checked_trailers",
    "response_block",
    "trailer_block",
]
