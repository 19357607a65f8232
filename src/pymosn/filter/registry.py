"""The factories of the built-in network filters, bound here to the names config/registries.py
declares. Each turns a listener's decoded filter config into the per-connection builder of that
filter. Unknown names fail config load."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec

from pymosn.config import model, protocols
from pymosn.config.mirror_rules import mirror_copies
from pymosn.config.registries import HTTP_FILTERS, NETWORK_FILTERS
from pymosn.filter.http import registry as http_filter_registry
from pymosn.filter.http.chain import build_filter_plan, routes_turning_off
from pymosn.filter.network import rbac as network_rbac
from pymosn.filter.network.auto import AutoDetect, Candidate
from pymosn.filter.network.proxy import alpn_select, http2_filter_factory, proxy_filter_factory
from pymosn.filter.network.tcp_proxy import TcpProxySettings, tcp_proxy_filter_factory
from pymosn.protocol.detect import match_http1, match_http2, match_request_line
from pymosn.protocol.http1.decoder import MOSN_HTTP10, Http10Policy
from pymosn.protocol.http2 import Http2Settings
from pymosn.protocol.http2.settings import HEADER_BLOCK_TIMEOUT
from pymosn.protocol.xprotocol import registry as xprotocol_registry
from pymosn.proxy.client_cert import ClientCertForwarding
from pymosn.proxy.rpc import RpcSettings, rpc_filter_factory
from pymosn.proxy.settings import ProxySettings
from pymosn.proxy.snapshot import SnapshotRef


@dataclass(frozen=True)
class ListenerContext:
    """What a listener gives the filters of its chain."""

    listener_name: str
    snapshot_ref: SnapshotRef
    stats: Any  # metrics.ListenerStats
    access_loggers: list
    secure: bool = False  # the listener terminates TLS
    stats_store: Any = None  # metrics.StatsStore, for per-protocol stats
    buffer_limit: int = 1 << 20  # the listener's per_connection_buffer_limit_bytes
    stream_filters: tuple[model.StreamFilter, ...] = ()  # the listener's (MOSN's stream_filters)


def _proxy(cfg: model.ProxyConfig, ctx: ListenerContext):
    if cfg.downstream_protocol == protocols.AUTO:
        auto = _auto_proxy(cfg, ctx)
        # TLS: the ALPN verdict is the client's word; without one, the first bytes decide
        return alpn_select(_alpn_choices(cfg, ctx), auto) if ctx.secure else auto
    if cfg.downstream_protocol == protocols.HTTP2:
        h2 = _http2_proxy(cfg, ctx)
        return alpn_select(_alpn_choices(cfg, ctx), h2) if ctx.secure else h2
    if protocols.is_rpc(cfg.downstream_protocol):
        return _rpc_proxy(cfg, ctx, cfg.downstream_protocol)
    return _http1_proxy(cfg, ctx)


def _rpc_proxy(cfg: model.ProxyConfig, ctx: ListenerContext, protocol: str):
    codec = xprotocol_registry.get(protocol)
    if codec is None:  # the config layer checked the name against the same registry
        raise LookupError(f"listener {ctx.listener_name!r}: no X-Protocol codec {protocol!r}")
    return rpc_filter_factory(
        RpcSettings(
            listener_name=ctx.listener_name,
            router_config_name=cfg.router_config_name,
            snapshot_ref=ctx.snapshot_ref,
            stats=ctx.stats,
            protocol_stats=ctx.stats_store.protocol(codec.name),
            codec=codec,
            access_loggers=ctx.access_loggers,
            filter_plan=filter_plan(cfg, ctx),
        )
    )


def _auto_proxy(cfg: model.ProxyConfig, ctx: ListenerContext):
    """Every protocol we can detect: HTTP/2 first (its preface also looks like a request
    line), HTTP/1.1, then every X-Protocol codec."""
    http1 = _http1_proxy(cfg, ctx)
    candidates: list[Candidate] = [(protocols.HTTP2, match_http2, _http2_proxy(cfg, ctx)),
                                   (protocols.HTTP1, match_http1, http1)]
    for name, codec in xprotocol_registry.codecs().items():
        candidates.append((name, codec.match, _rpc_proxy(cfg, ctx, name)))
    stats = ctx.stats

    def on_unknown() -> None:
        stats.downstream_cx_protocol_unknown += 1

    def on_unsupported(name: str) -> None:
        stats.downstream_cx_protocol_unsupported += 1

    def build(conn) -> AutoDetect:
        return AutoDetect(
            conn,
            candidates,
            fallback=cfg.fallback_for_unknown_protocol,
            on_unknown=on_unknown,
            on_unsupported=on_unsupported,
            last_resort=(protocols.HTTP1, match_request_line, http1),
        )

    return build


def _proxy_settings(cfg: model.ProxyConfig, ctx: ListenerContext) -> ProxySettings:
    return ProxySettings(
        listener_name=ctx.listener_name,
        router_config_name=cfg.router_config_name,
        snapshot_ref=ctx.snapshot_ref,
        stats=ctx.stats,
        access_loggers=ctx.access_loggers,
        max_head_bytes=cfg.max_request_headers_kb * 1024,
        max_headers_count=cfg.max_request_headers_count,
        http10=_http10_policy(cfg.http_protocol_options),
        max_body_bytes=cfg.max_request_bytes,
        scheme=b"https" if ctx.secure else b"http",
        client_cert=ClientCertForwarding.from_config(cfg),
        upstream_protocol=cfg.upstream_protocol,
        buffer_limit=ctx.buffer_limit,
        filter_plan=filter_plan(cfg, ctx),
        mirror_copies=mirror_copies(cfg.stream_filters or ctx.stream_filters),
    )


def filter_plan(cfg: model.ProxyConfig, ctx: ListenerContext):
    """The chain's own HTTP filters (an Envoy HCM's), else the listener's (MOSN's). Stream filters
    that are no HTTP filter kind are not in it: those loading warned of and ignores (gzip, ...)
    and MOSN's mirror, which the proxy runs with its routes' mirror policies."""
    filters = [f for f in cfg.stream_filters or ctx.stream_filters if HTTP_FILTERS.find(f.type) is not None]
    if not filters:
        return None
    table = ctx.snapshot_ref.current.routers.get(cfg.router_config_name)
    store = ctx.stats_store
    stats_for = None if store is None else (lambda scope, cls: store.filter(ctx.listener_name, scope, cls))
    return build_filter_plan(filters, routes_turning_off([table] if table is not None else []), stats_for)


def _http10_policy(options: model.Http1ProtocolOptions | None) -> Http10Policy:
    """Without Envoy's options, MOSN's way; with them, Envoy's (see Http10Policy)."""
    if options is None:
        return MOSN_HTTP10
    host = options.default_host_for_http_10.encode() if options.accept_http_10 else b""
    return Http10Policy(accept=options.accept_http_10, default_host=host, require_host=True)


