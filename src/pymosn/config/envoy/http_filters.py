"""An HttpConnectionManager's `http_filters` and the `typed_per_filter_config` of its routes, as
the proxy's stream filters and the routes' filter configs.

A filter is the HTTP_FILTERS kind its `typed_config` type URL names (a kind's own type, or
`pymosn.http_filters.<name>` for a plugin, usually inside an xds TypedStruct), or without a
typed config the kind Envoy's well-known `name` names; its config is read by the kind's Envoy
reader, here, once, at its Envoy path. The rest are refused or left out as before pymosn had
filters (fail closed for what enforces). `disabled: true` keeps the filter in the chain, off
unless a route's per-filter config turns it on, as Envoy does; `is_optional` lets an unknown
filter be left out.

A per-filter config (route, virtual host or route configuration) is keyed by the filter's
name; its type URL names the kind (a kind lists its per-route types), read by the kind's Envoy
route reader. Envoy's wrapper `envoy.config.route.v3.FilterConfig` adds `disabled` (off on that
route) and `is_optional`. A config for a filter no chain has is read and unused (as in Envoy);
one of a type no kind takes is left out with a warning, unless a kind would enforce with it."""

from __future__ import annotations

from typing import Any

import msgspec

from pymosn.config.envoy import schemas as s
from pymosn.config.envoy.extensions import ROUTER_FILTER, Extension, display, envoy_kind, extension
from pymosn.config.envoy.message import Context, Message
from pymosn.config.http_filters import (
    FILTER_CONFIG_TYPE,
    PLUGIN_TYPE_PREFIX,
    HttpFilterFactory,
    message_name,
    route_type_urls,
    takes_route_configs,
)
from pymosn.config.issues import child, type_name
from pymosn.config.registries import HTTP_FILTERS

# HTTP filters whose absence lets through requests they would refuse or limit (or that may run
# any code, which can include refusing requests): pymosn will not run without them.
# adaptive_concurrency and cdn_loop answer 503 and 502.
ACCESS_CONTROL_FILTERS = frozenset({
    "ext_authz", "jwt_authn", "oauth2", "basic_auth", "api_key_auth", "ext_proc", "lua", "wasm", "golang",
    "ratelimit", "csrf", "composite", "admission_control", "bandwidth_limit",
    "rate_limit_quota", "ip_tagging", "dynamic_modules", "adaptive_concurrency", "cdn_loop",
})
# HTTP filters that only add features: without them requests are still answered, as without
# the filter; they warn. cors among them: it protects no server, it only tells browsers which
# cross-origin reads to allow, and without its headers they allow none.
FEATURE_FILTERS = frozenset({
    "cors", "compressor", "decompressor", "gzip", "health_check", "grpc_stats", "grpc_web",
    "header_to_metadata", "set_metadata", "tap", "cache", "grpc_json_transcoder", "grpc_http1_bridge",
    "grpc_http1_reverse_bridge", "grpc_field_extraction", "original_src",
    "alternate_protocols_cache", "aws_lambda", "aws_request_signing", "dynamic_forward_proxy", "on_demand",
    "kill_request", "stateful_session", "credential_injector", "json_to_metadata",
    "file_system_buffer", "connect_grpc_bridge", "gcp_authn", "thrift_to_metadata", "geoip",
    "set_filter_state", "custom_response",
})
_TYPED_STRUCTS = frozenset({"xds.type.v3.TypedStruct", "udpa.type.v1.TypedStruct"})


def kind_of(ext: Extension) -> tuple[str, HttpFilterFactory] | None:
    """The registered kind an http_filters entry configures: by type URL, else by name."""
    declaration = HTTP_FILTERS.by_type_url(ext.type) if ext.type else None
    if declaration is None and ext.type.startswith(PLUGIN_TYPE_PREFIX):
        declaration = HTTP_FILTERS.find(ext.type[len(PLUGIN_TYPE_PREFIX):])
    if declaration is None and not ext.type:
        for name, factory in HTTP_FILTERS.factories().items():
            if getattr(factory, "name", None) == ext.name:
                return name, factory
        return None
    return None if declaration is None else (declaration.name, HTTP_FILTERS.factory(declaration.name))


