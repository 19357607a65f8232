"""Protocol detection from the first bytes of a connection (MOSN's ProtocolMatch): each
protocol answers YES, NO, or AGAIN (too few bytes to tell)."""

from __future__ import annotations

from enum import IntEnum


class Match(IntEnum):
    NO = 0
    YES = 1
    AGAIN = 2


HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
# Request methods that start an HTTP/1.x request, followed by a space (RFC 9110, plus WebDAV's
# common ones). A prefix of one of these is "too few bytes".
_METHODS = tuple(
    m + b" "
    for m in (
        b"GET", b"POST", b"PUT", b"DELETE", b"HEAD", b"OPTIONS", b"PATCH", b"TRACE", b"CONNECT",
        b"PROPFIND", b"PROPPATCH", b"MKCOL", b"COPY", b"MOVE", b"LOCK", b"UNLOCK",
    )
)


def match_http1(data: bytes) -> Match:
    for method in _METHODS:
        n = min(len(data), len(method))
        if data[:n] == method[:n]:
            return Match.YES if n == len(method) else Match.AGAIN
    return Match.NO


def match_http2(data: bytes) -> Match:
    n = min(len(data), len(HTTP2_PREFACE))
    if data[:n] != HTTP2_PREFACE[:n]:
        return Match.NO
    return Match.YES if n == len(HTTP2_PREFACE) else Match.AGAIN


# RFC 9110 5.6.2 tchar: what a method name is made of
_TCHAR = frozenset(b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_METHOD_MAX = 32  # a longer run of token characters is not a method


def match_request_line(data: bytes) -> Match:
    """Bytes that start like an HTTP/1.x request line with any method: a token and a space.
    Tried only after every protocol said no, so that a request whose method the HTTP/1 codec
    does not know is answered by it (400, as Envoy's AUTO codec does), not dropped unheard."""
    for i, byte in enumerate(data[: _METHOD_MAX + 1]):
        if byte == 0x20:
            return Match.YES if i else Match.NO
        if byte not in _TCHAR:
            return Match.NO
    return Match.AGAIN if len(data) <= _METHOD_MAX else Match.NO
