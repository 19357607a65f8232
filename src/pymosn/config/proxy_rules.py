"""Checks on the `proxy` network filter's config: protocols, MOSN's extend_config, XFCC options.

Protocols follow MOSN (pkg/proxy/downstream.go, getUpstreamProtocol): an unset or Auto
upstream_protocol means the protocol the client spoke, so a bolt listener proxies bolt and an
Auto listener sends an HTTP/2 client upstream as HTTP/2 and an HTTP/1.1 client as HTTP/1.1.
The loaded config holds the resolved name ("Auto" for an Auto listener: per connection)."""

from __future__ import annotations

from typing import Any

import msgspec

from pymosn.config import model
from pymosn.config.issues import child, known_values_message
from pymosn.config.protocols import AUTO, HTTP1, HTTP2, X, check_protocol, check_sub_protocol, is_rpc
from pymosn.config.walker import Walker

FORWARD_CLIENT_CERT_DETAILS = ("SANITIZE", "FORWARD_ONLY", "APPEND_FORWARD", "SANITIZE_SET", "ALWAYS_FORWARD_ONLY")
IGNORED = "accepted by MOSN but not implemented by pymosn yet; ignored"
# MOSN's HTTP/1 codec options (pkg/stream/http, StreamConfig): limits pymosn has under its own names
_HTTP1_LIMITS = ("max_header_size", "max_request_body_size")
# MOSN buffers a whole HTTP/2 body unless this is set; pymosn always streams them
_HTTP2_STREAMING = "http2_use_stream"
_READ_ELSEWHERE = frozenset({"sub_protocol", "sub_protocols", _HTTP2_STREAMING})


def proxy_config(obj: model.ProxyConfig, path: str, walker: Walker) -> model.ProxyConfig:
    downstream = check_protocol(obj.downstream_protocol, child(path, "downstream_protocol"), walker.log,
                                direction="downstream")
    upstream = AUTO
    if downstream is None and obj.upstream_protocol.casefold() == obj.downstream_protocol.casefold():
        upstream = None  # the same unknown name, reported once
    elif obj.upstream_protocol:
        upstream = check_protocol(obj.upstream_protocol, child(path, "upstream_protocol"), walker.log,
                                  direction="upstream")
    downstream, upstream = _rpc_protocols(obj, path, walker, downstream, upstream)
    if not obj.router_config_name:
        walker.log.error(child(path, "router_config_name"), "must not be empty")
    obj = _http1_limits(obj, downstream, path, walker)
    if obj.max_request_headers_kb < 1:
        walker.log.error(child(path, "max_request_headers_kb"), f"must be >= 1, got {obj.max_request_headers_kb}")
    forwarding = obj.forward_client_cert_details.upper()
    if forwarding not in FORWARD_CLIENT_CERT_DETAILS:
        walker.log.error(child(path, "forward_client_cert_details"),
                         known_values_message(obj.forward_client_cert_details, FORWARD_CLIENT_CERT_DETAILS))
        forwarding = obj.forward_client_cert_details
    details = obj.set_current_client_cert_details
    if details is not None:
        details_path = child(path, "set_current_client_cert_details")
        if details.chain:
            walker.log.error(child(details_path, "chain"), "not implemented by pymosn (Python's ssl shows the "
                                                           "peer's chain only from Python 3.13)")
        if forwarding not in ("APPEND_FORWARD", "SANITIZE_SET"):
            walker.log.warning(details_path, "has an effect only with forward_client_cert_details "
                                             "APPEND_FORWARD or SANITIZE_SET (as in Envoy)")
    return msgspec.structs.replace(
        obj,
        downstream_protocol=downstream or obj.downstream_protocol,
        upstream_protocol=upstream or obj.upstream_protocol or AUTO,
        forward_client_cert_details=forwarding,
    )