def http_filters(m: Message, proxy: dict, ctx: Context) -> None:
    filters = m.messages("http_filters", s.HTTP_FILTER)
    out: list[dict] = []
    last = None
    for index, f in enumerate(filters):
        ext = last = extension(f)
        optional, disabled, name = f.bool("is_optional"), f.bool("disabled"), f.str("name")
        f.finish()
        if ext is None:
            continue
        if ext.name == ROUTER_FILTER:
            if index != len(filters) - 1:
                f.error(None, f"{ROUTER_FILTER} ends the chain: it must be the last http filter")
            Message(ext.config, ext.path, s.ROUTER, ctx).finish()
            continue
        found = kind_of(ext)
        if found is not None:
            entry = _filter(found, ext, name, disabled, f, ctx)
            if entry is not None:
                out.append(entry)
        else:
            _not_implemented(ext, optional, disabled, f.path, ctx)
    if last is not None and last.name != ROUTER_FILTER:
        ctx.log.error(m.at("http_filters"), f"the last http filter must be {ROUTER_FILTER}")
    if out:
        ctx.put(proxy, "stream_filters", ctx.node(out, m.at("http_filters")), m.at("http_filters"))


def _filter(found: tuple[str, HttpFilterFactory], ext: Extension, name: str, disabled: bool, f: Message,
            ctx: Context) -> dict | None:
    kind, factory = found
    errors = len(ctx.log.errors)
    config = factory.decode_envoy(ext.config, ext.path, ctx.log)
    if config is None or len(ctx.log.errors) > errors:
        return None
    entry = ctx.node({"type": kind, "config": ctx.node(msgspec.to_builtins(config), ext.path), "decoded": True},
                     f.path)
    if name and name != kind:
        ctx.put(entry, "name", name, f.at("name"))
    if disabled:
        ctx.put(entry, "disabled", True, f.at("disabled"))
    return entry


def _not_implemented(ext: Extension, optional: bool, disabled: bool, where: str, ctx: Context) -> None:
    kind = envoy_kind(ext, "http")
    if kind in ACCESS_CONTROL_FILTERS:
        ctx.log.error(where, f"http filter {display(ext)} is not implemented by pymosn yet; refusing to run "
                             "without what it enforces")
    elif disabled:
        return  # off unless a route turns it on: per-route configs are checked where they are
    elif kind in FEATURE_FILTERS or optional:
        ctx.log.warning(where, f"http filter {display(ext)} is not implemented by pymosn yet; ignored")
    else:
        what = "unknown http filter" if kind is None else "http filter"
        known = "" if kind is None else " is not implemented by pymosn yet"
        ctx.log.error(where, f"{what} {display(ext)}{known}; pymosn runs {', '.join(_envoy_names())} and "
                             f"{ROUTER_FILTER} (mark a filter is_optional to have it skipped)")


def _envoy_names() -> list[str]:
    """The kinds as an Envoy bootstrap names them: Envoy's name, a plugin's type URL."""
    return [getattr(factory, "name", None) or f"{PLUGIN_TYPE_PREFIX}{kind}"
            for kind, factory in HTTP_FILTERS.factories().items()]


# --- per-route configs --------------------------------------------------------------------------


def route_filter_configs(m: Message, out: dict, ctx: Context) -> None:
    """`typed_per_filter_config` of a route, virtual host or route configuration into
    `out["filter_configs"]`."""
    raw = m.map("typed_per_filter_config")
    configs: dict[str, dict] = {}
    for name, value in raw.items():
        entry = _route_config(str(name), value, child(m.at("typed_per_filter_config"), str(name)), ctx)
        if entry is not None:
            configs[str(name)] = entry
    if configs:
        ctx.put(out, "filter_configs", ctx.node(configs, m.at("typed_per_filter_config")),
                m.at("typed_per_filter_config"))


