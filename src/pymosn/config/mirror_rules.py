"""Request mirroring in the config: MOSN's route `request_mirror_policies` and `mirror` stream
filter, checked with paths.

MOSN copies requests only where both meet: a route's policy says to which cluster and what share,
and the listener's `mirror` stream filter (pkg/filter/stream/mirror) does the copying, with
`amplification` copies of each sampled request. A route policy on a listener without the filter
copies nothing, in MOSN and here. Envoy's router mirrors wherever a route says so; its
translation gives the filter to each proxy filter (HCM) whose routes mirror, among the proxy
filter's own stream filters (config/envoy/mirror_policy.py)."""

from __future__ import annotations

from typing import Any

from pymosn.config import model
from pymosn.config.issues import INVALID, child, item, type_name
from pymosn.config.protocols import is_rpc
from pymosn.config.walker import Walker

FILTER_NAME = "mirror"  # MOSN's registered name (v2.Mirror)
DENOMINATORS = (100, 10_000, 1_000_000)  # Envoy's FractionalPercent HUNDRED, TEN_THOUSAND, MILLION
_FILTER_KEYS = ("amplification", "broadcast")


def mirror_policies(value: Any, path: str, walker: Walker) -> Any:
    """MOSN writes one policy object; the model (and what it dumps) holds a list."""
    if isinstance(value, dict):
        policy = walker.struct(value, model.MirrorPolicy, path)
        return INVALID if policy is INVALID else (policy,)
    return walker.convert(value, tuple[model.MirrorPolicy, ...], path)


def mirror_policy(obj: model.MirrorPolicy, path: str, walker: Walker) -> model.MirrorPolicy:
    # As Envoy's validateMirrorClusterSpecifier: one of the two, never both.
    if bool(obj.cluster) == bool(obj.cluster_header):
        walker.log.error(path, "a mirror policy needs exactly one of cluster, cluster_header")
    if obj.denominator not in DENOMINATORS:
        walker.log.error(child(path, "denominator"),
                         f"must be one of {', '.join(map(str, DENOMINATORS))}, got {obj.denominator}")
    return obj


def route_mirrors(obj: model.Route, path: str, walker: Walker) -> model.Route:
    if obj.request_mirror_policies and obj.route is None:
        walker.log.warning(child(path, "request_mirror_policies"),
                           "only a route to a cluster forwards requests to copy; ignored")
    return obj


def mirror_filter(obj: model.StreamFilter, path: str, walker: Walker) -> None:
    """MOSN's `mirror` stream filter config: {amplification: copies per sampled request (1),
    broadcast: a copy to every healthy host of the mirror cluster and a 200 made up from the
    request instead of the primary's response}."""
    config = obj.config
    config_path = child(path, "config")
    for key in config:
        if key not in _FILTER_KEYS:
            walker.log.error(child(config_path, str(key)), f"unknown field {key!r}; known: {', '.join(_FILTER_KEYS)}")
    amplification = config.get("amplification", 1)
    if not _whole_number(amplification) or amplification < 1:
        walker.log.error(child(config_path, "amplification"),
                         f"must be a whole number >= 1 (copies of each sampled request), got {amplification!r}")
    broadcast = config.get("broadcast", False)
    if not isinstance(broadcast, bool):
        walker.log.error(child(config_path, "broadcast"), f"expected bool, got {type_name(broadcast)}")
    elif broadcast:
        walker.log.error(child(config_path, "broadcast"),
                         "not implemented by pymosn yet; ignoring it would forward requests MOSN answers itself "
                         "(with a 200 made up from the request) after copying them to every mirror host")


def mirror_copies(stream_filters: tuple[model.StreamFilter, ...]) -> int:
    """Copies of each sampled request a listener with these stream filters sends (its mirror
    filter's amplification); 0 without the filter: its routes' mirror policies copy nothing."""
    for stream_filter in stream_filters:
        if stream_filter.type == FILTER_NAME:
            return int(stream_filter.config.get("amplification", 1))
    return 0


def check_mirrors(walker: Walker, server: model.Server, cluster_names: set[str]) -> None:
    """Every mirror cluster exists (as Envoy's validate_clusters checks shadow clusters); a policy
    no listener applies, or a filter on an RPC listener, is told."""
    mirroring = set()
    for listener in server.listeners:
        for chain in (*listener.filter_chains, listener.default_filter_chain):
            for network_filter in chain.filters if chain is not None else ():
                proxy = network_filter.config
                if network_filter.type != "proxy" or not isinstance(proxy, model.ProxyConfig):
                    continue
                # a proxy filter's own stream filters (an Envoy HCM's), else its listener's
                owner = proxy if proxy.stream_filters else listener
                if not mirror_copies(owner.stream_filters):
                    continue
                mirroring.add(proxy.router_config_name)
                if is_rpc(proxy.downstream_protocol):
                    walker.log.warning(_filter_path(walker, owner),
                                       f"{proxy.downstream_protocol} requests are not mirrored by pymosn yet "
                                       "(HTTP requests are); ignored for them")
    for router_config in server.routers:
        for virtual_host in router_config.virtual_hosts:
            for route in virtual_host.routers:
                if not route.request_mirror_policies:
                    continue
                policies_path = child(walker.path_of(route), "request_mirror_policies")
                if router_config.router_config_name not in mirroring:
                    walker.log.warning(policies_path, f"no listener routing by {router_config.router_config_name!r} "
                                                      "has the mirror stream filter, which does the copying (as in "
                                                      "MOSN); no requests are copied")
                for policy in route.request_mirror_policies:
                    if policy.cluster and policy.cluster not in cluster_names:
                        known = ", ".join(sorted(cluster_names)) or "(none)"
                        walker.log.error(child(walker.path_of(policy), "cluster"),
                                         f"unknown cluster {policy.cluster!r}; known: {known}")


def _filter_path(walker: Walker, owner: model.Listener | model.ProxyConfig) -> str:
    index = next(i for i, f in enumerate(owner.stream_filters) if f.type == FILTER_NAME)
    return item(child(walker.path_of(owner), "stream_filters"), index)


def _whole_number(value: object) -> bool:
    # MOSN reads the JSON number as a float64 and keeps its integer part
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and value.is_integer())
