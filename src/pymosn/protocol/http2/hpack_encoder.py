"""An HPACK encoder (RFC 7541) for the proxy's header blocks, both ends of HTTP/2.

Why not jh2's (Rust) encoder, which the decoding side still uses: it finds each field by a
linear walk of the static and dynamic tables. Profiled on unary gRPC calls, encoding was 17%
of the proxy's instructions, about 41k per call for some 13 fields. Here a field is found by
one dict lookup in each table (the dynamic table is indexed by insertion number, so an
insertion or an eviction is O(1)), and a field found in a table is remembered with its ready
representation until the dynamic table changes: a repeated field costs two lookups, and the
block is pieces joined once (or appended to the frame writer's output as they are).

Choices (all of them RFC 7541's to make, and an encoder's alone: any decoder reads them):
- A field in either table is sent as its index (6.1). Otherwise it is a literal with
  incremental indexing (6.2.1), name by index where the name is in a table, if it takes at
  most a quarter of the table: a large or one-off value would evict the fields every message
  repeats. Larger ones are literals without indexing (6.2.2).
- A name whose value has changed four times on the connection (a request id, a deadline
  counted in microseconds) is sent as a literal without indexing from then on: such values
  are not seen again, and indexing each would evict the fields that do repeat, and move every
  other entry's index (so nothing stays remembered). nghttp2's encoder (Envoy's) never indexes
  a fixed list of such names (`:path`, `content-length`, `etag`, `set-cookie`, ...); counting
  per connection finds them whatever they are called.
- `authorization` and `proxy-authorization` values are never indexed (6.2.3, 7.1.3): a
  shared compression context must not let one client probe another's credentials.
- Strings are sent raw, not Huffman-coded (5.2 allows either): coding every literal byte
  costs more CPU than the bytes it saves on a loopback or in-cluster hop, and the dynamic
  table already sends a repeated field as one or two bytes.
- A peer's SETTINGS_HEADER_TABLE_SIZE is honoured up to 4,096 bytes (the default); each
  change is signalled at the start of the next block, the smallest size first (4.2)."""

from __future__ import annotations

from collections import deque
from typing import Final

# RFC 7541 Appendix A
STATIC_TABLE: tuple[tuple[bytes, bytes], ...] = (
    (b":authority", b""), (b":method", b"GET"), (b":method", b"POST"), (b":path", b"/"),
    (b":path", b"/index.html"), (b":scheme", b"http"), (b":scheme", b"https"), (b":status", b"200"),
    (b":status", b"204"), (b":status", b"206"), (b":status", b"304"), (b":status", b"400"),
    (b":status", b"404"), (b":status", b"500"), (b"accept-charset", b""), (b"accept-encoding", b"gzip, deflate"),
    (b"accept-language", b""), (b"accept-ranges", b""), (b"accept", b""), (b"access-control-allow-origin", b""),
    (b"age", b""), (b"allow", b""), (b"authorization", b""), (b"cache-control", b""),
    (b"content-disposition", b""), (b"content-encoding", b""), (b"content-language", b""), (b"content-length", b""),
    (b"content-location", b""), (b"content-range", b""), (b"content-type", b""), (b"cookie", b""),
    (b"date", b""), (b"etag", b""), (b"expect", b""), (b"expires", b""),
    (b"from", b""), (b"host", b""), (b"if-match", b""), (b"if-modified-since", b""),
    (b"if-none-match", b""), (b"if-range", b""), (b"if-unmodified-since", b""), (b"last-modified", b""),
    (b"link", b""), (b"location", b""), (b"max-forwards", b""), (b"proxy-authenticate", b""),
    (b"proxy-authorization", b""), (b"range", b""), (b"referer", b""), (b"refresh", b""),
    (b"retry-after", b""), (b"server", b""), (b"set-cookie", b""), (b"strict-transport-security", b""),
    (b"transfer-encoding", b""), (b"user-agent", b""), (b"vary", b""), (b"via", b""),
    (b"www-authenticate", b""),
)

