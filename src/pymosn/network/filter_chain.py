"""A listener's filter chain: the per-connection builders of its read filters, in order."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from pymosn.network.connection import Connection


class FilterChainFactory:
    __slots__ = ("builders",)

    def __init__(self, builders: Sequence[Callable[[Connection], object]]) -> None:
        self.builders = tuple(builders)

    def __call__(self, conn: Connection) -> list:
        return [build(conn) for build in self.builders]
