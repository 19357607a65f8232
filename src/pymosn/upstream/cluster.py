"""A cluster: its hosts, load balancer, per-host pools and circuit-breaker counts."""

from __future__ import annotations

import asyncio
from typing import Any

from pymosn.config import model
from pymosn.network.tls import client_context
from pymosn.upstream.errors import UpstreamConnectError
from pymosn.upstream.host import Host
from pymosn.upstream.load_balancer import LOAD_BALANCERS
from pymosn.upstream.original_dst import OriginalDstHosts
from pymosn.upstream.pool import Http1Pool


class Cluster:
    def __init__(self, config: model.Cluster, stats_store: Any) -> None:
        self.config = config
        self.name = config.name
        self.stats = stats_store.cluster(config.name)
        self.connect_timeout = config.connect_timeout
        self.idle_timeout = config.idle_timeout
        self.buffer_limit = max(config.conn_buffer_limit_bytes, 16 * 1024)
        self.max_request_per_conn = config.max_request_per_conn
        thresholds = config.circuit_breakers.thresholds
        first = thresholds[0] if thresholds else model.Thresholds()
        self.max_connections = first.max_connections
        self.max_pending = first.max_pending_requests
        self.max_requests = first.max_requests
        self.max_retries = first.max_retries
        self.connections = 0  # open or opening, across hosts
        self.pending = 0  # requests waiting for a connection, across hosts
        self.active_requests = 0
        self.active_retries = 0
        self.hosts: list[Host] = []
        for h in config.hosts:
            host = Host(
                h.address[0],
                h.address[1],
                h.weight,
                dict(h.metadata),
                h.hostname,
                stats_store.host(config.name, _address(h.address)),
            )
            host.pool = Http1Pool(host, self)
            self.hosts.append(host)
        self.original_dst: OriginalDstHosts | None = None
        if config.type == "ORIGINAL_DST":
            lb_config = config.original_dst_lb_config
            header = lb_config.header_name if lb_config is not None and lb_config.use_header else None
            self.original_dst = OriginalDstHosts(
                config.name, header, lambda address: stats_store.host(config.name, address),
                lambda host: Http1Pool(host, self),
            )
            self.lb = LOAD_BALANCERS["LB_ROUNDROBIN"](())  # no fixed hosts to balance
        else:
            self.lb = LOAD_BALANCERS[config.lb_type](self.hosts)
        tls = config.tls_context
        self.ssl_context = client_context(tls) if tls is not None and tls.status else None
        self.server_name = tls.server_name if tls is not None else ""

    def choose_host(self, conn: Any = None, headers: Any = None) -> Host | None:
        """The host for a request or connection: the load balancer's pick, or for an
        ORIGINAL_DST cluster, where the intercepted client was going."""
        if self.original_dst is None:
            return self.lb.choose()
        return self.original_dst.host_for(conn, headers)

    def tls_options(self, host: Host) -> dict:
        """create_connection arguments for TLS to `host` (none for plaintext)."""
        if self.ssl_context is None:
            return {}
        return {
            "ssl": self.ssl_context,
            "server_hostname": self.server_name or host.hostname or host.host,
            "ssl_handshake_timeout": self.connect_timeout,
        }

    async def connect(self, host: Host, protocol_factory):
        """Dials `host` (with TLS if the cluster asks for it) and counts the attempt in the
        cluster's and the host's stats. Returns the protocol; raises UpstreamConnectError."""
        self.stats.upstream_cx_total += 1
        host.stats.cx_total += 1
        loop = asyncio.get_running_loop()
        try:
            _, protocol = await asyncio.wait_for(
                loop.create_connection(protocol_factory, host.host, host.port, **self.tls_options(host)),
                self.connect_timeout,
            )
        except (TimeoutError, OSError) as exc:  # ssl.SSLError is an OSError
            self.stats.upstream_cx_connect_fail += 1
            host.stats.cx_connect_fail += 1
            if isinstance(exc, TimeoutError):
                self.stats.upstream_cx_connect_timeout += 1
                raise UpstreamConnectError("connect timeout") from None
            detail = getattr(exc, "reason", None) or exc.strerror or exc
            raise UpstreamConnectError(f"connect failed: {detail}") from None
        return protocol

    def can_open_connection(self) -> bool:
        return not self.max_connections or self.connections < self.max_connections

    def can_start_request(self) -> bool:
        return not self.max_requests or self.active_requests < self.max_requests

    def can_retry(self) -> bool:
        return not self.max_retries or self.active_retries < self.max_retries

    def close(self) -> None:
        for host in self.hosts + (self.original_dst.all() if self.original_dst is not None else []):
            host.pool.close()
        xpools = getattr(self, "xpools", None)  # X-Protocol pools, made by the RPC proxy on first use
        if xpools is not None:
            xpools.close()
        checker = getattr(self, "health_checker", None)  # set by upstream.health_check
        if checker is not None:
            checker.stop()

    def describe(self) -> dict:
        """The /clusters view of this cluster."""
        hosts = []
        for host in self.hosts + (self.original_dst.all() if self.original_dst is not None else []):
            s = host.stats
            hosts.append(
                {
                    "address": host.address,
                    "weight": host.weight,
                    "health": "healthy" if host.healthy else "unhealthy",
                    "stats": {
                        "cx_active": s.cx_active,
                        "cx_total": s.cx_total,
                        "cx_connect_fail": s.cx_connect_fail,
                        "rq_total": s.rq_total,
                        "rq_active": s.rq_active,
                        "rq_success": s.rq_success,
                        "rq_error": s.rq_error,
                        "rq_timeout": s.rq_timeout,
                    },
                }
            )
        return {"name": self.name, "hosts": hosts}


def _address(addr: tuple[str, int]) -> str:
    host, port = addr
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class ClusterManager:
    """Clusters by name. A reload builds a new manager; in-flight requests keep the old one."""

    def __init__(self, clusters: tuple[model.Cluster, ...], stats_store: Any) -> None:
        self.clusters: dict[str, Cluster] = {c.name: Cluster(c, stats_store) for c in clusters}

    def get(self, name: str) -> Cluster | None:
        return self.clusters.get(name)

    def describe(self) -> list[dict]:
        return [c.describe() for c in self.clusters.values()]

    def close(self) -> None:
        for c in self.clusters.values():
            c.close()
