"""An engine's policies fused into one generated function, so a request is checked in one call.

Every rule compiles to a closure `match(connection, headers) -> bool` (matchers.py), and a
policy is a tree of them: checked closure by closure, one Python call per node, RBAC was the
costliest filter of a short chain. Here the closures stay what they are (what `Policy.match`
and the network filter's tests call), and each may also register an *inline form*: the
Python expression it computes, over the parameters `info` (the ConnectionInfo) and
`headers`. The and/or/not combinators register theirs when they are made, from their
children's; a closure without one is inlined as a call of itself. `first_match_function`
then writes

    def first_match(info, headers):
        path = <the path without query and fragment>   # only if some rule reads it
        if <policy 1's expression>: return <policy 1>
        ...
        return None

and compiles it once per engine. The expressions keep the closures' semantics and their
order of evaluation (`and` / `or` short-circuit as the combinators do); tests check the two
against each other on generated policies and requests (tests/unit/filter/rbac)."""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence
from typing import Any

Emit = Callable[["Source"], str]

_FORMS: weakref.WeakKeyDictionary[Callable[..., bool], Emit] = weakref.WeakKeyDictionary()


class Source:
    """The generated function being written: the names it binds and whether it reads the path."""

    def __init__(self) -> None:
        self.bindings: dict[str, Any] = {}
        self.reads_path = False
        self._count = 0

    def const(self, value: Any) -> str:
        """A name in the generated code for `value` (a closure, a literal, a policy)."""
        name = f"_k{self._count}"
        self._count += 1
        self.bindings[name] = value
        return name

    def temp(self) -> str:
        name = f"_t{self._count}"
        self._count += 1
        return name

    def path(self) -> str:
        """The request path without its query and fragment (computed once, at the top)."""
        self.reads_path = True
        return "path"


def register(match: Callable[..., bool], emit: Emit) -> Callable[..., bool]:
    """Give `match` an inline form; returns `match`."""
    _FORMS[match] = emit
    return match


def expression(match: Callable[..., bool], source: Source) -> str:
    """`match`'s inline form, or a call of it."""
    emit = _FORMS.get(match)
    if emit is not None:
        return emit(source)
    return f"{source.const(match)}(info, headers)"


def joined(matches: Sequence[Callable[..., bool]], operator: str) -> Emit:
    """The inline form of the and (`operator` "and") or or ("or") of `matches`, in order."""
    chain = tuple(matches)
    return lambda source: "(" + f" {operator} ".join(expression(m, source) for m in chain) + ")"


# the literal tests of router/string_match.py's BytesTest.op, as expressions of value and literal
_OPS = {"exact": "({v} == {k})", "prefix": "{v}.startswith({k})", "suffix": "{v}.endswith({k})",
        "contains": "({k} in {v})"}


def literal_test(kind: str, value: str, literal: bytes, source: Source) -> str:
    """A StringMatcher literal compare (`kind` one of exact/prefix/suffix/contains) of the
    expression `value` with `literal`."""
    return _OPS[kind].format(v=value, k=source.const(literal))


def first_match_function(policies: Sequence[tuple[Any, Callable[..., bool]]]) -> Callable[[Any, Any], Any]:
    """One function returning the first policy (of (policy, match) pairs, in order) whose match
    holds, or None."""
    source = Source()
    tests = [f"    if {expression(match, source)}:\n        return {source.const(policy)}\n"
             for policy, match in policies]
    lines = ["def first_match(info, headers):\n"]
    if source.reads_path:
        lines.append("    path = headers.path\n"
                     "    if 63 in path:  # ?\n        path = path[:path.index(63)]\n"
                     "    if 35 in path:  # #\n        path = path[:path.index(35)]\n")
    lines += tests
    lines.append("    return None\n")
    namespace = dict(source.bindings)
    exec(compile("".join(lines), "<rbac policies>", "exec"), namespace)  # noqa: S102 - our own code
    function: Callable[[Any, Any], Any] = namespace["first_match"]
    return function
