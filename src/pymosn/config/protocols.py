"""Protocol names a proxy filter or route may ask for, and which of them pymosn speaks.

HTTP/1.1 is "Http1"; "Auto" detects the protocol from the first bytes; TCP RPC protocols are
X-Protocol codecs, named directly ("bolt") or as MOSN's "X" with extend_config.sub_protocol.
The config layer cannot see the codec registry (a higher layer), so the server tells it which
RPC protocol names exist through `set_rpc_protocols`, and whose header maps each codec can carry
changed through `set_rpc_header_rewrites`; the built-ins' are the defaults."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Final

from pymosn.api.headers import HeaderSide
from pymosn.config.issues import IssueLog

HTTP1: Final = "Http1"
HTTP2: Final = "Http2"
AUTO: Final = "Auto"
X: Final = "X"
BUILTIN_RPC = ("bolt", "boltv2", "dubbo", "x_example")

# MOSN writes "Http1"; "HTTP1" appears in docs and older samples, so both mean the same codec.
_ALIASES = {"http1": HTTP1, "http2": HTTP2, "auto": AUTO, "x": X}
# Names older MOSN releases used, which current MOSN refuses too.
_OLDER_NAMES = {"sofarpc": "older MOSN's name for SOFARPC, refused by current MOSN too; use bolt (or X with "
                           "extend_config.sub_protocol bolt)"}
_rpc_protocols: Callable[[], Iterable[str]] = lambda: BUILTIN_RPC  # noqa: E731
# the built-in codecs' XCodec.rewritable_headers (a Dubbo response has no header map)
BUILTIN_RPC_HEADER_REWRITES = {"bolt": HeaderSide.BOTH, "boltv2": HeaderSide.BOTH, "dubbo": HeaderSide.REQUEST,
                               "x_example": HeaderSide.BOTH}
_rpc_header_rewrites: Callable[[str], HeaderSide | None] = BUILTIN_RPC_HEADER_REWRITES.get


def set_rpc_protocols(provider: Callable[[], Iterable[str]]) -> None:
    """Where RPC protocol names come from (the X-Protocol registry, plugins included)."""
    global _rpc_protocols
    _rpc_protocols = provider


def rpc_protocols() -> list[str]:
    return list(_rpc_protocols())


def set_rpc_header_rewrites(lookup: Callable[[str], HeaderSide | None]) -> None:
    """Where a codec's rewritable header sides come from, by its canonical name (None: no such codec)."""
    global _rpc_header_rewrites
    _rpc_header_rewrites = lookup


def rpc_header_rewrites(protocol: str) -> HeaderSide | None:
    """The sides whose header maps the RPC protocol can carry changed; None for a name no codec has."""
    return _rpc_header_rewrites(protocol)


def canonical_protocol(value: str) -> str | None:
    """The implemented protocol `value` names ("Http1", "Auto", "X" or an RPC codec name), or
    None."""
    alias = _ALIASES.get(value.lower())
    if alias is not None:
        return alias
    return next((name for name in rpc_protocols() if name.lower() == value.lower()), None)


def is_rpc(protocol: str) -> bool:
    return protocol not in (HTTP1, HTTP2, AUTO, X)


def check_protocol(value: object, path: str, log: IssueLog, direction: str) -> str | None:
    """Report a protocol pymosn cannot speak; return its canonical name when it can."""
    if not isinstance(value, str):
        log.error(path, f"expected str, got {type(value).__name__}")
        return None
    canonical = canonical_protocol(value)
    if canonical is not None:
        return canonical
    known = ", ".join([HTTP1, HTTP2, AUTO, X, *rpc_protocols()])
    older = _OLDER_NAMES.get(value.casefold())
    if older is not None:
        log.error(path, f"{direction} protocol {value!r} is {older}; known: {known}")
        return None
    log.error(path, f"{direction} protocol {value!r} is not implemented by pymosn yet; known: {known}")
    return None


def check_sub_protocol(value: object, path: str, log: IssueLog) -> str | None:
    """The X-Protocol codec `extend_config.sub_protocol` names."""
    if not isinstance(value, str) or not value:
        log.error(path, f"protocol X needs extend_config.sub_protocol naming one of: {', '.join(rpc_protocols())}")
        return None
    canonical = canonical_protocol(value)
    if canonical is None or not is_rpc(canonical):
        log.error(path, f"unknown X-Protocol sub_protocol {value!r}; known: {', '.join(rpc_protocols())}")
        return None
    return canonical
