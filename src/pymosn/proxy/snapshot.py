"""The immutable runtime a request runs against: route tables and clusters.

A config reload builds a new Snapshot and swaps it with one assignment; a request keeps the
snapshot it started with, so reloads never change a request half-way."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pymosn.router.manager import RouterManager
from pymosn.upstream.cluster import ClusterManager


@dataclass(eq=False)
class Snapshot:
    routers: RouterManager
    clusters: ClusterManager
    # Per-route header plans, keyed by id(route entry): the tables hold the entries alive.
    header_plans: dict[int, Any] = field(default_factory=dict)


class SnapshotRef:
    """The one mutable cell: the current snapshot."""

    __slots__ = ("current",)

    def __init__(self, snapshot: Snapshot) -> None:
        self.current = snapshot
