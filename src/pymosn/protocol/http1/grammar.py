"""RFC 9112's message grammar, strictly, in one pass over a head's bytes.

Hand-written because nothing on the dependency list does this fast enough from Python: llhttp
(httptools) calls back into Python once per field, and a regular expression over the head
costs the `re` engine a charset test per byte on top of the split into fields that follows it.
Compiled by mypyc, these loops index bytes and look each byte's class up in a 256-byte table:
the fields are checked, split and trimmed in the same pass, and only what a message keeps (each
name and value) is allocated. Why a head failed is worked out only when one does, by
diagnosis.py.

The request methods are llhttp's HTTP methods (what pymosn accepted when llhttp parsed for it):
Envoy too refuses methods it does not know unless told otherwise (allow_custom_methods)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:  # mypyc compiles i64 to a C int64_t; interpreted, it is only an annotation
    from mypy_extensions import i64

# Envoy's %RESPONSE_CODE_DETAILS% for a request this codec refuses (its HTTP/1 codec's names;
# what only pymosn refuses is codec_error)
CODEC_ERROR: Final = "http1.codec_error"
HEADERS_TOO_LARGE: Final = "http1.headers_too_large"
TOO_MANY_HEADERS: Final = "http1.too_many_headers"
INVALID_CHARACTERS: Final = "http1.invalid_characters"
INVALID_TRANSFER_ENCODING: Final = "http1.invalid_transfer_encoding"
CONTENT_LENGTH_AND_CHUNKED: Final = "http1.content_length_and_chunked_not_allowed"
INVALID_URL: Final = "http1.invalid_url"
MISSING_HOST: Final = "missing_host_header"
LOW_VERSION: Final = "low_version"

METHODS: Final = frozenset(
    b"DELETE GET HEAD POST PUT CONNECT OPTIONS TRACE COPY LOCK MKCOL MOVE PROPFIND PROPPATCH SEARCH "
    b"UNLOCK BIND REBIND UNBIND ACL REPORT MKACTIVITY CHECKOUT MERGE M-SEARCH NOTIFY SUBSCRIBE "
    b"UNSUBSCRIBE PATCH PURGE MKCALENDAR LINK UNLINK SOURCE QUERY".split()
)
VERSIONS: Final = (b"HTTP/1.1", b"HTTP/1.0")

Fields = list[tuple[bytes, bytes]]

# scan_fields' answers besides an offset
INCOMPLETE: Final = -1  # the blank line that ends the section has not come yet
MALFORMED: Final = -2  # a line breaks the grammar (diagnosis.py says which and how)

MAX_CHUNK_LINE: Final = 4096  # a chunk-size line longer than this is refused, not buffered
_MAX_CHUNK_DIGITS: Final = 16
_MAX_CONTENT_LENGTH_DIGITS: Final = 18  # below 2**63, as llhttp's overflow check


def _table(accepts: frozenset[int]) -> bytes:
    return bytes(1 if i in accepts else 0 for i in range(256))


_TCHAR_BYTES: Final = frozenset(b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
TOKEN_TABLE: Final = _table(_TCHAR_BYTES)
# field-value bytes: VCHAR, SP, HTAB and obs-text; no other control byte
VALUE_TABLE: Final = _table(frozenset([9, *range(32, 127), *range(128, 256)]))
_HEX_TABLE: Final = _table(frozenset(b"0123456789abcdefABCDEF"))
LOWER_TABLE: Final = bytes(i + 32 if 65 <= i <= 90 else i for i in range(256))  # for bytes.translate


def scan_fields(buf: bytes, pos: i64, end: i64, limit: i64, fields: Fields, lower_names: list[bytes]) -> i64:
    """Reads field lines from buf[pos:end] through the blank line after them; appends each
    field (its value without surrounding whitespace) and its lowered name, at most `limit + 1`
    of them (one past the limit marks the message as over it; the rest are checked, not kept).
    Returns the offset after the blank line, INCOMPLETE or MALFORMED."""
    tchar = TOKEN_TABLE
    value_byte = VALUE_TABLE
    while pos < end:
        c: i64 = buf[pos]
        if c == 13:  # the blank line
            if pos + 1 >= end:
                return INCOMPLETE
            return pos + 2 if buf[pos + 1] == 10 else MALFORMED
        start = pos
        while tchar[c]:
            pos += 1
            if pos >= end:
                return INCOMPLETE
            c = buf[pos]
        if c != 58 or pos == start:  # a name is one or more tchar, right before the colon
            return MALFORMED
        name_end = pos
        pos += 1
        if pos >= end:
            return INCOMPLETE
        c = buf[pos]
        while c == 32 or c == 9:
            pos += 1
            if pos >= end:
                return INCOMPLETE
            c = buf[pos]
        value_start = pos
        while value_byte[c]:
            pos += 1
            if pos >= end:
                return INCOMPLETE
            c = buf[pos]
        if c != 13:
            return MALFORMED  # a control byte, or a bare LF
        if pos + 1 >= end:
            return INCOMPLETE
        if buf[pos + 1] != 10:
            return MALFORMED  # a bare CR
        value_end: i64 = pos
        while value_end > value_start and (buf[value_end - 1] == 32 or buf[value_end - 1] == 9):
            value_end -= 1
        pos += 2
        if len(fields) <= limit:
            name = buf[start:name_end]
            fields.append((name, buf[value_start:value_end]))
            lower_names.append(name.translate(LOWER_TABLE))
    return INCOMPLETE


def split_request_line(line: bytes) -> list[bytes] | None:
    """[method, target, version] of a well-formed request line (without its CRLF), or None."""
    parts = line.split(b" ")
    if len(parts) != 3:
        return None
    target = parts[1]
    if parts[0] not in METHODS or not target or (parts[2] != b"HTTP/1.1" and parts[2] != b"HTTP/1.0"):
        return None
    for i in range(len(target)):
        c = target[i]
        if c < 0x21 or c > 0x7E:
            return None
    return parts


def status_of(line: bytes) -> int:
    """The status code of a well-formed status line (without its CRLF), or -1. The reason
    phrase may be empty, and the space before it may be missing too (servers send both)."""
    if len(line) < 12 or line[8] != 32 or (not line.startswith(b"HTTP/1.1") and not line.startswith(b"HTTP/1.0")):
        return -1
    status = 0
    for i in range(9, 12):
        c = line[i]
        if c < 48 or c > 57:
            return -1
        status = status * 10 + c - 48
    if len(line) > 12:
        if line[12] != 32:
            return -1
        value_byte = VALUE_TABLE
        for i in range(13, len(line)):
            if not value_byte[line[i]]:
                return -1
    return status


def content_length_of(value: bytes) -> int:
    """A Content-Length value's number: one or more digits and nothing else; -1 if not."""
    if not value or len(value) > _MAX_CONTENT_LENGTH_DIGITS:
        return -1
    length = 0
    for i in range(len(value)):
        c = value[i]
        if c < 48 or c > 57:
            return -1
        length = length * 10 + c - 48
    return length


