"""The admin HTTP API (Envoy-compatible endpoints plus MOSN's /api/v1 aliases)."""

from pymosn.admin.server import AdminServer

__all__ = ["AdminServer"]