def _http1_proxy(cfg: model.ProxyConfig, ctx: ListenerContext):
    return proxy_filter_factory(_proxy_settings(cfg, ctx))


def _http2_proxy(cfg: model.ProxyConfig, ctx: ListenerContext):
    if cfg.upstream_protocol == protocols.AUTO:
        # MOSN's Auto upstream speaks what the client spoke: HTTP/2 here (gRPC needs it)
        cfg = msgspec.structs.replace(cfg, upstream_protocol=protocols.HTTP2)
    options = cfg.http2_protocol_options
    http2 = Http2Settings(
        max_concurrent_streams=options.max_concurrent_streams,
        initial_stream_window_size=options.initial_stream_window_size,
        initial_connection_window_size=options.initial_connection_window_size,
        max_frame_size=options.max_frame_size,
        max_header_list_size=cfg.max_request_headers_kb * 1024,
        max_headers_count=cfg.max_request_headers_count,
        max_outbound_frames=options.max_outbound_frames,
        max_outbound_control_frames=options.max_outbound_control_frames,
        max_consecutive_inbound_frames_with_empty_payload=options.max_consecutive_inbound_frames_with_empty_payload,
        # a header block left open stalls its whole connection; Envoy's stream idle timer
        # runs from its first frame (with the timeout disabled, the default bounds it still)
        header_block_timeout=cfg.stream_idle_timeout or HEADER_BLOCK_TIMEOUT,
    )
    return http2_filter_factory(_proxy_settings(cfg, ctx), http2)


def _alpn_choices(cfg: model.ProxyConfig, ctx: ListenerContext) -> dict:
    return {"h2": _http2_proxy(cfg, ctx), "http/1.1": _http1_proxy(cfg, ctx)}


def _tcp_proxy(cfg: model.TcpProxyConfig, ctx: ListenerContext):
    return tcp_proxy_filter_factory(
        TcpProxySettings(ctx.listener_name, cfg, ctx.snapshot_ref, ctx.stats, ctx.access_loggers)
    )


assert http_filter_registry.BUILTINS  # imported for its registrations: the proxy's HTTP filters
NETWORK_FILTERS.bind("proxy", _proxy)
NETWORK_FILTERS.bind("tcp_proxy", _tcp_proxy)
# its config type is its own (the rules need its reader), so it is declared and bound here
NETWORK_FILTERS.register(network_rbac.NAME, network_rbac.FACTORY, type_url=network_rbac.TYPE_URL,
                         config_type=network_rbac.RbacNetworkConfig)


def build_filter_chain(chain: model.FilterChain, ctx: ListenerContext) -> list:
    """The chain's builders; each filter's config was decoded at load (no decoding here)."""
    return [NETWORK_FILTERS.factory(f.type)(f.config, ctx) for f in chain.filters]
