"""Type names of Envoy's v2 API (removed in Envoy 1.17) and the v3 messages that replaced them,
so a config written for v2 is told what it is rather than that its extension is unknown."""

from __future__ import annotations

import re

# (v2 pattern, v3 replacement) in the shapes Envoy's v2 -> v3 move followed
_MOVES = (
    (re.compile(r"envoy\.config\.filter\.(network|http|listener|udp)\.(\w+)\.v2(?:alpha\d*)?\.(\w+)"),
     r"envoy.extensions.filters.\1.\2.v3.\3"),
    (re.compile(r"envoy\.api\.v2\.auth\.(Downstream|Upstream)TlsContext"),
     r"envoy.extensions.transport_sockets.tls.v3.\1TlsContext"),
    (re.compile(r"envoy\.config\.transport_socket\.(\w+)\.v2(?:alpha\d*)?\.(\w+)"),
     r"envoy.extensions.transport_sockets.\1.v3.\2"),
    (re.compile(r"envoy\.config\.resource_monitor\.(\w+)\.v2(?:alpha\d*)?\.(\w+)"),
     r"envoy.extensions.resource_monitors.\1.v3.\2"),
    (re.compile(r"envoy\.config\.accesslog\.v2\.FileAccessLog"), "envoy.extensions.access_loggers.file.v3.FileAccessLog"),
    (re.compile(r"envoy\.config\.trace\.v2\.(\w+)"), r"envoy.config.trace.v3.\1"),
    (re.compile(r"envoy\.api\.v2\.Cluster"), "envoy.config.cluster.v3.Cluster"),
    (re.compile(r"envoy\.api\.v2\.Listener"), "envoy.config.listener.v3.Listener"),
    (re.compile(r"envoy\.api\.v2\.RouteConfiguration"), "envoy.config.route.v3.RouteConfiguration"),
    (re.compile(r"envoy\.api\.v2\.ClusterLoadAssignment"), "envoy.config.endpoint.v3.ClusterLoadAssignment"),
)
_V2 = re.compile(r"envoy\.(api\.v2|config\.filter)\.|envoy\.config\.[\w.]+\.v2(alpha\d*|beta\d*)?\.")


def v2_replacement(message: str) -> str | None:
    """What v3 calls the v2 message `message`: its full name, or a hint when there is no one
    name for it; None if `message` is not from the v2 API."""
    if not _V2.match(message):
        return None
    for pattern, replacement in _MOVES:
        if pattern.fullmatch(message):
            return pattern.sub(replacement, message)
    return "its v3 message (envoy.config.*.v3 or envoy.extensions.*.v3)"
