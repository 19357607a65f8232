"""Tells MOSN's config format from an Envoy v3 bootstrap by the top-level keys.

Both have `admin`, and Envoy has a `cluster_manager` too, so only keys one format alone uses
decide. MOSN itself reads `static_resources`/`dynamic_resources`/`node` next to `servers` (its
xDS mode), so `servers` wins; without it those keys mean an Envoy bootstrap."""

from __future__ import annotations

import enum
import re

MOSN_ONLY_KEYS = frozenset({
    "servers", "pprof", "disable_upgrade", "close_graceful", "inherit_old_mosnconfig", "uds_dir", "plugin",
    "third_part_codec", "extends", "wasm_global_plugins", "pid",
})
ENVOY_ONLY_KEYS = frozenset({
    "static_resources", "dynamic_resources", "node", "layered_runtime", "overload_manager", "stats_sinks",
    "stats_config", "stats_flush_interval", "watchdog", "watchdogs", "hds_config", "flags_path",
    "bootstrap_extensions", "fatal_actions", "node_context_params", "default_socket_interface",
    "typed_dns_resolver_config",
    "listeners",  # Envoy's v1 API: the Envoy translator names it as such
    "configs", "bootstrap",  # Envoy admin dumps, which the Envoy translator names as such
})


_CAMEL_HUMP = re.compile(r"[A-Z]")


class ConfigFormat(enum.Enum):
    MOSN = "mosn"
    ENVOY_V3 = "envoy_v3"


def detect_format(raw: dict) -> ConfigFormat:
    # protobuf's JSON names are lowerCamelCase ("staticResources"), and Envoy accepts them too
    keys = set(raw) | {_CAMEL_HUMP.sub(lambda m: "_" + m.group(0).lower(), key) for key in raw if isinstance(key, str)}
    if keys & MOSN_ONLY_KEYS:
        return ConfigFormat.MOSN
    if keys & ENVOY_ONLY_KEYS:
        return ConfigFormat.ENVOY_V3
    return ConfigFormat.MOSN  # unknown keys are then reported against MOSN's schema
