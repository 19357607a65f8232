"""Small constructors for router configs in tests."""

from __future__ import annotations

import msgspec

from pymosn.config import model
from pymosn.router.route_table import RouteTable


def config(vhosts: list[dict], **extra) -> model.RouterConfig:
    return msgspec.convert({"router_config_name": "r", "virtual_hosts": vhosts, **extra}, model.RouterConfig)


def table(vhosts: list[dict], cache_limit: int = 4096, **extra) -> RouteTable:
    return RouteTable.build(config(vhosts, **extra), cache_limit=cache_limit)


def routes_table(routers: list[dict], **extra) -> RouteTable:
    """One `*` virtual host holding `routers`."""
    return table([{"name": "all", "domains": ["*"], "routers": routers}], **extra)


def to(cluster: str, **match) -> dict:
    return {"name": cluster, "match": match, "route": {"cluster_name": cluster}}


def picked(t: RouteTable, path: str = "/", query: str = "", headers: dict | None = None, host: str = "h"):
    route = t.match(host, path, query, headers or {})
    return route.name if route is not None else None
