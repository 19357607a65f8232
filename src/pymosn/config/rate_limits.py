"""Envoy's route rate-limit policies (RateLimit: actions that turn a request into a descriptor),
as read from a route, a virtual host or the local rate limit filter's own `rate_limits`.

A policy's actions each add one (key, value) entry to the request's descriptor; when an action
cannot (a header it reads is absent without `skip_if_absent`, a header_value_match that does
not come out as expected) the policy makes no descriptor for that request. Implemented kinds:
request_headers, remote_address, masked_remote_address, generic_key, header_value_match,
destination_cluster, query_parameters; config/envoy/rate_limits.py refuses the others."""

from __future__ import annotations

import msgspec

REQUEST_HEADERS = "request_headers"
REMOTE_ADDRESS = "remote_address"
MASKED_REMOTE_ADDRESS = "masked_remote_address"
GENERIC_KEY = "generic_key"
HEADER_VALUE_MATCH = "header_value_match"
DESTINATION_CLUSTER = "destination_cluster"
QUERY_PARAMETERS = "query_parameters"
KINDS = (REQUEST_HEADERS, REMOTE_ADDRESS, MASKED_REMOTE_ADDRESS, GENERIC_KEY, HEADER_VALUE_MATCH, DESTINATION_CLUSTER,
         QUERY_PARAMETERS)


class _Model(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """As config.model's structs (which refer to these: this module cannot import that one)."""


class ActionHeader(_Model):
    """A header condition of header_value_match: a route HeaderMatcher's fields, as the Envoy
    reader writes them (exact value, regex, or presence)."""

    name: str
    value: str = ""
    regex: bool = False
    present_match: bool | None = None
    invert_match: bool = False


class RateLimitAction(_Model):
    kind: str  # one of KINDS
    descriptor_key: str = ""  # the entry's key (each kind's default filled in when read)
    descriptor_value: str = ""  # generic_key, header_value_match
    header_name: str = ""  # request_headers (lower case)
    query_parameter_name: str = ""  # query_parameters
    skip_if_absent: bool = False  # request_headers, query_parameters
    expect_match: bool = True  # header_value_match
    headers: tuple[ActionHeader, ...] = ()  # header_value_match
    v4_prefix_mask_len: int = 32  # masked_remote_address
    v6_prefix_mask_len: int = 128


class RateLimit(_Model):
    actions: tuple[RateLimitAction, ...] = ()
    stage: int = 0
    disable_key: str = ""  # a policy with one is for the global rate limit service only
