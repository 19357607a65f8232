"""Rules for the entries that name an extension (network filters, listener filters, access-log
sinks): the name must be registered (config/registries.py), and the entry's config is decoded
once, here, into the extension's config Struct, so errors carry their paths and the extension's
factory gets the typed value."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import msgspec

from pymosn.api.registry import Declaration
from pymosn.config import model
from pymosn.config.connection_manager import CONNECTION_MANAGER
from pymosn.config.issues import INVALID, IssueLog, child
from pymosn.config.mosn_filters import other_listener_filter
from pymosn.config.registries import ACCESS_LOG_SINKS, FILE_SINK, LISTENER_FILTERS, NETWORK_FILTERS
from pymosn.config.walker import Walker

# MOSN's network filters pymosn does not register (yet); the registered ones come from NETWORK_FILTERS
MOSN_NETWORK_FILTERS = frozenset({"udp_proxy", "fault_inject", "grpc", "tunnel"})

Entry = TypeVar("Entry", model.NetworkFilter, model.ListenerFilter, model.AccessLog)
# (raw config, its path, the issue log) -> the config Struct, or None after errors
Reader = Callable[[Any, str, IssueLog], "msgspec.Struct | None"]


def listener_filter(obj: model.ListenerFilter, path: str, walker: Walker) -> model.ListenerFilter:
    """Decode a built-in listener filter's config into its registered Struct. The listener runs
    these itself; there is no listener-filter API a plugin could implement yet."""
    declaration = LISTENER_FILTERS.find(obj.type)
    if declaration is None:
        other_listener_filter(walker, obj.type, path)
        return obj
    if not declaration.builtin:
        walker.log.error(path, f"listener filter {obj.type!r} is a plugin, and pymosn's listeners run only their "
                               "built-in filters; refusing to run without it, as it may refuse connections")
        return obj
    return _decoded_config(obj, LISTENER_FILTERS.kind, declaration, path, walker)


def _decoded_config(obj: Entry, kind: str, declaration: Declaration, path: str, walker: Walker,
                    reader: Reader | None = None) -> Entry:
    """`obj` (a filter entry) with its config decoded into the declared Struct, once: by the
    extension's own `reader` when it has one (a config the Struct's shape cannot check, such
    as RBAC rules), else field by field against the Struct."""
    if declaration.config_type is None:
        if obj.config:
            walker.log.error(child(path, "config"), f"{kind} {declaration.name!r} takes no config")
        return obj
    raw = obj.config
    if isinstance(raw, msgspec.Struct):  # already decoded (a config built in code)
        raw = msgspec.to_builtins(raw)
    if reader is not None:
        decoded = reader(raw, child(path, "config"), walker.log)
        return obj if decoded is None else msgspec.structs.replace(obj, config=decoded)
    decoded = walker.struct(raw, declaration.config_type, child(path, "config"))
    if decoded is INVALID:
        return obj
    return msgspec.structs.replace(obj, config=decoded)


def network_filter(obj: model.NetworkFilter, path: str, walker: Walker) -> model.NetworkFilter:
    """Decode a filter's config now, once, into its registered Struct type, so its errors carry
    their full paths and the filter's factory gets the typed config."""
    if obj.type == CONNECTION_MANAGER:
        return obj  # its routes are lifted by the server's rule
    declaration = NETWORK_FILTERS.find(obj.type)
    if declaration is None:
        known = ", ".join(sorted(NETWORK_FILTERS.names()))
        if obj.type in MOSN_NETWORK_FILTERS:
            message = f"network filter {obj.type!r} is not implemented by pymosn yet; known: {known}"
        else:
            message = f"unknown network filter {obj.type!r}; known: {known}"
        walker.log.error(child(path, "type"), message)
        return obj
    # a filter kind whose config the Struct's fields cannot check has its own reader: `decode`
    reader = getattr(NETWORK_FILTERS.factories().get(declaration.name), "decode", None)
    return _decoded_config(obj, NETWORK_FILTERS.kind, declaration, path, walker, reader)


def access_log(obj: model.AccessLog, path: str, walker: Walker) -> model.AccessLog:
    """MOSN's access logs write to a file (or stdout/stderr); `sink` names another registered sink."""
    declaration = ACCESS_LOG_SINKS.find(obj.sink)
    if declaration is None:
        known = ", ".join(ACCESS_LOG_SINKS.names())
        walker.log.error(child(path, "sink"), f"unknown access log sink {obj.sink!r}; known: {known}")
        return obj
    if declaration.name == FILE_SINK and not obj.log_path:
        return obj  # MOSN writes nothing for an access log without a path
    return _decoded_config(obj, ACCESS_LOG_SINKS.kind, declaration, path, walker)
