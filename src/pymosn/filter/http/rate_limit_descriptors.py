"""Rate-limit policies (config.rate_limits) compiled once into what makes a request's
descriptors: each policy's actions in order, each adding one (key, value) entry; a policy
whose action cannot make its entry makes no descriptor for that request (Envoy's
RateLimitPolicyEntry).

Values as Envoy makes them: request_headers takes the header's first value; remote_address
the connection's peer address (pymosn does not rewrite it from x-forwarded-for);
masked_remote_address that address's network ("10.1.2.0/24"); destination_cluster the
route's fixed cluster (a route that picks its cluster per request makes no descriptor);
query_parameters the first value of the decoded parameter."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qs

from pymosn.api.connection import ConnectionInfo
from pymosn.api.headers import RequestHeaderMap
from pymosn.config import rate_limits as rl
from pymosn.filter.http.header_match import EXACT, PRESENT, REGEX, CompiledMatch, HeaderMatch, all_match

Descriptor = tuple[tuple[str, str], ...]


def header_match(m: rl.ActionHeader) -> HeaderMatch:
    """A route HeaderMatcher (what the config readers make of Envoy's) as a filter condition."""
    name = m.name.lower()
    if m.present_match is not None:
        return HeaderMatch(name, PRESENT, "1" if m.present_match else "", m.invert_match)
    if m.regex:
        return HeaderMatch(name, REGEX, m.value, m.invert_match)
    if not m.value:
        return HeaderMatch(name, PRESENT, "1", m.invert_match)  # a name alone: present, as the router reads it
    return HeaderMatch(name, EXACT, m.value, m.invert_match)


class CompiledAction:
    __slots__ = ("kind", "key", "value", "header", "skip_if_absent", "expect_match", "conditions", "v4_mask",
                 "v6_mask", "parameter")

    def __init__(self, action: rl.RateLimitAction) -> None:
        self.kind = action.kind
        self.key = action.descriptor_key
        self.value = action.descriptor_value
        name = action.header_name
        self.header = b"host" if name == ":authority" else name.encode("latin-1")
        self.skip_if_absent = action.skip_if_absent
        self.expect_match = action.expect_match
        self.conditions = tuple(CompiledMatch(header_match(h)) for h in action.headers)
        self.v4_mask = action.v4_prefix_mask_len
        self.v6_mask = action.v6_prefix_mask_len
        self.parameter = action.query_parameter_name

    def entry(self, headers: RequestHeaderMap, connection: ConnectionInfo, route: Any) -> tuple[str, str] | bool:
        """The entry this action adds; True: none, and the descriptor goes on (skipped);
        False: the policy makes no descriptor."""
        kind = self.kind
        if kind == rl.GENERIC_KEY:
            return self.key, self.value
        if kind == rl.REQUEST_HEADERS:
            value = headers.get(self.header)
            if value is None:
                return self.skip_if_absent
            return self.key, value.decode("latin-1")
        if kind == rl.HEADER_VALUE_MATCH:
            if all_match(self.conditions, headers) != self.expect_match:
                return False
            return self.key, self.value
        if kind == rl.REMOTE_ADDRESS:
            return self.key, connection.remote[0]
        if kind == rl.MASKED_REMOTE_ADDRESS:
            address = ipaddress.ip_address(connection.remote[0])
            length = self.v4_mask if address.version == 4 else self.v6_mask
            return self.key, str(ipaddress.ip_network(f"{address}/{length}", strict=False))
        if kind == rl.DESTINATION_CLUSTER:
            cluster = getattr(route, "cluster_name", "")
            return (self.key, cluster) if cluster else False
        # query_parameters
        path = headers.path or b""
        query = path.partition(b"?")[2].decode("latin-1")
        values = parse_qs(query, keep_blank_values=True).get(self.parameter)
        if not values:
            return self.skip_if_absent
        return self.key, values[0]


class CompiledPolicy:
    __slots__ = ("actions", "stage")

    def __init__(self, policy: rl.RateLimit) -> None:
        self.actions = tuple(CompiledAction(a) for a in policy.actions)
        self.stage = policy.stage

    def descriptor(self, headers: RequestHeaderMap, connection: ConnectionInfo, route: Any) -> Descriptor | None:
        entries: list[tuple[str, str]] = []
        for action in self.actions:
            entry = action.entry(headers, connection, route)
            if entry is False:
                return None
            if entry is not True:
                entries.append(entry)
        return tuple(entries)


def compile_policies(policies: Sequence[rl.RateLimit], stage: int) -> tuple[CompiledPolicy, ...]:
    """The policies a filter of `stage` applies: its stage's, without a disable_key (those are
    the global rate limit service's; Envoy's local filter skips them too)."""
    return tuple(CompiledPolicy(p) for p in policies if p.stage == stage and not p.disable_key)


def descriptors(policies: tuple[CompiledPolicy, ...], headers: RequestHeaderMap, connection: ConnectionInfo,
                route: Any, out: list[Descriptor]) -> None:
    for policy in policies:
        descriptor = policy.descriptor(headers, connection, route)
        if descriptor:
            out.append(descriptor)
