"""MOSN's stream filters: a registered one has its config read into its Struct (once, here); for
the others, how loud leaving each out is.

A filter that only adds something (compression, stats, shadow traffic, fault injection) can be
left out with a warning: requests are still answered as they would be with the filter off. A
filter that enforces something (access control, authentication, limits), that picks or rewrites
where a request goes, or whose code pymosn cannot see (Wasm, Go plugins, filters compiled into
a custom MOSN build) is an error: leaving it out could let through what it would refuse. MOSN's
own sample custom filters ("demo", the Go plugin example) answer 403 to requests without a
header, which is why an unknown filter counts as enforcing.

Names are MOSN's registered ones (pkg/filter/stream/*, istio/istio1106/filter/stream/*)."""

from __future__ import annotations

from typing import Any

import msgspec

from pymosn.config import model
from pymosn.config.http_filters import HttpFilterFactory, decode_struct
from pymosn.config.issues import IssueLog, child
from pymosn.config.mirror_rules import mirror_filter
from pymosn.config.registries import HTTP_FILTERS
from pymosn.config.walker import Walker

_MAY_REFUSE = "refusing to run without it, as it may refuse or change requests"

# name -> why pymosn will not run without it
ENFORCING_STREAM_FILTERS: dict[str, str] = {
    "ip_access": "refusing to run without the access control it asks for",
    "jwt_authn": "refusing to run without the authentication it asks for",
    "commonrule": "refusing to run without the rate limits it asks for",  # older MOSN's limiter
    "proxywasm": "refusing to run without it, as its Wasm plugins may refuse or change requests",
    "dsl": "refusing to run without it, as its expressions may rewrite a request's URL and headers "
           "before it is routed",
}
# Filters that add something; without them requests are answered as with the filter off.
FEATURE_STREAM_FILTERS = frozenset({
    "fault_tolerance", "gzip", "dubbo_stream", "grpc_metric", "header_to_metadata",
    "transcoder", "seata", "istio.stats", "mixer",  # mixer: MOSN's only reports telemetry
})
# Filters older MOSN had and current MOSN skips (it logs the unknown name and goes on).
REMOVED_STREAM_FILTERS: dict[str, str] = {
    "healthcheck": "older MOSN's SOFARPC heartbeat responder, removed from MOSN, which ignores it too; ignored",
}
# Filters of MOSN on Envoy (pkg/networkextention), which MOSN itself does not have.
MOE_STREAM_FILTERS = frozenset({"echo", "metadata"})
# Envoy's names some MOSN configs carry; each only inspects the connection.
INSPECTING_LISTENER_FILTERS: dict[str, str] = {
    "tls_inspector": "Envoy's; MOSN's equivalent is the listener's inspector: true; ignored",
}


def stream_filter(obj: model.StreamFilter, path: str, walker: Walker) -> model.StreamFilter:
    kind = obj.type
    declaration = None if obj.go_plugin_config else HTTP_FILTERS.find(kind)
    if declaration is not None:
        factory = HTTP_FILTERS.factory(declaration.name)
        config_path = child(path, "config")
        config = read_config(factory, obj.config, obj.decoded, config_path, walker.log)
        if config is None:
            return obj
        return msgspec.structs.replace(obj, type=declaration.name, config=walker.place(config, config_path),
                                       decoded=True)
    if obj.go_plugin_config:
        walker.log.error(path, f"stream filter {kind!r} is a Go plugin (go_plugin_config), which pymosn cannot load; "
                               f"{_MAY_REFUSE}")
    elif kind == "mirror":
        mirror_filter(obj, path, walker)  # run by the proxy with its routes' mirror policies
    elif kind in ENFORCING_STREAM_FILTERS:
        walker.log.error(path, f"stream filter {kind!r} is not implemented by pymosn yet; "
                               f"{ENFORCING_STREAM_FILTERS[kind]}")
    elif kind in FEATURE_STREAM_FILTERS:
        walker.log.warning(path, f"stream filter {kind!r} is not implemented by pymosn yet; ignored")
    elif kind in REMOVED_STREAM_FILTERS:
        walker.log.warning(path, f"stream filter {kind!r} is {REMOVED_STREAM_FILTERS[kind]}")
    elif kind in MOE_STREAM_FILTERS:
        walker.log.error(path, f"stream filter {kind!r} is MOSN on Envoy's (MoE), not MOSN's, and pymosn cannot run "
                               f"it; {_MAY_REFUSE}")
    else:
        walker.log.error(path, f"unknown stream filter {kind!r}: neither one of MOSN's built-in filters nor an "
                               f"installed plugin; {_MAY_REFUSE}; known: {', '.join(HTTP_FILTERS.names()) or '(none)'}")
    return obj


def read_config(factory: HttpFilterFactory, raw: Any, decoded: bool, path: str, log: IssueLog) -> Any:
    """A filter's config as its Struct: read by the kind's MOSN reader, or, when `decoded` (the
    Struct's own fields, as /config_dump writes them), converted back; None after errors."""
    if isinstance(raw, factory.config_type):
        return raw  # built in code
    if isinstance(raw, msgspec.Struct):
        raw, decoded = msgspec.to_builtins(raw), True
    errors = len(log.errors)
    config = decode_struct(raw, factory.config_type, path, log) if decoded else factory.decode_mosn(raw, path, log)
    return config if len(log.errors) == errors else None


def other_listener_filter(walker: Walker, kind: str, path: str) -> None:
    """A listener filter other than original_dst (the one MOSN has, handled by the listener rule)."""
    if kind in INSPECTING_LISTENER_FILTERS:
        walker.log.warning(path, f"listener filter {kind!r} is {INSPECTING_LISTENER_FILTERS[kind]}")
        return
    walker.log.error(path, f"unknown listener filter {kind!r}: MOSN's only built-in one is original_dst, and pymosn "
                           "cannot run custom ones; refusing to run without it, as it may refuse connections")


def stream_filters_in_one_place(obj: model.Listener, path: str, walker: Walker) -> model.Listener:
    """A listener's stream_filters (MOSN's) serve its proxy filters that have none of their own
    (pymosn's ProxyConfig.stream_filters, what an Envoy HCM's http_filters become); both on one
    proxy filter would leave one list unused."""
    if not obj.stream_filters:
        return obj
    for i, chain in enumerate(obj.filter_chains):
        for j, f in enumerate(chain.filters):
            if isinstance(f.config, model.ProxyConfig) and f.config.stream_filters:
                walker.log.error(child(path, f"filter_chains[{i}].filters[{j}].config.stream_filters"),
                                 "the listener has stream_filters too: give them in one place")
    return obj
