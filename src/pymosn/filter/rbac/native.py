"""An engine's policies as a tree of native matchers, checked in the compiled build.

The rules compile to closures (matchers.py, policies.py), which the pure-Python build runs as
one generated function (inline.py). Called from compiled code, that function is interpreted
Python; here the same closures get a *native form* instead: the and/or/not combinators and
the leaves most policies have (a literal compare of a request-line pseudo-header or of the
path, the peer's address in a CIDR range) are native classes, registered where the closures
are made (`register`), and any other closure is called as it is (`Call`). `PolicySet` then
checks the policies in order, one native call per node. The forms keep the closures'
semantics and order of evaluation; tests check the three against each other on generated
policies and requests (tests/unit/filter/rbac).

Compiled by mypyc (build.py): `COMPILED` says whether this module is, i.e. whether the engine
checks with a PolicySet (engine.py) or with the generated function."""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence
from typing import Any, Final

from pymosn.api.connection import ConnectionInfo
from pymosn.api.headers import RequestHeaderMap

COMPILED: Final = not __file__.endswith(".py")

_FORMS: weakref.WeakKeyDictionary[Callable[..., bool], Callable[[], Matcher]] = weakref.WeakKeyDictionary()


def register(match: Callable[..., bool], make: Callable[[], Matcher]) -> None:
    """Give `match` a native form, made by `make` when an engine is built."""
    _FORMS[match] = make


def tree(match: Callable[..., bool]) -> Matcher:
    """`match`'s native form, or a call of it."""
    make = _FORMS.get(match)
    return Call(match) if make is None else make()


class Matcher:
    def matches(self, info: ConnectionInfo, headers: Any) -> bool:
        raise NotImplementedError


class Const(Matcher):
    def __init__(self, value: bool) -> None:
        self.value = value

    def matches(self, info: ConnectionInfo, headers: Any) -> bool:
        return self.value


class Call(Matcher):
    """A closure without a native form."""

    def __init__(self, match: Callable[[ConnectionInfo, Any], bool]) -> None:
        self.match = match

    def matches(self, info: ConnectionInfo, headers: Any) -> bool:
        return bool(self.match(info, headers))


class AllOf(Matcher):
    def __init__(self, matches: Sequence[Callable[..., bool]]) -> None:
        self.children = [tree(m) for m in matches]

    def matches(self, info: ConnectionInfo, headers: Any) -> bool:
        for child in self.children:
            if not child.matches(info, headers):
                return False
        return True


class AnyOf(Matcher):
    def __init__(self, matches: Sequence[Callable[..., bool]]) -> None:
        self.children = [tree(m) for m in matches]

    def matches(self, info: ConnectionInfo, headers: Any) -> bool:
        for child in self.children:
            if child.matches(info, headers):
                return True
        return False


class Not(Matcher):
    def __init__(self, match: Callable[..., bool]) -> None:
        self.child = tree(match)

    def matches(self, info: ConnectionInfo, headers: Any) -> bool:
        return not self.child.matches(info, headers)


# the literal tests of router/string_match.py's BytesTest.op (inline.py's _OPS)
EXACT: Final = 0
PREFIX: Final = 1
SUFFIX: Final = 2
CONTAINS: Final = 3
KINDS: Final = {"exact": EXACT, "prefix": PREFIX, "suffix": SUFFIX, "contains": CONTAINS}


def _compare(kind: int, value: bytes, literal: bytes) -> bool:
    if kind == EXACT:
        return value == literal
    if kind == PREFIX:
        return value.startswith(literal)
    if kind == SUFFIX:
        return value.endswith(literal)
    return literal in value


METHOD: Final = 0
PATH: Final = 1
SCHEME: Final = 2
SLOTS: Final = {"method": METHOD, "path": PATH, "scheme": SCHEME}


class RequestLine(Matcher):
    """A literal compare of a request-line pseudo-header (matchers.py's `_request_line_form`):
    an empty slot is a missing header."""

    def __init__(self, slot: int, kind: int, literal: bytes, invert: bool, when_missing: bool) -> None:
        self.slot = slot
        self.kind = kind
        self.literal = literal
        self.invert = invert
        self.when_missing = when_missing

    def matches(self, info: ConnectionInfo, headers: Any) -> bool:
        request: RequestHeaderMap = headers
        slot = self.slot
        value = request.method if slot == METHOD else request.path if slot == PATH else request.scheme
        if not value:
            return self.when_missing
        found = _compare(self.kind, value, self.literal)
        return not found if self.invert else found


_QUERY: Final = 63  # ?
_FRAGMENT: Final = 35  # #


class PathLiteral(Matcher):
    """A PathMatcher's literal compare, of the path without its query and fragment."""

    def __init__(self, kind: int, literal: bytes) -> None:
        self.kind = kind
        self.literal = literal

    def matches(self, info: ConnectionInfo, headers: Any) -> bool:
        request: RequestHeaderMap = headers
        path = request.path
        if _QUERY in path:  # an int: a byte search with no method call (bytes.find is one)
            path = path[:path.index(_QUERY)]
        if _FRAGMENT in path:
            path = path[:path.index(_FRAGMENT)]
        return _compare(self.kind, path, self.literal)


class PeerIn(Matcher):
    """The connection's peer address in a CIDR range; `parsed` and `parse` are matchers.py's
    cache of parsed addresses and its parser."""

    def __init__(self, version: int, network: int, mask: int, parsed: dict[str, tuple[int, int]],
                 parse: Callable[[str], tuple[int, int]]) -> None:
        self.version = version
        self.network = network
        self.mask = mask
        self.parsed = parsed
        self.parse = parse

    def matches(self, info: ConnectionInfo, headers: Any) -> bool:
        address: str = info.remote[0]
        found = self.parsed.get(address)
        if found is None:
            found = self.parse(address)
        return found[0] == self.version and found[1] & self.mask == self.network


class PolicySet:
    """`first_match(info, headers)`: the first policy (of (policy, match) pairs, in order)
    whose match holds, or None."""

    def __init__(self, policies: Sequence[tuple[Any, Callable[..., bool]]]) -> None:
        self.policies = [policy for policy, _ in policies]
        self.matchers = [tree(match) for _, match in policies]

    def first_match(self, info: ConnectionInfo, headers: Any) -> Any:
        matchers = self.matchers
        for index in range(len(matchers)):
            if matchers[index].matches(info, headers):
                return self.policies[index]
        return None
