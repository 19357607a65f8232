"""A cluster: its hosts, load balancer, per-host pools and circuit-breaker counts."""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

from pymosn.api.errors import FailureKind, UpstreamFailure
from pymosn.config import model
from pymosn.config.protocols import AUTO, HTTP1, HTTP2
from pymosn.metrics.groups import ClusterStats
from pymosn.network.tls import client_context
from pymosn.stream.http2.client import DEFAULT_SETTINGS, Http2ClientSettings
from pymosn.upstream.errors import UpstreamConnectError
from pymosn.upstream.h2pool import AlpnPool, H2Pool
from pymosn.upstream.host import Host
from pymosn.upstream.load_balancer import LOAD_BALANCERS
from pymosn.upstream.original_dst import OriginalDstHosts
from pymosn.upstream.pool import Http1Pool


class Cluster:
    def __init__(self, config: model.Cluster, stats_store: Any) -> None:
        self.config = config
        self.name = config.name
        self.stats: ClusterStats = stats_store.cluster(config.name)
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
        self.health_checker: Any = None  # an upstream.health_check.HealthChecker, set when checks start
        self.xpools: Any = None  # the X-Protocol pools (upstream.xpool.XPools), made by the RPC proxy on first use
        tls = config.tls_context
        self.ssl_context = client_context(tls) if tls is not None and tls.status else None
        self.server_name = tls.server_name if tls is not None else ""
        self.protocol = _cluster_protocol(config)  # None: the proxy filter's upstream_protocol
        self.max_response_headers = config.max_response_headers_count
        options = config.http2_protocol_options
        self.h2_settings = DEFAULT_SETTINGS._replace(max_headers_count=self.max_response_headers) if options is None else (
            Http2ClientSettings(
                options.max_concurrent_streams, options.initial_stream_window_size,
                options.initial_connection_window_size, options.max_frame_size, self.max_response_headers,
                options.max_outbound_frames, options.max_outbound_control_frames,
                options.max_consecutive_inbound_frames_with_empty_payload,
            )
        )
        self._h2_ssl_context: ssl.SSLContext | None = None
        if self.ssl_context is not None and tls is not None and not tls.alpn and self.protocol in (HTTP2, AUTO):
            self.ssl_context.set_alpn_protocols(["h2"] if self.protocol == HTTP2 else ["h2", "http/1.1"])
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
            host.pool = self.make_pool(host)
            self.hosts.append(host)
        self.original_dst: OriginalDstHosts | None = None
        if config.type == "ORIGINAL_DST":
            lb_config = config.original_dst_lb_config
            header = lb_config.header_name if lb_config is not None and lb_config.use_header else None
            self.original_dst = OriginalDstHosts(
                config.name, header, lambda address: stats_store.host(config.name, address),
                self.make_pool,
            )
            self.lb = LOAD_BALANCERS.factory("LB_ROUNDROBIN")(())  # no fixed hosts to balance
        else:
            self.lb = LOAD_BALANCERS.factory(config.lb_type)(self.hosts)

    def make_pool(self, host: Host) -> Any:
        """The host's pool for what the cluster says its hosts speak (HTTP/1.1 unless set)."""
        if self.protocol == HTTP2:
            return H2Pool(host, self)
        if self.protocol == AUTO:
            return AlpnPool(host, self) if self.ssl_context is not None else Http1Pool(host, self)
        return Http1Pool(host, self)

    def pool_for(self, host: Host, proxy_protocol: str) -> Any:
        """The pool a request uses: the cluster's protocol when it names one, else the proxy
        filter's upstream_protocol (MOSN's only place for it)."""
        if self.protocol is not None or proxy_protocol != HTTP2:
            return host.pool
        pool = host.h2_pool
        if pool is None:
            pool = host.h2_pool = H2Pool(host, self, self._h2_context())
        return pool

    def _h2_context(self) -> ssl.SSLContext | None:
        """TLS for HTTP/2 the cluster itself did not ask for: the same settings offering h2."""
        tls = self.config.tls_context
        if self.ssl_context is None or tls is None:
            return None
        if self._h2_ssl_context is None:
            self._h2_ssl_context = client_context(tls)
            if not tls.alpn:
                self._h2_ssl_context.set_alpn_protocols(["h2"])
        return self._h2_ssl_context

    def choose_host(self, conn: Any = None, headers: Any = None) -> Host | None:
        """The host for a request or connection: the load balancer's pick, or for an
        ORIGINAL_DST cluster, where the intercepted client was going."""
        if self.original_dst is None:
            return self.lb.choose()
        return self.original_dst.host_for(conn, headers)

    def tls_options(self, host: Host, ssl_context: ssl.SSLContext | None = None) -> dict:
        """create_connection arguments for TLS to `host` (none for plaintext)."""
        if self.ssl_context is None:
            return {}
        return {
            "ssl": ssl_context or self.ssl_context,
            "server_hostname": self.server_name or host.hostname or host.host,
            "ssl_handshake_timeout": self.connect_timeout,
        }

    async def connect(self, host: Host, protocol_factory, ssl_context: ssl.SSLContext | None = None):
        """Dials `host` (with TLS if the cluster asks for it, through `ssl_context` if given)
        and counts the attempt in the cluster's and the host's stats. Returns the protocol;
        raises UpstreamConnectError."""
        self.stats.upstream_cx_total += 1
        host.stats.cx_total += 1
        loop = asyncio.get_running_loop()
        try:
            _, protocol = await asyncio.wait_for(
                loop.create_connection(protocol_factory, host.host, host.port, **self.tls_options(host, ssl_context)),
                self.connect_timeout,
            )
        except (TimeoutError, OSError) as exc:  # ssl.SSLError is an OSError
            self.stats.upstream_cx_connect_fail += 1
            host.stats.cx_connect_fail += 1
            if isinstance(exc, TimeoutError):
                self.stats.upstream_cx_connect_timeout += 1
                raise UpstreamConnectError(UpstreamFailure(FailureKind.CONNECT_TIMEOUT, "connect timeout")) from None
            detail = getattr(exc, "reason", None) or exc.strerror or exc
            if isinstance(exc, ssl.SSLError):
                self.stats.upstream_cx_tls_fail += 1
                # answered 503 UF, as Envoy does, where a refused or timed-out connect is 502
                failure = UpstreamFailure(FailureKind.TLS_HANDSHAKE, f"TLS handshake failed: {detail}")
                raise UpstreamConnectError(failure) from None
            raise UpstreamConnectError(UpstreamFailure(FailureKind.CONNECT_REFUSED, f"connect failed: {detail}")) from None
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
            if host.h2_pool is not None:
                host.h2_pool.close()
        xpools = self.xpools
        if xpools is not None:
            xpools.close()
        checker = self.health_checker
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


def _cluster_protocol(config: model.Cluster) -> str | None:
    """What the cluster says its hosts speak: upstream_protocol, else an ALPN list naming one
    protocol (or both: Auto)."""
    if config.upstream_protocol:
        return config.upstream_protocol
    tls = config.tls_context
    if tls is None or not tls.status or not tls.alpn:
        return None
    offered = {p.strip() for p in tls.alpn.split(",")}
    if "h2" in offered:
        return AUTO if "http/1.1" in offered else HTTP2
    return HTTP1 if "http/1.1" in offered else None


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
