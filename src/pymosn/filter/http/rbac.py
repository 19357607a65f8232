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

from pymosn.config.issues import IssueLog
from pymosn.filter.http.fields import Fields, check_type_url

# the filter as it runs: rbac_filter.py (compiled)
from pymosn.filter.http.rbac_filter import (
    DENIED_BODY,
    DENIED_STATUS,
    RbacFilterConfig,
    RbacRules,
    note_route_rules,
)
from pymosn.filter.rbac.engine import decode_rules
from pymosn.filter.rbac.stats import SCOPE

__all__ = ["DENIED_BODY", "DENIED_STATUS", "ENVOY_NAME", "FACTORY", "MOSN_NAME", "ROUTE_TYPE_URL", "TYPE_URL",
           "RbacConfig", "RbacFilterConfig", "RbacRouteConfig", "RbacRules", "decode_envoy", "decode_envoy_route",
           "decode_mosn", "decode_mosn_route"]

MOSN_NAME = "rbac"
ENVOY_NAME = "envoy.filters.http.rbac"
TYPE_URL = "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC"
ROUTE_TYPE_URL = "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBACPerRoute"

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
        note_route_rules()
        return RbacRules(config.rbac)


FACTORY = RbacFactory()
