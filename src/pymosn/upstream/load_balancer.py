"""Load balancers: pick a host for a request. Built once per host set; hosts never mutate here.

Bound to MOSN's lb_type names, which config/registries.py declares; unknown names are rejected
at config load. A plugin balancer (entry point group `pymosn.load_balancers`) is a class taking
the hosts, with `choose() -> Host | None`."""

from __future__ import annotations

import random
from collections.abc import Sequence

from pymosn.config.registries import LOAD_BALANCERS
from pymosn.upstream.host import Host


class RoundRobin:
    def __init__(self, hosts: Sequence[Host]) -> None:
        self.hosts = list(hosts)
        self._next = 0

    def choose(self) -> Host | None:
        hosts = self.hosts
        n = len(hosts)
        if n == 0:
            return None
        for _ in range(n):
            host = hosts[self._next % n]
            self._next += 1
            if host.healthy:
                return host
        return None


class Random:
    def __init__(self, hosts: Sequence[Host]) -> None:
        self.hosts = list(hosts)

    def choose(self) -> Host | None:
        healthy = [h for h in self.hosts if h.healthy]
        return random.choice(healthy) if healthy else None


class WeightedRoundRobin:
    """Smooth weighted round robin (as in nginx): spreads picks evenly, exact over a cycle."""

    def __init__(self, hosts: Sequence[Host]) -> None:
        self.hosts = list(hosts)
        self._current = [0] * len(self.hosts)

    def choose(self) -> Host | None:
        best = -1
        total = 0
        current = self._current
        for i, host in enumerate(self.hosts):
            if not host.healthy:
                continue
            current[i] += host.weight
            total += host.weight
            if best < 0 or current[i] > current[best]:
                best = i
        if best < 0:
            return None
        current[best] -= total
        return self.hosts[best]


LOAD_BALANCERS.bind("LB_ROUNDROBIN", RoundRobin)
LOAD_BALANCERS.bind("LB_RANDOM", Random)
LOAD_BALANCERS.bind("LB_WEIGHTED_ROUNDROBIN", WeightedRoundRobin)
