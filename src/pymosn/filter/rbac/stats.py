"""The RBAC filters' counters under Envoy's names (its generateStats,
filters/common/rbac/utility.cc), kept in the process's StatsStore so /stats shows them and the
workers' counts add up in the master.

HTTP filter: the listener's filter stats (`http.<listener>.<scope>.<counter>`: pymosn's HTTP
stats take the listener's name where Envoy takes the connection manager's stat_prefix):

    http.<listener>.rbac.[<rules_stat_prefix>.]allowed | denied
    http.<listener>.rbac.[<rules_stat_prefix>.][<shadow_rules_stat_prefix>.]shadow_allowed | shadow_denied
    ....rbac.[<rules_stat_prefix>.]policy.<policy>.allowed | denied           (track_per_rule_stats)
    ....rbac.[<rules_stat_prefix>.][<shadow_rules_stat_prefix>.]policy.<policy>.shadow_allowed | shadow_denied

Network filter: the same names after its own `stat_prefix` in place of `http.<listener>.`
(Envoy concatenates: `stat_prefix: "tcp."` gives `tcp.rbac.allowed`). The dots follow Envoy's
statPrefixJoin: a prefix ending in "." takes the next part as is, another gets a "." first."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pymosn.metrics.stats import FilterStats, NamedCounter
from pymosn.metrics.store import StatsStore

SCOPE = "rbac"


def join(prefix: str, token: str) -> str:
    """Envoy's statPrefixJoin."""
    if not prefix:
        return token
    if prefix.endswith("."):
        return prefix + token
    return f"{prefix}.{token}"


class EnforcedCounters(FilterStats):
    COUNTERS = ("allowed", "denied")
    __slots__ = COUNTERS
    allowed: int
    denied: int


class ShadowCounters(FilterStats):
    COUNTERS = ("shadow_allowed", "shadow_denied")
    __slots__ = COUNTERS
    shadow_allowed: int
    shadow_denied: int


# (scope, FilterStats class) -> the listener's group (the plan builder's stats_for)
StatsFor = Callable[[str, type], Any]


def _scopes(rules_prefix: str, shadow_prefix: str) -> tuple[str, str]:
    """The enforced and the shadow counters' prefixes below the filter's base, each ending in
    "." (what Envoy's join puts before a counter's name)."""
    enforced = join(SCOPE + ".", rules_prefix)
    shadow = join(enforced, shadow_prefix)
    return join(enforced, ""), join(shadow, "")


class RbacStats:
    """One HTTP RBAC config's counters: `enforced.allowed`, `enforced.denied`,
    `shadow.shadow_allowed`, `shadow.shadow_denied`, and per-policy groups made on first use."""

    __slots__ = ("enforced", "shadow", "_stats_for", "_enforced_prefix", "_shadow_prefix", "_per_policy")

    def __init__(self, stats_for: StatsFor, rules_prefix: str = "", shadow_prefix: str = "") -> None:
        self._stats_for = stats_for
        self._enforced_prefix, self._shadow_prefix = _scopes(rules_prefix, shadow_prefix)
        self.enforced: EnforcedCounters = stats_for(self._enforced_prefix[:-1], EnforcedCounters)
        self.shadow: ShadowCounters = stats_for(self._shadow_prefix[:-1], ShadowCounters)
        self._per_policy: dict[tuple[str, bool], Any] = {}

    def policy(self, name: str, shadow: bool) -> Any:
        """The policy's EnforcedCounters (shadow: its ShadowCounters)."""
        key = (name, shadow)
        group = self._per_policy.get(key)
        if group is None:
            prefix = self._shadow_prefix if shadow else self._enforced_prefix
            group = self._per_policy[key] = self._stats_for(f"{prefix}policy.{name}",
                                                            ShadowCounters if shadow else EnforcedCounters)
        return group


def own_stats(listener: str = "unnamed") -> StatsFor:
    """Groups in a store of their own: a config made outside a listener (a test, a tool)."""
    store = StatsStore()
    return lambda scope, cls: store.filter(listener, scope, cls)


class ConnectionRbacStats:
    """The network filter's four counters, named after its stat_prefix."""

    __slots__ = ("allowed", "denied", "shadow_allowed", "shadow_denied")

    def __init__(self, store: StatsStore, stat_prefix: str, shadow_prefix: str = "") -> None:
        enforced, shadow = _scopes("", shadow_prefix)

        def counter(prefix: str, name: str) -> NamedCounter:
            return store.counter(f"{stat_prefix}{prefix}{name}")

        self.allowed = counter(enforced, "allowed")
        self.denied = counter(enforced, "denied")
        self.shadow_allowed = counter(shadow, "shadow_allowed")
        self.shadow_denied = counter(shadow, "shadow_denied")
