"""The Bootstrap's process-wide fields beside static_resources and admin: validated as Envoy
validates them, refused where ignoring them would drop a limit or the resources a management
server sends, warned about (by `Message.finish`) where ignoring them only loses a feature."""

from __future__ import annotations

from pymosn.config.envoy import schemas as s
from pymosn.config.envoy.extensions import extension
from pymosn.config.envoy.message import Message

STATS_FLUSH_INTERVAL = 5.0  # Envoy's default, in seconds
# The overload manager's resource monitor that is a limit by itself, without any action
_CONNECTION_LIMIT_MONITOR = "envoy.resource_monitors.global_downstream_max_connections"
_CONNECTION_LIMIT_TYPE = "envoy.extensions.resource_monitors.downstream_connections.v3.DownstreamConnectionsConfig"
# Runtime keys that set connection limits (the first is the monitor's older spelling)
_GLOBAL_LIMIT_KEY = "overload.global_downstream_max_connections"
_LISTENER_LIMIT_KEY = ("envoy.resource_limits.listener.", ".connection_limit")  # around a listener's name
_XDS_SOURCES = ("ads_config", "lds_config", "cds_config", "lds_resources_locator", "cds_resources_locator")


def process_wide_fields(m: Message, listener_names: set[str]) -> None:
    """`listener_names`: the static listeners' names, which runtime keys can set limits for."""
    _stats_flush(m)
    overload = m.message("overload_manager", s.OVERLOAD_MANAGER)
    if overload is not None:
        _overload_manager(overload)
    runtime = m.message("layered_runtime", s.LAYERED_RUNTIME)
    if runtime is not None:
        _layered_runtime(runtime, listener_names)
    manager = m.message("cluster_manager", s.CLUSTER_MANAGER)
    if manager is not None:
        manager.finish()
    # the node only names this proxy to a management server
    m.ignore("node")


def _stats_flush(m: Message) -> None:
    """When Envoy flushes stats to its sinks; pymosn has none (stats_sinks warns), so this only
    has to be valid, as Envoy checks it."""
    interval = m.duration("stats_flush_interval")
    if interval is not None and not 0.001 <= interval < 300:
        m.error("stats_flush_interval", f"must be at least 1ms and less than 300s, got {m.raw('stats_flush_interval')!r}")
    on_admin = m.raw("stats_flush_on_admin")
    if on_admin is not None and on_admin is not True:
        # a oneof member whose only allowed value is true: false is set, and wrong
        m.error("stats_flush_on_admin", f"must be true when set (leave it out to flush every stats_flush_interval), "
                                        f"got {on_admin!r}")
    elif on_admin is True and interval is not None:
        m.error(None, "set only one of stats_flush_interval, stats_flush_on_admin")
    eviction = m.duration("stats_eviction_interval")
    if eviction is None:
        return
    flush_ms = round((interval or STATS_FLUSH_INTERVAL) * 1000)
    if eviction < 0.001:
        m.error("stats_eviction_interval", f"must be at least 1ms, got {m.raw('stats_eviction_interval')!r}")
    elif flush_ms and round(eviction * 1000) % flush_ms:
        m.error("stats_eviction_interval", f"must be a multiple of stats_flush_interval ({flush_ms / 1000:g}s"
                                           f"{'' if interval is not None else ', its default'})")


def dynamic_resources(m: Message) -> None:
    """Refused first: an xDS client's bootstrap is refused for that above all."""
    raw = m.raw("dynamic_resources")
    if not m.has("dynamic_resources"):
        return
    sources = [k for k in _XDS_SOURCES if isinstance(raw, dict) and raw.get(k)] or ["dynamic_resources"]
    m.error("dynamic_resources", f"not implemented by pymosn yet: xDS dynamic_resources ({', '.join(sources)}); "
                                 "pymosn serves static_resources only, so it would serve none of what the "
                                 "management server sends")


def _overload_manager(m: Message) -> None:
    for monitor in m.messages("resource_monitors", s.RESOURCE_MONITOR):
        ext = extension(monitor)
        if ext is None:
            pass  # reported
        elif ext.type == _CONNECTION_LIMIT_TYPE or _CONNECTION_LIMIT_MONITOR in (ext.written_name, ext.name):
            monitor.error(None, f"{_CONNECTION_LIMIT_MONITOR} is not implemented by pymosn yet; refusing to run "
                                "without the connection limit it sets")
        else:
            # a monitor acts only through actions, which are refused
            monitor.warn(None, "overload resource monitors are not implemented by pymosn yet; ignored")
        monitor.finish()
    m.finish()  # actions and loadshed_points are refused by the schema


def _layered_runtime(m: Message, listener_names: set[str]) -> None:
    limited = {f"{_LISTENER_LIMIT_KEY[0]}{name}{_LISTENER_LIMIT_KEY[1]}" for name in listener_names}
    for layer in m.messages("layers", s.RUNTIME_LAYER):
        static = layer.map("static_layer")
        # a listener's limit applies only if the bootstrap has a listener of that name
        limits = [key for key in _flat_keys(static) if key == _GLOBAL_LIMIT_KEY or key in limited]
        for key in limits:
            layer.error("static_layer", f"runtime key {key!r} sets a connection limit, which is not implemented by "
                                        "pymosn yet; refusing to run without it")
        if static and len(limits) < len(_flat_keys(static)):
            layer.warn("static_layer", "runtime overrides of Envoy's behaviour are not implemented by pymosn yet; "
                                       "ignored")
        layer.finish()
    m.finish()


def _flat_keys(layer: dict, prefix: str = "") -> list[str]:
    """A static layer's keys, nested objects read as dotted keys (as Envoy's runtime reads them)."""
    keys = []
    for key, value in layer.items():
        name = f"{prefix}{key}"
        keys += _flat_keys(value, name + ".") if isinstance(value, dict) else [name]
    return keys
