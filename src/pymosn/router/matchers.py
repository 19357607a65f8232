"""Header and query-parameter conditions of a route, compiled once."""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import unquote_plus

from pymosn.config import model


class HeaderCondition:
    __slots__ = ("name", "value", "pattern", "present", "invert")

    def __init__(self, m: model.HeaderMatcher) -> None:
        self.name = m.name.lower()
        self.value = m.value
        self.pattern = re.compile(m.value) if m.regex and m.present_match is None else None
        self.present = m.present_match
        self.invert = m.invert_match

    def matches(self, headers: Mapping[str, str]) -> bool:
        actual = headers.get(self.name)
        if self.present is not None:
            result = (actual is not None) == self.present
        elif actual is None:
            result = False
        elif self.pattern is not None:
            result = self.pattern.fullmatch(actual) is not None
        else:
            result = actual == self.value
        return result != self.invert


class QueryCondition:
    __slots__ = ("name", "value", "pattern", "present")

    def __init__(self, m: model.QueryParameterMatcher) -> None:
        self.name = m.name
        self.value = m.value
        self.pattern = re.compile(m.value) if m.regex and m.present_match is None else None
        self.present = m.present_match

    def matches(self, params: Mapping[str, str]) -> bool:
        actual = params.get(self.name)
        if self.present is not None:
            return (actual is not None) == self.present
        if actual is None:
            return False
        if self.pattern is not None:
            return self.pattern.fullmatch(actual) is not None
        return actual == self.value


def parse_query(query: str) -> dict[str, str]:
    """First value of each parameter, percent-decoded (as Envoy's query matcher sees it)."""
    params: dict[str, str] = {}
    for part in query.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        name = unquote_plus(name)
        if name not in params:
            params[name] = unquote_plus(value)
    return params
