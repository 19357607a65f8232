"""The local rate limit filter as it runs (local_ratelimit.py: what it does, its stats and its
factory): one config's buckets, compiled headers and policies, and one stream's filter.

Compiled by mypyc (build.py): the config, the fractions, the limiter and the filters are native
classes, and so are the buckets (token_bucket.py) and the counters (metrics/counter.py), so a
request reads and calls them without Python-level lookups. A compiled class cannot subclass the
extension API's interpreted filter classes, so the filters are registered as the sides they are
(`DecoderFilter.register`): the manager tells sides by isinstance, and a method a registered
class leaves out is the API's default (filter_plan.py)."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any, Final

from pymosn.api.connection import ConnectionInfo
from pymosn.api.flags import RATE_LIMITED
from pymosn.api.headers import HeaderMap, RequestHeaderMap
from pymosn.api.stream_filter import (
    CONTINUE,
    STOP,
    AnyFilter,
    DecoderFilter,
    FilterCallbacks,
    HeadersStatus,
    StreamFilter,
)
from pymosn.filter.http import local_ratelimit_config as cfg
from pymosn.filter.http.header_rules import apply_mutations, compile_rules
from pymosn.filter.http.local_ratelimit_config import LocalRateLimitConfig, TokenBucketSpec
from pymosn.filter.http.rate_limit_descriptors import (
    CompiledPolicy,
    Descriptor,
    compile_policies,
    descriptors,
)
from pymosn.filter.token_bucket import LocalTokenBucket, TokenBucket, process_bucket
from pymosn.metrics.counter import NamedCounter
from pymosn.metrics.stats import process_counter

DETAILS: Final = "local_rate_limited"
BODY: Final = b"local_rate_limited"
GRPC_RESOURCE_EXHAUSTED: Final = b"8"

X_RATELIMIT_LIMIT: Final = b"x-ratelimit-limit"
X_RATELIMIT_REMAINING: Final = b"x-ratelimit-remaining"
X_RATELIMIT_RESET: Final = b"x-ratelimit-reset"
_CONTINUE: Final = CONTINUE  # (C statics in the compiled build: no module lookup per request)
_STOP: Final = STOP


STATS_SCOPE: Final = "http_local_rate_limit"
PREFIX_LABEL: Final = "envoy_local_http_ratelimit_prefix"  # Envoy's tag for the stat prefix
COUNTERS: Final = ("enabled", "enforced", "rate_limited", "ok")


class LocalRateLimitStats:
    """Envoy's `<stat_prefix>.http_local_rate_limit.*` counters, the process's (every config
    naming the prefix counts there, a route's too), summed over the workers by the master."""

    __slots__ = COUNTERS

    def __init__(self, stat_prefix: str) -> None:
        labels = ((PREFIX_LABEL, stat_prefix),)

        def counter(name: str) -> NamedCounter:
            return process_counter(f"{stat_prefix}.{STATS_SCOPE}.{name}", f"envoy_{STATS_SCOPE}_{name}", labels)

        self.enabled = counter("enabled")
        self.enforced = counter("enforced")
        self.rate_limited = counter("rate_limited")
        self.ok = counter("ok")


# Whether any route has a config of its own: until one does, a stream does not look (that
# lookup resolves the route and walks its per-filter configs).
_route_configs = False



class Limiter:
    """The buckets of one config (shared by the process) or of one connection."""

    __slots__ = ("default", "descriptors", "always_consume_default")

    def __init__(self, default: TokenBucket | None, by_descriptor: dict[Descriptor, tuple[float, TokenBucket]],
                 always_consume_default: bool) -> None:
        self.default = default
        self.descriptors = by_descriptor  # descriptor -> (fill rate, bucket)
        self.always_consume_default = always_consume_default

    def check(self, requested: list[Descriptor], now: float) -> tuple[bool, TokenBucket | None]:
        """(admitted, the bucket whose state the x-ratelimit headers report)."""
        matched = [found for d in requested if (found := self.descriptors.get(d)) is not None]
        if len(matched) > 1:
            matched.sort(key=_fill_rate)  # the strictest first: a request it refuses takes no other token
        for _, bucket in matched:
            if not bucket.consume(now):
                return False, bucket
        first = matched[0][1] if matched else None
        default = self.default
        if default is not None and (first is None or self.always_consume_default):
            if not default.consume(now):
                return False, default
            return True, first or default
        return True, first


def _fill_rate(entry: tuple[float, TokenBucket]) -> float:
    return entry[0]


def _rate(spec: TokenBucketSpec) -> float:
    return spec.tokens_per_fill / spec.fill_interval


class LocalRateLimitFilterConfig:
    """One LocalRateLimit (a filter's, or a route's): its buckets, compiled headers and policies.
    `clock` is the loop's, taken from the first stream's connection unless a test gives one."""

    def __init__(self, config: LocalRateLimitConfig, clock: Callable[[], float] | None = None,
                 randrange: Callable[[int], int] = random.randrange, *, per_route: bool = False) -> None:
        if per_route:
            global _route_configs
            _route_configs = True
        self.config = config
        self.clock = clock
        self.randrange = randrange
        self.stats = LocalRateLimitStats(config.stat_prefix)
        self.status = config.status
        self.enabled = _Fraction(config.filter_enabled.numerator, config.filter_enabled.denominator)
        self.enforced = _Fraction(config.filter_enforced.numerator, config.filter_enforced.denominator)
        self.response_headers = compile_rules(config.response_headers_to_add)
        self.request_headers = compile_rules(config.request_headers_to_add_when_not_enforced)
        self.x_ratelimit_headers = config.x_ratelimit_headers
        self.has_descriptors = bool(config.descriptors)
        self.own_policies = compile_policies(config.rate_limits, config.stage) if config.rate_limits else None
        self.vh_rate_limits = config.vh_rate_limits
        self.grpc_status = GRPC_RESOURCE_EXHAUSTED if config.rate_limited_as_resource_exhausted else None
        self.encodes = self.x_ratelimit_headers or self.response_headers is not None
        self._route_policies: dict[int, tuple[Any, tuple[CompiledPolicy, ...]]] = {}
        self.limiter: Limiter | None = None
        if not config.per_connection:
            self.limiter = self._limiter(shared=True)

    def _limiter(self, *, shared: bool) -> Limiter:
        config = self.config

        def bucket(spec: TokenBucketSpec, where: str) -> TokenBucket:
            if shared:
                return process_bucket(spec.max_tokens, spec.tokens_per_fill, spec.fill_interval, where)
            return LocalTokenBucket(spec.max_tokens, spec.tokens_per_fill, spec.fill_interval)

        spec = config.token_bucket
        default = bucket(spec, f"{config.identity}.token_bucket") if spec is not None else None
        by_descriptor = {d.entries: (_rate(d.token_bucket), bucket(d.token_bucket, f"{config.identity}.descriptors[{i}]"))
                         for i, d in enumerate(config.descriptors)}
        return Limiter(default, by_descriptor, config.always_consume_default_token_bucket)

    def limiter_of(self, connection: ConnectionInfo) -> Limiter:
        limiter = self.limiter
        if limiter is not None:
            return limiter
        # per connection: kept in the connection's memo under this config, for its lifetime
        limiter = connection.memo.get(self)
        if limiter is None:
            limiter = connection.memo[self] = self._limiter(shared=False)
        return limiter

    def request_descriptors(self, headers: RequestHeaderMap, connection: ConnectionInfo, route: Any) -> list[Descriptor]:
        found: list[Descriptor] = []
        if self.own_policies is not None:
            descriptors(self.own_policies, headers, connection, route, found)
            return found
        if route is None:
            return found
        own = getattr(route, "rate_limits", ())
        descriptors(self._policies(own), headers, connection, route, found)
        option = cfg.VH_INCLUDE if getattr(route, "include_vh_rate_limits", False) else self.vh_rate_limits
        if option == cfg.VH_INCLUDE or (option == cfg.VH_OVERRIDE and not own):
            descriptors(self._policies(getattr(route, "vh_rate_limits", ())), headers, connection, route, found)
        return found

    def _policies(self, policies: Any) -> tuple[CompiledPolicy, ...]:
        """Compiled once per policy tuple of a route (kept with the tuple, so its id stays its own)."""
        if not policies:
            return ()
        cached = self._route_policies.get(id(policies))
        if cached is not None and cached[0] is policies:
            return cached[1]
        if len(self._route_policies) > 4096:
            self._route_policies.clear()  # routes of configs long replaced
        compiled = compile_policies(policies, self.config.stage)
        self._route_policies[id(policies)] = (policies, compiled)
        return compiled

    def create_filter(self, callbacks: FilterCallbacks) -> AnyFilter:
        # Only the response side adds headers, and only these configs (or a route's) ask for any:
        # without them the filter is not on the response path at all.
        # (a class without __init__ is made for about 70% of the cost)
        made = LocalRateLimitFilter() if self.encodes or _route_configs else LocalRateLimitDecoder()
        made._config = self
        made._callbacks = callbacks
        made._bucket = None
        made._limited = False
        return made  # type: ignore[return-value]  # a filter by registration (the end of this module)


class _Fraction:
    """A FractionalPercent decided per request: never and always cost one compare."""

    __slots__ = ("always", "never", "numerator", "denominator")

    def __init__(self, numerator: int, denominator: int) -> None:
        self.numerator = numerator
        self.denominator = denominator
        self.always = numerator >= denominator
        self.never = numerator <= 0

    def hit(self, randrange: Callable[[int], int]) -> bool:
        if self.always:
            return True
        return not self.never and randrange(self.denominator) < self.numerator


class LocalRateLimitDecoder:
    """The request side: admits or limits. Alone for configs that add no response headers."""

    # Made by LocalRateLimitFilterConfig.create_filter, which sets every slot.
    __slots__ = ("_config", "_callbacks", "_bucket", "_limited")
    _config: LocalRateLimitFilterConfig
    _callbacks: FilterCallbacks
    _bucket: TokenBucket | None  # the bucket that decided, for x-ratelimit headers
    _limited: bool

    def decode_headers(self, headers: RequestHeaderMap, end_stream: bool) -> HeadersStatus:
        callbacks = self._callbacks
        config = self._config
        if _route_configs:
            route_config = callbacks.per_filter_config()
            if isinstance(route_config, LocalRateLimitFilterConfig):
                config = self._config = route_config
        enabled = config.enabled
        if not enabled.always and not enabled.hit(config.randrange):
            return _CONTINUE
        stats = config.stats
        stats.enabled.value += 1
        clock = config.clock
        if clock is None:
            clock = config.clock = callbacks.connection.loop.time
        limiter = config.limiter or config.limiter_of(callbacks.connection)
        if config.has_descriptors:
            requested = config.request_descriptors(headers, callbacks.connection, callbacks.route)
            allowed, bucket = limiter.check(requested, clock())
        else:
            bucket = limiter.default
            allowed = bucket is None or bucket.consume(clock())
        if config.x_ratelimit_headers:
            self._bucket = bucket
        if allowed:
            stats.ok.value += 1
            return _CONTINUE
        stats.rate_limited.value += 1
        if not config.enforced.hit(config.randrange):
            if config.request_headers is not None:
                apply_mutations(config.request_headers, headers, callbacks.stream_info)
            return _CONTINUE
        stats.enforced.value += 1
        self._limited = True
        grpc = config.grpc_status
        extra = {b"grpc-status": grpc, b"grpc-message": BODY} if grpc is not None and _is_grpc(headers) else None
        callbacks.send_local_reply(config.status, BODY, RATE_LIMITED, DETAILS, extra)
        return _STOP


class LocalRateLimitFilter(LocalRateLimitDecoder):
    """Both sides: the response gets the x-ratelimit headers, or the configured headers of a
    limited request's reply."""

    __slots__ = ()

    def encode_headers(self, status: int, headers: HeaderMap, end_stream: bool) -> HeadersStatus:
        bucket = self._bucket
        if bucket is not None:
            clock = self._config.clock
            headers.set(X_RATELIMIT_LIMIT, str(bucket.max_tokens).encode())
            headers.set(X_RATELIMIT_REMAINING, str(bucket.remaining()).encode())
            headers.set(X_RATELIMIT_RESET, str(bucket.reset_seconds(clock() if clock else 0.0)).encode())
        if self._limited and self._config.response_headers is not None:
            apply_mutations(self._config.response_headers, headers, self._callbacks.stream_info)
        return _CONTINUE


def _is_grpc(headers: RequestHeaderMap) -> bool:
    content_type = headers.get(b"content-type")
    return content_type is not None and content_type.startswith(b"application/grpc")


DecoderFilter.register(LocalRateLimitDecoder)
StreamFilter.register(LocalRateLimitFilter)
