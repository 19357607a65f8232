"""A listener's configured HTTP filters as the FilterChainPlan its streams share.

Each `model.StreamFilter` (config decoded at load) becomes one FilterChainEntry: its kind's
`create_config` makes the shared runtime config, once per listener build; the entry is named by
the filter's `name` (Envoy's HttpFilter.name, what per-route configs are keyed by), else its type.
A filter that is off by default (Envoy's `disabled: true`) or that some route turns off is
wrapped in a route gate, which runs it only on routes where it is on; the others pay nothing
for routes. No filters: no plan (None), the proxy's fast path."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from pymosn.api.headers import HeaderMap, RequestHeaderMap
from pymosn.api.stream_filter import (
    CONTINUE,
    AnyFilter,
    DataStatus,
    DecoderFilter,
    EncoderFilter,
    FilterCallbacks,
    FilterConfig,
    FilterPhase,
    HeadersStatus,
    StreamFilter,
    TrailersStatus,
)
from pymosn.config import model
from pymosn.config.registries import HTTP_FILTERS
from pymosn.proxy.filter_manager import FilterChainEntry, FilterChainPlan


def entry_name(f: model.StreamFilter) -> str:
    return f.name or f.type


# (scope, the kind's FilterStats class) -> the listener's group of that scope
StatsFor = Callable[[str, type], Any]


def build_filter_plan(filters: Sequence[model.StreamFilter], routes_turning_off: Iterable[str] = (),
                      stats_for: StatsFor | None = None) -> FilterChainPlan | None:
    """`routes_turning_off`: names of filters some route's per-filter config disables.
    `stats_for`: where a kind with a `stats_scope` keeps its stats (the listener's group of that
    scope, in the stats store), given to its config in place of the config's own."""
    if not filters:
        return None
    turned_off = frozenset(routes_turning_off)
    entries = []
    for f in filters:
        factory = HTTP_FILTERS.factory(f.type)
        config = factory.create_config(f.config)
        scope = getattr(factory, "stats_scope", None)
        if scope is not None and stats_for is not None:
            bind = getattr(config, "bind_stats", None)
            if bind is not None:  # a kind whose stats span several scopes (rbac's stat prefixes)
                bind(stats_for)
            else:
                config.stats = stats_for(scope, type(config.stats))  # type: ignore[attr-defined]
        phase = getattr(config, "phase", FilterPhase.BEFORE_ROUTE)
        name = entry_name(f)
        if f.disabled or name in turned_off:
            config = RouteGate(name, config, on_by_default=not f.disabled)
        entries.append(FilterChainEntry(name, config, phase))
    return FilterChainPlan(entries)


def routes_turning_off(routers: Iterable[Any]) -> set[str]:
    """Names of filters a route, virtual host or route configuration of these compiled route
    tables (router.RouteTable) turns off."""
    names: set[str] = set()
    for table in routers:
        for vhost in table.virtual_hosts:
            for entry in vhost.routes:
                names.update(entry.filters_off)
    return names


class RouteGate:
    """Runs `inner`'s filter only on routes where the filter is on: by default as configured,
    on where a route has a per-filter config for it (Envoy: any config for the filter turns
    a disabled one on), off where a route disables it (Envoy's FilterConfig.disabled)."""

    def __init__(self, name: str, inner: FilterConfig, on_by_default: bool) -> None:
        self.name = name
        self.inner = inner
        self.on_by_default = on_by_default
        self.phase = getattr(inner, "phase", FilterPhase.BEFORE_ROUTE)

    def create_filter(self, callbacks: FilterCallbacks) -> AnyFilter:
        return _Gated(self, callbacks)

    def on_for(self, route: Any) -> bool:
        if route is None:
            return self.on_by_default
        if self.name in getattr(route, "filters_off", ()):
            return False
        return self.on_by_default or self.name in getattr(route, "filter_configs", {})


class _Gated(StreamFilter):
    """Both sides, whatever the inner filter has: which it is is known only once the route is."""

    __slots__ = ("_gate", "_callbacks", "_decoder", "_encoder", "_inner")

    def __init__(self, gate: RouteGate, callbacks: FilterCallbacks) -> None:
        self._gate = gate
        self._callbacks = callbacks
        self._inner: AnyFilter | None = None
        self._decoder: DecoderFilter | None = None
        self._encoder: EncoderFilter | None = None

    def decode_headers(self, headers: RequestHeaderMap, end_stream: bool) -> HeadersStatus:
        if self._gate.on_for(self._callbacks.route):
            inner = self._inner = self._gate.inner.create_filter(self._callbacks)
            self._decoder = inner if isinstance(inner, DecoderFilter) else None
            self._encoder = inner if isinstance(inner, EncoderFilter) else None
        decoder = self._decoder
        return CONTINUE if decoder is None else decoder.decode_headers(headers, end_stream)

    # A compiled built-in filter is one by registration and has only the methods it overrides
    # (proxy/filter_plan.py): the others are the API's defaults, which continue.

    def decode_data(self, data: bytes, end_stream: bool) -> DataStatus:
        method = getattr(self._decoder, "decode_data", None)
        return CONTINUE if method is None else method(data, end_stream)

    def decode_trailers(self, trailers: HeaderMap) -> TrailersStatus:
        method = getattr(self._decoder, "decode_trailers", None)
        return CONTINUE if method is None else method(trailers)

    def encode_headers(self, status: int, headers: HeaderMap, end_stream: bool) -> HeadersStatus:
        encoder = self._encoder
        return CONTINUE if encoder is None else encoder.encode_headers(status, headers, end_stream)

    def encode_data(self, data: bytes, end_stream: bool) -> DataStatus:
        method = getattr(self._encoder, "encode_data", None)
        return CONTINUE if method is None else method(data, end_stream)

    def encode_trailers(self, trailers: HeaderMap) -> TrailersStatus:
        method = getattr(self._encoder, "encode_trailers", None)
        return CONTINUE if method is None else method(trailers)

    def on_destroy(self) -> None:
        inner, self._inner = self._inner, None
        self._decoder = self._encoder = None
        on_destroy = getattr(inner, "on_destroy", None)
        if on_destroy is not None:
            on_destroy()
