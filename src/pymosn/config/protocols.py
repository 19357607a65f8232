"""Protocol names a proxy filter or route may ask for, and which of them pymosn speaks."""

from __future__ import annotations

from pymosn.config.issues import IssueLog

IMPLEMENTED = ("Http1",)

# MOSN writes "Http1"; "HTTP1" appears in docs and older samples, so both mean the same codec.
_ALIASES = {"http1": "Http1"}


def canonical_protocol(value: str) -> str | None:
    """The implemented protocol `value` names, or None."""
    return _ALIASES.get(value.lower())


def check_protocol(value: object, path: str, log: IssueLog, direction: str) -> str | None:
    """Report a protocol pymosn cannot speak; return its canonical name when it can."""
    if not isinstance(value, str):
        log.error(path, f"expected str, got {type(value).__name__}")
        return None
    canonical = canonical_protocol(value)
    if canonical is not None:
        return canonical
    known = ", ".join(IMPLEMENTED)
    log.error(path, f"{direction} protocol {value!r} is not implemented by pymosn yet; known: {known}")
    return None
