"""Envoy's HeaderMatcher, one spec compiled once with Envoy's semantics
(source/common/http/header_utility.cc) for everything that matches request headers: route
`headers` and `query_parameters`, RBAC rules, fault targets, rate-limit header_value_match.

- The values of all fields of that name are matched joined with ",".
- A missing header matches only a presence test asking for absence (or, inverted, for
  presence): `exact_match: "x", invert_match: true` does NOT match a request without the header.
  With `treat_missing_header_as_empty` a missing header is tested as the value "".
- `exact_match: ""` matches any value (ANY_VALUE); a name alone is a presence test; a
  StringMatcher's `exact: ""` asks for the empty value. A presence test ignores
  treat_missing_header_as_empty.

Two compilations of a spec, for the two ways pymosn hands headers over: `request_match` for a
RequestHeaderMap (bytes; the filters), `mapping_match` for the router's decoded str Mapping.
The readers that make a spec live with their config formats (filter/http/header_match.py for
filter configs, router/matchers.py for the route model)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from operator import attrgetter
from typing import Any

import msgspec

from pymosn.api.connection import ConnectionInfo
from pymosn.api.headers import RequestHeaderMap
from pymosn.router.string_match import BytesTest, StringSpec, bytes_test, str_test

# (connection, RequestHeaderMap or None) -> bool: the shape of RBAC's rule trees, whose leaves
# these are; the other filters pass the connection they have (or None).
RequestMatch = Callable[[ConnectionInfo | None, Any], bool]

INT64 = (-(2**63), 2**63 - 1)


class HeaderSpec(msgspec.Struct, frozen=True):
    name: str  # lower case, pseudo-headers as Envoy names them (":authority", ":path")
    string: StringSpec | None = None  # the value test
    range: tuple[int, int] | None = None  # or [start, end) of the value read as an int64
    present: bool = True  # with neither: whether the header must be present
    invert: bool = False
    missing_as_empty: bool = False

    @property
    def is_presence(self) -> bool:
        return self.string is None and self.range is None

    def when_missing(self) -> bool:
        """The result for a request without the header (Envoy's rule, see the module doc)."""
        if self.is_presence:  # treat_missing_header_as_empty does not apply, as in Envoy
            return self.present == self.invert
        if not self.missing_as_empty:
            return False
        if self.range is not None:
            return self.invert  # "" is no number
        assert self.string is not None
        return str_test(self.string)("") != self.invert


# What `exact_match: ""` asks for: any value (present, but unlike a presence test, still "no
# match" for a missing header when inverted).
ANY_VALUE = StringSpec("prefix", "")


# absl::SimpleAtoi: optional ASCII whitespace around an optionally signed decimal
_DECIMAL = re.compile(rb"^[ \t\n\v\f\r]*([+-]?[0-9]+)[ \t\n\v\f\r]*$")
_DECIMAL_TEXT = re.compile(_DECIMAL.pattern.decode())


def _range_test(bounds: tuple[int, int], pattern: re.Pattern[Any]) -> Callable[[Any], bool]:
    start, end = bounds
    parse = pattern.match

    def in_range(value: Any) -> bool:
        m = parse(value)
        if m is None:
            return False
        number = int(m.group(1))
        return INT64[0] <= number <= INT64[1] and start <= number < end
    return in_range


# --- on a RequestHeaderMap (the filters) ---------------------------------------------------

_REQUEST_LINE = {":method": "method", ":path": "path", ":scheme": "scheme"}  # RequestHeaderMap slots


def header_getter(name: str) -> Callable[[Any], bytes | None]:
    """The value of header `name` (lower case) in a RequestHeaderMap: every field of that name
    joined with "," (as Envoy), None when there is none. (An X-Protocol request's map answers
    the same API: one value per name, its service as :authority.)"""
    if name in _REQUEST_LINE:
        slot = attrgetter(_REQUEST_LINE[name])
        return lambda headers: slot(headers) or None  # an RPC request may have no method
    if name == ":authority":
        return lambda headers: headers.get(b":authority")
    if name[:1] == ":":
        return lambda headers: None  # no other pseudo-header exists on a request
    key = name.encode()

    def value(headers: RequestHeaderMap) -> bytes | None:
        lower = headers.lower_names()
        if key not in lower:  # a membership test: cheaper than get()'s miss, which raises inside
            return None
        if lower.count(key) == 1:
            return headers.pairs()[lower.index(key)][1]
        return b",".join(headers.get_all(key))
    return value


def request_match(spec: HeaderSpec) -> RequestMatch:
    """The spec as a test of a request's headers (a RequestHeaderMap)."""
    when_missing = spec.when_missing()
    if spec.is_presence:
        value_of = header_getter(spec.name)
        when_present = spec.present != spec.invert
        return lambda info, headers: when_missing if value_of(headers) is None else when_present
    test = bytes_test(spec.string) if spec.string is not None else BytesTest(_range_test(spec.range, _DECIMAL))
    if spec.name in _REQUEST_LINE and test.op is not None:
        return _slot_match(attrgetter(_REQUEST_LINE[spec.name]), test, spec.invert, when_missing)
    return _field_match(header_getter(spec.name), test.test, spec.invert, when_missing)


def _slot_match(slot: Callable[[Any], bytes], test: BytesTest, invert: bool, when_missing: bool) -> RequestMatch:
    """A literal compare of a request-line slot (`:method == GET`): one call, the hottest rule."""
    op, literal = test.op, test.literal
    assert op is not None
    if invert:
        return lambda info, headers: (not op(value, literal)) if (value := slot(headers)) else when_missing
    return lambda info, headers: op(value, literal) if (value := slot(headers)) else when_missing


def _field_match(value_of: Callable[[Any], bytes | None], check: Callable[[bytes], bool], invert: bool,
                 when_missing: bool) -> RequestMatch:
    if invert:
        def inverted(info: ConnectionInfo | None, headers: Any) -> bool:
            value = value_of(headers)
            return when_missing if value is None else not check(value)
        return inverted

    def match(info: ConnectionInfo | None, headers: Any) -> bool:
        value = value_of(headers)
        return when_missing if value is None else check(value)
    return match


def all_match(matches: tuple[RequestMatch, ...], info: ConnectionInfo | None, headers: Any) -> bool:
    for match in matches:
        if not match(info, headers):
            return False
    return True


# --- on a str Mapping (the router's decoded headers, a query's parameters) -----------------

def mapping_match(spec: HeaderSpec, key: str) -> Callable[[Mapping[str, str]], bool]:
    """The spec as a test of `key` in a Mapping of str values (several fields of one name
    already joined with "," by whoever made it)."""
    when_missing = spec.when_missing()
    if spec.is_presence:
        when_present = spec.present != spec.invert
        return lambda values: when_missing if values.get(key) is None else when_present
    check = str_test(spec.string) if spec.string is not None else _range_test(spec.range, _DECIMAL_TEXT)
    if spec.invert:
        return lambda values: when_missing if (value := values.get(key)) is None else not check(value)
    return lambda values: when_missing if (value := values.get(key)) is None else check(value)
