"""An RPC listener's stream filters against what its protocol can carry.

Filters change an RPC frame's header map, which the codec re-encodes before the frame goes on
(docs/design/xprotocol.md, "Stream filters"). Not every protocol has a header map on both
sides: a Dubbo response has none. A filter config that would change headers the listener's
codec cannot carry (header_mutation's response rules, the local rate limit's x-ratelimit
headers, on a Dubbo listener) would have every such message answered 500 FF at run time, so it
is refused at load, at the field asking for it, for the listener's (or its proxy filter's)
stream filters and for the per-route configs of their kinds in the proxy's route table.

What a filter kind changes is its factory's `header_changes` (config/http_filters.py); what a
codec carries is its `rewritable_headers`, learnt through `protocols.set_rpc_header_rewrites`.
An `Auto` listener's protocol is each connection's own, so it is not checked here: a change a
detected codec cannot carry is still refused per response (500 FF, `rpc_headers_not_encodable`),
as a user filter's undeclared change is."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pymosn.api.headers import HeaderSide
from pymosn.config import model
from pymosn.config.http_filters import header_changes
from pymosn.config.issues import child
from pymosn.config.protocols import is_rpc, rpc_header_rewrites
from pymosn.config.registries import HTTP_FILTERS
from pymosn.config.walker import Walker

_SIDE_NAMES = {HeaderSide.REQUEST: "request", HeaderSide.RESPONSE: "response"}


def check_rpc_header_changes(walker: Walker, listener: model.Listener,
                             routers: dict[str, model.RouterConfig]) -> None:
    chains = [*listener.filter_chains, *filter(None, [listener.default_filter_chain])]
    for chain in chains:
        for network_filter in chain.filters:
            proxy = network_filter.config
            if not isinstance(proxy, model.ProxyConfig) or not is_rpc(proxy.downstream_protocol):
                continue
            carried = rpc_header_rewrites(proxy.downstream_protocol)
            if carried is None:
                continue  # no such codec: reported where it is named
            protocol_path = child(child(walker.path_of(network_filter), "config"), "downstream_protocol")
            kinds: set[str] = set()
            for stream_filter in proxy.stream_filters or listener.stream_filters:
                declaration = HTTP_FILTERS.find(stream_filter.type)
                if declaration is None:
                    continue  # not run by the proxy (reported when read, if it matters)
                kinds.add(declaration.name)
                _check(walker, declaration.name, stream_filter.config, child(walker.path_of(stream_filter), "config"),
                       proxy.downstream_protocol, carried, protocol_path)
            router = routers.get(proxy.router_config_name)
            if router is not None and kinds:
                for level in _levels(router):
                    for name, entry in level.filter_configs.items():
                        if entry.type in kinds and entry.config is not None:
                            fallback = child(child(walker.path_of(level), "filter_configs"), name)
                            _check(walker, entry.type, entry.config, _path_or(walker, entry.config, fallback),
                                   proxy.downstream_protocol, carried, protocol_path)


def _check(walker: Walker, kind: str, config: Any, path: str, protocol: str, carried: HeaderSide,
           protocol_path: str) -> None:
    factory = HTTP_FILTERS.factory(kind)
    if isinstance(config, dict):
        return  # it did not decode: reported where it was read
    for side, field in header_changes(factory, config):
        if side & ~carried:
            name = _SIDE_NAMES.get(side, str(side))
            walker.log.error(child(path, field), (
                f"{kind} changes {name} headers, which {protocol} {name}s cannot carry (the {protocol} codec "
                f"cannot rewrite a {name}'s header map; the listener's downstream_protocol is at {protocol_path}): "
                f"every {name} it changed would be answered 500 FF"))


def _levels(router: model.RouterConfig) -> Iterator[model.RouterConfig | model.VirtualHost | model.Route]:
    yield router
    for virtual_host in router.virtual_hosts:
        yield virtual_host
        yield from virtual_host.routers


def _path_or(walker: Walker, obj: Any, fallback: str) -> str:
    try:
        return walker.path_of(obj)
    except KeyError:  # built in code rather than read
        return fallback
