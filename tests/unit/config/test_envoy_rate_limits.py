"""Envoy's route and virtual host `rate_limits` (the local rate limit filter's descriptors) read
into the model and the compiled RouteEntry; actions pymosn cannot evaluate refused at their paths."""

from __future__ import annotations

from pymosn.config import rate_limits as rl
from pymosn.router.entry import RouteEntry
from tests.support.envoy_bootstraps import R0, RC, bootstrap, errors, first_route, hcm, listener, load, routes

USER = {"request_headers": {"header_name": "X-User", "descriptor_key": "user"}}


def _bootstrap(route_limits: list, vhost_limits: list | None = None, **route_action) -> dict:
    rc = routes({"match": {"prefix": "/"}, "route": {"cluster": "app", "rate_limits": route_limits, **route_action}})
    if vhost_limits is not None:
        rc["virtual_hosts"][0]["rate_limits"] = vhost_limits
    return bootstrap(listener(hcm(rc)))


def test_route_and_virtual_host_policies_reach_the_route_entry():
    policies = [{"actions": [USER, {"remote_address": {}}], "stage": 1},
                {"actions": [{"header_value_match": {"descriptor_value": "gets", "expect_match": False,
                                                     "headers": [{"name": ":method", "exact_match": "GET"}]}}]}]
    config = load(_bootstrap(policies, [{"actions": [{"generic_key": {"descriptor_value": "vh"}}]}],
                             include_vh_rate_limits=True))
    route = first_route(config)
    assert route.route is not None and route.route.include_vh_rate_limits
    first, second = route.route.rate_limits
    assert first.stage == 1 and [a.kind for a in first.actions] == [rl.REQUEST_HEADERS, rl.REMOTE_ADDRESS]
    assert (first.actions[0].header_name, first.actions[0].descriptor_key) == ("x-user", "user")
    assert first.actions[1].descriptor_key == "remote_address"
    match = second.actions[0]
    assert (match.descriptor_key, match.descriptor_value, match.expect_match) == ("header_match", "gets", False)
    assert match.headers == (rl.ActionHeader(name=":method", value="GET"),)
    vhost = config.servers[0].routers[0].virtual_hosts[0]
    entry = RouteEntry(0, route, vhost, config.servers[0].routers[0])
    assert entry.rate_limits == route.route.rate_limits and entry.include_vh_rate_limits
    assert entry.vh_rate_limits[0].actions[0] == rl.RateLimitAction(kind=rl.GENERIC_KEY, descriptor_key="generic_key",
                                                                    descriptor_value="vh")


def test_actions_pymosn_cannot_evaluate_are_refused_at_their_paths():
    policies = [{"actions": [{"source_cluster": {}}]},
                {"actions": [{"dynamic_metadata": {"descriptor_key": "k", "metadata_key": {"key": "x"}}}]},
                {"actions": [{"request_headers": {"header_name": "x"}}]},
                {"actions": []}]
    found = errors(_bootstrap(policies, [{"actions": [USER], "hits_addend": {"number": 3}}]))
    assert [issue.split(":")[0] for issue in found] == [
        f"{R0}.route.rate_limits[0].actions[0].source_cluster",
        f"{R0}.route.rate_limits[1].actions[0].dynamic_metadata",
        f"{R0}.route.rate_limits[2].actions[0].request_headers.descriptor_key",
        f"{R0}.route.rate_limits[3].actions",
        f"{RC}.virtual_hosts[0].rate_limits[0].hits_addend",
    ]
