"""A FilterChainMatch as the keys it matches on, one tuple per criterion in Envoy's order.

Both config validation (two chains must not match the same connections) and the listener's
chain selection (network/chain_match.py) read matches through this one normalization, so
they cannot disagree about what a match means. `ANY` stands for a criterion left empty."""

from __future__ import annotations

import ipaddress
import itertools
from collections.abc import Iterator

from pymosn.config import model

ANY = None

# Envoy's order of criteria (FilterChainMatch docs), minus the ones pymosn does not offer
# (direct_source_prefix_ranges and source_type).
CRITERIA = (
    "destination_port",
    "prefix_ranges",
    "server_names",
    "transport_protocol",
    "application_protocols",
    "source_prefix_ranges",
    "source_ports",
)
# Criteria only a look at the first bytes of the connection can answer.
INSPECTED = frozenset({"server_names", "transport_protocol", "application_protocols"})
TRANSPORT_PROTOCOLS = ("raw_buffer", "tls")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Keys = tuple[tuple, ...]  # one tuple of keys per criterion


def network(cidr: model.CidrPrefix) -> Network:
    """Raises ValueError for a bad address or length (config validation reports it)."""
    return ipaddress.ip_network(f"{cidr.address_prefix}/{cidr.prefix_len}", strict=False)


def match_keys(match: model.FilterChainMatch | None) -> Keys:
    """The keys of each criterion, ANY alone where the criterion is empty."""
    if match is None:
        return tuple((ANY,) for _ in CRITERIA)
    values = (
        (match.destination_port,) if match.destination_port is not None else (),
        tuple(network(c) for c in match.prefix_ranges),
        tuple(name.lower() for name in match.server_names),
        (match.transport_protocol,) if match.transport_protocol else (),
        match.application_protocols,
        tuple(network(c) for c in match.source_prefix_ranges),
        match.source_ports,
    )
    return tuple(tuple(dict.fromkeys(keys)) or (ANY,) for keys in values)


def combinations(keys: Keys) -> Iterator[tuple]:
    """Every combination of one key per criterion: two chains sharing one match the same
    connections, which Envoy refuses."""
    return itertools.product(*keys)


def needs_inspection(match: model.FilterChainMatch | None) -> bool:
    return match is not None and any(getattr(match, name) for name in INSPECTED)
