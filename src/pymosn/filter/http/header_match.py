"""Header conditions of HTTP filters (Envoy's route HeaderMatcher, MOSN's `{name, value, regex}`),
decoded with paths and compiled once into tests on a HeaderMap.

As in Envoy, several fields of one name are matched as their values joined with `,`; a
pseudo-header (`:path`, `:method`, `:authority`) is read from the request's own slots."""

from __future__ import annotations

import re
from typing import Any

import msgspec

from pymosn.api.headers import HeaderMap
from pymosn.config.issues import IssueLog
from pymosn.filter.http.fields import Fields

EXACT, REGEX, PREFIX, SUFFIX, CONTAINS, PRESENT = "exact", "regex", "prefix", "suffix", "contains", "present"

_ENVOY_FIELDS = ("name exact_match safe_regex_match range_match present_match prefix_match suffix_match "
                 "contains_match string_match invert_match treat_missing_header_as_empty")
_STRING_MATCHER = "exact prefix suffix contains safe_regex ignore_case"


class HeaderMatch(msgspec.Struct, frozen=True):
    name: str  # lower case
    kind: str  # EXACT, REGEX, PREFIX, SUFFIX, CONTAINS or PRESENT
    value: str = ""  # for PRESENT: "" (must be absent) or "1" (must be present)
    invert: bool = False
    ignore_case: bool = False


def decode_envoy(raw: Any, path: str, log: IssueLog) -> HeaderMatch | None:
    errors = len(log.errors)
    fields = Fields(raw, path, log, _ENVOY_FIELDS, envoy=True)
    name = fields.string("name").lower()
    if not name:
        fields.error("name", "a header matcher needs a name")
    if fields.boolean("treat_missing_header_as_empty"):
        fields.error("treat_missing_header_as_empty", "not implemented by pymosn; refusing to match differently")
    invert = fields.boolean("invert_match")
    kinds = [key for key in ("exact_match", "safe_regex_match", "range_match", "present_match", "prefix_match",
                             "suffix_match", "contains_match", "string_match") if fields.has(key)]
    if len(kinds) > 1:
        fields.error(None, f"set one of {', '.join(kinds)}, not several")
        return None
    match = HeaderMatch(name, PRESENT, "1", invert)  # name only: presence, as Envoy
    kind = kinds[0] if kinds else None
    if kind == "range_match":
        fields.error(kind, "range_match is not implemented by pymosn; refusing to match more than asked")
    elif kind == "present_match":
        match = HeaderMatch(name, PRESENT, "1" if fields.boolean(kind, True) else "", invert)
    elif kind in ("exact_match", "prefix_match", "suffix_match", "contains_match"):
        match = HeaderMatch(name, kind.removesuffix("_match"), fields.string(kind), invert)
    elif kind == "safe_regex_match":
        regex = fields.object(kind, "google_re2 regex", envoy=True)
        match = HeaderMatch(name, REGEX, _regex(regex, "regex") if regex else "", invert)
    elif kind == "string_match":
        string = fields.object(kind, _STRING_MATCHER, envoy=True)
        if string is not None:
            match = _string_match(name, string, invert)
    return match if len(log.errors) == errors else None


def _string_match(name: str, string: Fields, invert: bool) -> HeaderMatch:
    present = [key for key in ("exact", "prefix", "suffix", "contains", "safe_regex") if string.has(key)]
    if len(present) != 1:
        string.error(None, "set exactly one of exact, prefix, suffix, contains, safe_regex")
        return HeaderMatch(name, EXACT)
    key = present[0]
    ignore_case = string.boolean("ignore_case")
    if key == "safe_regex":
        regex = string.object(key, "google_re2 regex", envoy=True)
        return HeaderMatch(name, REGEX, _regex(regex, "regex") if regex else "", invert)
    return HeaderMatch(name, key, string.string(key), invert, ignore_case)


def _regex(fields: Fields, key: str) -> str:
    pattern = fields.string(key)
    try:
        re.compile(pattern)
    except re.error as e:
        fields.error(key, f"invalid regular expression: {e}")
    return pattern


def decode_mosn(raw: Any, path: str, log: IssueLog) -> HeaderMatch | None:
    """MOSN's HeaderMatcher: `value` exact, or a regex with `regex: true`."""
    errors = len(log.errors)
    fields = Fields(raw, path, log, "name value regex")
    name = fields.string("name").lower()
    if not name:
        fields.error("name", "a header matcher needs a name")
    match = (HeaderMatch(name, REGEX, _regex(fields, "value")) if fields.boolean("regex")
             else HeaderMatch(name, EXACT, fields.string("value")))
    return match if len(log.errors) == errors else None


class CompiledMatch:
    """One condition, ready to test a request's headers."""

    __slots__ = ("name", "kind", "value", "pattern", "invert", "ignore_case", "pseudo")

    def __init__(self, match: HeaderMatch) -> None:
        self.name = b"host" if match.name == ":authority" else match.name.encode()
        self.kind = match.kind
        self.ignore_case = match.ignore_case
        value = match.value.lower() if match.ignore_case else match.value
        self.value = value.encode("latin-1")
        self.pattern = re.compile(self.value) if match.kind == REGEX else None
        self.invert = match.invert
        self.pseudo = self.name[:1] == b":"

    def matches(self, headers: HeaderMap) -> bool:
        if self.pseudo:
            actual = headers.get(self.name)
        else:
            values = headers.get_all(self.name)
            actual = (values[0] if len(values) == 1 else b",".join(values)) if values else None
        kind = self.kind
        if kind == PRESENT:
            result = (actual is not None) == bool(self.value)
        elif actual is None:
            result = False
        else:
            if self.ignore_case:
                actual = actual.lower()
            if kind == EXACT:
                result = actual == self.value
            elif kind == REGEX:
                assert self.pattern is not None
                result = self.pattern.fullmatch(actual) is not None
            elif kind == PREFIX:
                result = actual.startswith(self.value)
            elif kind == SUFFIX:
                result = actual.endswith(self.value)
            else:
                result = self.value in actual
        return result != self.invert


def all_match(conditions: tuple[CompiledMatch, ...], headers: HeaderMap) -> bool:
    return all(condition.matches(headers) for condition in conditions)
