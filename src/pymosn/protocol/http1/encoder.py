"""Serialising heads and chunks. One bytes join per head: the writes stay a single syscall."""

from __future__ import annotations

from http import HTTPStatus

from pymosn.protocol.http1.head import Headers

_REASONS = {s.value: s.phrase.encode() for s in HTTPStatus}
_REASONS[421] = b"Misdirected Request"


def reason_phrase(status: int) -> bytes:
    return _REASONS.get(status, b"Unknown")


def encode_request_head(method: bytes, target: bytes, headers: Headers) -> bytes:
    parts = [method, b" ", target, b" HTTP/1.1\r\n"]
    for name, value in headers:
        parts += (name, b": ", value, b"\r\n")
    parts.append(b"\r\n")
    return b"".join(parts)


def encode_response_head(status: int, headers: Headers, version: bytes = b"1.1", reason: bytes = b"") -> bytes:
    parts = [b"HTTP/", version, b" %d " % status, reason or reason_phrase(status), b"\r\n"]
    for name, value in headers:
        parts += (name, b": ", value, b"\r\n")
    parts.append(b"\r\n")
    return b"".join(parts)


def encode_chunk(data: bytes) -> bytes:
    return b"%x\r\n%b\r\n" % (len(data), data)


def encode_last_chunk(trailers: Headers | None) -> bytes:
    if not trailers:
        return b"0\r\n\r\n"
    parts = [b"0\r\n"]
    for name, value in trailers:
        parts += (name, b": ", value, b"\r\n")
    parts.append(b"\r\n")
    return b"".join(parts)
