"""Parsed message heads. Header names keep their received case; lookups use `lower_names`."""

from __future__ import annotations

from typing import Final

# How a message body is delimited on the wire.
BODY_NONE: Final = 0
BODY_LENGTH: Final = 1
BODY_CHUNKED: Final = 2
BODY_UNTIL_CLOSE: Final = 3  # responses only: no length and not chunked, the body ends at close

Headers = list[tuple[bytes, bytes]]


class RequestHead:
    __slots__ = (
        "method",
        "target",
        "version",
        "headers",
        "lower_names",
        "keep_alive",
        "body_kind",
        "content_length",
        "upgrade",
        "expect_continue",
        "host",
        "too_many_headers",
        "scheme",
    )

    def __init__(
        self, method: bytes, target: bytes, version: bytes, headers: Headers, lower_names: list[bytes]
    ) -> None:
        self.method = method
        self.target = target  # origin-form path and query, as received
        self.version = version  # b"1.1" or b"1.0"
        self.headers = headers
        self.lower_names = lower_names  # headers[i][0].lower(), computed once by the decoder
        self.keep_alive = True
        self.body_kind = BODY_NONE
        self.content_length = 0
        self.upgrade = False
        self.expect_continue = False
        self.host = b""
        # more header fields than the listener allows: the proxy answers it (431 on HTTP/1.1,
        # a reset on HTTP/2, as Envoy) instead of routing it; the codec kept only the first ones
        self.too_many_headers = False
        # the scheme the request names itself (HTTP/2's :scheme, an absolute-form target's),
        # as received; b"": none (an HTTP/1 origin-form request: the connection's)
        self.scheme = b""


class ResponseHead:
    __slots__ = ("status", "reason", "version", "headers", "lower_names", "keep_alive", "body_kind", "content_length")

    def __init__(self, status: int, reason: bytes, version: bytes, headers: Headers, lower_names: list[bytes]) -> None:
        self.status = status
        self.reason = reason
        self.version = version
        self.headers = headers
        self.lower_names = lower_names
        self.keep_alive = True
        self.body_kind = BODY_NONE
        self.content_length = 0
