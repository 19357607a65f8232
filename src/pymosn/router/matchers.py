"""Header, query-parameter and peer-identity conditions of a route, compiled once.

Route headers and query parameters come as the route model writes them (MOSN's `{name, value,
regex}`, plus `present_match` and `invert_match` that the Envoy reader fills in); they are
compiled by router/header_match.py with Envoy's semantics, as every other header matcher of
pymosn, but as a test of the router's decoded str Mapping (HeaderView) rather than a bytes
RequestHeaderMap. The one reading of MOSN's own: a name with neither a value nor present_match
asks for presence (MOSN would demand an empty value; a present empty header satisfies both)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol
from urllib.parse import unquote_plus

from pymosn.config import model
from pymosn.router.header_match import HeaderSpec, mapping_match
from pymosn.router.string_match import StringSpec, str_test

# Envoy configs match the HTTP/2 pseudo-header; the proxy hands us HTTP/1 names.
_HEADER_ALIASES = {":authority": "host"}


class RouteMatcherFields(Protocol):
    """What model.HeaderMatcher, model.QueryParameterMatcher and the rate-limit actions'
    ActionHeader share."""

    @property
    def name(self) -> str: ...
    @property
    def value(self) -> str: ...
    @property
    def regex(self) -> bool: ...
    @property
    def present_match(self) -> bool | None: ...


def route_header_spec(m: RouteMatcherFields, invert: bool = False) -> HeaderSpec:
    """The route model's matcher as a HeaderSpec (name lower-cased)."""
    name = m.name.lower()
    if m.present_match is not None:
        return HeaderSpec(name, present=m.present_match, invert=invert)
    if m.regex:
        # Full match, as Envoy's safe_regex: "/a" must not match "/ab".
        return HeaderSpec(name, StringSpec("safe_regex", m.value), invert=invert)
    if not m.value:
        return HeaderSpec(name, invert=invert)  # a name alone: presence
    return HeaderSpec(name, StringSpec("exact", m.value), invert=invert)


class HeaderCondition:
    """One `headers[]` entry: `matches(headers)` on the request's decoded headers."""

    __slots__ = ("name", "matches")

    def __init__(self, m: model.HeaderMatcher) -> None:
        spec = route_header_spec(m, m.invert_match)
        self.name = _HEADER_ALIASES.get(spec.name, spec.name)
        self.matches = mapping_match(spec, self.name)


class QueryCondition:
    """One `query_parameters[]` entry, tested against the first value of the parameter
    (names are case-sensitive)."""

    __slots__ = ("matches",)

    def __init__(self, m: model.QueryParameterMatcher) -> None:
        self.matches = mapping_match(route_header_spec(m), m.name)


class StringCondition:
    """Envoy's StringMatcher on one value, e.g. the downstream peer's URI SAN. A missing value
    (no client certificate) never matches."""

    __slots__ = ("matches",)

    def __init__(self, m: model.StringMatcher) -> None:
        if m.regex is not None:
            spec = StringSpec("safe_regex", m.regex)
        else:
            spec = next(StringSpec(kind, value, m.ignore_case) for kind in ("exact", "prefix", "suffix", "contains")
                        if (value := getattr(m, kind)) is not None)
        test = str_test(spec)
        self.matches: Callable[[str | None], bool] = lambda actual: actual is not None and test(actual)


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