# By name, then value: two lookups on bytes (whose hashes are cached on the objects) cost less
# than one on a (name, value) tuple, made, hashed and compared per field.
_STATIC_NAMES: Final[dict[bytes, int]] = {}  # each name's first index
_STATIC_VALUES: Final[dict[bytes, dict[bytes, int]]] = {}
for _index, (_name, _value) in enumerate(STATIC_TABLE, 1):
    _STATIC_NAMES.setdefault(_name, _index)
    _STATIC_VALUES.setdefault(_name, {}).setdefault(_value, _index)

DEFAULT_TABLE_SIZE: Final = 4096
_ENTRY_OVERHEAD: Final = 32  # 4.1
_DYNAMIC_BASE: Final = 62  # the first dynamic index, after the 61 static ones
_NEVER_INDEXED: Final = frozenset({b"authorization", b"proxy-authorization"})
# A name whose value changed this many times on a connection is not indexed any more (see the
# module docstring); names counted per connection, up to _MAX_COUNTED.
_MAX_CHANGES: Final = 4
_MAX_COUNTED: Final = 1024
# An indexed field below 127 is one byte: `+=` of a ready bytes object is cheaper compiled than
# bytearray.append (a method call) and the prefix arithmetic.
_ONE_BYTE_INDEX: Final = tuple(bytes([0x80 | index]) for index in range(127))


def _integer(out: bytearray, value: int, prefix_bits: int, flags: int) -> None:
    """5.1: `value` in a prefix of `prefix_bits` bits after the representation's `flags`."""
    limit = (1 << prefix_bits) - 1
    if value < limit:
        out.append(flags | value)
        return
    out.append(flags | limit)
    value -= limit
    while value >= 128:
        out.append(value & 127 | 128)
        value >>= 7
    out.append(value)


def _string(out: bytearray, data: bytes) -> None:
    _integer(out, len(data), 7, 0)  # H = 0: raw octets
    out += data


def _indexed(index: int) -> bytes:
    """6.1: the field at `index` of either table."""
    if index < 127:
        return _ONE_BYTE_INDEX[index]
    out = bytearray()
    _integer(out, index, 7, 0x80)
    return bytes(out)


