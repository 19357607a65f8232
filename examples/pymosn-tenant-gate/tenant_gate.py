"""tenant_gate: a pymosn HTTP filter written in Python, in one file.

It answers 403 to a request whose tenant header is missing or not in the allowed list, and
gives the requests it lets through a header computed from the tenant (a short SHA-256 tag the
upstream can log without seeing the tenant's name). A route may allow other tenants.

Installed (pip install ./examples/pymosn-tenant-gate), it is found by its entry point:

    [project.entry-points."pymosn.http_filters"]
    tenant_gate = "tenant_gate:TenantGate"

MOSN config, on a listener:
    "stream_filters": [{"type": "tenant_gate", "config": {"allowed": ["acme", "globex"]}}]
and on a route:
    "per_filter_config": {"tenant_gate": {"allowed": ["initech"]}}

Envoy bootstrap, in an HttpConnectionManager's http_filters (before the router):
    - name: tenant_gate
      typed_config:
        "@type": type.googleapis.com/xds.type.v3.TypedStruct
        type_url: type.googleapis.com/pymosn.http_filters.tenant_gate
        value: {allowed: [acme, globex]}
and on a route: typed_per_filter_config: {tenant_gate: <a TypedStruct as above, value {allowed: [...]}>}
"""

from __future__ import annotations

import hashlib

import msgspec

from pymosn.api.headers import RequestHeaderMap
from pymosn.api.stream_filter import CONTINUE, STOP, DecoderFilter, FilterCallbacks, HeadersStatus

DETAILS = "tenant_not_allowed"  # what %RESPONSE_CODE_DETAILS% says of a refused request


class TenantGateConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The filter's config: pymosn reads it strictly (an unknown field or a wrong type is an
    error at its path when the config is loaded)."""

    allowed: frozenset[str]
    header: str = "x-tenant"
    tag_header: str = "x-tenant-tag"


class TenantGateRoute(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A route's own allowed tenants (its per-filter config), replacing the filter's there."""

    allowed: frozenset[str]


class TenantGate:
    """The entry point: pymosn calls TenantGate(config) once per listener it builds, and its
    create_filter(callbacks) once per request."""

    config_type = TenantGateConfig
    route_config_type = TenantGateRoute

    def __init__(self, config: TenantGateConfig) -> None:
        self.allowed = config.allowed
        self.header = config.header.lower().encode()
        self.tag_header = config.tag_header.lower().encode()

    def create_filter(self, callbacks: FilterCallbacks) -> DecoderFilter:
        return _TenantGateFilter(self, callbacks)


class _TenantGateFilter(DecoderFilter):
    __slots__ = ("gate", "callbacks")

    def __init__(self, gate: TenantGate, callbacks: FilterCallbacks) -> None:
        self.gate = gate
        self.callbacks = callbacks

    def decode_headers(self, headers: RequestHeaderMap, end_stream: bool) -> HeadersStatus:
        gate = self.gate
        route = self.callbacks.per_filter_config()  # this route's TenantGateRoute, or None
        allowed = route.allowed if isinstance(route, TenantGateRoute) else gate.allowed
        tenant = headers.get(gate.header)
        name = tenant.decode("latin-1") if tenant is not None else None
        if name is None or name not in allowed:
            self.callbacks.send_local_reply(403, b"tenant not allowed\n", None, DETAILS)
            return STOP
        headers.set(gate.tag_header, hashlib.sha256(tenant).hexdigest()[:16].encode())
        return CONTINUE
