"""Reads one Envoy message from its proto3 JSON form (a plain dict from JSON or YAML).

protobuf's JSON parser accepts each field under its proto name (`per_connection_buffer_limit_bytes`)
and its JSON name (`perConnectionBufferLimitBytes`); so does `Message`. Every field read is
marked; `finish()` then reports what the user set that no translator read: a warning when
ignoring it only loses a feature, an error when ignoring it would let through traffic the
config means to refuse (the `unsafe` fields of the message's `Schema`), and an error for a
name the message does not have, as Envoy itself refuses unknown fields."""

from __future__ import annotations

import base64
import binascii
import os
import re
from dataclasses import dataclass, field
from typing import Any

from pymosn.config.duration import parse_duration
from pymosn.config.envoy.origins import Origins
from pymosn.config.issues import IssueLog, child, did_you_mean, item, known_values_message, type_name

IGNORED = "not implemented by pymosn yet; ignored"

_CAMEL = re.compile(r"_([a-z0-9])")


def json_name(proto_name: str) -> str:
    """protobuf's JSON name of a field: lowerCamelCase of the proto name."""
    return _CAMEL.sub(lambda m: m.group(1).upper(), proto_name)


class Schema:
    """The fields of one Envoy message (from its .proto). `unsafe` maps a field pymosn does not
    implement to what ignoring it would do; `inert` fields change nothing pymosn has (names,
    stat prefixes Envoy requires) and are read silently; `removed` maps a field only an older
    API had to its API and what v3 uses instead (Envoy refuses them as unknown)."""

    def __init__(self, name: str, fields: str, *, unsafe: dict[str, str] | None = None, inert: str = "",
                 removed: dict[str, tuple[str, str]] | None = None) -> None:
        self.name = name
        self.fields = frozenset(fields.split())
        self.unsafe = unsafe or {}
        self.inert = frozenset(inert.split())
        self.removed = removed or {}
        self._by_key = {**{json_name(f): f for f in self.fields}, **{f: f for f in self.fields}}
        assert set(self.unsafe) <= self.fields and self.inert <= self.fields, name

    def field_for(self, key: str) -> str | None:
        return self._by_key.get(key)


@dataclass
class Context:
    """What the translation of one bootstrap shares: where issues go, where each produced
    value came from, and names produced so far (so generated ones stay unique)."""

    log: IssueLog = field(default_factory=IssueLog)
    origins: Origins = field(default_factory=Origins)
    router_names: set[str] = field(default_factory=set)
    # static_resources.secrets by name: {"tls_certificate": (raw, path), "validation_context": ...}
    secrets: dict[str, dict[str, tuple[Any, str]]] = field(default_factory=dict)
    routers: list[dict] = field(default_factory=list)

    def router_name(self, wanted: str) -> str:
        """Envoy's inline route configs need no unique names (two listeners may both call
        theirs "local_route"); MOSN's router configs are looked up by name, so ours must be."""
        name, n = wanted or "route", 1
        while name in self.router_names:
            n += 1
            name = f"{wanted or 'route'}#{n}"
        self.router_names.add(name)
        return name

    def put(self, out: dict, key: str, value: Any, source: str) -> None:
        """`out[key] = value`, remembering that `source` (an Envoy path) is where it came from."""
        out[key] = value
        self.origins.field(out, key, source)

    def node(self, out: Any, source: str) -> Any:
        self.origins.node(out, source)
        return out


def is_unset(value: object) -> bool:
    """proto3 cannot tell a default value from an absent one, so neither asks for anything."""
    return value is None or value is False or value == 0 or value == "" or value == {} or value == []


def enum_value(value: object, values: tuple[str | None, ...]) -> str | None:
    """The enum name `value` stands for, as Envoy's JSON parser reads it: the name in any case
    ("round_robin"), or the number, also as a decimal string; None if it is none of them."""
    if isinstance(value, str):
        if value.isascii() and value.isdigit():
            value = int(value)
        else:
            wanted = value.upper()
            return next((v for v in values if v is not None and v.upper() == wanted), None)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(values):
        return values[value]
    return None


