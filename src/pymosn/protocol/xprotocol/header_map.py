"""The header map stream filters see for an X-Protocol frame.

A frame's headers are a dictionary of strings (Bolt's header map; Dubbo's invocation fields and
attachments; a plugin codec's own); the RPC proxy already makes the lower-cased copy its router
matches on (`fields`, with routable extras such as Bolt's `class_name`). `RpcHeaderMap` presents
that dictionary through the `RequestHeaderMap` API (lower-case bytes names, bytes values)
without copying it: reads look the name up in it. The first write copies it, marks the map
`changed`, and from then on also tracks the frame's own header names in their received case,
so that `frame_headers()` gives what the codec re-encodes (`XCodec.rewrite_headers`): the
untouched headers exactly as they arrived, new ones under the lower-case name given.

An RPC header map holds one value per name, as the protocols' maps do: `add` of a name that is
present joins the values with "," (what HTTP's repeated fields mean), `get_all` has at most one
value. The codec's `fixed_headers` (fields of the frame, not of its header map) are readable and
cannot be written. Pseudo-headers: `:authority` and `:path` are the RPC service (or the request
class), `:method` the RPC method, `:scheme` the protocol's name; they are read-only (an RPC frame
has no request line to rewrite). A response map has none."""

from __future__ import annotations

from collections.abc import Collection, Iterator

from pymosn.api.headers import Pairs, RequestHeaderMap


def _text(name: bytes) -> str:
    return name.decode("utf-8", "surrogateescape")


class RpcHeaderMap(RequestHeaderMap):
    __slots__ = ("_fields", "_received", "_names", "_fixed")

    def __init__(
        self, fields: dict[str, str], received: dict[str, str], fixed: Collection[str] = (),
        method: bytes = b"", path: bytes = b"", scheme: bytes = b"",
    ) -> None:
        self._fields = fields  # lower-case name -> value: what routing and filters read
        self._received = received  # the frame's own headers, names as received
        self._names: dict[str, str] | None = None  # lower -> name to send; made by the first write
        self._fixed = fixed
        self._owned = False
        self.changed = False
        self.method = method
        self.path = path
        self.scheme = scheme

    @property
    def fields(self) -> dict[str, str]:
        """Lower-case name -> value, as the router matches them (the original dict until written)."""
        return self._fields

    def frame_headers(self) -> dict[str, str]:
        """The frame's header map to send: received names for received headers, in order."""
        names = self._names
        if names is None:
            return self._received
        fields = self._fields
        return {name: fields[lower] for lower, name in names.items()}

    # --- reads -----------------------------------------------------------------------------

    def get(self, name: bytes) -> bytes | None:
        if name[:1] == b":":
            return self._pseudo(name)
        value = self._fields.get(_text(name))
        return None if value is None else value.encode()

    def get_all(self, name: bytes) -> list[bytes]:
        value = self.get(name)
        return [] if value is None or name[:1] == b":" else [value]

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, bytes):
            return False
        if name[:1] == b":":
            return self._pseudo(name) is not None
        return _text(name) in self._fields

    def __iter__(self) -> Iterator[tuple[bytes, bytes]]:
        return ((name.encode(), value.encode()) for name, value in self._fields.items())

    def __len__(self) -> int:
        return len(self._fields)

    def pairs(self) -> Pairs:
        return list(self)

    def lower_names(self) -> list[bytes]:
        return [name.encode() for name in self._fields]

    def _pseudo(self, name: bytes) -> bytes | None:
        if name == b":authority" or name == b":path":
            value = self.path
        elif name == b":method":
            value = self.method
        elif name == b":scheme":
            value = self.scheme
        else:
            return None
        return value or None

    # --- writes ----------------------------------------------------------------------------

    def _writable(self, name: bytes) -> str:
        if name[:1] == b":":
            raise ValueError(f"{name.decode(errors='replace')} of an RPC request cannot be changed")
        key = name.decode()  # a name or value that is not UTF-8 cannot be encoded: ValueError
        if key in self._fixed:
            raise ValueError(f"{key} is a field of the RPC frame, not a header: it cannot be changed")
        if not self._owned:
            self._fields = dict(self._fields)
            fixed = self._fixed
            self._names = {lower: received for received in self._received
                           if (lower := received.lower()) not in fixed}
            self._owned = self.changed = True
        return key

    def set(self, name: bytes, value: bytes) -> None:
        key = self._writable(name)
        self._fields[key] = value.decode()
        assert self._names is not None
        self._names.setdefault(key, key)

    def add(self, name: bytes, value: bytes) -> None:
        current = self.get(name)
        self.set(name, value if current is None else current + b"," + value)

    def remove(self, name: bytes) -> int:
        if name[:1] != b":" and _text(name) not in self._fields:
            return 0  # nothing to change: no copy
        key = self._writable(name)
        del self._fields[key]
        assert self._names is not None
        self._names.pop(key, None)
        return 1

    def __repr__(self) -> str:
        return f"RpcHeaderMap({self._fields!r})"
