"""Checks that need the whole config: names must be unique and every reference must resolve.

Runs on the typed tree; paths come from the walker, so they stay right even when a bad sibling
was left out of the tree."""

from __future__ import annotations

from collections.abc import Iterable

from pymosn.config import model
from pymosn.config.issues import child, item
from pymosn.config.mirror_rules import check_mirrors
from pymosn.config.rpc_filter_rules import check_rpc_header_changes
from pymosn.config.walker import Walker

XDS_HINT = "; MOSN would wait for it from xDS (dynamic_resources), which pymosn does not implement for MOSN configs"


def check_config(config: model.Config, path: str, walker: Walker, xds: bool = False) -> model.Config:
    """`xds`: the file has MOSN's dynamic_resources, so a missing router config may be one the
    control plane would send."""
    if len(config.servers) > 1:
        walker.log.error(item(child(path, "servers"), 1), "only one server is supported (as in MOSN)")
    clusters = config.cluster_manager.clusters
    _report_duplicates(walker, "cluster", ((c.name, c) for c in clusters))
    _report_duplicates(walker, "listener", ((lst.name, lst) for s in config.servers for lst in s.listeners))
    _report_shared_addresses(walker, [lst for s in config.servers for lst in s.listeners])
    cluster_names = {c.name for c in clusters}
    for server in config.servers:
        _report_duplicates(walker, "router config", ((r.router_config_name, r) for r in server.routers))
        routers = {r.router_config_name: r for r in server.routers}
        for listener in server.listeners:
            _check_router_references(walker, listener, set(routers), XDS_HINT if xds else "")
            _check_tcp_proxy_cluster_references(walker, listener, cluster_names)
            check_rpc_header_changes(walker, listener, routers)
        for router_config in server.routers:
            _check_cluster_references(walker, router_config, cluster_names)
        check_mirrors(walker, server, cluster_names)
    return config


def _report_duplicates(walker: Walker, kind: str, named: Iterable[tuple[str, object]]) -> None:
    first_path: dict[str, str] = {}
    for name, obj in named:
        if not name:
            continue  # reported as empty where it was built
        path = walker.path_of(obj)
        if name in first_path:
            walker.log.error(path, f"duplicate {kind} name {name!r} (first at {first_path[name]})")
        else:
            first_path[name] = path


def _report_shared_addresses(walker: Walker, listeners: list[model.Listener]) -> None:
    first_path: dict[tuple[str, int], str] = {}
    for listener in listeners:
        host, port = listener.address
        if not listener.bind_port or port == 0:
            continue  # port 0 picks a fresh port for each listener; unbound ones share nothing
        path = child(walker.path_of(listener), "address")
        if listener.address in first_path:
            walker.log.error(path, f"{host}:{port} is already used by {first_path[listener.address]}")
        else:
            first_path[listener.address] = path


def _filter_configs(walker: Walker, listener: model.Listener, kind: str, cls: type):
    """(config path, decoded config) of each of the listener's network filters of one kind;
    filters whose config did not decode were already reported with their paths."""
    for chain in listener.filter_chains:
        for network_filter in chain.filters:
            if network_filter.type == kind and isinstance(network_filter.config, cls):
                yield child(walker.path_of(network_filter), "config"), network_filter.config


def _check_tcp_proxy_cluster_references(walker: Walker, listener: model.Listener, cluster_names: set[str]) -> None:
    for config_path, tcp in _filter_configs(walker, listener, "tcp_proxy", model.TcpProxyConfig):
        named = [("cluster", tcp.cluster)] if tcp.cluster else []
        if tcp.weighted_clusters is not None:
            named += [(f"weighted_clusters.clusters[{i}].name", w.name) for i, w in enumerate(tcp.weighted_clusters.clusters)]
        named += [(f"routes[{i}].cluster", r.cluster) for i, r in enumerate(tcp.routes)]
        for where, name in named:
            if name not in cluster_names:
                walker.log.error(f"{config_path}.{where}", f"unknown cluster {name!r}; known: {_listing(cluster_names)}")


def _check_router_references(walker: Walker, listener: model.Listener, router_names: set[str], hint: str) -> None:
    for config_path, proxy in _filter_configs(walker, listener, "proxy", model.ProxyConfig):
        name = proxy.router_config_name
        if name and name not in router_names:
            path = child(config_path, "router_config_name")
            message = f"unknown router config {name!r}; known: {_listing(router_names)}"
            if hint:
                walker.log.error(path, message + hint)
            else:
                # MOSN serves such a listener (its routes may arrive later through its API), so
                # this is not a refusal; every request answers 404 NR until the routes exist.
                walker.log.warning(path, message + "; every request on this listener gets 404 (NR), as in MOSN")


def _check_cluster_references(walker: Walker, router_config: model.RouterConfig, cluster_names: set[str]) -> None:
    for virtual_host in router_config.virtual_hosts:
        for route in virtual_host.routers:
            action = route.route
            if action is None:
                continue
            action_path = walker.path_of(action)
            if action.cluster_name and action.cluster_name not in cluster_names:
                walker.log.error(child(action_path, "cluster_name"),
                                 f"unknown cluster {action.cluster_name!r}; known: {_listing(cluster_names)}")
            for weighted in action.weighted_clusters:
                name = weighted.cluster.name
                if name and name not in cluster_names:
                    walker.log.error(child(walker.path_of(weighted.cluster), "name"),
                                     f"unknown cluster {name!r}; known: {_listing(cluster_names)}")


def _listing(names: set[str]) -> str:
    return ", ".join(sorted(names)) if names else "(none)"
