"""Choosing a listener's filter chain for a connection, with Envoy's FilterChainMatch rules.

Criteria are looked at one at a time, in Envoy's order: destination port, destination address,
server name (SNI), transport protocol, application protocols (ALPN), source address, source
port. At each step only the chains whose value for that criterion is the most specific one that
matches the connection go on: an exact port beats no port; the longest matching prefix beats a
shorter one, which beats none; an exact server name beats `*.example.com`, which beats `*.com`,
which beats no server names; the first ALPN protocol of the client that some chain lists beats
chains listing none. There is no backtracking: if the most specific chains at one step all fail
a later one, nothing matches (and the listener's default chain, if any, serves).

The chains are compiled into a tree with one level per criterion, so choosing costs a few dict
lookups whatever the number of chains."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Generic, TypeVar

from pymosn.config import model
from pymosn.config.filter_chain_match import ANY, CRITERIA, Network, match_keys, needs_inspection

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ConnectionFacts:
    """What chain selection knows about a connection."""

    destination: tuple[str, int]
    source: tuple[str, int]
    transport: str = "raw_buffer"  # "tls" when the client began with a ClientHello
    server_name: str = ""  # lowercased SNI
    application_protocols: tuple[str, ...] = ()  # ALPN, in the client's order


class _Level:
    """The chains (or deeper levels) by one criterion's keys."""

    __slots__ = ("by_key", "networks")

    def __init__(self) -> None:
        self.by_key: dict = {}
        self.networks: tuple[Network, ...] = ()  # address levels: longest prefix first

    def freeze(self) -> None:
        prefixes = [key for key in self.by_key if key is not ANY]
        if prefixes and isinstance(prefixes[0], ipaddress.IPv4Network | ipaddress.IPv6Network):
            self.networks = tuple(sorted(prefixes, key=lambda n: n.prefixlen, reverse=True))


def _address(host: str):
    try:
        return ipaddress.ip_address(host.partition("%")[0])
    except ValueError:
        return None


def _longest_prefix(level: _Level, host: str):
    if level.networks:
        address = _address(host)
        if address is not None:
            if address.version == 6 and address.ipv4_mapped is not None:
                address = address.ipv4_mapped
            for net in level.networks:
                if address.version == net.version and address in net:
                    return level.by_key[net]
    return level.by_key.get(ANY)


def _server_name(level: _Level, name: str):
    by_key = level.by_key
    if name:
        found = by_key.get(name)
        if found is not None:
            return found
        dot = name.find(".")
        while dot != -1:  # "*.b.example.com", then "*.example.com", then "*.com"
            found = by_key.get("*" + name[dot:])
            if found is not None:
                return found
            dot = name.find(".", dot + 1)
    return by_key.get(ANY)


def _first_protocol(level: _Level, protocols: tuple[str, ...]):
    by_key = level.by_key
    for protocol in protocols:
        found = by_key.get(protocol)
        if found is not None:
            return found
    return by_key.get(ANY)


def _exact(level: _Level, value):
    found = level.by_key.get(value)
    return found if found is not None else level.by_key.get(ANY)


class ChainSelector(Generic[T]):
    """`select(facts)`: the chain serving a connection, or the default chain (maybe None)."""

    def __init__(self, chains: list[tuple[model.FilterChainMatch | None, T]], default: T | None = None) -> None:
        self.default = default
        self.needs_inspection = any(needs_inspection(match) for match, _ in chains)
        self._root = _Level()
        for match, chain in chains:
            self._add(match_keys(match), chain)
        self._freeze(self._root, 0)

    def _add(self, keys: tuple[tuple, ...], chain: T) -> None:
        """Config validation already refused overlapping matches, so a leaf is set once."""
        levels = [self._root]
        for depth, criterion_keys in enumerate(keys):
            last = depth == len(keys) - 1
            next_levels = []
            for level in levels:
                for key in criterion_keys:
                    if last:
                        level.by_key.setdefault(key, chain)
                    else:
                        next_levels.append(level.by_key.setdefault(key, _Level()))
            levels = next_levels

    def _freeze(self, level: _Level, depth: int) -> None:
        level.freeze()
        if depth < len(CRITERIA) - 1:
            for child in level.by_key.values():
                self._freeze(child, depth + 1)

    def select(self, facts: ConnectionFacts) -> T | None:
        level = _exact(self._root, facts.destination[1])
        if level is not None:
            level = _longest_prefix(level, facts.destination[0])
        if level is not None:
            level = _server_name(level, facts.server_name)
        if level is not None:
            level = _exact(level, facts.transport)
        if level is not None:
            level = _first_protocol(level, facts.application_protocols)
        if level is not None:
            level = _longest_prefix(level, facts.source[0])
        if level is not None:
            level = _exact(level, facts.source[1])
        return level if level is not None else self.default
