"""Turns a raw JSON/YAML tree into the typed model, reporting every problem with its path.

msgspec's own decoder stops at the first error; a user fixing a config wants them all. So this
walks the raw tree against the Struct annotations itself. A wrong value is reported and dropped:
a bad optional field falls back to its default, a bad list element is left out, a struct missing a
required field is left out of its parent. Siblings are still checked, so one run finds everything.

Three hooks plug MOSN's specifics in without this module knowing them:
- wire forms: (Struct, key) -> adapter turning MOSN's spelling ("1s", "host:port") into ours;
- MOSN-only keys: reported by `report_not_implemented` instead of as unknown;
- rules: per-Struct functions run on each built object, returning it or a normalized copy;
- prepare: per-Struct functions filling in what MOSN derives from other keys, before the walk."""

from __future__ import annotations

import functools
import types
import typing
from collections.abc import Callable
from typing import Any

import msgspec

from pymosn.config.issues import INVALID, IssueLog, child, did_you_mean, item, type_name

WireForm = Callable[[Any, str, "Walker"], Any]
Rule = Callable[[Any, str, "Walker"], Any]
NotImplementedReporter = Callable[[type, str, Any, str, IssueLog], None]
Prepare = Callable[[dict], dict]

_EXPECTED_NAMES = {int: "int", float: "number", str: "str", bool: "bool"}