def chunk_size_of(buf: bytes, pos: int, end: int) -> int:
    """The size on a chunk-size line buf[pos:end] (without its CRLF): hex digits, then maybe
    `;` and an extension (not forwarded, so only its bytes are checked); -1 if malformed. No
    whitespace before the extension, as llhttp's strict mode."""
    hex_digit = _HEX_TABLE
    size = 0
    i = pos
    while i < end and hex_digit[buf[i]]:
        c = buf[i]
        size = size * 16 + (c - 48 if c <= 57 else (c | 32) - 87)
        i += 1
    if i == pos or i - pos > _MAX_CHUNK_DIGITS:
        return -1
    if i < end:
        if buf[i] != 59:  # ';'
            return -1
        value_byte = VALUE_TABLE
        for j in range(i + 1, end):
            if not value_byte[buf[j]]:
                return -1
    return size


def chunk_line_may_continue(buf: bytes, pos: int) -> bool:
    """Whether the start of a chunk-size line, buf[pos:], can still become a valid one."""
    hex_digit = _HEX_TABLE
    end = len(buf)
    i = pos
    while i < end and hex_digit[buf[i]]:
        i += 1
    if i - pos > _MAX_CHUNK_DIGITS:
        return False
    if i == end:
        return True
    c = buf[i]
    return (c == 13 and i == end - 1 and i > pos) or (c == 59 and i > pos)


def tokens_of(value: bytes) -> list[bytes]:
    """A comma-separated list of tokens (Connection, Transfer-Encoding), lowered."""
    lowered = value.translate(LOWER_TABLE)
    if 44 not in lowered:  # ",": an int is a byte search; b"," makes CPython raise and clear a TypeError first
        return [lowered]
    return [token.strip(b" \t") for token in lowered.split(b",")]
