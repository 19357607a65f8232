"""The RBAC filters' counters under Envoy's names, kept in the process's StatsStore (so /stats
shows them and workers' counts add up in the admin process).

Names (Envoy's generateStats, filters/common/rbac/utility.cc), `base` being `http.<listener>.`
for the HTTP filter (pymosn's HTTP stats take the listener's name where Envoy takes the
connection manager's stat_prefix) and the filter's `stat_prefix` for the network filter:

    <base>rbac.[<rules_stat_prefix>.]allowed | denied
    <base>rbac.[<rules_stat_prefix>.][<shadow_rules_stat_prefix>.]shadow_allowed | shadow_denied
    <enforced prefix>policy.<policy>.allowed | denied          (track_per_rule_stats)
    <shadow prefix>policy.<policy>.shadow_allowed | shadow_denied

The dots follow Envoy's statPrefixJoin: a prefix ending in "." takes the next part as is."""

from __future__ import annotations

from pymosn.metrics.stats import NamedCounter
from pymosn.metrics.store import StatsStore


def join(prefix: str, token: str) -> str:
    """Envoy's statPrefixJoin."""
    if not prefix:
        return token
    if prefix.endswith("."):
        return prefix + token
    return f"{prefix}.{token}"


class RbacStats:
    """The four counters of one RBAC filter config, and its per-policy counters made on first use.

    `labels` (the HTTP filter's connection manager prefix) go with Prometheus families named
    as Envoy's tag extraction names them (envoy_http_rbac_allowed...); a counter whose name
    carries a rules or shadow prefix, and the network filter's, are their names in Prometheus
    form, unlabelled."""

    __slots__ = ("allowed", "denied", "shadow_allowed", "shadow_denied", "_store", "_policy_prefix",
                 "_shadow_policy_prefix", "_per_policy")

    def __init__(self, store: StatsStore, base: str, rules_prefix: str = "", shadow_prefix: str = "",
                 labels: tuple[tuple[str, str], ...] = ()) -> None:
        enforced = join(base + "rbac.", rules_prefix)
        shadow = join(enforced, shadow_prefix)
        self._store = store

        def counter(prefix: str, outcome: str) -> NamedCounter:
            name = join(prefix, outcome)
            if labels and name == f"{base}rbac.{outcome}":
                return store.counter(name, f"envoy_http_rbac_{outcome}", labels)
            return store.counter(name)

        self.allowed = counter(enforced, "allowed")
        self.denied = counter(enforced, "denied")
        self.shadow_allowed = counter(shadow, "shadow_allowed")
        self.shadow_denied = counter(shadow, "shadow_denied")
        self._policy_prefix = join(enforced, "policy.")
        self._shadow_policy_prefix = join(shadow, "policy.")
        self._per_policy: dict[tuple[str, str], NamedCounter] = {}

    def policy(self, name: str, outcome: str) -> NamedCounter:
        """The per-policy counter of `outcome` (allowed, denied, shadow_allowed, shadow_denied)."""
        key = (name, outcome)
        counter = self._per_policy.get(key)
        if counter is None:
            prefix = self._shadow_policy_prefix if outcome.startswith("shadow_") else self._policy_prefix
            counter = self._per_policy[key] = self._store.counter(f"{prefix}{name}.{outcome}")
        return counter
