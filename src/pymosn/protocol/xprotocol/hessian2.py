"""The part of Hessian 2.0 (caucho's serialization spec) that routing Dubbo needs: read strings,
ints, booleans, null and string maps, and skip any other value without building it.

No Hessian library on PyPI is both maintained and strict about malformed input, and routing
reads only a few leading fields, so this is hand-written: every read is bounds-checked and
every failure is a ProtocolError; nesting depth and collection sizes are capped."""

from __future__ import annotations

import struct

from pymosn.api.errors import ProtocolError

MAX_DEPTH = 64
MAX_ITEMS = 1 << 20


class Reader:
    def __init__(self, data: bytes | memoryview) -> None:
        self.data = data
        self.pos = 0
        self.classes: list[int] = []  # field count of each class definition seen
        self.types = 0  # type strings seen (type refs point at them)

    # --- primitives ----------------------------------------------------------------------------

    def _byte(self) -> int:
        if self.pos >= len(self.data):
            raise ProtocolError("hessian2: truncated value")
        b = self.data[self.pos]
        self.pos += 1
        return b

    def _take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise ProtocolError("hessian2: truncated value")
        out = bytes(self.data[self.pos : self.pos + n])
        self.pos += n
        return out

    def peek(self) -> int:
        if self.pos >= len(self.data):
            raise ProtocolError("hessian2: truncated value")
        return self.data[self.pos]

    def at_end(self) -> bool:
        return self.pos >= len(self.data)

    # --- values routing reads ------------------------------------------------------------------

    def read_string(self) -> str | None:
        tag = self._byte()
        if tag == 0x4E:  # N
            return None
        parts = []
        while True:
            if tag <= 0x1F:
                length, final = tag, True
            elif 0x30 <= tag <= 0x33:
                length, final = (tag - 0x30) * 256 + self._byte(), True
            elif tag in (0x53, 0x52):  # S final chunk, R non-final chunk
                length, final = struct.unpack(">H", self._take(2))[0], tag == 0x53
            else:
                raise ProtocolError(f"hessian2: expected a string, got tag 0x{tag:02x}")
            parts.append(self._chars(length))
            if final:
                return "".join(parts)
            tag = self._byte()

    def _chars(self, units: int) -> str:
        """`units` UTF-16 code units of UTF-8 (Java writes a surrogate pair as two 3-byte
        sequences; a 4-byte sequence counts as two units)."""
        start, pos, data, end = self.pos, self.pos, self.data, len(self.data)
        ascii_run = bytes(data[start : start + units])
        if len(ascii_run) == units and ascii_run.isascii():  # the usual case: one byte per unit
            self.pos = start + units
            return ascii_run.decode("ascii")
        while units > 0:
            if pos >= end:
                raise ProtocolError("hessian2: truncated string")
            b = data[pos]
            if b < 0x80:
                pos += 1
                units -= 1
            elif b >= 0xF0:
                pos += 4
                units -= 2
            elif b >= 0xE0:
                pos += 3
                units -= 1
            else:
                pos += 2
                units -= 1
        if pos > end:
            raise ProtocolError("hessian2: truncated string")
        self.pos = pos
        raw = bytes(data[start:pos])
        try:
            text = raw.decode("utf-8", "surrogatepass")
            # Java writes a supplementary character as two 3-byte surrogates: join them
            return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le")
        except UnicodeError:
            raise ProtocolError("hessian2: string is not valid UTF-8") from None

    def read_int(self) -> int:
        tag = self._byte()
        if 0x80 <= tag <= 0xBF:
            return tag - 0x90
        if 0xC0 <= tag <= 0xCF:
            return ((tag - 0xC8) << 8) + self._byte()
        if 0xD0 <= tag <= 0xD7:
            return ((tag - 0xD4) << 16) + struct.unpack(">H", self._take(2))[0]
        if tag == 0x49:  # I
            return struct.unpack(">i", self._take(4))[0]
        raise ProtocolError(f"hessian2: expected an int, got tag 0x{tag:02x}")

    def read_string_map(self) -> dict[str, str]:
        """A map (untyped 'H' or typed 'M') whose string keys and string values are kept; other
        entries are skipped."""
        tag = self._byte()
        if tag == 0x4E:
            return {}
        if tag == 0x4D:
            self._skip_type()
        elif tag != 0x48:
            raise ProtocolError(f"hessian2: expected a map, got tag 0x{tag:02x}")
        out: dict[str, str] = {}
        for _ in range(MAX_ITEMS):
            if self.peek() == 0x5A:  # Z
                self.pos += 1
                return out
            key = self._maybe_string()
            value = self._maybe_string()
            if isinstance(key, str) and isinstance(value, str):
                out[key] = value
        raise ProtocolError("hessian2: map too large")

    def read_map_entries(self) -> tuple[bytes, list[tuple[int, int, str | None, str | None]]]:
        """A map for rewriting: its opening (the tag, and a typed map's type) and each entry as
        (start, end) in the data with its key and value when they are strings. A null reads as
        an empty untyped map. Entries that are not both strings are to be kept byte for byte."""
        start = self.pos
        tag = self._byte()
        if tag == 0x4E:
            return b"H", []
        if tag == 0x4D:
            self._skip_type()
        elif tag != 0x48:
            raise ProtocolError(f"hessian2: expected a map, got tag 0x{tag:02x}")
        opening = bytes(self.data[start : self.pos])
        entries: list[tuple[int, int, str | None, str | None]] = []
        for _ in range(MAX_ITEMS):
            if self.peek() == 0x5A:  # Z
                self.pos += 1
                return opening, entries
            entry = self.pos
            key = self._maybe_string()
            value = self._maybe_string()
            entries.append((entry, self.pos, key if isinstance(key, str) else None,
                            value if isinstance(value, str) else None))
        raise ProtocolError("hessian2: map too large")

    def _maybe_string(self):
        tag = self.peek()
        if tag <= 0x1F or 0x30 <= tag <= 0x33 or tag in (0x52, 0x53):
            return self.read_string()
        self.skip()
        return None

    # --- skipping ------------------------------------------------------------------------------

    def skip(self, depth: int = 0) -> None:
        if depth > MAX_DEPTH:
            raise ProtocolError("hessian2: nested too deep")
        tag = self._byte()
        if tag in (0x4E, 0x54, 0x46, 0x5B, 0x5C):  # N T F, double 0.0 1.0
            return
        if tag <= 0x1F or 0x30 <= tag <= 0x33 or tag in (0x52, 0x53):
            self.pos -= 1
            self.read_string()
            return
        if 0x20 <= tag <= 0x2F:  # short binary
            self._take(tag - 0x20)
            return
        if 0x34 <= tag <= 0x37:
            self._take((tag - 0x34) * 256 + self._byte())
            return
        if tag in (0x41, 0x42):  # binary chunks
            while True:
                self._take(struct.unpack(">H", self._take(2))[0])
                if tag == 0x42:
                    return
                tag = self._byte()
                if tag not in (0x41, 0x42):
                    raise ProtocolError("hessian2: bad binary chunk")
        fixed = {0x49: 4, 0x4C: 8, 0x44: 8, 0x4A: 8, 0x4B: 4, 0x59: 4, 0x5D: 1, 0x5E: 2, 0x5F: 4}
        if tag in fixed:
            self._take(fixed[tag])
            return
        if 0x80 <= tag <= 0xBF or 0xD8 <= tag <= 0xEF:  # one-byte int / long
            return
        if 0xC0 <= tag <= 0xCF or 0xF0 <= tag <= 0xFF:
            self._take(1)
            return
        if 0xD0 <= tag <= 0xD7 or 0x38 <= tag <= 0x3F:
            self._take(2)
            return
        if tag == 0x51:  # Q ref
            self.read_int()
            return
        if tag == 0x43:  # C class definition, then the value that follows
            self.read_string()
            count = self.read_int()
            if not 0 <= count <= 4096:
                raise ProtocolError("hessian2: bad field count")
            for _ in range(count):
                self.read_string()
            self.classes.append(count)
            self.skip(depth + 1)
            return
        if tag == 0x4F or 0x60 <= tag <= 0x6F:  # object instance
            ref = self.read_int() if tag == 0x4F else tag - 0x60
            if not 0 <= ref < len(self.classes):
                raise ProtocolError("hessian2: object refers to an unknown class")
            for _ in range(self.classes[ref]):
                self.skip(depth + 1)
            return
        if tag in (0x48, 0x4D):  # maps
            if tag == 0x4D:
                self._skip_type()
            self._skip_until_z(depth, pairs=True)
            return
        if tag in (0x55, 0x57):  # variable-length lists (typed, untyped)
            if tag == 0x55:
                self._skip_type()
            self._skip_until_z(depth, pairs=False)
            return
        if tag in (0x56, 0x58):  # fixed-length lists (typed, untyped)
            if tag == 0x56:
                self._skip_type()
            self._skip_n(self.read_int(), depth)
            return
        if 0x70 <= tag <= 0x77:
            self._skip_type()
            self._skip_n(tag - 0x70, depth)
            return
        if 0x78 <= tag <= 0x7F:
            self._skip_n(tag - 0x78, depth)
            return
        raise ProtocolError(f"hessian2: unknown tag 0x{tag:02x}")

    def _skip_type(self) -> None:
        tag = self.peek()
        if tag <= 0x1F or 0x30 <= tag <= 0x33 or tag in (0x52, 0x53):
            self.read_string()
        else:
            self.read_int()  # a reference to an earlier type

    def _skip_n(self, count: int, depth: int) -> None:
        if not 0 <= count <= MAX_ITEMS:
            raise ProtocolError("hessian2: bad list length")
        for _ in range(count):
            self.skip(depth + 1)

    def _skip_until_z(self, depth: int, pairs: bool) -> None:
        for _ in range(MAX_ITEMS):
            if self.peek() == 0x5A:
                self.pos += 1
                return
            self.skip(depth + 1)
            if pairs:
                self.skip(depth + 1)
        raise ProtocolError("hessian2: collection too large")


