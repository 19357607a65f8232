"""The leaf matchers of RBAC rules, decoded from Envoy's JSON with paths and compiled into
closures `match(connection, headers) -> bool`, and the and/or/not combinators over them.

Semantics are Envoy's:
- HeaderMatcher and StringMatcher: read by filter/http/header_match.py and compiled by
  router/header_match.py and router/string_match.py, as for every other user of them.
- PathMatcher: the request path without its query and fragment.
- CidrRange: prefix_len bits of address_prefix (unset: 0, as Envoy); an IPv4-mapped IPv6
  peer counts as IPv4, as Envoy's dual-stack sockets report it.

The network filter has no request headers: there a header matcher is the constant it would be
for a request without that header, and a path matcher never matches (Envoy checks them against
an empty header map)."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

from pymosn.api.connection import ConnectionInfo
from pymosn.api.headers import RequestHeaderMap
from pymosn.config.issues import IssueLog
from pymosn.filter.http import header_match as header_match_config
from pymosn.filter.http.fields import Fields
from pymosn.filter.http.header_match import STRING_FIELDS, decode_string_matcher, one_of
from pymosn.filter.rbac import inline, native
from pymosn.router.header_match import HeaderSpec, request_match
from pymosn.router.string_match import bytes_test

Match = Callable[[ConnectionInfo, Any], bool]  # (connection, RequestHeaderMap or None) -> bool


def ALWAYS(info: ConnectionInfo, headers: Any) -> bool:
    return True


def NEVER(info: ConnectionInfo, headers: Any) -> bool:
    return False


inline.register(ALWAYS, lambda source: "True")
inline.register(NEVER, lambda source: "False")
native.register(ALWAYS, lambda: native.Const(True))
native.register(NEVER, lambda: native.Const(False))


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
        match = inline.register(lambda info, headers: first(info, headers) or second(info, headers),
                                inline.joined(kept, "or"))
    else:
        chain = tuple(kept)

        def match_any(info: ConnectionInfo, headers: Any) -> bool:
            for m in chain:
                if m(info, headers):
                    return True
            return False
        match = inline.register(match_any, inline.joined(chain, "or"))
    native.register(match, lambda: native.AnyOf(kept))
    return match


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
        match = inline.register(lambda info, headers: first(info, headers) and second(info, headers),
                                inline.joined(kept, "and"))
    else:
        chain = tuple(kept)

        def match_all(info: ConnectionInfo, headers: Any) -> bool:
            for m in chain:
                if not m(info, headers):
                    return False
            return True
        match = inline.register(match_all, inline.joined(chain, "and"))
    native.register(match, lambda: native.AllOf(kept))
    return match


def negate(match: Match) -> Match:
    if match is ALWAYS:
        return NEVER
    if match is NEVER:
        return ALWAYS
    negated = inline.register(lambda info, headers: not match(info, headers),
                              lambda source: f"(not {inline.expression(match, source)})")
    native.register(negated, lambda: native.Not(match))
    return negated


# --- HeaderMatcher (read and compiled as everywhere else: filter/http/header_match.py) --------

def header_match(raw: Any, path: str, log: IssueLog, http: bool) -> Match:
    """A HeaderMatcher; NEVER after errors, and for the network filter the constant it is for
    a request without the header."""
    spec = header_match_config.decode_envoy(raw, path, log)
    if spec is None:
        return NEVER
    if not http:
        return constant(spec.when_missing())
    match = request_match(spec)
    emit = _request_line_form(spec)
    if emit is None:
        return match
    string = spec.string  # a literal compare (checked by _request_line_form)
    assert string is not None
    literal = bytes_test(string).literal
    slot, kind = native.SLOTS[_REQUEST_LINE[spec.name]], native.KINDS[string.kind]
    native.register(match, lambda: native.RequestLine(slot, kind, literal, spec.invert, spec.when_missing()))
    return inline.register(match, emit)


_REQUEST_LINE = {":method": "method", ":path": "path", ":scheme": "scheme"}  # RequestHeaderMap slots


def _request_line_form(spec: HeaderSpec) -> inline.Emit | None:
    """The inline form of a literal compare of a request-line pseudo-header (`:method` is
    GET), the one rule most policies have; None for the others (inlined as calls). As
    request_match's: an empty slot (an RPC request may have no method) is a missing header."""
    if spec.name not in _REQUEST_LINE or spec.string is None or spec.range is not None:
        return None
    test = bytes_test(spec.string)
    if test.op is None:
        return None
    attr, kind, literal = _REQUEST_LINE[spec.name], spec.string.kind, test.literal
    invert, when_missing = spec.invert, spec.when_missing()

    def emit(source: inline.Source) -> str:
        if kind == "exact" and literal and not invert and not when_missing:
            # an empty or absent slot never equals the literal: the compare alone says it all
            return inline.literal_test(kind, f"headers.{attr}", literal, source)
        value = source.temp()
        compare = inline.literal_test(kind, value, literal, source)
        if invert:
            compare = f"(not {compare})"
        return f"({compare} if ({value} := headers.{attr}) else {when_missing})"
    return emit


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
    kind = spec.kind

    def match(info: ConnectionInfo, headers: Any) -> bool:
        path = headers.path  # path_only(), inlined: this runs for most requests
        if _QUERY in path:
            path = path[:path.index(_QUERY)]
        if _FRAGMENT in path:
            path = path[:path.index(_FRAGMENT)]
        return op(path, literal)
    native.register(match, lambda: native.PathLiteral(native.KINDS[kind], literal))
    return inline.register(match, lambda source: inline.literal_test(kind, source.path(), literal, source))


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

    def emit(source: inline.Source) -> str:
        parsed, lookup, parse = source.temp(), source.const(cached), source.const(parse_address)
        return (f"(({parsed} := {lookup}(info.remote[0]) or {parse}(info.remote[0]))[0] == {version} "
                f"and {parsed}[1] & {mask} == {network})")
    native.register(match, lambda: native.PeerIn(version, network, mask, _parsed, parse_address))
    return inline.register(match, emit)
