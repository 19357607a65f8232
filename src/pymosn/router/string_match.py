"""Envoy's StringMatcher, compiled once into a test of one value (Envoy's common/matcher):
exact / prefix / suffix / contains / safe_regex (a full match), `ignore_case` folding ASCII
letters only, as absl's ASCII lower-casing does. Shared by route conditions and the filters
(RBAC, fault, rate-limit descriptors); the config readers that make a StringSpec live with
whoever reads the config."""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from typing import Any, NamedTuple

STRING_KINDS = ("exact", "prefix", "suffix", "contains", "safe_regex")
StrTest = Callable[[str], bool]


class StringSpec(NamedTuple):
    kind: str  # one of STRING_KINDS
    value: str  # the literal, or the regular expression
    ignore_case: bool = False


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def ascii_lower(value: str) -> str:
    return value.translate(_ASCII_LOWER)


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
    """The spec as a test of a str (a route's decoded header, a certificate SAN, the TLS
    server name)."""
    if spec.kind == "safe_regex":
        fullmatch = re.compile(spec.value).fullmatch
        return lambda value: fullmatch(value) is not None
    if spec.ignore_case:
        return _literal_test(spec.kind, ascii_lower(spec.value), ascii_lower)
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
