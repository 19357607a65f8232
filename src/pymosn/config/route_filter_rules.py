"""Per-route filter configs of routes, virtual hosts and router configs, read once at load.

MOSN's `per_filter_config` maps a stream filter's type to a config of the filter's own shape
(MOSN's fault and payload_limit filters replace their config by it on that route); each is read
by its kind's MOSN route reader into `filter_configs`, pymosn's decoded form (what an Envoy
bootstrap's typed_per_filter_config becomes, and what /config_dump writes), and
`per_filter_config` is emptied. A key no kind has is left out with a warning (MOSN's filters
only read their own keys); a kind without per-route configs is an error."""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec

from pymosn.config import model
from pymosn.config.http_filters import decode_struct, route_config_type, takes_route_configs
from pymosn.config.issues import INVALID, IssueLog, child
from pymosn.config.registries import HTTP_FILTERS
from pymosn.config.walker import Walker

Level = TypeVar("Level", model.Route, model.VirtualHost, model.RouterConfig)


def filter_configs(obj: Level, path: str, walker: Walker) -> Level:
    mosn = getattr(obj, "per_filter_config", {})
    if not mosn and not obj.filter_configs:
        return obj
    out: dict[str, model.RouteFilterConfig] = {}
    for name, raw in obj.filter_configs.items():
        entry = _decoded(raw, child(child(path, "filter_configs"), name), walker)
        if entry is not None:
            out[name] = entry
    for name, raw in mosn.items():
        where = child(child(path, "per_filter_config"), name)
        if name in out:
            walker.log.error(where, f"{name!r} also has an entry in filter_configs; give it one")
            continue
        config = _read(name, raw, where, walker.log)
        if config is not None:
            out[name] = model.RouteFilterConfig(type=HTTP_FILTERS.get(name).name, config=walker.place(config, where))
    replaced = {"filter_configs": out}
    if mosn:
        replaced["per_filter_config"] = {}
    return walker.replaced(obj, msgspec.structs.replace(obj, **replaced))


def _read(name: str, raw: Any, path: str, log: IssueLog) -> msgspec.Struct | None:
    declaration = HTTP_FILTERS.find(name)
    if declaration is None:
        log.warning(path, f"no http filter {name!r} (known: {', '.join(HTTP_FILTERS.names()) or '(none)'}); ignored")
        return None
    factory = HTTP_FILTERS.factory(declaration.name)
    if not takes_route_configs(factory):
        log.error(path, f"http filter {declaration.name!r} takes no per-route config")
        return None
    errors = len(log.errors)
    config = factory.decode_mosn_route(raw, path, log)  # type: ignore[attr-defined]
    return config if len(log.errors) == errors else None


def _decoded(raw: Any, path: str, walker: Walker) -> model.RouteFilterConfig | None:
    """An entry of pymosn's own form: {type, config (the per-route Struct's fields), disabled}."""
    entry = raw if isinstance(raw, model.RouteFilterConfig) else walker.struct(raw, model.RouteFilterConfig, path)
    if entry is INVALID:
        return None
    if entry.config is None:
        return entry  # it only turns the filter off (or on) there
    declaration = HTTP_FILTERS.find(entry.type)
    if declaration is None:
        walker.log.error(child(path, "type"), f"unknown http filter {entry.type!r}; known: "
                                              f"{', '.join(HTTP_FILTERS.names()) or '(none)'}")
        return None
    factory = HTTP_FILTERS.factory(declaration.name)
    if not takes_route_configs(factory):
        walker.log.error(child(path, "type"), f"http filter {declaration.name!r} takes no per-route config")
        return None
    cls = route_config_type(factory)
    config = entry.config
    if isinstance(config, cls):
        return entry
    raw_config = msgspec.to_builtins(config) if isinstance(config, msgspec.Struct) else config
    decoded = decode_struct(raw_config, cls, child(path, "config"), walker.log)
    if decoded is None:
        return None
    return msgspec.structs.replace(entry, type=declaration.name, config=walker.place(decoded, child(path, "config")))
