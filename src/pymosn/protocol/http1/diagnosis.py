"""Why a message head broke the grammar: which rule, with which status and details.

Only a head that fails grammar.py's checks comes here, so the fast path never pays for the
diagnosis. The same checks run on the complete lines of a head that has not fully arrived,
so a garbage request line is refused at once rather than after the size limit."""

from __future__ import annotations

import re
from typing import Final

from pymosn.api.errors import ProtocolError
from pymosn.protocol.http1.grammar import CODEC_ERROR, INVALID_CHARACTERS, METHODS, VERSIONS

_METHOD_PREFIXES: Final = frozenset(m[:i] for m in METHODS for i in range(len(m) + 1))
_TCHAR = rb"!#$%&'*+\-.^_`|~0-9A-Za-z"
_FIELD_VALUE = rb"[\t\x20-\x7e\x80-\xff]"  # VCHAR, SP, HTAB and obs-text
_FIELD_LINE = re.compile(rb"[" + _TCHAR + rb"]++:" + _FIELD_VALUE + rb"*+")
_TOKEN = re.compile(rb"[" + _TCHAR + rb"]++")
_TARGET = re.compile(rb"[\x21-\x7e]++")
_STATUS_LINE = re.compile(rb"HTTP/1\.[01] [0-9]{3}(?: " + _FIELD_VALUE + rb"*+)?")
_BAD_BYTE = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")


def malformed(what: str, status: int, details: str = CODEC_ERROR) -> ProtocolError:
    """The error for bytes that break the grammar (`status`: 400 from a client, 502 from an
    upstream)."""
    return ProtocolError(f"malformed HTTP/1.1: {what}", status, details)


def diagnose_field_line(line: bytes, status: int) -> ProtocolError | None:
    """What is wrong with one field line (without its CRLF), or None if nothing is."""
    if _FIELD_LINE.fullmatch(line) is not None:
        return None
    if line[:1] in (b" ", b"\t"):
        return malformed("obsolete line folding", status)
    name, colon, _ = line.partition(b":")
    if not colon:
        return malformed("a header line without a colon", status)
    if _TOKEN.fullmatch(name) is None:
        return malformed("invalid header name", status)
    if b"\r" in line or b"\n" in line:
        return malformed("a bare CR or LF in a header", status)
    return malformed("invalid header value char", status, INVALID_CHARACTERS)


def diagnose_request_line(line: bytes) -> ProtocolError | None:
    parts = line.split(b" ")
    if len(parts) != 3 or not all(parts):
        if parts[0] not in METHODS:
            return malformed("invalid method", 400)
        return malformed("a request line is method, target and version, one space apart", 400)
    method, target, version = parts
    if method not in METHODS:
        return malformed("invalid method", 400)
    if _TARGET.fullmatch(target) is None:
        return malformed("invalid character in the request target", 400)
    if version not in VERSIONS:
        return malformed("unsupported HTTP version", 400)
    return None


def diagnose_status_line(line: bytes) -> ProtocolError | None:
    if _STATUS_LINE.fullmatch(line) is not None:
        return None
    if line[:8] not in VERSIONS:
        return malformed("unsupported HTTP version in the status line", 502)
    return malformed("invalid status line", 502)


def _diagnose_start_line(line: bytes, request: bool) -> ProtocolError | None:
    return diagnose_request_line(line) if request else diagnose_status_line(line)


def diagnose_lines(lines: list[bytes], first: int, status: int) -> ProtocolError | None:
    for i in range(first, len(lines)):
        error = diagnose_field_line(lines[i], status)
        if error is not None:
            return error
    return None


def diagnose_head(block: bytes, request: bool) -> ProtocolError:
    """Why a complete head (without its blank line) failed the grammar."""
    status = 400 if request else 502
    lines = block.split(b"\r\n")
    error = _diagnose_start_line(lines[0], request)
    if error is None:
        error = diagnose_lines(lines, 1, status)
    return error if error is not None else malformed("malformed message head", status)


def diagnose_partial(data: bytes | bytearray, start: int, checked_first_line: bool, request: bool) -> ProtocolError | None:
    """What is already wrong with the complete lines of a head that has not fully arrived,
    from offset `start` (a line's beginning), and with the bytes of its unfinished last line;
    None if nothing is yet. The first line is checked when `checked_first_line` is false."""
    status = 400 if request else 502
    last_crlf = data.rfind(b"\r\n", start)
    if last_crlf >= 0:
        lines = bytes(data[start:last_crlf]).split(b"\r\n")
        first = 0
        if not checked_first_line:
            error = _diagnose_start_line(lines[0], request)
            if error is not None:
                return error
            first = 1
        error = diagnose_lines(lines, first, status)
        if error is not None:
            return error
        tail = bytes(data[last_crlf + 2 :])
    else:
        tail = bytes(data[start:])
        if not checked_first_line:
            return _diagnose_first_line_start(tail, request)
    bad = _BAD_BYTE.search(tail)
    if bad is not None and not (bad.group() == b"\r" and bad.end() == len(tail)):
        if bad.group() in (b"\r", b"\n"):
            return malformed("a bare CR or LF in the message head", status)
        return malformed("invalid header value char", status, INVALID_CHARACTERS)
    return None


def _diagnose_first_line_start(start: bytes, request: bool) -> ProtocolError | None:
    """The beginning of a request or status line, before its CRLF has come."""
    if request:
        method, space, _ = start.partition(b" ")
        if (method not in METHODS) if space else (method not in _METHOD_PREFIXES):
            return malformed("invalid method", 400)
        if _BAD_BYTE.search(start.rstrip(b"\r")) is not None:
            return malformed("invalid character in the request line", 400)
        return None
    if not any(version.startswith(start[:8]) for version in VERSIONS):
        return malformed("unsupported HTTP version in the status line", 502)
    if _BAD_BYTE.search(start.rstrip(b"\r")) is not None:
        return malformed("invalid status line", 502)
    return None