# --- writing (tests, local replies, benchmark frames) ------------------------------------------


def write_string(value: str | None) -> bytes:
    """A string in as few bytes as Hessian allows; lengths count UTF-16 units, as Java's do."""
    if value is None:
        return b"N"
    units = _units(value)
    data = value.encode("utf-8")
    if units <= 31:
        return bytes([units]) + data
    if units <= 1023:
        return bytes([0x30 + (units >> 8), units & 0xFF]) + data
    out, rest = bytearray(), value
    while _units(rest) > 0xFFFF:
        head, rest = rest[:0x7FFF], rest[0x7FFF:]  # at most 0xFFFE units per chunk
        out += b"R" + struct.pack(">H", _units(head)) + head.encode("utf-8")
    return bytes(out) + b"S" + struct.pack(">H", _units(rest)) + rest.encode("utf-8")


def _units(value: str) -> int:
    return len(value.encode("utf-16-le", "surrogatepass")) // 2


def write_int(value: int) -> bytes:
    if -16 <= value <= 47:
        return bytes([value + 0x90])
    if -2048 <= value <= 2047:
        return bytes([0xC8 + (value >> 8), value & 0xFF])
    return b"I" + struct.pack(">i", value)


def write_string_map(values: dict[str, str]) -> bytes:
    return b"H" + b"".join(write_string(k) + write_string(v) for k, v in values.items()) + b"Z"
