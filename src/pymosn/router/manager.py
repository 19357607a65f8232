"""Route tables by router_config_name. Immutable: a reload builds a new manager."""

from __future__ import annotations

from collections.abc import Iterable

from pymosn.config import model
from pymosn.router.route_table import RouteTable


class RouterManager:
    def __init__(self, routers: Iterable[model.RouterConfig]) -> None:
        self.tables: dict[str, RouteTable] = {r.router_config_name: RouteTable.build(r) for r in routers}

    def get(self, name: str) -> RouteTable | None:
        return self.tables.get(name)

    def names(self) -> list[str]:
        return list(self.tables)
