"""A proxy's loaded HTTP filters as the FilterChainPlan its streams share, run through the real
FilterManager against real RouteEntries: names, phases, and Envoy's route-based filter chain
(`disabled: true` filters on only where a route's per-filter config turns them on; a route's
FilterConfig `disabled: true` turning one off)."""

from __future__ import annotations

from pymosn.api.stream_filter import FilterPhase
from pymosn.config.loader import load_config_dict
from pymosn.filter.http.chain import RouteGate, build_filter_plan, routes_turning_off
from pymosn.filter.registry import ListenerContext, filter_plan
from pymosn.metrics import StatsStore
from pymosn.proxy.snapshot import Snapshot, SnapshotRef
from pymosn.router.manager import RouterManager
from pymosn.router.route_table import RouteTable
from pymosn.upstream.cluster import ClusterManager
from tests.support import envoy_bootstraps as envoy
from tests.support.fakes import request_headers
from tests.support.filter_harness import FilterHarness
from tests.support.proxy import simple_config

FAULT = "envoy.extensions.filters.http.fault.v3.HTTPFault"
FILTER_CONFIG = "type.googleapis.com/envoy.config.route.v3.FilterConfig"
ABORT_418 = {"abort": {"http_status": 418, "percentage": {"numerator": 100}}}


def _load(http_filters: list[dict], *routes: dict):
    config = envoy.load(envoy.bootstrap(envoy.listener(envoy.hcm(envoy.routes(*routes), http_filters=[
        *http_filters, envoy.ROUTER]))))
    table = RouteTable.build(config.servers[0].routers[0])
    filters = envoy.proxy(config).stream_filters
    return build_filter_plan(filters, routes_turning_off([table])), [e for v in table.virtual_hosts for e in v.routes]


def _answer(plan, route) -> int | None:
    harness = FilterHarness(*((e.name, e.config, e.phase) for e in plan.entries), route=route)
    harness.request(request_headers(b"/x"), end_stream=True)
    replies = harness.owner.local_replies
    harness.destroy()
    return replies[0].status if replies else None


def test_no_filters_no_plan():
    assert build_filter_plan(()) is None


def test_entries_are_named_by_the_filter_name_and_keep_their_phase():
    plan, _ = _load([envoy.typed("my-fault", FAULT, **ABORT_418)], {"match": {"prefix": "/"}, "route": {"cluster": "app"}})
    (entry,) = plan.entries
    assert (entry.name, entry.phase) == ("my-fault", FilterPhase.BEFORE_ROUTE)
    assert not isinstance(entry.config, RouteGate)  # no route turns it off: no gate, nothing paid for routes


def test_a_disabled_filter_runs_only_where_a_route_turns_it_on():
    disabled = {**envoy.typed("f", FAULT, **ABORT_418), "disabled": True}
    plain = {"match": {"prefix": "/plain"}, "route": {"cluster": "app"}, "typed_per_filter_config": {
        "f": {"@type": f"type.googleapis.com/{FAULT}", "abort": {"http_status": 503, "percentage": {"numerator": 100}}}}}
    wrapped = {"match": {"prefix": "/wrapped"}, "route": {"cluster": "app"}, "typed_per_filter_config": {
        "f": {"@type": FILTER_CONFIG, "config": {"@type": f"type.googleapis.com/{FAULT}"}}}}
    other = {"match": {"prefix": "/"}, "route": {"cluster": "app"}}
    plan, (on_503, on_empty, off) = _load([disabled], plain, wrapped, other)
    # as Envoy answers the same bootstrap: 503 (the route's config), 200 (on, with a config that
    # injects nothing), 200 (off)
    assert [_answer(plan, r) for r in (on_503, on_empty, off, None)] == [503, None, None, None]


def test_a_route_turns_an_enabled_filter_off():
    off = {"match": {"prefix": "/off"}, "route": {"cluster": "app"}, "typed_per_filter_config": {
        "f": {"@type": FILTER_CONFIG, "disabled": True}}}
    plan, (quiet, loud) = _load([envoy.typed("f", FAULT, **ABORT_418)], off,
                                {"match": {"prefix": "/"}, "route": {"cluster": "app"}})
    assert isinstance(plan.entries[0].config, RouteGate)
    assert [_answer(plan, r) for r in (quiet, loud, None)] == [None, 418, 418]


def test_a_reload_whose_routes_turn_a_filter_off_says_it_needs_a_restart(caplog):
    from pymosn.server.runtime import Runtime

    def config(**route):
        return envoy.load(envoy.bootstrap(envoy.listener(envoy.hcm(envoy.routes(
            {"match": {"prefix": "/"}, "route": {"cluster": "app"}, **route}),
            http_filters=[envoy.typed("f", FAULT), envoy.ROUTER]))))

    runtime = Runtime(config())
    with caplog.at_level("WARNING", logger="pymosn.server"):
        runtime.reload(config(typed_per_filter_config={"f": {"@type": FILTER_CONFIG, "disabled": True}}))
    assert [r.getMessage() for r in caplog.records] == [
        "routes now turn off stream filters f, which the listeners' filter chains built before do not expect; "
        "restart (or hot upgrade) to apply that"]


def test_stream_filters_of_no_http_filter_kind_stay_out_of_the_plan():
    """What loading warned of and ignores (gzip), and MOSN's mirror filter, which the proxy runs
    with the routes' mirror policies: the plan holds the listener's other filters."""
    fault = {"type": "fault", "config": {"abort": {"status": 418, "percentage": 100}}}
    raw = simple_config(10000, [8080], listener={"stream_filters": [{"type": "gzip"}, {"type": "mirror"}, fault]})
    config = load_config_dict(raw).config
    listener = config.servers[0].listeners[0]
    store = StatsStore()
    snapshot = Snapshot(RouterManager(config.servers[0].routers), ClusterManager(config.cluster_manager.clusters, store))
    ctx = ListenerContext(listener.name, SnapshotRef(snapshot), store.listener(listener.name), [],
                          stream_filters=listener.stream_filters)
    plan = filter_plan(listener.filter_chains[0].filters[0].config, ctx)
    assert plan is not None and [entry.name for entry in plan.entries] == ["fault"]
