"""The leaf matchers of RBAC rules, decoded from Envoy's JSON with paths and compiled into
closures `match(connection, headers) -> bool`.

Semantics are Envoy's (source/common/http/header_utility.cc, common/matcher):
- StringMatcher: exact / prefix / suffix / contains / safe_regex (a full match), `ignore_case`
  folding ASCII letters only; prefix, suffix and contains may not be empty.
- HeaderMatcher: the values of all fields of that name joined with ","; `:method`, `:path`,
  `:scheme` and `:authority` read from the request line. A missing header matches only a
  `present_match` asking for absence (or, inverted, for presence), unless
  `treat_missing_header_as_empty`; otherwise the result is the match XOR `invert_match`.
  `exact_match: ""` matches any value, a name alone asks for presence.
- PathMatcher: the request path without its query and fragment.
- CidrRange: prefix_len bits of address_prefix (unset: 0, as Envoy); an IPv4-mapped IPv6
  peer counts as IPv4, as Envoy's dual-stack sockets report it.

The network filter has no request headers: there a header matcher is the constant it would be
for a request without that header, and a path matcher never matches (Envoy checks them against
an empty header map)."""

from __future__ import annotations

import ipaddress
import operator
import re
from collections.abc import Callable, Iterable, Sequence
from operator import attrgetter
from typing import Any, NamedTuple

from pymosn.api.connection import ConnectionInfo
from pymosn.api.headers import RequestHeaderMap
from pymosn.filter.http.fields import Fields

Match = Callable[[ConnectionInfo, Any], bool]  # (connection, RequestHeaderMap or None) -> bool
StrTest = Callable[[str], bool]


def ALWAYS(info: ConnectionInfo, headers: Any) -> bool:
    return True


def NEVER(info: ConnectionInfo, headers: Any) -> bool:
    return False


def constant(value: bool) -> Match:
    return ALWAYS if value else NEVER


# --- combinators (constants folded at compile time) ------------------------------------------

def any_of(matches: Iterable[Match]) -> Match:
    kept = [m for m in matches if m is not NEVER]
    if not kept:
        return NEVER
    if any(m is ALWAYS for m in kept):
        return ALWAYS
    if len(kept) == 1:
        return kept[0]
    if len(kept) == 2:
        first, second = kept
        return lambda info, headers: first(info, headers) or second(info, headers)
    chain = tuple(kept)

    def match_any(info: ConnectionInfo, headers: Any) -> bool:
        for m in chain:
            if m(info, headers):
                return True
        return False
    return match_any


def all_of(matches: Iterable[Match]) -> Match:
    kept = [m for m in matches if m is not ALWAYS]
    if not kept:
        return ALWAYS
    if any(m is NEVER for m in kept):
        return NEVER
    if len(kept) == 1:
        return kept[0]
    if len(kept) == 2:
        first, second = kept
        return lambda info, headers: first(info, headers) and second(info, headers)
    chain = tuple(kept)

    def match_all(info: ConnectionInfo, headers: Any) -> bool:
        for m in chain:
            if not m(info, headers):
                return False
        return True
    return match_all


def negate(match: Match) -> Match:
    if match is ALWAYS:
        return NEVER
    if match is NEVER:
        return ALWAYS
    return lambda info, headers: not match(info, headers)


# --- StringMatcher -----------------------------------------------------------------------------

STRING_KINDS = ("exact", "prefix", "suffix", "contains", "safe_regex")
STRING_FIELDS = "exact prefix suffix contains safe_regex ignore_case custom"


class StringSpec(NamedTuple):
    kind: str  # one of STRING_KINDS
    value: str  # the literal, or the regular expression
    ignore_case: bool = False


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
        regex = fields.object(kind, "google_re2 regex", envoy=True)
        pattern = decode_regex(regex)
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
    pattern = fields.string("regex")
    try:
        re.compile(pattern)
    except re.error as e:
        fields.error("regex", f"invalid regular expression: {e}")
        return None
    return pattern


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


class BytesTest(NamedTuple):
    """A test of a header value or path. `op(value, literal)` (a C function: ==, startswith,
    endswith, in) when the test is a plain literal compare, so compiled matchers call it
    directly; `test(value)` always works."""

    test: Callable[[bytes], bool]
    op: Callable[[bytes, bytes], bool] | None = None
    literal: bytes = b""


_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "exact": operator.eq, "prefix": bytes.startswith, "suffix": bytes.endswith, "contains": operator.contains,
}


def bytes_test(spec: StringSpec) -> BytesTest:
    """The spec as a test of a header value (bytes; the literal encoded as UTF-8)."""
    if spec.kind == "safe_regex":
        fullmatch = re.compile(spec.value.encode()).fullmatch
        return BytesTest(lambda value: fullmatch(value) is not None)
    literal = spec.value.encode()
    if spec.ignore_case:
        # bytes.lower() folds ASCII letters only, as Envoy's ignore_case
        return BytesTest(_literal_test(spec.kind, literal.lower(), bytes.lower))
    return literal_test(spec.kind, literal)