def _typed(raw: Any, path: str, ctx: Context) -> tuple[str, dict, str] | None:
    """(message name, fields without @type, their path) of an Any, a TypedStruct unwrapped."""
    if not isinstance(raw, dict):
        ctx.log.error(path, f"expected object, got {type_name(raw)}")
        return None
    url = raw.get("@type")
    if not isinstance(url, str) or not url:
        ctx.log.error(path, "needs \"@type\" naming its type")
        return None
    message = message_name(url)
    if message in _TYPED_STRUCTS:
        inner, value = raw.get("type_url"), raw.get("value", {})
        if not isinstance(inner, str) or not isinstance(value, dict):
            ctx.log.error(path, "a TypedStruct needs type_url (str) and value (object)")
            return None
        return message_name(inner), value, child(path, "value")
    return message, {k: v for k, v in raw.items() if k != "@type"}, path


def _route_config(name: str, raw: Any, path: str, ctx: Context) -> dict | None:
    typed = _typed(raw, path, ctx)
    if typed is None:
        return None
    message, fields, where = typed
    optional = disabled = False
    if message == FILTER_CONFIG_TYPE:
        wrapper = Message(fields, where, s.FILTER_CONFIG, ctx)
        optional, disabled = wrapper.bool("is_optional"), wrapper.bool("disabled")
        inner = wrapper.raw("config")
        wrapper.finish()
        if inner is None:
            if not disabled:
                ctx.log.error(where, f"an empty per-filter config for {name!r} (Envoy refuses it): give it a config "
                                     "or disabled: true")
                return None
            return ctx.node({"disabled": True}, where)
        typed = _typed(inner, child(where, "config"), ctx)
        if typed is None:
            return None
        message, fields, where = typed
    found = _route_kind(message)
    if found is None:
        _unknown_route_type(name, message, optional, where, ctx)
        return None
    kind, factory = found
    errors = len(ctx.log.errors)
    config = factory.decode_envoy_route(fields, where, ctx.log)
    if config is None or len(ctx.log.errors) > errors:
        return None
    entry = ctx.node({"type": kind, "config": ctx.node(msgspec.to_builtins(config), where)}, path)
    if disabled:
        entry["disabled"] = True
    return entry


def _route_kind(message: str) -> tuple[str, HttpFilterFactory] | None:
    plugin = HTTP_FILTERS.find(message[len(PLUGIN_TYPE_PREFIX):]) if message.startswith(PLUGIN_TYPE_PREFIX) else None
    for kind, factory in HTTP_FILTERS.factories().items():
        if takes_route_configs(factory) and (message in route_type_urls(factory)
                                             or (plugin is not None and plugin.name == kind)):
            return kind, factory
    return None


def _unknown_route_type(name: str, message: str, optional: bool, where: str, ctx: Context) -> None:
    kind = envoy_kind(Extension(message, message, {}, where, False), "http")
    ours = next((mosn for mosn, factory in HTTP_FILTERS.factories().items()
                 if kind is not None and getattr(factory, "name", None) == f"envoy.filters.http.{kind}"), None)
    if ours is not None and not optional:
        ctx.log.error(where, f"per-filter config for {name!r} has type {message}, which pymosn's {ours} filter does "
                             "not take yet; refusing to serve the route without what it asks of the filter there")
    elif kind in ACCESS_CONTROL_FILTERS and not optional:
        ctx.log.error(where, f"per-filter config for {name!r} has type {message}, which pymosn does not implement; "
                             "refusing to serve the route without what it enforces there")
    else:
        ctx.log.warning(where, f"per-filter config for {name!r} has type {message}, which no pymosn filter takes; "
                               "ignored")
