"""HTTP/1.1 sans-IO codec: bytes in, events out; heads in, bytes out.

No sockets and no asyncio here: the stream layer feeds bytes and receives calls on a sink."""

from pymosn.protocol.http1.decoder import RequestDecoder, ResponseDecoder
from pymosn.protocol.http1.encoder import encode_request_head, encode_response_head
from pymosn.protocol.http1.head import (
    BODY_CHUNKED,
    BODY_LENGTH,
    BODY_NONE,
    BODY_UNTIL_CLOSE,
    RequestHead,
    ResponseHead,
)

__all__ = [
    "BODY_CHUNKED",
    "BODY_LENGTH",
    "BODY_NONE",
    "BODY_UNTIL_CLOSE",
    "RequestDecoder",
    "RequestHead",
    "ResponseDecoder",
    "ResponseHead",
    "encode_request_head",
    "encode_response_head",
]
