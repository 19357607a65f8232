"""RFC 9112's message grammar, strictly: heads split and checked by C-level bytes operations.

Hand-written because nothing on the dependency list does this fast enough from Python: llhttp
(httptools) calls back into Python once per field, and a regular expression over the head costs
the `re` engine a charset test per byte. A head here is one find, one split into lines, and
per line one dictionary lookup: each field line is parsed once per worker (checked with two
byte-table translations and one partition) and served from a bounded memo after that. Every
step is a C call in both builds: the pure-Python build runs no loop per byte either (the
compiled build's per-byte loops, measured, made the interpreted one 2.6 times slower on heads).
Why a head failed is worked out only when one does, by diagnosis.py.

The request methods are llhttp's HTTP methods (what pymosn accepted when llhttp parsed for it):
Envoy too refuses methods it does not know unless told otherwise (allow_custom_methods)."""

from __future__ import annotations

from typing import Final

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
TARGET_TABLE: Final = _table(frozenset(range(0x21, 0x7F)))  # a request target: VCHAR, no obs-text
LOWER_TABLE: Final = bytes(i + 32 if 65 <= i <= 90 else i for i in range(256))  # for bytes.translate


# Field lines already read, each with what it parses to: a worker sees the same lines again and
# again (a client's User-Agent and Accept, an origin's Server and Content-Type, Host per
# connection), and a line found here costs one hash and one lookup instead of its parse. A
# memo of a pure function, so any line can be served from it; when full it starts over.
_FIELD_LINES: Final[dict[bytes, tuple[tuple[bytes, bytes], bytes]]] = {}
_MAX_FIELD_LINES: Final = 2048
_MAX_MEMO_LINE: Final = 256  # longer lines are parsed each time: the memo stays under ~2 MiB


def scan_fields(buf: bytes, pos: int, end: int, limit: int, fields: Fields, lower_names: list[bytes]) -> int:
    """Reads the field lines in buf[pos:end] through the blank line after them; returns the
    offset after the blank line, INCOMPLETE or MALFORMED. The fields go to `fields` and
    `lower_names` as split_field_lines puts them."""
    if buf.startswith(b"\r\n", pos):
        return pos + 2  # no fields
    blank = buf.find(b"\r\n\r\n", pos, end)
    if blank < 0:
        return INCOMPLETE
    if not split_field_lines(buf[pos:blank].split(b"\r\n"), 0, limit, fields, lower_names):
        return MALFORMED
    return blank + 4


def split_field_lines(lines: list[bytes], first: int, limit: int, fields: Fields, lower_names: list[bytes]) -> bool:
    """Appends the field of each of lines[first:] (its value without surrounding whitespace)
    and its lowered name, at most `limit + 1` of them (one past the limit marks the message
    as over it; the rest are checked, not kept). False if a line breaks the grammar."""
    seen = _FIELD_LINES
    keep = first + limit + 1
    for i in range(first, len(lines)):
        line = lines[i]
        parsed = seen.get(line)
        if parsed is None:
            parsed = _parse_field_line(line)
            if parsed is None:
                return False
            if len(line) <= _MAX_MEMO_LINE:
                if len(seen) >= _MAX_FIELD_LINES:
                    seen.clear()
                seen[line] = parsed
        if i < keep:
            fields.append(parsed[0])
            lower_names.append(parsed[1])
    return True


def _parse_field_line(line: bytes) -> tuple[tuple[bytes, bytes], bytes] | None:
    # `0 in`: an int is a byte search (a one-byte bytes would make CPython raise and clear a
    # TypeError first); the tables map every byte the rule refuses to 0
    if 0 in line.translate(VALUE_TABLE):
        return None  # a control byte (a bare CR or LF among them) or DEL
    name, colon, value = line.partition(b":")
    if not colon or not name or 0 in name.translate(TOKEN_TABLE):
        return None  # no colon, or a name that is not a token (whitespace before the colon)
    return (name, value.strip(b" \t")), name.translate(LOWER_TABLE)


def status_of(line: bytes) -> int:
    """The status code of a well-formed status line (without its CRLF), or -1. The reason
    phrase may be empty, and the space before it may be missing too (servers send both)."""
    if len(line) < 12 or line[8] != 32 or line[:8] not in VERSIONS:
        return -1
    status = 0
    for i in range(9, 12):  # three digits: a loop of three costs less than int() of bytes
        digit = line[i] - 48
        if digit < 0 or digit > 9:
            return -1
        status = status * 10 + digit
    if len(line) > 12 and (line[12] != 32 or 0 in line[13:].translate(VALUE_TABLE)):
        return -1
    return status


def content_length_of(value: bytes) -> int:
    """A Content-Length value's number: one or more digits and nothing else; -1 if not."""
    if not value or len(value) > _MAX_CONTENT_LENGTH_DIGITS:
        return -1
    length = 0
    for i in range(len(value)):  # a few digits: cheaper than isdigit() and int() of bytes
        digit = value[i] - 48
        if digit < 0 or digit > 9:
            return -1
        length = length * 10 + digit
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


def persistent(version: bytes, connection: list[bytes]) -> bool:
    """Whether a message with these Connection tokens keeps its connection open (RFC 9112
    9.3): HTTP/1.1 unless `close`, HTTP/1.0 only with `keep-alive`. A message without a
    Connection field is persistent exactly when it is HTTP/1.1."""
    if version == b"1.1":
        return b"close" not in connection
    return b"keep-alive" in connection