def literal_test(kind: str, literal: bytes) -> BytesTest:
    op = _OPS[kind]
    return BytesTest(lambda value: op(value, literal), op, literal)


def str_test(spec: StringSpec) -> StrTest:
    """The spec as a test of a str (a certificate SAN, the TLS server name)."""
    if spec.kind == "safe_regex":
        fullmatch = re.compile(spec.value).fullmatch
        return lambda value: fullmatch(value) is not None
    if spec.ignore_case:
        return _literal_test(spec.kind, spec.value.translate(_ASCII_LOWER), lambda s: s.translate(_ASCII_LOWER))
    return _literal_test(spec.kind, spec.value, None)


def _literal_test(kind: str, literal: Any, fold: Callable[[Any], Any] | None) -> Callable[[Any], bool]:
    if fold is None:
        if kind == "exact":
            return lambda value: value == literal
        if kind == "prefix":
            return lambda value: value.startswith(literal)
        if kind == "suffix":
            return lambda value: value.endswith(literal)
        return lambda value: literal in value
    if kind == "exact":
        return lambda value: fold(value) == literal
    if kind == "prefix":
        return lambda value: fold(value).startswith(literal)
    if kind == "suffix":
        return lambda value: fold(value).endswith(literal)
    return lambda value: literal in fold(value)


# --- HeaderMatcher -----------------------------------------------------------------------------

HEADER_FIELDS = ("name exact_match safe_regex_match range_match present_match prefix_match suffix_match "
                  "contains_match string_match invert_match treat_missing_header_as_empty")
_HEADER_KINDS = ("exact_match", "safe_regex_match", "range_match", "present_match", "prefix_match", "suffix_match",
                 "contains_match", "string_match")
_HEADER_NAME = re.compile(r"^:?[0-9a-zA-Z!#$%&'*+\-.^_|~`]+$")
_INT64 = (-(2**63), 2**63 - 1)
# absl::SimpleAtoi: optional ASCII whitespace around an optionally signed decimal
_DECIMAL = re.compile(rb"^[ \t\n\v\f\r]*([+-]?[0-9]+)[ \t\n\v\f\r]*$")


_REQUEST_LINE = {":method": "method", ":path": "path", ":scheme": "scheme"}  # RequestHeaderMap slots
_ANY_VALUE = BytesTest(lambda value: True)
_NO_VALUE = BytesTest(lambda value: False)


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


def header_match(fields: Fields, http: bool) -> Match:
    """A HeaderMatcher (`fields` its object); NEVER after errors."""
    errors = len(fields.log.errors)
    name = fields.string("name").lower()
    if not name:
        fields.error("name", "a header matcher needs a name")
    elif not _HEADER_NAME.match(name):
        fields.error("name", f"{name!r} is not a valid header name")
    invert = fields.boolean("invert_match")
    missing_as_empty = fields.boolean("treat_missing_header_as_empty")
    kind = one_of(fields, _HEADER_KINDS, "a header matcher", required=False)
    present = True  # a name alone asks for presence, as in Envoy
    presence = kind is None or kind == "present_match"
    test = _ANY_VALUE
    if kind == "present_match":
        present = fields.boolean(kind, True)
        test = _ANY_VALUE if present else _NO_VALUE
    elif kind == "exact_match":
        literal = fields.string(kind).encode()
        test = literal_test("exact", literal) if literal else _ANY_VALUE  # "": any value, as Envoy
    elif kind in ("prefix_match", "suffix_match", "contains_match"):
        literal = fields.string(kind).encode()
        if not literal:
            fields.error(kind, f"{kind} must not be empty (as in Envoy)")
        test = literal_test(kind.removesuffix("_match"), literal)
    elif kind == "safe_regex_match":
        pattern = decode_regex(fields.object(kind, "google_re2 regex", envoy=True))
        test = bytes_test(StringSpec("safe_regex", pattern or ""))
    elif kind == "range_match":
        test = BytesTest(_range_test(fields.object(kind, "start end", envoy=True)))
    elif kind == "string_match":
        spec = decode_string_matcher(fields.object(kind, STRING_FIELDS, envoy=True))
        test = bytes_test(spec) if spec is not None else _NO_VALUE
    if len(fields.log.errors) != errors:
        return NEVER
    if missing_as_empty:
        when_missing = test.test(b"") != invert
    else:
        when_missing = presence and (present if invert else not present)
    if not http:
        return constant(when_missing)
    if name in _REQUEST_LINE and test.op is not None:
        return _slot_match(attrgetter(_REQUEST_LINE[name]), test, invert, when_missing)
    return _field_match(header_getter(name), test, invert, when_missing)


def _slot_match(slot: Callable[[Any], bytes], test: BytesTest, invert: bool, when_missing: bool) -> Match:
    """A literal compare of a request-line slot (`:method == GET`): one call, the hottest rule."""
    op, literal = test.op, test.literal
    assert op is not None
    if invert:
        return lambda info, headers: (not op(value, literal)) if (value := slot(headers)) else when_missing
    return lambda info, headers: op(value, literal) if (value := slot(headers)) else when_missing


