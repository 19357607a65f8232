"""The RBAC filter as it runs (rbac.py: what it does, its config and its factory): the compiled
rules one request is checked with, the listener's config with its counters, one stream's filter.

Compiled by mypyc (build.py): the rules, the config and the filter are native classes, so a
request reads them without Python-level lookups. A compiled class cannot subclass the
extension API's interpreted DecoderFilter, so the filter is registered as one
(`DecoderFilter.register`): the manager tells sides by isinstance, and a method a registered
class leaves out is the API's default (filter_plan.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from pymosn.api.headers import RequestHeaderMap
from pymosn.api.stream_filter import CONTINUE, STOP, AnyFilter, DecoderFilter, FilterCallbacks, HeadersStatus
from pymosn.config.issues import IssueLog
from pymosn.filter.rbac.engine import NO_POLICY_DETAILS, RbacEngine, decode_rules
from pymosn.filter.rbac.stats import RbacStats, StatsFor, own_stats

if TYPE_CHECKING:
    from pymosn.filter.http.rbac import RbacConfig

DENIED_STATUS: Final = 403
DENIED_BODY: Final = b"RBAC: access denied"
_CONTINUE: Final = CONTINUE  # (C statics in the compiled build: no module lookup per request)
_STOP: Final = STOP

# Whether any route has rules of its own: until one does, a stream does not look (that lookup
# resolves the route and walks its per-filter configs).
_route_rules = False


def note_route_rules() -> None:
    """A route's RbacRules were made (the factory's create_route_config)."""
    global _route_rules
    _route_rules = True


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
        made = RbacFilter()  # (an interpreted class without __init__ is made for about 70% of the cost)
        made._config = self
        made._callbacks = callbacks
        return made  # type: ignore[return-value]  # a DecoderFilter by registration (the end of this module)


class RbacFilter:
    """One stream's filter; made by RbacFilterConfig.create_filter, which sets both slots."""

    __slots__ = ("_config", "_callbacks")
    _config: RbacFilterConfig
    _callbacks: FilterCallbacks

    def decode_headers(self, headers: RequestHeaderMap, end_stream: bool) -> HeadersStatus:
        config = self._config
        callbacks = self._callbacks
        rules: RbacRules = config
        if _route_rules:
            rules = callbacks.per_filter_config() or config  # type: ignore[assignment]
        stats = config.stats
        info = callbacks.connection
        shadow = rules.shadow
        if shadow is not None:
            shadow_set = shadow.policy_set
            matched = shadow.first_match(info, headers) if shadow_set is None else shadow_set.first_match(info, headers)
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
            return _CONTINUE
        policy_set = engine.policy_set  # (the compiled build's: a native call)
        matched = engine.first_match(info, headers) if policy_set is None else policy_set.first_match(info, headers)
        if engine.allow_matched if matched is not None else engine.allow_unmatched:
            stats.enforced.allowed += 1
            if matched is not None and rules.per_policy:
                stats.policy(matched.name, False).allowed += 1
            return _CONTINUE
        stats.enforced.denied += 1
        if matched is not None and rules.per_policy:
            stats.policy(matched.name, False).denied += 1
        callbacks.send_local_reply(DENIED_STATUS, DENIED_BODY, None,
                                   NO_POLICY_DETAILS if matched is None else matched.details)
        return _STOP


DecoderFilter.register(RbacFilter)
