"""The one place built-in network filters are registered. Each entry turns a listener's filter
config into the per-connection builder of that filter. Unknown names fail config load."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec

from pymosn.config import model
from pymosn.filter.network.proxy import proxy_filter_factory
from pymosn.filter.network.tcp_proxy import TcpProxySettings, tcp_proxy_filter_factory
from pymosn.proxy.snapshot import ProxySettings, SnapshotRef


@dataclass(frozen=True)
class ListenerContext:
    """What a listener gives the filters of its chain."""

    listener_name: str
    snapshot_ref: SnapshotRef
    stats: Any  # metrics.ListenerStats
    access_loggers: list
    secure: bool = False  # the listener terminates TLS


def _proxy(raw: dict, ctx: ListenerContext):
    cfg = msgspec.convert(raw, model.ProxyConfig)
    return proxy_filter_factory(
        ProxySettings(
            listener_name=ctx.listener_name,
            router_config_name=cfg.router_config_name,
            snapshot_ref=ctx.snapshot_ref,
            stats=ctx.stats,
            access_loggers=ctx.access_loggers,
            max_head_bytes=cfg.max_request_headers_kb * 1024,
            max_body_bytes=cfg.max_request_bytes,
            scheme=b"https" if ctx.secure else b"http",
        )
    )


def _tcp_proxy(raw: dict, ctx: ListenerContext):
    cfg = msgspec.convert(raw, model.TcpProxyConfig)
    return tcp_proxy_filter_factory(
        TcpProxySettings(ctx.listener_name, cfg, ctx.snapshot_ref, ctx.stats, ctx.access_loggers)
    )


NETWORK_FILTERS = {"proxy": _proxy, "tcp_proxy": _tcp_proxy}


def build_filter_chain(chain: model.FilterChain, ctx: ListenerContext) -> list:
    return [NETWORK_FILTERS[f.type](f.config, ctx) for f in chain.filters]
