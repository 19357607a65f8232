"""The request payload limit: MOSN's stream filter `payload_limit` and Envoy's
`envoy.filters.http.buffer` (`max_request_bytes`).

Both hold the whole request body before anything of it goes upstream (Envoy's buffer filter
buffers; MOSN's HTTP stream hands its filters the complete body), and answer a body over the
limit locally: Envoy with 413, MOSN with its `http_status` (413 when unset), flag `RT` (MOSN's
ReqEntityTooLarge) and details `request_payload_too_large`. A `content-length` over the limit is
answered from the headers, before any body is read.

The body is gathered by the filter manager (STOP_AND_BUFFER), under the stream's buffer limit
too: a limit above it is answered by the manager at that size, with the same 413 and flag. The
wiring is to give streams of a listener with this filter a buffer limit of at least the
configured size (Envoy's buffer filter raises its stream's decoder buffer limit the same way).

MOSN: `{"type": "payload_limit", "config": {"max_entity_size": N, "http_status": 413}}`
(`max_entity_size` 0: no limit). MOSN itself reads that key under a struct tag with a trailing
space (`"max_entity_size "`), so a MOSN process ignores `max_entity_size` as normally written and
enforces nothing; pymosn enforces what the config says, and takes the spaced key too.
Envoy: `{"@type": TYPE_URL, "max_request_bytes": N}` (required, > 0)."""

from __future__ import annotations

from typing import Any

import msgspec

from pymosn.api.headers import RequestHeaderMap
from pymosn.api.stream_filter import (
    CONTINUE,
    REQUEST_ENTITY_TOO_LARGE,
    STOP,
    STOP_AND_BUFFER,
    AnyFilter,
    DataStatus,
    DecoderFilter,
    FilterCallbacks,
    HeadersStatus,
)
from pymosn.config.issues import IssueLog
from pymosn.filter.http.fields import Fields, check_type_url
from pymosn.metrics.stats import FilterStats

MOSN_NAME = "payload_limit"
ENVOY_NAME = "envoy.filters.http.buffer"
TYPE_URL = "type.googleapis.com/envoy.extensions.filters.http.buffer.v3.Buffer"
DETAILS = "request_payload_too_large"
_MOSN_SPACED_KEY = "max_entity_size "
_UINT32_MAX = 2**32 - 1


class PayloadLimitConfig(msgspec.Struct, frozen=True):
    max_bytes: int  # 0: no limit (MOSN's max_entity_size 0)
    status: int = 413


def decode_envoy(raw: Any, path: str, log: IssueLog) -> PayloadLimitConfig | None:
    """Envoy's Buffer message (the `typed_config` object at `path`); None after errors."""
    errors = len(log.errors)
    check_type_url(raw, path, log, TYPE_URL)
    fields = Fields(raw, path, log, "max_request_bytes", envoy=True)
    if not fields.has("max_request_bytes"):
        fields.error("max_request_bytes", "missing required field")
    limit = fields.integer("max_request_bytes", 0, 1, _UINT32_MAX)
    return PayloadLimitConfig(limit) if len(log.errors) == errors else None


def decode_mosn(raw: Any, path: str, log: IssueLog) -> PayloadLimitConfig | None:
    """The `config` object of a MOSN `stream_filters` entry of type `payload_limit`; None after
    errors. `max_entity_size` 0 or absent: no limit, as in MOSN (the filter passes everything)."""
    errors = len(log.errors)
    if isinstance(raw, dict) and _MOSN_SPACED_KEY in raw:
        raw = {("max_entity_size" if key == _MOSN_SPACED_KEY else key): value for key, value in raw.items()}
    fields = Fields(raw, path, log, "max_entity_size http_status")
    limit = fields.integer("max_entity_size", 0, 0, 2**31 - 1)
    status = fields.integer("http_status", 0, 200, 599) or 413
    return PayloadLimitConfig(limit, status) if len(log.errors) == errors else None


ROUTE_TYPE_URL = "type.googleapis.com/envoy.extensions.filters.http.buffer.v3.BufferPerRoute"


def decode_envoy_route(raw: Any, path: str, log: IssueLog) -> PayloadLimitConfig | None:
    """Envoy's BufferPerRoute: `disabled: true` (no limit on the route) or `buffer` (its own)."""
    errors = len(log.errors)
    check_type_url(raw, path, log, ROUTE_TYPE_URL)
    fields = Fields(raw, path, log, "disabled buffer", envoy=True)
    if fields.has("disabled") == fields.has("buffer"):
        fields.error(None, "set exactly one of disabled, buffer")
    if fields.has("disabled") and not fields.boolean("disabled"):
        fields.error("disabled", "must be true (as in Envoy)")
    config = decode_envoy(fields.values["buffer"], fields.at("buffer"), log) if fields.has("buffer") else (
        PayloadLimitConfig(0))
    return config if len(log.errors) == errors else None


class PayloadLimitStats(FilterStats):
    COUNTERS = ("rq_too_large",)  # requests this filter answered for their size (pymosn's)
    __slots__ = COUNTERS
    rq_too_large: int


class PayloadLimitFilterConfig:
    def __init__(self, config: PayloadLimitConfig) -> None:
        self.config = config
        self.max_bytes = config.max_bytes
        self.status = config.status
        self.stats = PayloadLimitStats()

    def create_filter(self, callbacks: FilterCallbacks) -> AnyFilter:
        return PayloadLimitFilter(self, callbacks)


class PayloadLimitFilter(DecoderFilter):
    __slots__ = ("_config", "_limit", "_callbacks", "_received")

    def __init__(self, config: PayloadLimitFilterConfig, callbacks: FilterCallbacks) -> None:
        self._config = config
        self._limit = config.config
        self._callbacks = callbacks
        self._received = 0

    def decode_headers(self, headers: RequestHeaderMap, end_stream: bool) -> HeadersStatus:
        route = self._callbacks.per_filter_config()
        if isinstance(route, PayloadLimitConfig):  # the route's limit replaces the filter's
            self._limit = route
        if end_stream or not self._limit.max_bytes:
            return CONTINUE
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self._limit.max_bytes:
            self._reject()
            return STOP
        return STOP_AND_BUFFER

    def decode_data(self, data: bytes, end_stream: bool) -> DataStatus:
        self._received += len(data)
        if self._limit.max_bytes and self._received > self._limit.max_bytes:
            self._reject()
            return STOP
        return CONTINUE

    def _reject(self) -> None:
        self._config.stats.rq_too_large += 1
        self._callbacks.send_local_reply(self._limit.status, b"Payload Too Large", REQUEST_ENTITY_TOO_LARGE, DETAILS)


class PayloadLimitFactory:
    name = ENVOY_NAME
    mosn_name = MOSN_NAME
    type_url = TYPE_URL
    config_type = PayloadLimitConfig
    decode_envoy = staticmethod(decode_envoy)
    decode_mosn = staticmethod(decode_mosn)
    # MOSN's per_filter_config replaces the config on the route; Envoy's BufferPerRoute too
    route_type_urls = (ROUTE_TYPE_URL,)
    stats_scope = "payload_limit"  # http.<listener>.payload_limit.rq_too_large
    decode_envoy_route = staticmethod(decode_envoy_route)
    decode_mosn_route = staticmethod(decode_mosn)

    def create_config(self, config: PayloadLimitConfig) -> PayloadLimitFilterConfig:
        return PayloadLimitFilterConfig(config)


FACTORY = PayloadLimitFactory()