def _field_match(value_of: Callable[[Any], bytes | None], test: BytesTest, invert: bool, when_missing: bool) -> Match:
    check = test.test
    if test is _ANY_VALUE or test is _NO_VALUE:  # a presence test: no value to look at
        when_present = (test is _ANY_VALUE) != invert
        return lambda info, headers: when_missing if value_of(headers) is None else when_present
    if invert:
        def inverted(info: ConnectionInfo, headers: Any) -> bool:
            value = value_of(headers)
            return when_missing if value is None else not check(value)
        return inverted

    def match(info: ConnectionInfo, headers: Any) -> bool:
        value = value_of(headers)
        return when_missing if value is None else check(value)
    return match


def _range_test(fields: Fields | None) -> Callable[[bytes], bool]:
    if fields is None:
        return lambda value: False
    start = fields.integer("start", 0, *_INT64)
    end = fields.integer("end", 0, *_INT64)

    def in_range(value: bytes) -> bool:
        m = _DECIMAL.match(value)
        if m is None:
            return False
        number = int(m.group(1))
        return _INT64[0] <= number <= _INT64[1] and start <= number < end
    return in_range


# --- PathMatcher -------------------------------------------------------------------------------

_QUERY, _FRAGMENT = ord("?"), ord("#")


def path_only(headers: RequestHeaderMap) -> bytes:
    """The request path without its query and fragment."""
    path = headers.path
    if _QUERY in path:  # an int: a byte search, much cheaper than `b"?" in path`
        path = path[:path.index(_QUERY)]
    if _FRAGMENT in path:
        path = path[:path.index(_FRAGMENT)]
    return path


def path_match(fields: Fields, http: bool) -> Match:
    """A PathMatcher {path: StringMatcher}; NEVER after errors (and for the network filter)."""
    kind = one_of(fields, ("path",), "a path matcher")
    spec = decode_string_matcher(fields.object("path", STRING_FIELDS, envoy=True)) if kind else None
    if spec is None or not http:
        return NEVER
    test = bytes_test(spec)
    op, literal, check = test.op, test.literal, test.test
    if op is None:
        return lambda info, headers: check(path_only(headers))

    def match(info: ConnectionInfo, headers: Any) -> bool:
        path = headers.path  # path_only(), inlined: this runs for most requests
        if _QUERY in path:
            path = path[:path.index(_QUERY)]
        if _FRAGMENT in path:
            path = path[:path.index(_FRAGMENT)]
        return op(path, literal)
    return match


# --- CidrRange ---------------------------------------------------------------------------------

class Cidr(NamedTuple):
    version: int  # 4 or 6
    network: int  # the address with its host bits cleared
    mask: int


def decode_cidr(fields: Fields) -> Cidr | None:
    address = fields.string("address_prefix")
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        fields.error("address_prefix", f"{address!r} is not an IP address")
        return None
    bits = 32 if ip.version == 4 else 128
    if not fields.has("prefix_len"):
        fields.log.warning(fields.at("prefix_len"), f"unset: 0, so this range holds every IPv{ip.version} address "
                                                    "(as in Envoy)")
    length = fields.integer("prefix_len", 0, 0, bits)  # a UInt32Value: a bare number in JSON
    mask = ((1 << bits) - 1) ^ ((1 << (bits - length)) - 1)
    return Cidr(ip.version, int(ip) & mask, mask)


_PARSED_LIMIT = 4096
_parsed: dict[str, tuple[int, int]] = {}  # peer address text -> (version, address as int)


def parse_address(text: str) -> tuple[int, int]:
    """(IP version, address as an int) of a peer's address text; (0, 0) when it is none (a
    Unix socket). Cached: a connection's requests, and its peer's other connections, parse once."""
    found = _parsed.get(text)
    if found is not None:
        return found
    try:
        ip: Any = ipaddress.ip_address(text)
    except ValueError:
        found = (0, 0)
    else:
        if ip.version == 6 and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        found = (ip.version, int(ip))
    if len(_parsed) >= _PARSED_LIMIT:
        _parsed.clear()  # bounded: a scan from many addresses costs parsing, never memory
    _parsed[text] = found
    return found


def cidr_test(ranges: Cidr) -> Callable[[str], bool]:
    """Whether an address (its text) is in the range."""
    version, network, mask = ranges

    def contains(address: str) -> bool:
        parsed = _parsed.get(address) or parse_address(address)
        return parsed[0] == version and parsed[1] & mask == network
    return contains


def peer_in(ranges: Cidr) -> Match:
    """Whether the connection's peer address is in the range."""
    version, network, mask = ranges
    cached = _parsed.get

    def match(info: ConnectionInfo, headers: Any) -> bool:
        address = info.remote[0]
        parsed = cached(address) or parse_address(address)
        return parsed[0] == version and parsed[1] & mask == network
    return match
