"""Header and query-parameter conditions of a route, compiled once."""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import unquote_plus

from pymosn.config import model

# Envoy configs match the HTTP/2 pseudo-header; the proxy hands us HTTP/1 names.
_HEADER_ALIASES = {":authority": "host"}

_EXACT, _REGEX, _PRESENT = range(3)


class _Condition:
    __slots__ = ("name", "mode", "value", "pattern", "present")

    def __init__(self, name: str, value: str, regex: bool, present: bool | None) -> None:
        self.name = name
        self.value = value
        self.pattern = None
        self.present = True
        if present is None and not regex and value == "":
            # Name only: a presence check, as Envoy (MOSN would demand an empty value; a present
            # empty header or `?debug` satisfies both readings).
            present = True
        if present is not None:
            self.mode, self.present = _PRESENT, present
        elif regex:
            # Full match, as Envoy's safe_regex: "/a" must not match "/ab".
            self.mode, self.pattern = _REGEX, re.compile(value)
        else:
            self.mode = _EXACT

    def _test(self, actual: str | None) -> bool:
        mode = self.mode
        if mode == _PRESENT:
            return (actual is not None) == self.present
        if actual is None:
            return False
        if mode == _EXACT:
            return actual == self.value
        return self.pattern.fullmatch(actual) is not None


class HeaderCondition(_Condition):
    """One `headers[]` entry; `invert_match` negates whichever test it configures."""

    __slots__ = ("invert",)

    def __init__(self, m: model.HeaderMatcher) -> None:
        name = m.name.lower()
        super().__init__(_HEADER_ALIASES.get(name, name), m.value, m.regex, m.present_match)
        self.invert = m.invert_match

    def matches(self, headers: Mapping[str, str]) -> bool:
        return self._test(headers.get(self.name)) != self.invert


class QueryCondition(_Condition):
    """One `query_parameters[]` entry, tested against the first value of the parameter."""

    __slots__ = ()

    def __init__(self, m: model.QueryParameterMatcher) -> None:
        super().__init__(m.name, m.value, m.regex, m.present_match)

    def matches(self, params: Mapping[str, str]) -> bool:
        return self._test(params.get(self.name))


def parse_query(query: str) -> dict[str, str]:
    """First value of each parameter, percent-decoded ("a=1&a=2&b" -> {"a": "1", "b": ""})."""
    params: dict[str, str] = {}
    if not query:
        return params
    for part in query.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        if "%" in name or "+" in name:
            name = unquote_plus(name)
        if name not in params:
            params[name] = unquote_plus(value) if ("%" in value or "+" in value) else value
    return params
