"""Keys MOSN's config accepts (pkg/config/v2) that pymosn does not implement yet.

They are reported, never silently dropped: usually as a warning (the config still loads and the
key is ignored), but as an error where ignoring the key would make pymosn do something less safe
than what the user asked for: serving plaintext where TLS was configured, or a route matching
more requests than its author intended."""

from __future__ import annotations

from pymosn.config import model
from pymosn.config.issues import IssueLog
from pymosn.config.protocols import check_protocol

IGNORED = "accepted by MOSN but not implemented by pymosn yet; ignored"
LEGACY = "ignored by MOSN too (left over from older MOSN configs); ignored"

# Keys MOSN's current structs no longer have but its own samples still carry; Go's decoder skips
# unknown keys, so MOSN accepts them without effect.
_LEGACY_KEYS: dict[type, frozenset[str]] = {
    model.Listener: frozenset({"log_path", "log_level"}),
}
# Keys only another program reading the same file uses: MOSN on Envoy (cmd/moe) reads named
# stream filter chains at the top level; MOSN itself skips them.
_OTHER_PROGRAMS: dict[tuple[type, str], str] = {
    (model.Config, "stream_filters"): "read only by MOSN on Envoy (MoE), whose filters run inside Envoy; MOSN "
                                      "ignores it too; ignored",
}
# Keys whose absence would make pymosn less strict than the config asks: refused with the reason.
# (A TLS context's own such keys are model fields, refused by the tls_config rule only when the
# context is enabled.)
_REFUSED: dict[tuple[type, str], str] = {
    (model.ClusterManager, "tls_context"): "TLS shared by the clusters that set cluster_manager_tls is not "
                                           "implemented by pymosn yet (give each cluster its own tls_context); "
                                           "refusing to run without the TLS asked for",
}

NOT_IMPLEMENTED: dict[type, frozenset[str]] = {
    model.Config: frozenset({
        "disable_upgrade", "close_graceful", "inherit_old_mosnconfig", "tracing", "metrics",
        "dynamic_resources", "static_resources", "node", "pprof", "pid", "uds_dir", "plugin",
        "third_part_codec", "extends", "wasm_global_plugins", "stream_filters",
    }),
    model.Server: frozenset({"global_log_roller", "use_netpoll_mode", "graceful_timeout", "processor"}),
    model.Listener: frozenset({
        "type", "reuseport", "network",
        "default_read_buffer_size", *_LEGACY_KEYS[model.Listener],
    }),
    model.FilterChain: frozenset({"match"}),
    model.NetworkFilter: frozenset({"go_plugin_config"}),
    model.ProxyConfig: frozenset({
        "name", "router_handler_name", "validate_clusters", "concurrency_num",
    }),
    model.RouterConfig: frozenset({"router_configs"}),
    model.VirtualHost: frozenset({"require_tls"}),
    model.Route: frozenset({"metadata"}),
    model.MirrorPolicy: frozenset({"trace_sampled"}),  # MOSN's own is a TODO
    model.RouteMatch: frozenset({"variables", "dsl_expressions"}),
    model.RouteAction: frozenset({
        "cluster_variable", "upstream_protocol", "hash_policy", "regex_rewrite", "auto_host_rewrite_header",
    }),
    model.ClusterManager: frozenset({"tls_context", "cluster_pool_enable", "clusters_configs"}),
    model.Cluster: frozenset({
        "sub_type", "mark", "spec", "lb_subset_config",
        "cluster_manager_tls", "keepalive", "lbconfig", "dns_refresh_rate",
        "respect_dns_ttl", "dns_lookup_family", "dns_resolvers", "dns_resolver_file",
        "dns_resolver_port", "slow_start", "cluster_pool_enable",
    }),
    model.Host: frozenset({"tls_disable"}),
    model.TLSConfig: frozenset({"fall_back", "ticket", "callbacks"}),
}


def report_not_implemented(owner: type, key: str, value: object, path: str, log: IssueLog) -> None:
    """Report a MOSN key pymosn ignores, with the severity ignoring it deserves."""
    if _is_unset(value):
        return  # an explicit false/empty value asks for nothing pymosn lacks
    if key in _LEGACY_KEYS.get(owner, ()):
        log.warning(path, LEGACY)
        return
    if (owner, key) in _OTHER_PROGRAMS:
        log.warning(path, _OTHER_PROGRAMS[owner, key])
        return
    if (owner, key) in _REFUSED:
        if _enables_tls(value):
            log.error(path, _REFUSED[owner, key])
        else:
            log.warning(path, IGNORED)
        return
    if owner is model.Listener and key == "network":
        if not (isinstance(value, str) and value.lower() == "tcp"):
            log.error(path, f"network {value!r} is not implemented by pymosn yet; known: tcp")
        return
    if owner is model.VirtualHost and key == "require_tls":
        _require_tls(value, path, log)
        return
    if owner is model.RouteMatch:
        log.error(path, "not implemented by pymosn yet; ignoring it would make the route match more requests")
        return
    if owner is model.RouteAction and key == "upstream_protocol":
        if check_protocol(value, path, log, direction="upstream") is not None:
            # a route cannot switch the listener's protocol
            log.warning(path, f"{IGNORED}: the proxy filter's (or the cluster's) upstream protocol is used")
        return
    log.warning(path, IGNORED)


def _require_tls(value: object, path: str, log: IssueLog) -> None:
    """Envoy's virtual host field (NONE | EXTERNAL_ONLY | ALL: plaintext requests are redirected to
    https), which MOSN carries but does not enforce ("not used yet" in pkg/config/v2/route.go)."""
    if isinstance(value, str) and value.upper() == "NONE":
        return
    log.error(path, f"require_tls {value!r} is not implemented by pymosn (MOSN does not enforce it either); refusing "
                    "to serve plaintext requests it requires TLS for")


def _is_unset(value: object) -> bool:
    return value is None or value is False or value == "" or value == {} or value == []


def _enables_tls(value: object) -> bool:
    contexts = value if isinstance(value, list) else [value]
    return any(isinstance(context, dict) and context.get("status") is True for context in contexts)
