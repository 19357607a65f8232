"""MOSN's JSON spellings that differ from the model's shape, converted field by field.

Each adapter also takes the form `config_to_builtins` writes (a [host, port] list, a number of
seconds, {"thresholds": [...]}) so a dumped config loads back unchanged."""

from __future__ import annotations

from typing import Any

import msgspec

from pymosn.config import model
from pymosn.config.address import parse_host_port
from pymosn.config.duration import parse_duration
from pymosn.config.issues import INVALID, item, type_name
from pymosn.config.mirror_rules import mirror_policies
from pymosn.config.walker import Prepare, Walker, WireForm


def _address(value: Any, path: str, walker: Walker) -> Any:
    try:
        return parse_host_port(value)
    except ValueError as error:
        walker.log.error(path, str(error))
        return INVALID


def _duration(value: Any, path: str, walker: Walker) -> Any:
    try:
        return parse_duration(value)
    except ValueError as error:
        walker.log.error(path, str(error))
        return INVALID


def _circuit_breakers(value: Any, path: str, walker: Walker) -> Any:
    """MOSN writes the thresholds list itself where the model has a struct holding it."""
    if isinstance(value, dict):
        return walker.struct(value, model.CircuitBreakers, path)
    if not isinstance(value, list):
        walker.log.error(path, f"expected list of thresholds, got {type_name(value)}")
        return INVALID
    converted = (walker.struct(threshold, model.Thresholds, item(path, i)) for i, threshold in enumerate(value))
    return model.CircuitBreakers(thresholds=tuple(t for t in converted if t is not INVALID))


def _metadata(value: Any, path: str, walker: Walker) -> Any:
    """MOSN nests LB metadata as {"filter_metadata": {"mosn.lb": {...}}}; the model keeps the inner map."""
    if not isinstance(value, dict):
        walker.log.error(path, f"expected object, got {type_name(value)}")
        return INVALID
    if set(value) == {"filter_metadata"} and isinstance(value["filter_metadata"], dict):
        inner = value["filter_metadata"].get("mosn.lb", {})
        if not isinstance(inner, dict):
            walker.log.error(f"{path}.filter_metadata['mosn.lb']", f"expected object, got {type_name(inner)}")
            return INVALID
        return inner
    return value


_DURATION_FIELDS = (
    (model.RouteAction, "timeout"),
    (model.RetryPolicy, "retry_timeout"),
    (model.Cluster, "connect_timeout"),
    (model.Cluster, "idle_timeout"),
    (model.Listener, "connection_idle_timeout"),
    (model.Listener, "listener_filters_timeout"),
    (model.ProxyConfig, "stream_idle_timeout"),
    (model.TcpProxyConfig, "idle_timeout"),
    (model.TLSConfig, "handshake_timeout"),
    (model.HealthCheck, "timeout"),
    (model.HealthCheck, "interval"),
    (model.HealthCheck, "interval_jitter"),
)

def _original_dst_mode(value: Any, path: str, walker: Walker) -> Any:
    """Older MOSN and Istio write use_original_dst as a boolean: true means "redirect"."""
    if value is True:
        return "redirect"
    if value is False:
        return ""
    return value


def _extension_config(value: Any, path: str, walker: Walker) -> Any:
    """An extension's config as written: decoded by the rule that knows the extension's type."""
    if isinstance(value, dict | msgspec.Struct):
        return value
    walker.log.error(path, f"expected object, got {type_name(value)}")
    return INVALID


WIRE_FORMS: dict[tuple[type, str], WireForm] = {
    (model.NetworkFilter, "config"): _extension_config,
    (model.ListenerFilter, "config"): _extension_config,
    (model.AccessLog, "config"): _extension_config,
    (model.StreamFilter, "config"): _extension_config,
    (model.RouteFilterConfig, "config"): _extension_config,
    (model.Listener, "use_original_dst"): _original_dst_mode,
    (model.Listener, "address"): _address,
    (model.Host, "address"): _address,
    (model.Cluster, "circuit_breakers"): _circuit_breakers,
    (model.Host, "metadata"): _metadata,
    (model.ClusterWeight, "metadata_match"): _metadata,
    (model.RouteAction, "metadata_match"): _metadata,
    (model.Route, "request_mirror_policies"): mirror_policies,
    **{field: _duration for field in _DURATION_FIELDS},
}


def _listener_name_from_address(raw: dict) -> dict:
    """MOSN names a listener without a name after its address (server/handler.go)."""
    if not any(key.casefold() == "name" for key in raw if isinstance(key, str)) and isinstance(
            raw.get("address"), str):
        return {**raw, "name": raw["address"]}
    return raw


PREPARE: dict[type, Prepare] = {model.Listener: _listener_name_from_address}