class Message:
    def __init__(self, raw: Any, path: str, schema: Schema, ctx: Context, *, skip: frozenset[str] = frozenset()) -> None:
        self.path = path
        self.schema = schema
        self.ctx = ctx
        self.valid = isinstance(raw, dict)
        self._values: dict[str, Any] = {}
        self._keys: dict[str, str] = {}
        self._read: set[str] = set()
        self.removed: list[str] = []  # the fields of an older API it has
        if not self.valid:
            ctx.log.error(path, f"expected object ({schema.name}), got {type_name(raw)}")
            return
        for key, value in raw.items():
            if key in skip:
                continue
            name = schema.field_for(key) if isinstance(key, str) else None
            if name is None and key in schema.removed:
                api, instead = schema.removed[key]
                ctx.log.error(child(path, key), f"{key!r} is the {api} API; v3 uses {instead}")
                self.removed.append(key)
            elif name is None:
                hint = did_you_mean(str(key), [*schema.fields, *(json_name(f) for f in schema.fields)])
                ctx.log.error(child(path, str(key)), f"unknown field {key!r} of {schema.name}{hint}")
            elif name in self._values:
                ctx.log.error(child(path, key), f"{name!r} is set twice (as {self._keys[name]!r} and {key!r})")
            else:
                self._values[name] = value
                self._keys[name] = key

    # --- paths and presence ---------------------------------------------------------------

    def at(self, name: str) -> str:
        """The path of a field, spelled as the user wrote it."""
        return child(self.path, self._keys.get(name, name))

    def has(self, name: str) -> bool:
        return not is_unset(self._values.get(name))

    def set_fields(self) -> list[str]:
        return [name for name, value in self._values.items() if not is_unset(value)]

    def raw(self, name: str) -> Any:
        self._read.add(name)
        return self._values.get(name)

    def ignore(self, *names: str) -> None:
        """Fields read on purpose without effect."""
        self._read.update(names)

    # --- scalars ----------------------------------------------------------------------------

    def str(self, name: str, default: str = "") -> str:
        value = self.raw(name)
        if value is None:
            return default
        if not isinstance(value, str):
            self.ctx.log.error(self.at(name), f"expected str, got {type_name(value)}")
            return default
        return value

    def int(self, name: str, default: int | None = None) -> int | None:
        """int32/uint32 and their wrappers; protobuf also takes them as decimal strings."""
        value = self.raw(name)
        if value is None:
            return default
        if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
            return int(value)
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            self.ctx.log.error(self.at(name), f"expected int, got {type_name(value)}")
            return default
        return value

    def bool(self, name: str, default: bool = False) -> bool:
        value = self.raw(name)
        if value is None:
            return default
        if not isinstance(value, bool):
            self.ctx.log.error(self.at(name), f"expected bool, got {type_name(value)}")
            return default
        return value

    def duration(self, name: str, default: float | None = None) -> float | None:
        """google.protobuf.Duration: "1.5s" in JSON; Go-style "500ms" and {seconds, nanos} too."""
        value = self.raw(name)
        if value is None:
            return default
        if isinstance(value, dict) and set(value) <= {"seconds", "nanos"}:
            value = float(value.get("seconds", 0)) + float(value.get("nanos", 0)) / 1e9
        try:
            return parse_duration(value)
        except (ValueError, TypeError) as error:
            self.ctx.log.error(self.at(name), str(error))
            return default

    def enum(self, name: str, values: tuple[str | None, ...], default: str | None = None, *,
             v2: dict[str, str] | None = None) -> str | None:
        """An enum by name or by number; None after an error. `values` are the proto's names at
        their numbers (None where a number is reserved); `v2` maps names only the v2 API had to
        what v3 calls them."""
        value = self.raw(name)
        if value is None:
            return default if default is not None else values[0]
        found = enum_value(value, values)
        if found is not None:
            return found
        old = next((k for k in v2 or () if isinstance(value, str) and k.upper() == value.upper()), None)
        if old is not None:
            self.ctx.log.error(self.at(name), f"{old} is the v2 API; v3 uses {v2[old]}")
        else:
            self.ctx.log.error(self.at(name), known_values_message(value, [v for v in values if v is not None]))
        return None

    def strings(self, name: str) -> list[str]:
        values = self.list(name)
        out = []
        for i, value in enumerate(values):
            if isinstance(value, str):
                out.append(value)
            else:
                self.ctx.log.error(item(self.at(name), i), f"expected str, got {type_name(value)}")
        return out

    def ints(self, name: str) -> list[int]:
        out = []
        for i, value in enumerate(self.list(name)):
            if isinstance(value, int) and not isinstance(value, bool):
                out.append(value)
            else:
                self.ctx.log.error(item(self.at(name), i), f"expected int, got {type_name(value)}")
        return out

    def list(self, name: str) -> list:
        value = self.raw(name)
        if value is None:
            return []
        if not isinstance(value, list):
            # Envoy parses JSON/YAML with protobuf's legacy syntax, which reads a lone value
            # where a repeated field is expected as a list of that one element.
            return [value]
        return value

    def map(self, name: str) -> dict:
        value = self.raw(name)
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.ctx.log.error(self.at(name), f"expected object, got {type_name(value)}")
            return {}
        return value

    # --- nested messages --------------------------------------------------------------------

    def message(self, name: str, schema: Schema) -> Message | None:
        value = self.raw(name)
        if value is None:
            return None
        sub = Message(value, self.at(name), schema, self.ctx)
        return sub if sub.valid else None

    def messages(self, name: str, schema: Schema) -> list[Message]:
        subs = (Message(value, item(self.at(name), i), schema, self.ctx) for i, value in enumerate(self.list(name)))
        return [sub for sub in subs if sub.valid]

    def one_of(self, *names: str) -> str | None:
        """The one field of a oneof that is set (an error names them all if several are)."""
        chosen = [n for n in names if self._values.get(n) is not None]
        if len(chosen) > 1:
            self.ctx.log.error(self.path, f"set only one of {', '.join(names)}; found {', '.join(chosen)}")
            self._read.update(chosen[1:])  # reported: not also as unread
        return chosen[0] if chosen else None

    # --- reporting --------------------------------------------------------------------------

    def error(self, name: str | None, message: str) -> None:
        self.ctx.log.error(self.at(name) if name else self.path, message)

    def warn(self, name: str | None, message: str) -> None:
        self.ctx.log.warning(self.at(name) if name else self.path, message)

    def refuse(self, name: str, why: str) -> None:
        """A set field pymosn cannot honour and must not ignore."""
        self._read.add(name)
        self.ctx.log.error(self.at(name), f"not implemented by pymosn yet; ignoring it would {why}")

    def refuse_unless(self, name: str, values: tuple[str | None, ...], implemented: tuple[str, ...],
                      why: str) -> None:
        """An enum pymosn implements only some values of: any other is refused."""
        value = self.enum(name, values)
        if value is not None and value not in implemented:
            self.ctx.log.error(self.at(name), f"{value} is not implemented by pymosn yet; ignoring it would {why}")

    def drop(self) -> None:
        """The whole message was refused: what else it sets is not reported (it would only be
        what the refusal already implies)."""
        self._read.update(self._values)

    def finish(self) -> None:
        for name, value in self._values.items():
            if name in self._read or is_unset(value) or name in self.schema.inert:
                continue
            why = self.schema.unsafe.get(name)
            if why is not None:
                self.ctx.log.error(self.at(name), f"not implemented by pymosn yet; ignoring it would {why}")
            else:
                self.ctx.log.warning(self.at(name), IGNORED)
        self._read.update(self._values)


def data_source(m: Message | None, ctx: Context) -> str | None:
    """A DataSource as what MOSN's TLS fields take: a file path or inline PEM text."""
    if m is None:
        return None
    kind = m.one_of("filename", "inline_string", "inline_bytes", "environment_variable")
    result: str | None = None
    if kind == "filename" or kind == "inline_string":
        result = m.str(kind)
    elif kind == "inline_bytes":
        try:
            result = base64.b64decode(m.str(kind), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError) as error:
            m.error(kind, f"expected base64 of text: {error}")
    elif kind == "environment_variable":
        name = m.str(kind)
        result = os.environ.get(name)
        if result is None:
            m.error(kind, f"environment variable {name!r} is not set")
    else:
        m.error(None, "needs one of filename, inline_string, inline_bytes, environment_variable")
    # pymosn reloads certificate files whenever they change, which is what a watched directory asks
    m.ignore("watched_directory")
    m.finish()
    return result
