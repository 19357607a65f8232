"""An upstream host: address, weight, metadata, its stats and its connection pool."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pymosn.metrics.groups import HostStats


class Host:
    __slots__ = ("address", "host", "port", "weight", "metadata", "hostname", "stats", "pool", "h2_pool", "healthy")

    def __init__(self, host: str, port: int, weight: int, metadata: dict, hostname: str, stats: HostStats) -> None:
        self.host = host
        self.port = port
        self.address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        self.weight = weight
        self.metadata = metadata
        self.hostname = hostname
        self.stats = stats
        self.pool: Any = None
        self.h2_pool: Any = None  # HTTP/2 streams when the proxy filter, not the cluster, asks for them
        self.healthy = True

    def __repr__(self) -> str:
        return f"Host({self.address})"
