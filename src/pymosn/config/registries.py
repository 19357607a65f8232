"""The extension registries the config layer validates names and decodes configs against, and
the built-in names and config types declared in them (one place; see docs/design/extensions.md).

The factories that run these extensions live in upper layers, which bind them by name:
network filters in filter/registry.py, HTTP filters (declared and bound at once, their config
types being theirs) in filter/http/registry.py, load balancers in upstream/load_balancer.py, the file
access-log sink in accesslog/sink.py. X-Protocol
codecs have their own registry in protocol/xprotocol/registry.py (codec instances are the
factories, built there); the config layer learns their names through `protocols.set_rpc_protocols`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from pymosn.api.registry import Registry
from pymosn.config import model
from pymosn.config.http_filters import HttpFilterFactory, accept_plugin

# (decoded config Struct, filter.registry.ListenerContext) -> the per-connection filter builder
NetworkFilterFactory = Callable[[Any, Any], Callable[[Any], Any]]
# (the cluster's hosts) -> a balancer with choose() -> Host | None
LoadBalancerFactory = Callable[[Sequence[Any]], Any]
# (model.AccessLog, its config decoded) -> a sink with write(line), flush(), reopen(), close()
AccessLogSinkFactory = Callable[[model.AccessLog], Any]

NETWORK_FILTERS: Registry[NetworkFilterFactory] = Registry("network filter", "pymosn.network_filters")
# HTTP (stream) filters, by MOSN name. A kind's config type and readers live with its code, so
# the built-ins are registered (declared and bound at once) in filter/http/registry.py, the one
# place that lists them; see config/http_filters.py for what a kind provides.
HTTP_FILTERS: Registry[HttpFilterFactory] = Registry("http filter", "pymosn.http_filters", accept=accept_plugin)
# The listener runs its filters itself (network/listener.py, original_dst.py); there is no
# listener-filter API for a plugin to implement, so the config refuses plugin names.
LISTENER_FILTERS: Registry[Callable[..., Any]] = Registry("listener filter", "pymosn.listener_filters")
LOAD_BALANCERS: Registry[LoadBalancerFactory] = Registry("load balancer", "pymosn.load_balancers")
ACCESS_LOG_SINKS: Registry[AccessLogSinkFactory] = Registry("access log sink", "pymosn.access_log_sinks")
TRACERS: Registry[Callable[..., Any]] = Registry("tracer", "pymosn.tracers")
FILE_SINK = "file"  # MOSN's: log_path names a file, "stdout" or "stderr"

NETWORK_FILTERS.declare(
    "proxy", config_type=model.ProxyConfig,
    type_url="envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager")
NETWORK_FILTERS.declare(
    "tcp_proxy", config_type=model.TcpProxyConfig, type_url="envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy")

ACCESS_LOG_SINKS.declare(FILE_SINK, type_url="envoy.extensions.access_loggers.file.v3.FileAccessLog")

LISTENER_FILTERS.declare("original_dst", config_type=model.OriginalDstFilterConfig,
                         type_url="envoy.extensions.filters.listener.original_dst.v3.OriginalDst")

# LB_ORIGINAL_DST is not a balancer: an ORIGINAL_DST cluster picks each connection's own
# destination (upstream/original_dst.py), so config/rules.py knows that name itself.
for _name in ("LB_ROUNDROBIN", "LB_RANDOM", "LB_WEIGHTED_ROUNDROBIN"):
    LOAD_BALANCERS.declare(_name)
