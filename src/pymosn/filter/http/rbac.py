"""Role-based access control for HTTP requests (Envoy's `envoy.filters.http.rbac`, MOSN's
stream filter `rbac`): the shadow rules, if any, are checked and counted; then the enforced
rules decide. A denied request is answered 403 `RBAC: access denied` with
%RESPONSE_CODE_DETAILS% `rbac_access_denied_matched_policy[<policy>]` (`[none]` when no
policy matched) and no response flag, as Envoy. No rules: every request passes.

Config shapes (decoded into one RbacConfig; the rules are checked and compiled by
filter/rbac/, which documents their semantics):
- Envoy `RBAC` (envoy.extensions.filters.http.rbac.v3): `rules`, `shadow_rules`,
  `rules_stat_prefix`, `shadow_rules_stat_prefix`, `track_per_rule_stats`; `matcher` and
  `shadow_matcher` (the xDS matcher tree) are refused. Per route, `RBACPerRoute {rbac}`
  replaces the whole config (no `rbac`: no checks on that route).
- MOSN `stream_filters[].config`: the same message as JSON, plus MOSN's required `version`.

Stats: filter/rbac/stats.py (`http.<listener>.rbac.allowed`, `denied`, `shadow_allowed`,
`shadow_denied`; per policy with track_per_rule_stats)."""

from __future__ import annotations

from typing import Any

import msgspec

from pymosn.api.headers import RequestHeaderMap
from pymosn.api.stream_filter import CONTINUE, STOP, AnyFilter, DecoderFilter, FilterCallbacks, HeadersStatus
from pymosn.config.issues import IssueLog
from pymosn.filter.http.fields import Fields, check_type_url
from pymosn.filter.rbac.engine import NO_POLICY_DETAILS, RbacEngine, decode_rules
from pymosn.filter.rbac.stats import SCOPE, RbacStats, StatsFor, own_stats

MOSN_NAME = "rbac"
ENVOY_NAME = "envoy.filters.http.rbac"
TYPE_URL = "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC"
ROUTE_TYPE_URL = "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBACPerRoute"

DENIED_STATUS = 403
DENIED_BODY = b"RBAC: access denied"

_FIELDS = "rules matcher shadow_rules shadow_matcher rules_stat_prefix shadow_rules_stat_prefix track_per_rule_stats"


class RbacConfig(msgspec.Struct, frozen=True):
    """The rules as written (checked when decoded; compiled when a listener is built), so the
    config dumps and loads back as it was given."""

    rules: dict[str, Any] | None = None  # envoy.config.rbac.v3.RBAC; None: nothing enforced
    shadow_rules: dict[str, Any] | None = None
    rules_stat_prefix: str = ""
    shadow_rules_stat_prefix: str = ""
    track_per_rule_stats: bool = False


class RbacRouteConfig(msgspec.Struct, frozen=True):
    """Envoy's RBACPerRoute: `rbac` replaces the filter's config on the route; None turns the
    filter's checks off there."""

    rbac: RbacConfig | None = None


# --- decoding ---------------------------------------------------------------------------------

def _decode_fields(fields: Fields, log: IssueLog) -> RbacConfig:
    for key in ("matcher", "shadow_matcher"):
        if fields.has(key):
            fields.error(key, "the RBAC matcher tree is not implemented by pymosn; use rules / shadow_rules")
    rules = _rules(fields, "rules", log)
    shadow = _rules(fields, "shadow_rules", log)
    return RbacConfig(rules, shadow, fields.string("rules_stat_prefix"), fields.string("shadow_rules_stat_prefix"),
                      fields.boolean("track_per_rule_stats"))


def _rules(fields: Fields, key: str, log: IssueLog) -> dict[str, Any] | None:
    raw = fields.values.get(key)
    if raw is None:  # absent (or null, as a dumped config writes it)
        return None
    decode_rules(raw, fields.at(key), log, http=True)  # checked now, with paths
    return raw if isinstance(raw, dict) else None


def decode_envoy(raw: Any, path: str, log: IssueLog) -> RbacConfig | None:
    """Envoy's RBAC (the `typed_config` object at `path`); None after errors."""
    errors = len(log.errors)
    check_type_url(raw, path, log, TYPE_URL)
    config = _decode_fields(Fields(raw, path, log, _FIELDS, envoy=True), log)
    return config if len(log.errors) == errors else None


def decode_mosn(raw: Any, path: str, log: IssueLog) -> RbacConfig | None:
    """The `config` of a MOSN `stream_filters` entry of type `rbac`: Envoy's RBAC as JSON
    (either field spelling, as MOSN's jsonpb reads it) and MOSN's `version`."""
    errors = len(log.errors)
    fields = Fields(raw, path, log, _FIELDS + " version", envoy=True)
    if not fields.has("version"):
        fields.error("version", "missing required field (MOSN refuses an rbac config without one)")
    fields.string("version")
    config = _decode_fields(fields, log)
    return config if len(log.errors) == errors else None


