"""Routing: virtual hosts and route tables compiled once from the config, matched per request."""

from pymosn.router.entry import RouteEntry
from pymosn.router.manager import RouterManager
from pymosn.router.route_table import RouteTable

__all__ = ["RouteEntry", "RouteTable", "RouterManager"]
