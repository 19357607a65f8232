"""Which extension a `{name, typed_config}` pair configures.

Envoy picks the extension by the type URL of `typed_config` (`@type`), falling back to the
well-known `name` when there is no typed config; so does this. A TypedStruct (xds or udpa)
carries the real type URL and the config in `type_url` / `value`."""

from __future__ import annotations

from dataclasses import dataclass

from pymosn.config.envoy.api_versions import v2_replacement
from pymosn.config.envoy.message import Message
from pymosn.config.issues import child, type_name

ROUTER_FILTER = "envoy.filters.http.router"
_TYPED_STRUCTS = frozenset({"xds.type.v3.TypedStruct", "udpa.type.v1.TypedStruct"})

# Extension name -> the message its typed_config holds (v3), for the extensions pymosn reads
# or knows by name. Older names Envoy accepted (envoy.router, envoy.tcp_proxy) map to the same.
TYPES = {
    "envoy.filters.network.http_connection_manager":
        "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
    "envoy.filters.network.tcp_proxy": "envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
    "envoy.filters.network.dubbo_proxy": "envoy.extensions.filters.network.dubbo_proxy.v3.DubboProxy",
    "envoy.filters.network.rbac": "envoy.extensions.filters.network.rbac.v3.RBAC",
    "envoy.filters.http.router": "envoy.extensions.filters.http.router.v3.Router",
    "envoy.filters.listener.tls_inspector": "envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector",
    "envoy.filters.listener.original_dst": "envoy.extensions.filters.listener.original_dst.v3.OriginalDst",
    "envoy.transport_sockets.tls": "envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
    "envoy.transport_sockets.raw_buffer": "envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer",
    "envoy.access_loggers.file": "envoy.extensions.access_loggers.file.v3.FileAccessLog",
    "envoy.access_loggers.stdout": "envoy.extensions.access_loggers.stream.v3.StdoutAccessLog",
    "envoy.access_loggers.stderr": "envoy.extensions.access_loggers.stream.v3.StderrAccessLog",
    "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": "envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
}
LEGACY_NAMES = {
    "envoy.http_connection_manager": "envoy.filters.network.http_connection_manager",
    "envoy.tcp_proxy": "envoy.filters.network.tcp_proxy",
    "envoy.router": "envoy.filters.http.router",
    "envoy.listener.tls_inspector": "envoy.filters.listener.tls_inspector",
    "envoy.listener.original_dst": "envoy.filters.listener.original_dst",
    "tls": "envoy.transport_sockets.tls",
    "raw_buffer": "envoy.transport_sockets.raw_buffer",
    "envoy.file_access_log": "envoy.access_loggers.file",
}
_NAME_OF_TYPE = {message: name for name, message in TYPES.items()}
# UpstreamTlsContext is the same transport socket as DownstreamTlsContext
_NAME_OF_TYPE["envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext"] = "envoy.transport_sockets.tls"
_NAME_OF_TYPE["envoy.extensions.access_loggers.stream.v3.StderrAccessLog"] = "envoy.access_loggers.stderr"


@dataclass
class Extension:
    name: str  # the well-known name when known, else the type or the name as written
    type: str  # the config message's full name ("" when there is no typed_config)
    config: dict  # the typed config's fields, without "@type"
    path: str  # where those fields are
    known: bool  # a name or type pymosn recognises
    written_name: str = ""  # the `name` beside it, as written


def extension(m: Message, field: str = "typed_config") -> Extension | None:
    """The extension `m` (a filter, transport socket, access logger...) configures; None after
    an error."""
    name = m.str("name")
    raw = m.raw(field)
    path = m.at(field)
    if m.removed:
        return None  # an untyped v2 config, already reported: what it configures is unknown
    if raw is None:
        canonical = LEGACY_NAMES.get(name, name)
        return Extension(canonical, TYPES.get(canonical, ""), {}, path, canonical in TYPES, name)
    if not isinstance(raw, dict):
        m.error(field, f"expected object, got {type_name(raw)}")
        return None
    url = raw.get("@type")
    if not isinstance(url, str) or not url:
        m.error(field, "needs \"@type\" naming its type, e.g. type.googleapis.com/" + (TYPES.get(name) or "..."))
        return None
    message = url.rsplit("/", 1)[-1]
    config = {k: v for k, v in raw.items() if k != "@type"}
    if message in _TYPED_STRUCTS:
        inner = raw.get("type_url")
        value = raw.get("value", {})
        if not isinstance(inner, str) or not isinstance(value, dict):
            m.error(field, "a TypedStruct needs type_url (str) and value (object)")
            return None
        message, config, path = inner.rsplit("/", 1)[-1], value, child(path, "value")
    v3 = v2_replacement(message)
    if v3 is not None:
        m.error(field, f"{message} is the v2 API; use {v3}")
        return None
    canonical = _NAME_OF_TYPE.get(message)
    return Extension(canonical or message, message, config, path, canonical is not None, name)


def envoy_kind(ext: Extension, category: str) -> str | None:
    """"rbac" for an Envoy filter of `category` ("http", "network", "listener") by its type
    (envoy.extensions.filters.http.rbac.v3.RBAC) or, without one, by its name
    (envoy.filters.http.rbac); None for what is not one of Envoy's filters of that category."""
    for prefix in (f"envoy.extensions.filters.{category}.", f"envoy.filters.{category}."):
        if ext.name.startswith(prefix):
            return ext.name[len(prefix):].split(".")[0]
    return None


def display(ext: Extension) -> str:
    """How messages name an extension, quoted: by what Envoy goes by, its type; as Envoy's
    well-known name for a filter's type, else beside the name the config gave it."""
    label = ext.name if ext.known else ""
    for category in ("http", "network", "listener"):
        kind = envoy_kind(ext, category) if ext.type and not ext.known else None
        if kind is not None:
            label = f"envoy.filters.{category}.{kind}"
    if not label:
        if ext.written_name and ext.type:
            return f"{ext.written_name!r} (type {ext.type})"
        label = ext.type or ext.written_name
    if ext.written_name and ext.written_name != label:
        return f"{label!r} (named {ext.written_name!r})"
    return repr(label)
