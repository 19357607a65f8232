"""Envoy's RequestMirrorPolicy as pymosn's route `request_mirror_policies`, and the MOSN
`mirror` stream filter a proxy filter needs for them to copy anything.

Envoy's defaults are written out: no runtime_fraction copies every request, the copy's Host gets
"-shadow" unless disable_shadow_host_suffix_append. A route action without policies takes its
virtual host's, else its route configuration's (the most specific non-empty list wins whole,
as Envoy's shadowPolicies)."""

from __future__ import annotations

from pymosn.config.envoy import schemas as s
from pymosn.config.envoy.message import Context, Message

SHADOW_SUFFIX = "-shadow"
DENOMINATORS = {"HUNDRED": 100, "TEN_THOUSAND": 10_000, "MILLION": 1_000_000}
MIRROR_FILTER = "mirror"  # MOSN's stream filter that copies (config/mirror_rules.py)

# policies and the path they were read at, handed down from a route configuration or virtual host
Inherited = tuple[list[dict], str]


def mirror_policies(m: Message, ctx: Context, inherited: Inherited | None) -> Inherited | None:
    """The policies of `m` (a RouteAction, VirtualHost or RouteConfiguration), else `inherited`."""
    own = [_policy(p, ctx) for p in m.messages("request_mirror_policies", s.REQUEST_MIRROR_POLICY)]
    return (own, m.at("request_mirror_policies")) if own else inherited


def put_policies(out: dict, policies: Inherited | None, ctx: Context) -> None:
    if policies is not None:
        ctx.put(out, "request_mirror_policies", policies[0], policies[1])


def _policy(m: Message, ctx: Context) -> dict:
    out = ctx.node({}, m.path)
    for field in ("cluster", "cluster_header"):
        if m.has(field):
            ctx.put(out, field, m.str(field), m.at(field))
    numerator, denominator, where = 100, "HUNDRED", m.path  # Envoy's default without a fraction: all
    fraction = m.message("runtime_fraction", s.RUNTIME_FRACTIONAL_PERCENT)
    if fraction is not None:
        fraction.str("runtime_key")  # pymosn has no runtime: the default value is the value
        value = fraction.message("default_value", s.FRACTIONAL_PERCENT)
        numerator, denominator, where = 0, "HUNDRED", fraction.path  # an unset default_value: none
        if value is not None:
            numerator = value.int("numerator", 0) or 0
            denominator = value.enum("denominator", tuple(DENOMINATORS), "HUNDRED") or "HUNDRED"
            where = value.path
            value.finish()
        fraction.finish()
    ctx.put(out, "percent", numerator, where)
    ctx.put(out, "denominator", DENOMINATORS[denominator], where)
    if m.raw("trace_sampled") is not None:
        m.warn("trace_sampled", "pymosn does not trace requests; ignored")
    if not m.bool("disable_shadow_host_suffix_append"):
        ctx.put(out, "host_suffix", SHADOW_SUFFIX, m.at("disable_shadow_host_suffix_append"))
    m.finish()
    return out


def add_mirror_filter(listener: dict, ctx: Context, source: str) -> None:
    """Envoy's router copies wherever a route says so; in MOSN's shape that takes the mirror
    stream filter, given to each proxy filter whose routes have policies (among its own
    stream_filters, what its HCM's http_filters became)."""
    mirroring = {router["router_config_name"] for router in ctx.routers if _mirrors(router)}
    for chain in [*listener.get("filter_chains", ()), listener.get("default_filter_chain") or {}]:
        for network_filter in chain.get("filters", ()):
            proxy = network_filter.get("config")
            if network_filter.get("type") == "proxy" and proxy.get("router_config_name") in mirroring:
                proxy.setdefault("stream_filters", []).append(ctx.node({"type": MIRROR_FILTER, "config": {}}, source))


def _mirrors(router: dict) -> bool:
    return any(route.get("request_mirror_policies") for host in router.get("virtual_hosts", ())
               for route in host.get("routers", ()))
