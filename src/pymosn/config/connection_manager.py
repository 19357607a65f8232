"""MOSN's deprecated `connection_manager` network filter: a router config written inside a
listener's filter chain.

MOSN still reads it (pkg/mosn/mosn.go, configmanager.ParseRouterConfiguration): the filter's
config is a router config, added to the routers when it has a router_config_name, before the
server's own `routers`, which replace one of the same name; the filter itself does nothing on
the connection. pymosn does the same: the router config joins the server's routers (its issues
keep the paths they have in the file), the filter leaves the chain, and a warning says so."""

from __future__ import annotations

import msgspec

from pymosn.config import model
from pymosn.config.issues import INVALID, child
from pymosn.config.walker import Walker

CONNECTION_MANAGER = "connection_manager"
_DEPRECATED = "network filter 'connection_manager' is deprecated in MOSN"


def lift_connection_managers(obj: model.Server, path: str, walker: Walker) -> model.Server:
    own = {r.router_config_name: walker.path_of(r) for r in obj.routers}
    lifted: dict[str, model.RouterConfig] = {}
    listeners = tuple(_lift_from_listener(listener, walker, own, lifted) for listener in obj.listeners)
    if all(new is old for new, old in zip(listeners, obj.listeners, strict=True)):
        return obj
    return msgspec.structs.replace(obj, listeners=listeners, routers=(*obj.routers, *lifted.values()))


def _lift_from_listener(listener: model.Listener, walker: Walker, own: dict[str, str],
                        lifted: dict[str, model.RouterConfig]) -> model.Listener:
    chains = tuple(_lift_from_chain(chain, walker, own, lifted) for chain in listener.filter_chains)
    default = listener.default_filter_chain
    if default is not None:
        default = _lift_from_chain(default, walker, own, lifted)
    if default is listener.default_filter_chain and all(
            new is old for new, old in zip(chains, listener.filter_chains, strict=True)):
        return listener
    return walker.replaced(listener, msgspec.structs.replace(listener, filter_chains=chains,
                                                             default_filter_chain=default))


def _lift_from_chain(chain: model.FilterChain, walker: Walker, own: dict[str, str],
                     lifted: dict[str, model.RouterConfig]) -> model.FilterChain:
    if all(f.type != CONNECTION_MANAGER for f in chain.filters):
        return chain
    for network_filter in chain.filters:
        if network_filter.type == CONNECTION_MANAGER:
            _lift(network_filter, walker, own, lifted)
    kept = tuple(f for f in chain.filters if f.type != CONNECTION_MANAGER)
    return walker.replaced(chain, msgspec.structs.replace(chain, filters=kept))


def _lift(network_filter: model.NetworkFilter, walker: Walker, own: dict[str, str],
          lifted: dict[str, model.RouterConfig]) -> None:
    path = walker.path_of(network_filter)
    config = network_filter.config
    # Go's decoder, which MOSN uses, matches keys case-insensitively
    name = next((v for k, v in config.items() if isinstance(k, str) and k.casefold() == "router_config_name"), "")
    if not name:
        walker.log.warning(path, f"{_DEPRECATED}; without a router_config_name it does nothing (as in MOSN); ignored")
        return
    if name in own:
        walker.log.warning(path, f"{_DEPRECATED}; its router config {name!r} is replaced by {own[name]} (as in MOSN)")
        return
    router = walker.struct(config, model.RouterConfig, child(path, "config"))
    if router is INVALID:
        return
    if name in lifted:
        walker.log.warning(path, f"{_DEPRECATED}; its router config {name!r} replaces the one at "
                                 f"{walker.path_of(lifted[name])} (as in MOSN)")
    else:
        walker.log.warning(path, f"{_DEPRECATED}; its router config {name!r} is served as if it were in the "
                                 "server's routers (move it there)")
    lifted[name] = router