class Walker:
    def __init__(
        self,
        log: IssueLog,
        wire_forms: dict[tuple[type, str], WireForm],
        mosn_only_keys: dict[type, frozenset[str]],
        report_not_implemented: NotImplementedReporter,
        rules: dict[type, list[Rule]],
        prepare: dict[type, Prepare] | None = None,
    ) -> None:
        self.log = log
        self._wire_forms = wire_forms
        self._mosn_only_keys = mosn_only_keys
        self._report_not_implemented = report_not_implemented
        self._rules = rules
        self._prepare = prepare or {}
        # Path of every object built, so checks that run later on the typed tree (duplicate
        # names, references) can point at the right place even after bad siblings were dropped.
        self._paths: dict[int, str] = {}
        self._built: list[Any] = []  # keeps objects alive so their ids stay unique

    def path_of(self, obj: Any) -> str:
        return self._paths[id(obj)]

    def replaced(self, old: Any, new: Any) -> Any:
        """`new` (a rule's copy of `old`) sits at `old`'s path."""
        self._remember(new, self.path_of(old))
        return new

    def place(self, obj: Any, path: str) -> Any:
        """`obj`, which a rule read rather than the walk built (a filter's decoded config), was
        read at `path`: later checks can point there."""
        self._remember(obj, path)
        return obj

    def convert(self, raw: Any, annotation: Any, path: str) -> Any:
        """`raw` as a value of `annotation`, or INVALID after reporting why not."""
        if isinstance(annotation, type) and issubclass(annotation, msgspec.Struct):
            return self.struct(raw, annotation, path)
        origin = typing.get_origin(annotation)
        if origin in (types.UnionType, typing.Union):
            return self._optional(raw, annotation, path)
        if origin is tuple:
            return self._tuple(raw, typing.get_args(annotation), path)
        if origin is dict or annotation is dict:
            return self._expect(raw, dict, "object", path)
        if annotation is Any:
            return raw
        return self._scalar(raw, annotation, path)

    def struct(self, raw: Any, cls: type[msgspec.Struct], path: str) -> Any:
        if not isinstance(raw, dict):
            self.log.error(path, f"expected object, got {type_name(raw)}")
            return INVALID
        if cls in self._prepare:
            raw = self._prepare[cls](raw)
        fields = _fields_by_key(cls)
        values, broken = self._field_values(raw, cls, fields, path)
        for field in fields.values():
            if field.required and field.name not in values and field.name not in broken:
                self.log.error(child(path, field.encode_name), "missing required field")
                broken.add(field.name)
        if any(field.required and field.name in broken for field in fields.values()):
            return INVALID
        obj = cls(**values)
        self._remember(obj, path)
        if broken:
            return obj  # a rule would mostly repeat what was just reported
        for rule in self._rules.get(cls, ()):
            obj = rule(obj, path, self)
            self._remember(obj, path)
        return obj

    def _field_values(self, raw: dict, cls: type, fields: dict, path: str) -> tuple[dict[str, Any], set[str]]:
        """Converted values by field name, and the names of fields whose value was wrong."""
        mosn_only = self._mosn_only_keys.get(cls, frozenset())
        values: dict[str, Any] = {}
        broken: set[str] = set()
        for key, value in raw.items():
            if not isinstance(key, str):
                self.log.error(child(path, str(key)), f"keys must be strings, got {type_name(key)}")
                continue
            key_path = child(path, key)
            # Go's encoding/json, which MOSN uses, matches keys case-insensitively; MOSN's own
            # samples rely on it ("Name" for a cluster's name).
            key = _go_key(key, fields, mosn_only)
            field = fields.get(key)
            if field is None:
                if key in mosn_only:
                    self._report_not_implemented(cls, key, value, key_path, self.log)
                else:
                    self._report_unknown_key(key, key_path, fields, mosn_only)
                continue
            if value is None:
                continue  # as in Go's encoding/json: null leaves the default in place
            wire_form = self._wire_forms.get((cls, key))
            converted = wire_form(value, key_path, self) if wire_form else self.convert(value, field.type, key_path)
            if converted is INVALID:
                broken.add(field.name)
            else:
                values[field.name] = converted
        return values, broken

    def _remember(self, obj: Any, path: str) -> None:
        self._paths[id(obj)] = path
        self._built.append(obj)

    def _report_unknown_key(self, key: str, path: str, fields: dict, mosn_only: frozenset[str]) -> None:
        hint = did_you_mean(key, [*fields, *mosn_only])
        known = ", ".join(sorted(fields))
        self.log.error(path, f"unknown field {key!r}{hint}; known: {known}")

    def _optional(self, raw: Any, annotation: Any, path: str) -> Any:
        members = [member for member in typing.get_args(annotation) if member is not type(None)]
        if raw is None:
            return None
        if len(members) != 1:
            raise TypeError(f"unsupported annotation {annotation!r}")  # a model bug, not a user one
        return self.convert(raw, members[0], path)

    def _tuple(self, raw: Any, args: tuple, path: str) -> Any:
        if not isinstance(raw, list | tuple):
            self.log.error(path, f"expected list, got {type_name(raw)}")
            return INVALID
        if len(args) == 2 and args[1] is Ellipsis:
            converted = (self.convert(element, args[0], item(path, i)) for i, element in enumerate(raw))
            return tuple(value for value in converted if value is not INVALID)
        if len(raw) != len(args):
            self.log.error(path, f"expected a list of {len(args)} items, got {len(raw)}")
            return INVALID
        converted_items = [self.convert(element, arg, item(path, i)) for i, (element, arg) in
                           enumerate(zip(raw, args, strict=True))]
        return INVALID if any(value is INVALID for value in converted_items) else tuple(converted_items)

    def _scalar(self, raw: Any, annotation: Any, path: str) -> Any:
        if annotation is float and isinstance(raw, int) and not isinstance(raw, bool):
            return float(raw)
        return self._expect(raw, annotation, _EXPECTED_NAMES.get(annotation, str(annotation)), path)

    def _expect(self, raw: Any, expected: type, expected_name: str, path: str) -> Any:
        # bool is a subclass of int: `true` must not pass as a port number.
        if isinstance(raw, expected) and not (isinstance(raw, bool) and expected is not bool):
            return raw
        self.log.error(path, f"expected {expected_name}, got {type_name(raw)}")
        return INVALID


def _go_key(key: str, fields: dict, mosn_only: frozenset[str]) -> str:
    if key in fields or key in mosn_only:
        return key
    folded = key.casefold()
    return next((known for known in (*fields, *mosn_only) if known.casefold() == folded), key)


@functools.cache
def _fields_by_key(cls: type[msgspec.Struct]) -> dict[str, msgspec.structs.FieldInfo]:
    return {field.encode_name: field for field in msgspec.structs.fields(cls)}
