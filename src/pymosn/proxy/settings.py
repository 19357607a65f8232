"""What one listener's proxy filter runs with, fixed when the listener is built.

Compiled: the request path reads a dozen of these fields per request."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pymosn.metrics.groups import ListenerStats
from pymosn.proxy.filter_manager import DEFAULT_BUFFER_LIMIT, FilterChainPlan
from pymosn.proxy.snapshot import SnapshotRef


@dataclass(eq=False)
class ProxySettings:
    """Everything one listener's proxy filter needs, fixed when the listener is built."""

    listener_name: str
    router_config_name: str
    snapshot_ref: SnapshotRef
    stats: ListenerStats
    access_loggers: list = field(default_factory=list)
    max_head_bytes: int = 60 * 1024
    max_headers_count: int = 100  # header fields (or trailers) a request may have; over it, 431
    http10: Any = None  # protocol.http1.Http10Policy; None = MOSN's (accepted, no Host needed)
    max_body_bytes: int = 0
    default_timeout: float = 15.0  # Envoy's default route timeout
    scheme: bytes = b"http"
    client_cert: Any = None  # proxy.client_cert.ClientCertForwarding; None = drop incoming XFCC
    upstream_protocol: str = "Http1"  # for clusters that do not say what their hosts speak
    # the listener's stream filters, prepared once per load; None = none (the fast path: no
    # filter manager is made per request)
    filter_plan: FilterChainPlan | None = None
    # what a stream's filters may hold before back-pressure (STOP) or failing it (STOP_AND_BUFFER):
    # the listener's per_connection_buffer_limit_bytes, as Envoy's stream buffer limit
    buffer_limit: int = DEFAULT_BUFFER_LIMIT
    # copies of each sampled request a route's mirror policies send (MOSN's mirror filter's
    # amplification); 0: the listener has no mirror filter and copies nothing, as in MOSN
    mirror_copies: int = 0
