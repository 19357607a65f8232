"""Serialising heads and chunks. One bytes join per head: the writes stay a single syscall.
A line is formatted whole, by a literal format that mypyc compiles to one concatenation:
joining its parts instead costs the join a buffer acquisition each, a third more per head
(compiled, measured by callgrind)."""

from __future__ import annotations

from http import HTTPStatus
from typing import Final

from pymosn.protocol.http1.head import Headers

_REASONS: Final = {s.value: s.phrase.encode() for s in HTTPStatus}
_REASONS[421] = b"Misdirected Request"
_STATUS_LINES_11: Final = {status: b"HTTP/1.1 %d %b\r\n" % (status, reason) for status, reason in _REASONS.items()}


def reason_phrase(status: int) -> bytes:
    return _REASONS.get(status, b"Unknown")


def encode_request_head(method: bytes, target: bytes, headers: Headers) -> bytes:
    parts = [b"%b %b HTTP/1.1\r\n" % (method, target)]
    for name, value in headers:
        parts.append(b"%b: %b\r\n" % (name, value))
    parts.append(b"\r\n")
    return b"".join(parts)


def encode_response_head(status: int, headers: Headers, version: bytes = b"1.1", reason: bytes = b"") -> bytes:
    line = _STATUS_LINES_11.get(status) if version == b"1.1" and not reason else None
    if line is None:
        line = b"HTTP/%b %d %b\r\n" % (version, status, reason or reason_phrase(status))
    parts = [line]
    for name, value in headers:
        parts.append(b"%b: %b\r\n" % (name, value))
    parts.append(b"\r\n")
    return b"".join(parts)


def encode_chunk(data: bytes) -> bytes:
    return b"%x\r\n%b\r\n" % (len(data), data)


def encode_last_chunk(trailers: Headers | None) -> bytes:
    if not trailers:
        return b"0\r\n\r\n"
    parts = [b"0\r\n"]
    for name, value in trailers:
        parts.append(b"%b: %b\r\n" % (name, value))
    parts.append(b"\r\n")
    return b"".join(parts)