def decode_envoy_route(raw: Any, path: str, log: IssueLog) -> RbacRouteConfig | None:
    """Envoy's RBACPerRoute (a typed_per_filter_config entry)."""
    errors = len(log.errors)
    check_type_url(raw, path, log, ROUTE_TYPE_URL)
    fields = Fields(raw, path, log, "rbac", envoy=True)
    inner = fields.object("rbac", _FIELDS, envoy=True)
    config = RbacRouteConfig(None if inner is None else _decode_fields(inner, log))
    return config if len(log.errors) == errors else None


def decode_mosn_route(raw: Any, path: str, log: IssueLog) -> RbacRouteConfig | None:
    """A MOSN per_filter_config entry: the RBACPerRoute shape ({"rbac": {...}})."""
    errors = len(log.errors)
    fields = Fields(raw, path, log, "rbac", envoy=True)
    inner = fields.object("rbac", _FIELDS, envoy=True)
    config = RbacRouteConfig(None if inner is None else _decode_fields(inner, log))
    return config if len(log.errors) == errors else None


# --- running ----------------------------------------------------------------------------------

def _compiled(raw: dict[str, Any] | None, where: str) -> RbacEngine | None:
    if raw is None:
        return None
    log = IssueLog()
    engine = decode_rules(raw, where, log, http=True)
    if engine is None:  # decode_* checked these rules: a config built past them is a bug
        raise ValueError(f"invalid RBAC rules reached the filter: {log.errors}")
    return engine


class RbacRules:
    """The compiled engines one request is checked with: the filter's, or a route's."""

    __slots__ = ("engine", "shadow", "per_policy")

    def __init__(self, config: RbacConfig | None) -> None:
        self.engine = None if config is None else _compiled(config.rules, "rules")
        self.shadow = None if config is None else _compiled(config.shadow_rules, "shadow_rules")
        self.per_policy = config is not None and config.track_per_rule_stats


class RbacFilterConfig(RbacRules):
    """Shared by every stream of a listener: the filter's rules and its counters (its own
    until the plan builder binds them to the listener's, `bind_stats`)."""

    __slots__ = ("stats", "_prefixes")

    def __init__(self, config: RbacConfig) -> None:
        super().__init__(config)
        self._prefixes = (config.rules_stat_prefix, config.shadow_rules_stat_prefix)
        self.stats = RbacStats(own_stats(), *self._prefixes)

    def bind_stats(self, stats_for: StatsFor) -> None:
        """Count in the listener's groups (several scopes: the stat prefixes, the policies)."""
        self.stats = RbacStats(stats_for, *self._prefixes)

    def create_filter(self, callbacks: FilterCallbacks) -> AnyFilter:
        made = RbacFilter()  # (a class without __init__ is made for about 70% of the cost)
        made._config = self
        made._callbacks = callbacks
        return made


class RbacFilter(DecoderFilter):
    """One stream's filter; made by RbacFilterConfig.create_filter, which sets both slots."""

    __slots__ = ("_config", "_callbacks")
    _config: RbacFilterConfig
    _callbacks: FilterCallbacks

    def decode_headers(self, headers: RequestHeaderMap, end_stream: bool) -> HeadersStatus:
        config = self._config
        callbacks = self._callbacks
        rules: RbacRules = callbacks.per_filter_config() or config  # type: ignore[assignment]
        stats = config.stats
        info = callbacks.connection
        shadow = rules.shadow
        if shadow is not None:
            matched = shadow.first_match(info, headers)
            allowed = shadow.allow_matched if matched is not None else shadow.allow_unmatched
            counters = stats.shadow
            if allowed:
                counters.shadow_allowed += 1
            else:
                counters.shadow_denied += 1
            if matched is not None and rules.per_policy:
                per_policy = stats.policy(matched.name, True)
                if allowed:
                    per_policy.shadow_allowed += 1
                else:
                    per_policy.shadow_denied += 1
        engine = rules.engine
        if engine is None:
            return CONTINUE
        matched = engine.first_match(info, headers)
        if engine.allow_matched if matched is not None else engine.allow_unmatched:
            stats.enforced.allowed += 1
            if matched is not None and rules.per_policy:
                stats.policy(matched.name, False).allowed += 1
            return CONTINUE
        stats.enforced.denied += 1
        if matched is not None and rules.per_policy:
            stats.policy(matched.name, False).denied += 1
        callbacks.send_local_reply(DENIED_STATUS, DENIED_BODY, None,
                                   NO_POLICY_DETAILS if matched is None else matched.details)
        return STOP


class RbacFactory:
    name = ENVOY_NAME
    mosn_name = MOSN_NAME
    type_url = TYPE_URL
    route_type_urls = (ROUTE_TYPE_URL,)
    config_type = RbacConfig
    route_config_type = RbacRouteConfig
    decode_envoy = staticmethod(decode_envoy)
    decode_mosn = staticmethod(decode_mosn)
    decode_envoy_route = staticmethod(decode_envoy_route)
    decode_mosn_route = staticmethod(decode_mosn_route)
    stats_scope = SCOPE  # http.<listener>.rbac.*, bound through RbacFilterConfig.bind_stats

    def create_config(self, config: RbacConfig) -> RbacFilterConfig:
        return RbacFilterConfig(config)

    def create_route_config(self, config: RbacRouteConfig) -> RbacRules:
        return RbacRules(config.rbac)


FACTORY = RbacFactory()
