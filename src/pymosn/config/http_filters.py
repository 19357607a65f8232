"""What the config layer knows of an HTTP (stream) filter kind, and how its configs are read.

A kind is a `HttpFilterFactory` registered in `config.registries.HTTP_FILTERS` under its MOSN
name (the built-ins in filter/http/registry.py, plugins through the `pymosn.http_filters`
entry-point group). The factory holds its readers: `decode_mosn` reads the `config` of a MOSN
`stream_filters` entry, `decode_envoy` the `typed_config` of an Envoy `http_filters` entry
(both report problems at their paths and return None after errors) into one frozen msgspec
Struct, its `config_type`; `create_config` makes the shared runtime config from that Struct
when a listener is built. Per-route configs (MOSN `per_filter_config`, Envoy
`typed_per_filter_config`) are read by `decode_mosn_route` / `decode_envoy_route` into
`route_config_type` (the main config type when the kind says nothing else). A kind declares
which header maps of the upstream's messages a config changes (`header_changes`), so that a
listener whose protocol cannot carry such a change is refused at load (config/rpc_filter_rules.py).

Once read, a config is kept in the model as its Struct, and `/config_dump` writes that Struct's
fields with `decoded: true` beside them; such a config loads back by `decode_struct`, not by the
MOSN reader (it is no longer in MOSN's shape). Nothing here runs per request."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import msgspec

from pymosn.api.headers import HeaderSide
from pymosn.api.registry import Plugin
from pymosn.api.stream_filter import FilterConfig
from pymosn.config.issues import IssueLog

Reader = Callable[[Any, str, IssueLog], "msgspec.Struct | None"]
# (side, the config field asking for it, relative to the config) for each change a config makes
HeaderChanges = tuple[tuple[HeaderSide, str], ...]

# A plugin's filter is found in an Envoy bootstrap by the type URL it declares or by this one:
# "type.googleapis.com/pymosn.http_filters.<entry point name>" (inside an xds TypedStruct).
PLUGIN_TYPE_PREFIX = "pymosn.http_filters."
FILTER_CONFIG_TYPE = "envoy.config.route.v3.FilterConfig"  # Envoy's per-route wrapper


@runtime_checkable
class HttpFilterFactory(Protocol):
    """What HTTP_FILTERS holds for a kind. Optional members, read with getattr: `name` (Envoy's
    well-known filter name), `type_url` (its typed_config type, with or without the
    type.googleapis.com/ prefix); for a kind that takes per-route configs, `decode_mosn_route`
    and `decode_envoy_route` (readers as above), `route_config_type` (the Struct they make;
    `config_type` when absent), `route_type_urls` (the types an Envoy typed_per_filter_config
    entry of this kind may have) and `create_route_config(route_config)` (the compiled per-route
    object RouteEntry.filter_configs holds; the Struct itself when absent); `header_changes(config)`
    (HeaderChanges: whose header maps, the request's and/or the upstream response's, a config
    or per-route config of this kind changes, each with the field asking for it; a kind without
    it is taken to change none, and the runtime still refuses a change the protocol cannot carry)."""

    @property
    def config_type(self) -> type[msgspec.Struct]: ...

    def decode_mosn(self, raw: Any, path: str, log: IssueLog) -> msgspec.Struct | None: ...

    def decode_envoy(self, raw: Any, path: str, log: IssueLog) -> msgspec.Struct | None: ...

    def create_config(self, config: Any) -> FilterConfig: ...


def message_name(type_url: str) -> str:
    """"envoy.extensions.filters.http.fault.v3.HTTPFault" of any spelling of a type URL."""
    return type_url.rsplit("/", 1)[-1]


def takes_route_configs(factory: HttpFilterFactory) -> bool:
    return getattr(factory, "decode_mosn_route", None) is not None


def route_config_type(factory: HttpFilterFactory) -> type[msgspec.Struct]:
    """The Struct a per-route config of this kind is read into (for kinds that take them)."""
    return getattr(factory, "route_config_type", None) or factory.config_type


def route_type_urls(factory: HttpFilterFactory) -> tuple[str, ...]:
    """Message names an Envoy per-route config of this kind may have."""
    return tuple(message_name(url) for url in getattr(factory, "route_type_urls", ()))


def header_changes(factory: HttpFilterFactory, config: Any) -> HeaderChanges:
    """The header maps `config` (a decoded config or per-route config of the kind) changes."""
    declared = getattr(factory, "header_changes", None)
    return () if declared is None else tuple(declared(config))


_PATH_IN_ERROR = re.compile(r" - at `\$(.*)`$")


def decode_struct(raw: Any, cls: type[msgspec.Struct], path: str, log: IssueLog) -> msgspec.Struct | None:
    """`raw` (JSON-like values) as a `cls`, strictly, as msgspec does (so a plugin's constraints,
    `msgspec.Meta(ge=0)` and the like, hold); the error at its full path; None after it."""
    try:
        return msgspec.convert(raw, cls)
    except msgspec.ValidationError as error:
        text = str(error)
        found = _PATH_IN_ERROR.search(text)
        where = path + found.group(1) if found else path
        log.error(where, _PATH_IN_ERROR.sub("", text))
        return None


# --- plugins ------------------------------------------------------------------------------------


class PluginHttpFilter:
    """A third party's filter kind (an entry point of `pymosn.http_filters`), as a factory.

    The entry point names an object with a `config_type` (a msgspec Struct) that makes the
    FilterConfig (`create_filter(callbacks)`) from a decoded config: a class is called with it
    (the FilterConfig class itself), another object's `create_config(config)` is (a factory
    object, as the built-ins' FACTORY). Optional attributes: `type_url` (its Envoy type),
    `route_config_type` (a Struct for per-route configs; without it the kind takes none),
    `header_changes(config)` (as HttpFilterFactory's). A
    plugin's config has one shape in both formats: its Struct's fields, decoded strictly."""

    def __init__(self, loaded: Any) -> None:
        config_type = getattr(loaded, "config_type", None)
        if not (isinstance(config_type, type) and issubclass(config_type, msgspec.Struct)):
            raise TypeError(f"config_type must be a msgspec.Struct type, got {config_type!r}")
        route_type = getattr(loaded, "route_config_type", None)
        if route_type is not None and not (isinstance(route_type, type) and issubclass(route_type, msgspec.Struct)):
            raise TypeError(f"route_config_type must be a msgspec.Struct type, got {route_type!r}")
        type_url = getattr(loaded, "type_url", "")
        if not isinstance(type_url, str):
            raise TypeError(f"type_url must be a str, got {type_url!r}")
        make = None if isinstance(loaded, type) else getattr(loaded, "create_config", None)
        if make is None and not callable(loaded):
            raise TypeError(f"{loaded!r} has no create_config(config) and is not callable")
        self.make = make if make is not None else loaded
        self.config_type = config_type
        self.type_url = type_url
        self.route_config_type = route_type
        changes = getattr(loaded, "header_changes", None)
        if changes is not None:
            if not callable(changes):
                raise TypeError(f"header_changes must be callable, got {changes!r}")
            self.header_changes = changes
        if route_type is not None:  # only a kind that has them takes per-route configs
            self.decode_mosn_route = self.decode_envoy_route = self._decode_route
            self.route_type_urls = (message_name(type_url),) if type_url else ()

    def decode_mosn(self, raw: Any, path: str, log: IssueLog) -> msgspec.Struct | None:
        return decode_struct(raw, self.config_type, path, log)

    def decode_envoy(self, raw: Any, path: str, log: IssueLog) -> msgspec.Struct | None:
        return decode_struct(raw, self.config_type, path, log)

    def _decode_route(self, raw: Any, path: str, log: IssueLog) -> msgspec.Struct | None:
        assert self.route_config_type is not None
        return decode_struct(raw, self.route_config_type, path, log)

    def create_config(self, config: Any) -> FilterConfig:
        made = self.make(config)
        if not callable(getattr(made, "create_filter", None)):
            raise TypeError(f"the plugin made {made!r} of its config, which has no create_filter(callbacks)")
        return made


def accept_plugin(loaded: object) -> Plugin[HttpFilterFactory]:
    """The HTTP_FILTERS acceptor: checks a loaded entry point and wraps it."""
    factory = PluginHttpFilter(loaded)
    return Plugin(factory, message_name(factory.type_url), factory.config_type)
