"""The compiled stats groups declare exactly the fields their lists name: the lists drive
rendering and snapshots, the declarations lay the compiled object out."""

from __future__ import annotations

import pytest

from pymosn.metrics import groups
from pymosn.metrics.groups import ClusterStats, HostStats, ListenerStats, StatsGroup
from pymosn.metrics.histogram import Histogram
from pymosn.metrics.stats import FilterStats, ProtocolStats, aggregate_class


@pytest.mark.parametrize("group", [ListenerStats, ClusterStats, HostStats])
def test_declared_attributes_are_the_listed_fields(group: type[StatsGroup]) -> None:
    # pure Python: the class bodies' annotations; compiled: the attributes mypyc laid out
    compiled = not (groups.__file__ or "").endswith(".py")
    declared: set[str] = set()
    for cls in group.__mro__:
        if compiled and cls.__module__ == groups.__name__:
            declared |= {name for name, v in vars(cls).items() if type(v).__name__ == "getset_descriptor"}
        else:
            declared |= {name for name, kind in vars(cls).get("__annotations__", {}).items()
                         if not str(kind).startswith("ClassVar")}
    declared.discard("grpc")
    declared.discard("__weakref__")
    assert declared == set(group.COUNTERS + group.GAUGES + group.HISTOGRAMS)
    fresh = group()
    assert all(getattr(fresh, name) == 0 for name in group.COUNTERS + group.GAUGES)
    assert all(isinstance(getattr(fresh, name), Histogram) for name in group.HISTOGRAMS)


def test_a_compiled_group_takes_no_undeclared_field() -> None:
    with pytest.raises(AttributeError):
        ListenerStats().no_such_stat = 1  # type: ignore[attr-defined]


def test_interpreted_groups_subclass_the_compiled_base() -> None:
    class KindStats(FilterStats):
        COUNTERS = ("allowed", "denied")
        __slots__ = COUNTERS

    stats = KindStats()
    stats.allowed += 2
    assert stats.snapshot() == {"counters": {"allowed": 2, "denied": 0}, "gauges": {}}
    total = aggregate_class(("allowed", "denied"), ())()
    total.merge(stats.snapshot())
    total.merge(stats.snapshot())
    assert total.allowed == 4
    rpc = ProtocolStats()
    rpc.downstream_rq_total += 1
    rpc.count_status(7)
    assert rpc.snapshot()["downstream_rq_total"] == 1 and rpc.status_codes == {7: 1}


def test_snapshot_and_merge_round_trip_a_compiled_group() -> None:
    worker = ClusterStats()
    worker.upstream_rq_total += 3
    worker.upstream_rq_active += 1
    worker.upstream_rq_time.record(0.004)
    worker.count_response(503)
    master = ClusterStats()
    master.merge(worker.snapshot())
    assert (master.upstream_rq_total, master.upstream_rq_active, master.upstream_rq_5xx) == (3, 1, 1)
    assert master.upstream_rq_time.count == 1
    master.clear()
    assert master.upstream_rq_total == 0 and master.upstream_rq_time.count == 0


@pytest.mark.parametrize("group", [ListenerStats, ClusterStats])
def test_typed_response_counting_matches_counting_by_name(group: type[StatsGroup]) -> None:
    typed, by_name = group(), group()
    for code in (99, 100, 101, 200, 204, 302, 404, 499, 500, 503, 599, 600, 0):
        typed.count_response(code)
        StatsGroup.count_response(by_name, code)
    assert typed.snapshot() == by_name.snapshot()
