"""Checks on the HTTP codec limits and HTTP/1.0 handling of proxy filters and clusters: header
field counts (Envoy's max_headers_count, named for the side they limit) and Envoy's HTTP/1.0
options."""

from __future__ import annotations

import re

from pymosn.config import model
from pymosn.config.issues import child
from pymosn.config.walker import Walker

MAX_HEADERS_COUNT = 2**32 - 1  # Envoy's field is a UInt32Value

# RFC 3986 authority characters (host or [IPv6], optional port, no userinfo): the value is
# written into requests as their Host, so nothing that could end or split a header line
_AUTHORITY = re.compile(r"[A-Za-z0-9\-._~%!$&'()*+,;=:\[\]]+")


def _count(walker: Walker, value: int, path: str) -> None:
    if not 1 <= value <= MAX_HEADERS_COUNT:
        walker.log.error(path, f"must be 1..{MAX_HEADERS_COUNT}, got {value}")


def proxy_header_limits(obj: model.ProxyConfig, path: str, walker: Walker) -> model.ProxyConfig:
    _count(walker, obj.max_request_headers_count, child(path, "max_request_headers_count"))
    return obj


def cluster_header_limits(obj: model.Cluster, path: str, walker: Walker) -> model.Cluster:
    _count(walker, obj.max_response_headers_count, child(path, "max_response_headers_count"))
    return obj


def http1_protocol_options(obj: model.Http1ProtocolOptions, path: str, walker: Walker) -> model.Http1ProtocolOptions:
    host = obj.default_host_for_http_10
    if not host:
        return obj
    field = child(path, "default_host_for_http_10")
    if _AUTHORITY.fullmatch(host) is None:
        walker.log.error(field, f"must be a host or host:port, got {host!r}")
    elif not obj.accept_http_10:
        walker.log.warning(field, "has no effect unless accept_http_10 is true (as in Envoy)")
    return obj
