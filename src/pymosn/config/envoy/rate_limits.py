"""Envoy's RateLimit policies (route and virtual host `rate_limits`, the local rate limit
filter's own `rate_limits`) as the dicts of config.rate_limits' model.

An action kind pymosn does not implement is an error at its path: a local rate limit whose
descriptor cannot be made would not apply, so requests it should limit would pass. So are a
descriptor value with command operators (`%REQ(x)%`: Envoy substitutes them, pymosn does not)
and `hits_addend` (more than one token per request)."""

from __future__ import annotations

from typing import Any

from pymosn.config import rate_limits as rl
from pymosn.config.envoy import route_config  # route_config reads route rate_limits with this module
from pymosn.config.envoy import schemas as s
from pymosn.config.envoy.message import Context, Message, Schema

_LESS = "limit fewer requests than it asks for"

RATE_LIMIT = Schema(
    "envoy.config.route.v3.RateLimit", "stage disable_key actions limit hits_addend apply_on_stream_done",
    unsafe={"hits_addend": _LESS},
)
ACTION = Schema(
    "envoy.config.route.v3.RateLimit.Action",
    "source_cluster destination_cluster request_headers remote_address generic_key header_value_match "
    "dynamic_metadata metadata extension masked_remote_address query_parameter_value_match query_parameters",
)
_KINDS = tuple(sorted(ACTION.fields))
REQUEST_HEADERS = Schema("envoy.config.route.v3.RateLimit.Action.RequestHeaders",
                         "header_name descriptor_key skip_if_absent")
GENERIC_KEY = Schema("envoy.config.route.v3.RateLimit.Action.GenericKey",
                     "descriptor_value descriptor_key default_value")
HEADER_VALUE_MATCH = Schema("envoy.config.route.v3.RateLimit.Action.HeaderValueMatch",
                            "descriptor_value descriptor_key default_value expect_match headers")
MASKED_REMOTE_ADDRESS = Schema("envoy.config.route.v3.RateLimit.Action.MaskedRemoteAddress",
                               "v4_prefix_mask_len v6_prefix_mask_len")
QUERY_PARAMETERS = Schema("envoy.config.route.v3.RateLimit.Action.QueryParameters",
                          "query_parameter_name descriptor_key skip_if_absent")
EMPTY = Schema("google.protobuf.Empty", "")

_DEFAULT_KEYS = {rl.GENERIC_KEY: "generic_key", rl.HEADER_VALUE_MATCH: "header_match",
                 rl.QUERY_PARAMETERS: "query_param", rl.REMOTE_ADDRESS: "remote_address",
                 rl.MASKED_REMOTE_ADDRESS: "masked_remote_address", rl.DESTINATION_CLUSTER: "destination_cluster"}


def rate_limits(m: Message, name: str, ctx: Context) -> list[dict]:
    """The RateLimit list in field `name` of `m`."""
    return [rate_limit(sub, ctx) for sub in m.messages(name, RATE_LIMIT)]


def rate_limit(m: Message, ctx: Context) -> dict:
    out: dict[str, Any] = ctx.node({}, m.path)
    stage = m.int("stage", 0)
    if stage is not None and not 0 <= stage <= 10:
        m.error("stage", f"{stage} is out of range [0, 10]")
    elif stage:
        ctx.put(out, "stage", stage, m.at("stage"))
    if m.str("disable_key"):
        ctx.put(out, "disable_key", m.str("disable_key"), m.at("disable_key"))
    # limit (an override from dynamic metadata) and apply_on_stream_done are the global rate
    # limit service's; the local rate limit filter never reads them (Envoy's does not either)
    m.ignore("limit", "apply_on_stream_done")
    actions = [a for sub in m.messages("actions", ACTION) if (a := action(sub, ctx)) is not None]
    if not actions and not m.list("actions"):
        m.error("actions", "a rate limit needs at least one action")
    ctx.put(out, "actions", actions, m.at("actions"))
    m.finish()
    return out


def action(m: Message, ctx: Context) -> dict | None:
    kind = m.one_of(*_KINDS)
    if kind is None:
        m.error(None, f"a rate limit action needs one of {', '.join(_KINDS)}")
        return None
    if kind not in rl.KINDS:
        m.refuse(kind, f"{_LESS} (pymosn implements {', '.join(rl.KINDS)})")
        m.finish()
        return None
    out: dict[str, Any] = ctx.node({"kind": kind}, m.at(kind))
    key = _DEFAULT_KEYS.get(kind, "")
    if kind in (rl.REMOTE_ADDRESS, rl.DESTINATION_CLUSTER):
        sub = m.message(kind, EMPTY)
        if sub is not None:
            sub.finish()
    elif kind == rl.REQUEST_HEADERS:
        sub = m.message(kind, REQUEST_HEADERS)
        if sub is not None:
            header = sub.str("header_name").lower()
            key = sub.str("descriptor_key")
            if not header:
                sub.error("header_name", "missing: the header to read")
            if not key:
                sub.error("descriptor_key", "missing: the descriptor entry's key")
            out.update(header_name=header, skip_if_absent=sub.bool("skip_if_absent"))
            sub.finish()
    elif kind == rl.QUERY_PARAMETERS:
        sub = m.message(kind, QUERY_PARAMETERS)
        if sub is not None:
            name = sub.str("query_parameter_name")
            if not name:
                sub.error("query_parameter_name", "missing: the query parameter to read")
            key = sub.str("descriptor_key") or key
            out.update(query_parameter_name=name, skip_if_absent=sub.bool("skip_if_absent"))
            sub.finish()
    elif kind == rl.MASKED_REMOTE_ADDRESS:
        sub = m.message(kind, MASKED_REMOTE_ADDRESS)
        if sub is not None:
            for field, top in (("v4_prefix_mask_len", 32), ("v6_prefix_mask_len", 128)):
                length = sub.int(field, top)
                if length is not None and not 0 <= length <= top:
                    sub.error(field, f"{length} is out of range [0, {top}]")
                elif length is not None:
                    out[field] = length
            sub.finish()
    else:  # generic_key, header_value_match
        sub = m.message(kind, GENERIC_KEY if kind == rl.GENERIC_KEY else HEADER_VALUE_MATCH)
        if sub is not None:
            key = sub.str("descriptor_key") or key
            value = sub.str("descriptor_value")
            if "%" in value:
                sub.error("descriptor_value", "command operators (%...%) in a descriptor value are not "
                                              f"implemented by pymosn yet; refusing to {_LESS}")
            if not value:
                sub.error("descriptor_value", "missing: the descriptor entry's value")
            sub.ignore("default_value")  # only used when a formatted value comes out empty
            out["descriptor_value"] = value
            if kind == rl.HEADER_VALUE_MATCH:
                out["expect_match"] = sub.bool("expect_match", True)
                headers = [route_config.header_matcher(h, ctx) for h in sub.messages("headers", s.HEADER_MATCHER)]
                if not headers:
                    sub.error("headers", "a header_value_match needs at least one header matcher")
                out["headers"] = headers
            sub.finish()
    out["descriptor_key"] = key
    m.finish()
    return out

