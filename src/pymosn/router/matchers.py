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


class StringCondition:
    """Envoy's StringMatcher on one value, e.g. the downstream peer's URI SAN. A missing value
    (no client certificate) never matches."""

    __slots__ = ("test", "value", "pattern", "ignore_case")

    def __init__(self, m: model.StringMatcher) -> None:
        self.ignore_case = m.ignore_case
        self.pattern = None
        if m.regex is not None:
            self.test, self.value, self.pattern = "regex", m.regex, re.compile(m.regex)
        else:
            self.test, self.value = next((name, getattr(m, name)) for name in ("exact", "prefix", "suffix", "contains")
                                         if getattr(m, name) is not None)
            if self.ignore_case:
                self.value = self.value.lower()

    def matches(self, actual: str | None) -> bool:
        if actual is None:
            return False
        test = self.test
        if test == "regex":
            return self.pattern.fullmatch(actual) is not None
        if self.ignore_case:
            actual = actual.lower()
        if test == "exact":
            return actual == self.value
        if test == "prefix":
            return actual.startswith(self.value)
        if test == "suffix":
            return actual.endswith(self.value)
        return self.value in actual


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