class HeaderEncoder:
    """One connection's encoding context. `encode` takes (name, value) pairs, names already
    lowercase; `header_table_size` is set from the peer's SETTINGS."""

    __slots__ = ("_max_size", "_size", "_entries", "_inserted", "_fields", "_names", "_smallest", "_memo",
                 "_changes")

    def __init__(self) -> None:
        self._max_size = DEFAULT_TABLE_SIZE
        self._size = 0
        self._entries: deque[tuple[bytes, bytes, int]] = deque()  # oldest first
        self._inserted = 0  # insertions ever: entry k (0-based) has index 62 + (inserted - 1 - k)
        self._fields: dict[bytes, dict[bytes, int]] = {}  # name -> value -> newest insertion
        self._names: dict[bytes, int] = {}  # newest insertion of each name
        self._smallest = -1  # the smallest size set since the last block; -1: no change to signal
        # name -> value -> its representation as an index, for the fields found in a table, until
        # the dynamic table changes (which moves the indexes)
        self._memo: dict[bytes, dict[bytes, bytes]] = {}
        self._changes: dict[bytes, int] = {}  # name -> values inserted while it had another

    @property
    def header_table_size(self) -> int:
        return self._max_size

    @header_table_size.setter
    def header_table_size(self, value: int) -> None:
        size = min(value, DEFAULT_TABLE_SIZE)
        if size == self._max_size and self._smallest < 0:
            return
        smallest = size if self._smallest < 0 else min(self._smallest, size)
        self._smallest = smallest
        self._max_size = size
        self._evict_to(smallest)  # the decoder's table goes down to the smallest too

    def encode(self, headers: list[tuple[bytes, bytes]]) -> bytes:
        out: list[bytes | memoryview] = []
        self.encode_into(out, headers)
        return b"".join(out)

    def encode_into(self, out: list[bytes | memoryview], headers: list[tuple[bytes, bytes]]) -> int:
        """The block of `headers` appended to `out` in pieces; returns its length. A field the
        block repeats from an earlier one is one memo lookup by name, one by value, and its
        ready representation."""
        length = 0
        if self._smallest >= 0:
            updates = self._size_updates()
            out.append(updates)
            length = len(updates)
        memo = self._memo
        for name, value in headers:
            values = memo.get(name)
            piece = values.get(value) if values is not None else None
            if piece is None:
                piece = self._field(name, value)
                memo = self._memo  # a new one if the field changed the table
            out.append(piece)
            length += len(piece)
        return length

    def _size_updates(self) -> bytes:
        out = bytearray()
        if self._smallest < self._max_size:
            _integer(out, self._smallest, 5, 0x20)
        _integer(out, self._max_size, 5, 0x20)
        self._smallest = -1
        return bytes(out)

    def _field(self, name: bytes, value: bytes) -> bytes:
        """A field the memo does not hold: its index if a table has it (remembered), otherwise
        a literal (which may add it to the dynamic table)."""
        name_index = _STATIC_NAMES.get(name, 0)
        if name_index:
            index = _STATIC_VALUES[name].get(value, 0)
            if index:
                return self._remember(name, value, _ONE_BYTE_INDEX[index])  # every static index fits
        values = self._fields.get(name)
        if values is not None:
            inserted = values.get(value, -1)
            if inserted >= 0:
                return self._remember(name, value, _indexed(_DYNAMIC_BASE + self._inserted - 1 - inserted))
            if not name_index:
                name_index = _DYNAMIC_BASE + self._inserted - 1 - self._names[name]
        size = len(name) + len(value) + _ENTRY_OVERHEAD
        out = bytearray()
        if name in _NEVER_INDEXED:
            _integer(out, name_index, 4, 0x10)
        elif size <= self._max_size >> 2 and self._indexable(name, values is not None):
            _integer(out, name_index, 6, 0x40)
            self._add(name, value, size)
        else:
            _integer(out, name_index, 4, 0)
        if not name_index:
            _string(out, name)
        _string(out, value)
        return bytes(out)

    def _remember(self, name: bytes, value: bytes, piece: bytes) -> bytes:
        values = self._memo.get(name)
        if values is None:
            values = self._memo[name] = {}
        values[value] = piece
        return piece

    def _indexable(self, name: bytes, in_table: bool) -> bool:
        """Whether a new value of `name` goes into the dynamic table: not once the name's value
        has changed _MAX_CHANGES times (a request id, a deadline: values never seen again)."""
        if not in_table:
            return self._changes.get(name, 0) < _MAX_CHANGES
        changes = self._changes.get(name, 0) + 1
        if changes > _MAX_CHANGES:
            return False
        if len(self._changes) >= _MAX_COUNTED:
            self._changes.clear()
        self._changes[name] = changes
        return True

    def _add(self, name: bytes, value: bytes, size: int) -> None:
        self._evict_to(self._max_size - size)
        number = self._inserted
        self._inserted = number + 1
        self._entries.append((name, value, size))
        self._size += size
        values = self._fields.get(name)
        if values is None:
            values = self._fields[name] = {}
        values[value] = number
        self._names[name] = number
        self._memo = {}  # every dynamic index moved by one

    def _evict_to(self, limit: int) -> None:
        """Oldest entries out until the table holds at most `limit` bytes (4.4)."""
        entries = self._entries
        if self._size <= limit or not entries:
            return
        self._memo = {}  # (indexes of the fields that stay do not move, but evicted ones go)
        while self._size > limit and entries:
            name, value, size = entries.popleft()
            self._size -= size
            number = self._inserted - 1 - len(entries)  # the evicted entry's insertion number
            values = self._fields[name]
            if values.get(value) == number:
                del values[value]
            if self._names.get(name) == number:
                del self._names[name]
                del self._fields[name]  # the newest of its name gone: every older one went before
