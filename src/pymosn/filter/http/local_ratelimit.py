"""Local rate limiting (Envoy's `envoy.filters.http.local_ratelimit`): token buckets for the
whole proxy (shared by every worker process, token_bucket.py), per route through
typed_per_filter_config, per descriptor, or per downstream connection.

Per request, as Envoy's filter: the route's own config if it has one, else the filter's; not
enabled for this request (`filter_enabled`, 0% unless set): nothing, not even counted. Else
`enabled` counts; the request's descriptors (from the filter's `rate_limits`, else the route's
and the virtual host's per `vh_rate_limits`) pick the configured descriptors they equal, which
take a token each, strictest fill rate first, and stop at the first one that is empty; then the
default bucket takes one too when no descriptor matched or `always_consume_default_token_bucket`
(the default). A token: `ok`. None: `rate_limited`, and then either `enforced` (a share of
`filter_enforced`, 0% unless set) with a local reply (the configured status, 429 unless set;
body and %RESPONSE_CODE_DETAILS% `local_rate_limited`; flag RL; `response_headers_to_add` on
it), or the request goes on with `request_headers_to_add_when_not_enforced`. The local-reply
mapper renders the reply for gRPC (UNAVAILABLE, or RESOURCE_EXHAUSTED with
`rate_limited_as_resource_exhausted`). With `enable_x_ratelimit_headers` the response (the
upstream's or the 429) carries x-ratelimit-limit / -remaining / -reset of the bucket that
decided (a matched descriptor's before the default one's).

Stats (Envoy's names, `http.<stat_prefix>.http_local_rate_limit.`): enabled, enforced,
rate_limited, ok; one LocalRateLimitStats per stat prefix in the process (Prometheus:
envoy_http_local_rate_limit_ok{envoy_local_http_ratelimit_prefix="<stat_prefix>"})."""

from __future__ import annotations

from pymosn.api.flags import RATE_LIMITED
from pymosn.api.headers import HeaderSide
from pymosn.api.stream_filter import CONTINUE
from pymosn.config.http_filters import HeaderChanges
from pymosn.filter.http import local_ratelimit_config as cfg
from pymosn.filter.http.local_ratelimit_config import LocalRateLimitConfig

# the filter as it runs: local_ratelimit_filter.py (compiled)
from pymosn.filter.http.local_ratelimit_filter import (
    BODY,
    COUNTERS,
    DETAILS,
    STATS_SCOPE,
    LocalRateLimitFilterConfig,
    LocalRateLimitStats,
)

__all__ = ["BODY", "CONTINUE", "COUNTERS", "DETAILS", "ENVOY_NAME", "FACTORY", "MOSN_NAME", "RATE_LIMITED",
           "STATS_SCOPE", "TYPE_URL", "LocalRateLimitFilterConfig", "LocalRateLimitStats"]

MOSN_NAME, ENVOY_NAME, TYPE_URL = cfg.MOSN_NAME, cfg.ENVOY_NAME, cfg.TYPE_URL


class LocalRateLimitFactory:
    name = ENVOY_NAME
    mosn_name = MOSN_NAME
    type_url = TYPE_URL
    config_type = LocalRateLimitConfig
    route_type_urls = (TYPE_URL.rsplit("/", 1)[-1],)
    decode_envoy = staticmethod(cfg.decode_envoy)
    decode_mosn = staticmethod(cfg.decode_mosn)
    decode_envoy_route = staticmethod(cfg.decode_envoy_route)
    decode_mosn_route = staticmethod(cfg.decode_mosn_route)

    def create_config(self, config: LocalRateLimitConfig) -> LocalRateLimitFilterConfig:
        return LocalRateLimitFilterConfig(config)

    def create_route_config(self, config: LocalRateLimitConfig) -> LocalRateLimitFilterConfig:
        """A route's own buckets (Envoy: a per-route config makes the bucket that route's)."""
        return LocalRateLimitFilterConfig(config, per_route=True)

    @staticmethod
    def header_changes(config: LocalRateLimitConfig) -> HeaderChanges:
        """x-ratelimit headers go on the upstream's responses too; the headers added when not
        enforced on requests. (response_headers_to_add are on its own local replies only.)"""
        changes: list[tuple[HeaderSide, str]] = []
        if config.request_headers_to_add_when_not_enforced:
            changes.append((HeaderSide.REQUEST, "request_headers_to_add_when_not_enforced"))
        if config.x_ratelimit_headers:
            changes.append((HeaderSide.RESPONSE, "enable_x_ratelimit_headers"))
        return tuple(changes)


FACTORY = LocalRateLimitFactory()
