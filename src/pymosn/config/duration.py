"""Durations as MOSN, Go and Envoy write them, turned into float seconds.

MOSN's config uses Go's `time.ParseDuration` ("1s", "500ms", "1m30s", "100us"); Envoy's JSON
uses the same suffix style ("1.5s"). pymosn also takes a bare JSON number as seconds, because
that is what a dumped pymosn config contains and what people expect in YAML."""

from __future__ import annotations

import math
import re

_SECONDS_PER_UNIT = {
    "ns": 1e-9,
    "us": 1e-6,
    "\u00b5s": 1e-6,  # micro sign, accepted by Go
    "\u03bcs": 1e-6,  # Greek mu, accepted by Go
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_UNITS_HINT = "ns, us, ms, s, m, h"

# Longer units first so "ms" is not read as "m" followed by garbage.
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|\u00b5s|\u03bcs|ms|s|m|h)")


def parse_duration(value: object) -> float:
    """Return `value` in seconds; raise ValueError saying what is wrong and what would be right."""
    if isinstance(value, bool):  # bool is an int in Python; `true` is never a duration
        raise ValueError(f"expected a duration like '1s' or '500ms', got {value!r}")
    if isinstance(value, int | float):
        return _checked_seconds(float(value), value)
    if not isinstance(value, str):
        raise ValueError(f"expected a duration like '1s' or '500ms', got {type(value).__name__}")
    return _checked_seconds(_parse_go_duration(value), value)


def _parse_go_duration(text: str) -> float:
    body = text.strip()
    sign = 1.0
    if body and body[0] in "+-":
        sign = -1.0 if body[0] == "-" else 1.0
        body = body[1:]
    if body == "0":
        return 0.0
    if not body:
        raise ValueError(f"invalid duration {text!r}: empty")
    total = 0.0
    position = 0
    while position < len(body):
        part = _PART.match(body, position)
        if part is None:
            raise ValueError(_explain_bad_duration(text, body[position:]))
        total += float(part.group(1)) * _SECONDS_PER_UNIT[part.group(2)]
        position = part.end()
    return sign * total


def _explain_bad_duration(text: str, rest: str) -> str:
    if re.fullmatch(r"[\d.]+", rest):
        return f"invalid duration {text!r}: missing unit (one of {_UNITS_HINT})"
    return f"invalid duration {text!r}: expected numbers with units ({_UNITS_HINT}), e.g. '1m30s'"


def _checked_seconds(seconds: float, original: object) -> float:
    if math.isnan(seconds) or math.isinf(seconds):
        raise ValueError(f"invalid duration {original!r}: not a finite number")
    if seconds < 0:
        raise ValueError(f"invalid duration {original!r}: must not be negative")
    return seconds
