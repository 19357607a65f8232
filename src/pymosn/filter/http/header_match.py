"""Reading Envoy's HeaderMatcher, StringMatcher and RegexMatcher (and MOSN's `{name, value,
regex}` header matcher) from a filter's config, with every problem at its path; what is read
is a router HeaderSpec / StringSpec, compiled by router/header_match.py with Envoy's semantics.
RBAC, fault and whatever else a filter config matches headers with read them here.

Refused, as Envoy refuses them: an invalid header name, an empty prefix/suffix/contains, two
specifiers at once; not implemented (an error, never a looser match): custom string matchers."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from pymosn.config.issues import IssueLog
from pymosn.filter.http.fields import Fields
from pymosn.router.header_match import ANY_VALUE, INT64, HeaderSpec
from pymosn.router.string_match import STRING_KINDS, StringSpec

STRING_FIELDS = "exact prefix suffix contains safe_regex ignore_case custom"
HEADER_FIELDS = ("name exact_match safe_regex_match range_match present_match prefix_match suffix_match "
                 "contains_match string_match invert_match treat_missing_header_as_empty")
_HEADER_KINDS = ("exact_match", "safe_regex_match", "range_match", "present_match", "prefix_match", "suffix_match",
                 "contains_match", "string_match")
_HEADER_NAME = re.compile(r"^:?[0-9a-zA-Z!#$%&'*+\-.^_|~`]+$")


def one_of(fields: Fields, names: Sequence[str], what: str, required: bool = True) -> str | None:
    """The one field of a proto oneof that is set; an error when several are (or none)."""
    present = [name for name in names if fields.has(name)]
    if len(present) > 1:
        fields.error(None, f"set one of {', '.join(present)}, not several")
        return None
    if not present:
        if required:
            fields.error(None, f"{what} needs one of {', '.join(names)}")
        return None
    return present[0]


def decode_string_matcher(fields: Fields | None) -> StringSpec | None:
    """A StringMatcher object (None: absent or invalid; errors are in the fields' log)."""
    if fields is None:
        return None
    if fields.has("custom"):
        fields.error("custom", "custom string matcher extensions are not implemented by pymosn; refusing to match "
                               "differently")
        return None
    kind = one_of(fields, STRING_KINDS, "a string matcher")
    if kind is None:
        return None
    ignore_case = fields.boolean("ignore_case")
    if kind == "safe_regex":
        pattern = decode_regex(fields.object(kind, "google_re2 regex", envoy=True))
        return None if pattern is None else StringSpec(kind, pattern, ignore_case)
    value = fields.string(kind)
    if kind != "exact" and not value:
        fields.error(kind, f"{kind} must not be empty (as in Envoy)")
        return None
    return StringSpec(kind, value, ignore_case)


def decode_regex(fields: Fields | None) -> str | None:
    """A RegexMatcher: its pattern, checked to compile."""
    if fields is None:
        return None
    fields.object("google_re2", "max_program_size", envoy=True)  # the engine: pymosn has one
    if not fields.has("regex"):
        fields.error("regex", "missing required field")
        return None
    return _pattern(fields, "regex")


def _pattern(fields: Fields, key: str) -> str | None:
    pattern = fields.string(key)
    try:
        re.compile(pattern)
    except re.error as e:
        fields.error(key, f"invalid regular expression: {e}")
        return None
    return pattern


def decode_envoy(raw: Any, path: str, log: IssueLog) -> HeaderSpec | None:
    """Envoy's HeaderMatcher (the object at `path`); None after errors."""
    errors = len(log.errors)
    fields = Fields(raw, path, log, HEADER_FIELDS, envoy=True)
    name = _name(fields)
    kind = one_of(fields, _HEADER_KINDS, "a header matcher", required=False)
    string: StringSpec | None = None
    bounds: tuple[int, int] | None = None
    present = fields.boolean(kind, True) if kind == "present_match" else True  # a name alone: presence
    if kind == "exact_match":
        value = fields.string(kind)
        string = StringSpec("exact", value) if value else ANY_VALUE  # "": any value, as Envoy
    elif kind in ("prefix_match", "suffix_match", "contains_match"):
        value = fields.string(kind)
        if not value:
            fields.error(kind, f"{kind} must not be empty (as in Envoy)")
        string = StringSpec(kind.removesuffix("_match"), value)
    elif kind == "safe_regex_match":
        pattern = decode_regex(fields.object(kind, "google_re2 regex", envoy=True))
        string = StringSpec("safe_regex", pattern or "")
    elif kind == "range_match":
        bounds = _range(fields.object(kind, "start end", envoy=True))
    elif kind == "string_match":
        string = decode_string_matcher(fields.object(kind, STRING_FIELDS, envoy=True))
    spec = HeaderSpec(name, string, bounds, present, fields.boolean("invert_match"),
                      fields.boolean("treat_missing_header_as_empty"))
    return spec if len(log.errors) == errors else None


def _name(fields: Fields) -> str:
    name = fields.string("name").lower()
    if not name:
        fields.error("name", "a header matcher needs a name")
    elif not _HEADER_NAME.match(name):
        fields.error("name", f"{name!r} is not a valid header name")
    return name


def _range(fields: Fields | None) -> tuple[int, int]:
    if fields is None:
        return (0, 0)
    return (fields.integer("start", 0, *INT64), fields.integer("end", 0, *INT64))


def decode_mosn(raw: Any, path: str, log: IssueLog) -> HeaderSpec | None:
    """MOSN's HeaderMatcher: `value` exact (an empty one asks for an empty value, as MOSN
    compares it), or a regex with `regex: true`."""
    errors = len(log.errors)
    fields = Fields(raw, path, log, "name value regex")
    name = _name(fields)
    if fields.boolean("regex"):
        string = StringSpec("safe_regex", _pattern(fields, "value") or "")
    else:
        string = StringSpec("exact", fields.string("value"))
    return HeaderSpec(name, string) if len(log.errors) == errors else None
