"""Header mutation rules as they run (header_mutation.py decodes and checks them, and documents
their semantics): each list of rules is compiled once per config into a `Mutation`, whose
`apply(headers, info)` runs them in configured order, and the filter of one stream applies
its config's Mutations.

Compiled by mypyc (build.py): the rules, the configs and the filters are native classes, so a
request reads them and calls their `apply` without Python-level lookups; the usual rules (a
literal overwritten or appended, a value that is one variable) are a class each, the rest one
general class. A compiled class cannot subclass the extension API's interpreted filter
classes, so the filters are registered as the sides they are (`DecoderFilter.register`): the
manager tells sides by isinstance, and a method a registered class leaves out is the API's
default (filter_plan.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from pymosn.accesslog.format import compile_format
from pymosn.accesslog.variables import MISSING, Getter
from pymosn.api.headers import HeaderMap, RequestHeaderMap
from pymosn.api.stream_filter import (
    CONTINUE,
    AnyFilter,
    DecoderFilter,
    EncoderFilter,
    FilterCallbacks,
    HeadersStatus,
    StreamFilter,
    TrailersStatus,
)
from pymosn.api.stream_info import StreamInfo

if TYPE_CHECKING:
    from collections.abc import Callable

    from pymosn.filter.http.header_mutation import HeaderMutationConfig, HeaderMutationRule

REMOVE: Final = "REMOVE"
APPEND_IF_EXISTS_OR_ADD: Final = "APPEND_IF_EXISTS_OR_ADD"
ADD_IF_ABSENT: Final = "ADD_IF_ABSENT"
OVERWRITE_IF_EXISTS_OR_ADD: Final = "OVERWRITE_IF_EXISTS_OR_ADD"
OVERWRITE_IF_EXISTS: Final = "OVERWRITE_IF_EXISTS"

_REMOVE: Final = 0
_APPEND: Final = 1
_ADD_IF_ABSENT: Final = 2
_OVERWRITE_OR_ADD: Final = 3
_OVERWRITE_IF_EXISTS: Final = 4
_CODES: Final = {REMOVE: _REMOVE, APPEND_IF_EXISTS_OR_ADD: _APPEND, ADD_IF_ABSENT: _ADD_IF_ABSENT,
                 OVERWRITE_IF_EXISTS_OR_ADD: _OVERWRITE_OR_ADD, OVERWRITE_IF_EXISTS: _OVERWRITE_IF_EXISTS}
_CONTINUE: Final = CONTINUE  # (a C static in the compiled build: no module lookup per call)


# --- values -----------------------------------------------------------------------------------

if TYPE_CHECKING:
    Render = Callable[[StreamInfo], bytes]  # a value with variables and text around them


def _parse(value: str) -> tuple[str, tuple[Getter, ...]]:
    """A value with variables as a str.format template and the getters of its fields."""
    templates: list[str] = []
    getters: list[Getter] = []
    for piece in value.split("%%"):
        formatter = compile_format(piece)
        templates.append(formatter.template)
        getters.extend(formatter.getters)
    return "%".join(templates), tuple(getters)


class Variable:
    """A value that is one variable: its getter, which the rule calls itself."""

    def __init__(self, getter: Getter) -> None:
        self.getter = getter


class Rendered:
    """A value with variables and text around them, rendered from the stream info."""

    def __init__(self, template: str, getters: tuple[Getter, ...]) -> None:
        self.template = template
        self.getters = getters

    def render(self, info: StreamInfo) -> bytes:
        texts = []
        for getter in self.getters:
            text = getter(info)
            texts.append("" if text == MISSING else text)
        return self.template.format(*texts).encode("latin-1")


def compile_value(value: str) -> bytes | Variable | Rendered:
    """A literal as bytes; the getter of a value that is one variable and nothing else (the
    usual case: called and encoded in the rule's own call); or a template rendered from the
    stream info. Raises FormatError for an unknown variable."""
    if "%" not in value:
        return value.encode("latin-1")
    template, bound = _parse(value)
    if not bound:
        return template.format().encode("latin-1")
    if template == "{}":
        return Variable(bound[0])
    return Rendered(template, bound)


# --- rules ------------------------------------------------------------------------------------

class Mutation:
    """Rules compiled once: `apply(headers, info)` runs them in configured order; `needs_info`
    says whether any value reads the stream info (else `info` may be None, and the filter does
    not fetch it)."""

    needs_info = False

    def apply(self, headers: HeaderMap, info: StreamInfo | None) -> None:
        raise NotImplementedError


class _Remove(Mutation):
    def __init__(self, name: bytes) -> None:
        self.name = name

    def apply(self, headers: HeaderMap, info: StreamInfo | None) -> None:
        headers.remove(self.name)


class _SetLiteral(Mutation):
    """OVERWRITE_IF_EXISTS_OR_ADD of a literal: the usual rule, one call."""

    def __init__(self, name: bytes, value: bytes) -> None:
        self.name = name
        self.value = value

    def apply(self, headers: HeaderMap, info: StreamInfo | None) -> None:
        headers.set(self.name, self.value)


class _AddLiteral(Mutation):
    """APPEND_IF_EXISTS_OR_ADD of a literal."""

    def __init__(self, name: bytes, value: bytes) -> None:
        self.name = name
        self.value = value

    def apply(self, headers: HeaderMap, info: StreamInfo | None) -> None:
        headers.add(self.name, self.value)


class _SetVariable(Mutation):
    """OVERWRITE_IF_EXISTS_OR_ADD of one variable, not kept when empty: the usual rule with one."""

    needs_info = True

    def __init__(self, name: bytes, getter: Getter) -> None:
        self.name = name
        self.getter = getter

    def apply(self, headers: HeaderMap, info: StreamInfo | None) -> None:
        assert info is not None
        found = self.getter(info)
        if found and found != MISSING:  # else it renders empty: not added
            headers.set(self.name, found.encode("latin-1"))


class _Rule(Mutation):
    """Any other rule: the value (a literal, one variable or a template) and the action."""

    def __init__(self, name: bytes, code: int, value: bytes | Variable | Rendered, keep_empty: bool) -> None:
        self.name = name
        self.code = code
        self.keep_empty = keep_empty
        self.literal = value if isinstance(value, bytes) else b""
        self.getter: Getter | None = value.getter if isinstance(value, Variable) else None
        self.rendered = value if isinstance(value, Rendered) else None
        self.needs_info = not isinstance(value, bytes)

    def apply(self, headers: HeaderMap, info: StreamInfo | None) -> None:
        text: bytes
        getter = self.getter
        rendered = self.rendered
        if getter is not None:
            assert info is not None
            found = getter(info)
            text = b"" if found == MISSING else found.encode("latin-1")
        elif rendered is not None:
            assert info is not None
            text = rendered.render(info)
        else:
            text = self.literal
        if not text and not self.keep_empty:
            return
        code = self.code
        name = self.name
        if code == _OVERWRITE_OR_ADD:
            headers.set(name, text)
        elif code == _APPEND:
            headers.add(name, text)
        elif name in headers:
            if code == _OVERWRITE_IF_EXISTS:
                headers.set(name, text)
        elif code == _ADD_IF_ABSENT:
            headers.add(name, text)


class _Sequence(Mutation):
    def __init__(self, rules: list[Mutation]) -> None:
        self.rules = rules
        self.needs_info = any(rule.needs_info for rule in rules)

    def apply(self, headers: HeaderMap, info: StreamInfo | None) -> None:
        for rule in self.rules:
            rule.apply(headers, info)


def _rule(rule: HeaderMutationRule) -> Mutation | None:
    """One rule compiled; None for a rule that never writes (a literal empty value without
    keep_empty_value)."""
    name = rule.name.encode()
    code = _CODES[rule.action]
    if code == _REMOVE:
        return _Remove(name)
    value = compile_value(rule.value)
    keep_empty = rule.keep_empty_value
    if isinstance(value, bytes):
        if not value and not keep_empty:
            return None
        if code == _OVERWRITE_OR_ADD:
            return _SetLiteral(name, value)
        if code == _APPEND:
            return _AddLiteral(name, value)
    elif isinstance(value, Variable) and code == _OVERWRITE_OR_ADD and not keep_empty:
        return _SetVariable(name, value.getter)
    return _Rule(name, code, value, keep_empty)


def compile_rules(rules: tuple[HeaderMutationRule, ...]) -> Mutation | None:
    """The rules as one Mutation; None when there is nothing to do."""
    compiled = [found for rule in rules if (found := _rule(rule)) is not None]
    if not compiled:
        return None
    if len(compiled) == 1:
        return compiled[0]
    return _Sequence(compiled)


def apply_mutations(mutation: Mutation | None, headers: HeaderMap, info: StreamInfo) -> None:
    """Run compiled rules (those of another filter's config, e.g. local rate limit's headers)."""
    if mutation is not None:
        mutation.apply(headers, info)


# --- the filter -------------------------------------------------------------------------------

_REQUEST: Final = 1
_RESPONSE: Final = 2
_BOTH: Final = 3


class HeaderMutationFilterConfig:
    """The compiled rules, shared by every stream; makes a filter of only the sides with rules,
    so a request-only config adds nothing to the response path."""

    def __init__(self, config: HeaderMutationConfig) -> None:
        self.config = config
        self.request = compile_rules(config.request)
        self.response = compile_rules(config.response)
        self.request_trailers = compile_rules(config.request_trailers)
        self.response_trailers = compile_rules(config.response_trailers)
        decodes = self.request is not None or self.request_trailers is not None
        encodes = self.response is not None or self.response_trailers is not None
        self._sides = _BOTH if decodes == encodes else _REQUEST if decodes else _RESPONSE

    def create_filter(self, callbacks: FilterCallbacks) -> AnyFilter:
        sides = self._sides
        # (an interpreted class without __init__ is made for about 70% of the cost)
        made = _BothSides() if sides == _BOTH else _RequestSide() if sides == _REQUEST else _ResponseSide()
        made._config = self
        made._callbacks = callbacks
        return made  # type: ignore[return-value]  # a filter by registration (below)


class _Mutations:
    """One stream's filter; made by HeaderMutationFilterConfig.create_filter, which sets both."""

    __slots__ = ("_config", "_callbacks")
    _config: HeaderMutationFilterConfig
    _callbacks: FilterCallbacks


def _apply(mutation: Mutation | None, headers: HeaderMap, callbacks: FilterCallbacks) -> HeadersStatus:
    """A side's rules (None: the side has none) on one header map."""
    if mutation is not None:
        mutation.apply(headers, callbacks.stream_info if mutation.needs_info else None)
    return _CONTINUE


class _RequestSide(_Mutations):
    __slots__ = ()

    def decode_headers(self, headers: RequestHeaderMap, end_stream: bool) -> HeadersStatus:
        return _apply(self._config.request, headers, self._callbacks)

    def decode_trailers(self, trailers: HeaderMap) -> TrailersStatus:
        return _apply(self._config.request_trailers, trailers, self._callbacks)


class _ResponseSide(_Mutations):
    __slots__ = ()

    def encode_headers(self, status: int, headers: HeaderMap, end_stream: bool) -> HeadersStatus:
        return _apply(self._config.response, headers, self._callbacks)

    def encode_trailers(self, trailers: HeaderMap) -> TrailersStatus:
        return _apply(self._config.response_trailers, trailers, self._callbacks)


class _BothSides(_RequestSide):
    """(A native class has one base: the response side's methods again, as _ResponseSide's.)"""

    __slots__ = ()

    def encode_headers(self, status: int, headers: HeaderMap, end_stream: bool) -> HeadersStatus:
        return _apply(self._config.response, headers, self._callbacks)

    def encode_trailers(self, trailers: HeaderMap) -> TrailersStatus:
        return _apply(self._config.response_trailers, trailers, self._callbacks)


DecoderFilter.register(_RequestSide)
EncoderFilter.register(_ResponseSide)
StreamFilter.register(_BothSides)
