"""Reading one JSON object of an HTTP filter's config, field by field, with every problem
reported at its path in the config's IssueLog (as the rest of pymosn's config does).

The filters' decode functions (`decode_mosn`, `decode_envoy`) use it to turn MOSN's
`stream_filters[].config` and Envoy's `http_filters[].typed_config` into one frozen Struct.
Envoy's proto3 JSON accepts each field under its proto name and its lowerCamelCase JSON name;
`Fields(..., envoy=True)` does too. An unknown key is an error, as Envoy refuses unknown fields
(a misspelt limit silently ignored is a limit not enforced)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from pymosn.config.duration import parse_duration
from pymosn.config.envoy.message import enum_value, json_name
from pymosn.config.issues import IssueLog, child, did_you_mean, item, known_values_message, type_name


class Fields:
    """The keys of one object; `known` lists its field names (space separated)."""

    def __init__(self, raw: Any, path: str, log: IssueLog, known: str, *, envoy: bool = False) -> None:
        self.path = path
        self.log = log
        self.envoy = envoy
        self.values: dict[str, Any] = {}
        self._keys: dict[str, str] = {}  # field name -> the key the user wrote
        if not isinstance(raw, dict):
            log.error(path, f"expected object, got {type_name(raw)}")
            return
        names = known.split()
        by_key = {name: name for name in names}
        if envoy:
            by_key.update({json_name(name): name for name in names})
        for key, value in raw.items():
            name = by_key.get(key) if isinstance(key, str) else None
            if name is None:
                if envoy and key == "@type":
                    continue  # checked by the caller (decode_envoy), who knows the type URL
                log.error(child(path, str(key)), f"unknown field{did_you_mean(str(key), names)}; known: "
                                                 f"{', '.join(names)}")
                continue
            self.values[name] = value
            self._keys[name] = key

    def at(self, name: str) -> str:
        return child(self.path, self._keys.get(name, name))

    def has(self, name: str) -> bool:
        return name in self.values

    def error(self, name: str | None, message: str) -> None:
        self.log.error(self.path if name is None else self.at(name), message)

    def _typed(self, name: str, kinds: type | tuple[type, ...], expected: str) -> Any:
        value = self.values.get(name)
        if value is None:
            return None
        if isinstance(value, bool) and bool not in (kinds if isinstance(kinds, tuple) else (kinds,)):
            self.error(name, f"expected {expected}, got bool")
            return None
        if not isinstance(value, kinds):
            self.error(name, f"expected {expected}, got {type_name(value)}")
            return None
        return value

    def string(self, name: str, default: str = "") -> str:
        value = self._typed(name, str, "str")
        return default if value is None else value

    def boolean(self, name: str, default: bool = False) -> bool:
        value = self._typed(name, bool, "bool")
        return default if value is None else value

    def integer(self, name: str, default: int, low: int | None = None, high: int | None = None) -> int:
        """An integer in [low, high]; proto3 JSON also writes (u)int64 as a decimal string."""
        value = self.values.get(name)
        if isinstance(value, str) and re.fullmatch(r"-?\d+", value):
            value = int(value)
        elif value is not None:
            value = self._typed(name, int, "int")
        if value is None:
            return default
        if (low is not None and value < low) or (high is not None and value > high):
            bounds = f"[{low if low is not None else '-inf'}, {high if high is not None else 'inf'}]"
            self.error(name, f"{value} is out of range {bounds}")
            return default
        return int(value)

    def enum(self, name: str, known: tuple[str, ...], default: str) -> str:
        """In Envoy's shape, read as the rest of the Envoy loader reads enums (`enum_value`:
        a name in any case, or its number); MOSN's names are exact."""
        value = self.values.get(name)
        if value is None:
            return default
        if self.envoy:
            found = enum_value(value, known)
            if found is None:
                self.error(name, known_values_message(str(value), known))
                return default
            return found
        value = self._typed(name, str, "str")
        if value is None:
            return default
        if value not in known:
            self.error(name, known_values_message(value, known))
            return default
        return str(value)

    def duration(self, name: str) -> float | None:
        """Seconds, from a duration string ("1.5s", MOSN's "100ms"); None when absent or bad."""
        value = self.values.get(name)
        if value is None:
            return None
        try:
            seconds = parse_duration(value)
        except ValueError as e:
            self.error(name, str(e))
            return None
        if seconds < 0:
            self.error(name, "a duration cannot be negative")
            return None
        return seconds

    def object(self, name: str, known: str, *, envoy: bool = False) -> Fields | None:
        if name not in self.values:
            return None
        return Fields(self.values[name], self.at(name), self.log, known, envoy=envoy)

    def items(self, name: str) -> Iterator[tuple[Any, str]]:
        """(element, its path) for each element of a list field."""
        value = self._typed(name, list, "list")
        for index, element in enumerate(value or ()):
            yield element, item(self.at(name), index)


def check_type_url(raw: Any, path: str, log: IssueLog, type_url: str) -> None:
    """Envoy's typed_config names its message in `@type`; a different message is an error."""
    if isinstance(raw, dict) and "@type" in raw and raw["@type"] != type_url:
        log.error(child(path, "@type"), f"expected {type_url!r}, got {raw['@type']!r}")