def _rpc_protocols(obj: model.ProxyConfig, path: str, walker: Walker, downstream, upstream):
    """Resolves MOSN's "X" + extend_config.sub_protocol to the codec's name, and refuses
    protocol conversions pymosn does not do (an RPC protocol only proxies to itself)."""
    if X in (downstream, upstream):
        extend_path = child(path, "extend_config")
        if "sub_protocols" in obj.extend_config and "sub_protocol" not in obj.extend_config:
            walker.log.error(child(extend_path, "sub_protocols"),
                             "older MOSN's list of X sub-protocols is not implemented by pymosn; name one codec in "
                             "sub_protocol, or use downstream_protocol Auto to detect the codec per connection")
            return None, None
        sub = check_sub_protocol(obj.extend_config.get("sub_protocol"), child(extend_path, "sub_protocol"), walker.log)
        if sub is None:
            return None, None
        downstream = sub if downstream == X else downstream
        upstream = sub if upstream == X else upstream
    if downstream is None or upstream is None:
        return downstream, upstream
    if upstream == AUTO:
        upstream = downstream  # MOSN: the upstream speaks what the client spoke
    if downstream == AUTO:
        if upstream not in (AUTO, downstream) and is_rpc(upstream):
            walker.log.error(child(path, "upstream_protocol"),
                             f"with downstream Auto the upstream protocol must be Auto (the detected one), not {upstream!r}")
        # an HTTP version named for the upstream holds for whichever HTTP the client spoke
        return downstream, upstream if upstream in (HTTP1, HTTP2) else AUTO
    if (is_rpc(downstream) or is_rpc(upstream)) and downstream != upstream:
        walker.log.error(child(path, "upstream_protocol"),
                         f"converting {downstream} to {upstream} is not supported; use the same protocol on both sides")
    return downstream, upstream


def _http1_limits(obj: model.ProxyConfig, downstream: str | None, path: str, walker: Walker) -> model.ProxyConfig:
    """MOSN's HTTP/1 codec reads max_header_size and max_request_body_size (bytes) from
    extend_config, keyed "Http1" or, for an Http1 listener, at its top. They are limits, so they
    are applied (as pymosn's max_request_headers_kb and max_request_bytes, the stricter one
    winning), never dropped. Other keys are codec options pymosn does not have."""
    extend = obj.extend_config
    extend_path = child(path, "extend_config")
    keyed = extend.get(HTTP1)
    if isinstance(keyed, dict):
        options, options_path = keyed, child(extend_path, HTTP1)
    elif downstream == HTTP1:
        options, options_path = extend, extend_path
    else:
        options, options_path = {}, extend_path
    limits: dict[str, int] = {}
    for key, value in options.items():
        where = child(options_path, key)
        if key not in _HTTP1_LIMITS:
            if options is keyed:
                walker.log.warning(where, IGNORED)
        elif not isinstance(value, int) or isinstance(value, bool) or value < 1:
            walker.log.error(where, f"must be a number of bytes >= 1, got {value!r}")
        else:
            limits[key] = value
    for key, value in extend.items():
        if key in _READ_ELSEWHERE or value is options or (options is extend and key in _HTTP1_LIMITS):
            continue
        if key == HTTP2 and isinstance(value, dict):
            for option, setting in value.items():
                if option != _HTTP2_STREAMING and not _is_unset(setting):
                    walker.log.warning(child(child(extend_path, HTTP2), option), IGNORED)
        elif not _is_unset(value):
            walker.log.warning(child(extend_path, key), IGNORED)
    return _apply_http1_limits(obj, limits)


def _is_unset(value: object) -> bool:
    return value is None or value is False or value == {} or value == ""


def _apply_http1_limits(obj: model.ProxyConfig, limits: dict[str, Any]) -> model.ProxyConfig:
    changes: dict[str, int] = {}
    if "max_header_size" in limits:
        # whole KiB, rounded down: never looser than asked
        changes["max_request_headers_kb"] = min(obj.max_request_headers_kb, max(1, limits["max_header_size"] // 1024))
    if "max_request_body_size" in limits:
        size = limits["max_request_body_size"]
        changes["max_request_bytes"] = min(obj.max_request_bytes, size) if obj.max_request_bytes else size
    return msgspec.structs.replace(obj, **changes) if changes else obj
