"""A mutable header map over the codecs' (name, value) pairs, copied only when a filter writes.

A codec hands a request over as `headers: list[tuple[bytes, bytes]]` (names in received case)
plus `lower_names: list[bytes]` (the same names lower-cased, computed once). `HeaderMap` wraps
those two lists without copying: reads (`get`, `get_all`, `in`, iteration, `len`) scan them
as they are, and `pairs()` returns the very list object the codec made, so a stream whose
filters only read its headers costs one small object and no copy. The first write (`set`,
`add`, `append`, `remove`) copies both lists once and marks the map `changed`; later writes
edit the copies. Names are matched case-insensitively: a name given to any method is
lower-cased bytes (callers pass lower-case literals; a mixed-case name simply does not match,
which keeps the read path free of a `.lower()` per call). A written name is stored as given
(lower case), as HTTP/2 sends it.

Pseudo-headers. Envoy keeps `:method`, `:path`, `:authority` and `:scheme` in its header map.
pymosn's codecs carry the request line outside the pairs (`RequestHead.method`, `.target`;
the HTTP/2 codec turns `:authority` into a `host` field first in the pairs), so
`RequestHeaderMap` presents them through the same API without putting them in the list:

- `:authority` is an alias of the `host` field (both codecs put it in the pairs);
- `:method`, `:path` and `:scheme` live in the map's own slots, read and written with
  `get(b":path")` / `set(b":path", v)` or the `method` / `path` / `scheme` attributes;
- iteration, `len`, `get_all` and `pairs()` cover the regular fields only, so `pairs()` is
  always something a codec can encode as is. A changed pseudo-header sets `changed` too.

Response headers carry their status outside the map (the encoder side passes it as an int);
trailers are a plain `HeaderMap`.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator

Pairs = list[tuple[bytes, bytes]]


class HeaderMap:
    __slots__ = ("_pairs", "_lower", "_owned", "changed")

    def __init__(self, pairs: Pairs, lower_names: list[bytes]) -> None:
        self._pairs = pairs
        self._lower = lower_names
        self._owned = False  # the lists are our copies, free to edit
        self.changed = False  # True once anything was written

    @classmethod
    def of(cls, pairs: Pairs) -> HeaderMap:
        """A map of pairs made by pymosn itself (a local reply, a test): lower-cases the names."""
        lower = []
        for pair in pairs:  # a loop: a comprehension makes a function object per call (3.11)
            lower.append(pair[0].lower())
        # (the compiled build makes the usual class directly, not through a call of `cls`)
        return HeaderMap(pairs, lower) if cls is HeaderMap else cls(pairs, lower)

    # --- reads: work on the lists as given -------------------------------------------------

    def get(self, name: bytes) -> bytes | None:
        """The first value of `name` (lower case), or None."""
        try:
            return self._pairs[self._lower.index(name)][1]
        except ValueError:
            return None

    def get_all(self, name: bytes) -> list[bytes]:
        """Every value of `name`, in received order."""
        lower = self._lower
        if name not in lower:
            return []
        return [pair[1] for lname, pair in zip(lower, self._pairs) if lname == name]

    def __contains__(self, name: object) -> bool:
        return name in self._lower

    def __iter__(self) -> Iterator[tuple[bytes, bytes]]:
        """(lower-case name, value) pairs in order."""
        return zip(self._lower, (pair[1] for pair in self._pairs))

    def __len__(self) -> int:
        return len(self._pairs)

    def pairs(self) -> Pairs:
        """The fields as a codec encodes them: the codec's own list while nothing was written."""
        return self._pairs

    def lower_names(self) -> list[bytes]:
        return self._lower

    # --- writes: the first one copies -----------------------------------------------------
    # A write of a name that is absent (what filters mostly do: add a header) makes the copy
    # and its own field in one step, without a separate copy-then-append or a second scan.

    def _own(self) -> None:
        if not self._owned:
            self._pairs = list(self._pairs)
            self._lower = list(self._lower)
            self._owned = self.changed = True

    def add(self, name: bytes, value: bytes) -> None:
        """Append a field, keeping any fields of that name."""
        if self._owned:
            self._pairs.append((name, value))
            self._lower.append(name)
        else:
            self._pairs = [*self._pairs, (name, value)]
            self._lower = [*self._lower, name]
            self._owned = self.changed = True

    def set(self, name: bytes, value: bytes) -> None:
        """Replace every field of `name` with one field (in the first one's place), or add it."""
        if name in self._lower:
            self._own()
            self._replace(name, value)
        elif self._owned:  # add(), written out: this is the usual case
            self._pairs.append((name, value))
            self._lower.append(name)
        else:
            self._pairs = [*self._pairs, (name, value)]
            self._lower = [*self._lower, name]
            self._owned = self.changed = True

    def _replace(self, name: bytes, value: bytes) -> None:
        """`set` of a name that is present, in owned lists."""
        lower = self._lower
        first = lower.index(name)
        self._pairs[first] = (self._pairs[first][0], value)
        if lower.count(name) > 1:
            self._drop(name, first + 1)

    def append(self, name: bytes, value: bytes, separator: bytes = b",") -> None:
        """Join `value` to the first field of `name` (RFC 9110 5.3 list syntax), or add it."""
        current = self.get(name)
        self.set(name, value if current is None else current + separator + value)

    def remove(self, name: bytes) -> int:
        """Drop every field of `name`; returns how many there were."""
        if name not in self._lower:
            return 0  # nothing to change: no copy
        self._own()
        return self._drop(name, 0)

    def _drop(self, name: bytes, start: int) -> int:
        lower = self._lower
        keep = [i for i in range(len(lower)) if i < start or lower[i] != name]
        dropped = len(lower) - len(keep)
        if dropped:
            self._pairs = [self._pairs[i] for i in keep]
            self._lower = [lower[i] for i in keep]
        return dropped

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._pairs!r})"


