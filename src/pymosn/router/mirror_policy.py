"""A route's request mirror policy as the proxy reads it per request: which cluster gets the copy
and whether this request is sampled, compiled once per config load (proxy/mirror.py sends)."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping

from pymosn.config import model


class MirrorPolicy:
    __slots__ = ("cluster", "cluster_header", "share", "host_suffix")

    def __init__(self, config: model.MirrorPolicy) -> None:
        self.cluster = config.cluster
        self.cluster_header = config.cluster_header.lower()
        # a numerator over its denominator means every request, as in Envoy and MOSN
        self.share = min(config.percent / config.denominator, 1.0)
        self.host_suffix = config.host_suffix.encode("latin-1")

    def sampled(self, rand: Callable[[], float] = random.random) -> bool:
        share = self.share
        return share >= 1.0 or rand() < share

    def cluster_for(self, headers: Mapping[str, str]) -> str | None:
        """The mirror cluster's name, or None when the naming header is absent or empty (no
        copy, as Envoy's getShadowCluster)."""
        if self.cluster:
            return self.cluster
        return headers.get(self.cluster_header) or None

    def __repr__(self) -> str:
        return f"MirrorPolicy({self.cluster or 'header ' + self.cluster_header!r}, {self.share:.6g})"


def compile_policies(configs: tuple[model.MirrorPolicy, ...]) -> tuple[MirrorPolicy, ...]:
    """Policies that can copy anything; one that samples nothing costs no request anything."""
    return tuple(MirrorPolicy(config) for config in configs if config.percent > 0)