_AUTHORITY = b":authority"


class RequestHeaderMap(HeaderMap):
    """Request headers with the request line's pseudo-headers (see the module docstring)."""

    __slots__ = ("method", "path", "scheme")

    def __init__(
        self, pairs: Pairs, lower_names: list[bytes], method: bytes = b"GET", path: bytes = b"/",
        scheme: bytes = b"http",
    ) -> None:
        self._pairs = pairs
        self._lower = lower_names
        self._owned = False
        self.changed = False
        self.method = method
        self.path = path  # path and query, as received
        self.scheme = scheme

    def get(self, name: bytes) -> bytes | None:
        if name[:1] != b":":
            try:
                return self._pairs[self._lower.index(name)][1]
            except ValueError:
                return None
        if name == _AUTHORITY:
            return HeaderMap.get(self, b"host")
        return self._pseudo(name)

    def __contains__(self, name: object) -> bool:
        if name in self._lower:
            return True
        if name == _AUTHORITY:
            return b"host" in self._lower
        return isinstance(name, bytes) and name[:1] == b":" and self._pseudo(name) is not None

    def set(self, name: bytes, value: bytes) -> None:
        if name[:1] != b":":
            # HeaderMap.set, written out: a filter's set of a regular name costs one call
            if name in self._lower:
                self._own()
                self._replace(name, value)
            elif self._owned:
                self._pairs.append((name, value))
                self._lower.append(name)
            else:
                self._pairs = [*self._pairs, (name, value)]
                self._lower = [*self._lower, name]
                self._owned = self.changed = True
        elif name == _AUTHORITY:
            HeaderMap.set(self, b"host", value)
        elif name == b":method":
            self.method, self.changed = value, True
        elif name == b":path":
            self.path, self.changed = value, True
        elif name == b":scheme":
            self.scheme, self.changed = value, True
        else:
            raise ValueError(f"{name!r} is not a request pseudo-header")

    def add(self, name: bytes, value: bytes) -> None:
        if name[:1] == b":":
            raise ValueError(f"pseudo-header {name!r} is single-valued: set it")
        if self._owned:  # HeaderMap.add, written out
            self._pairs.append((name, value))
            self._lower.append(name)
        else:
            self._pairs = [*self._pairs, (name, value)]
            self._lower = [*self._lower, name]
            self._owned = self.changed = True

    def remove(self, name: bytes) -> int:
        if name == _AUTHORITY:
            return HeaderMap.remove(self, b"host")
        if name[:1] == b":":
            raise ValueError(f"pseudo-header {name!r} cannot be removed")
        return HeaderMap.remove(self, name)

    def _pseudo(self, name: bytes) -> bytes | None:
        if name == b":path":
            return self.path
        if name == b":method":
            return self.method
        if name == b":scheme":
            return self.scheme
        return None


class HeaderSide(enum.Flag):
    """The header maps of a request/response exchange, by side: those a filter's config changes
    on the upstream's messages, and those a protocol can carry changed (an RPC codec's
    `rewritable_headers`). Read when a config loads, never per request."""

    NONE = 0
    REQUEST = 1
    RESPONSE = 2
    BOTH = 3  # REQUEST | RESPONSE, written out: the compiled build cannot read class names here
