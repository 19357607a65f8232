import json

import pytest

from pymosn.metrics import ClusterStats, HostStats, ListenerStats, StatsStore


def test_objects_are_created_once_and_cached():
    store = StatsStore()
    assert store.listener("l") is store.listener("l")
    assert store.cluster("c") is store.cluster("c")
    assert store.host("c", "1.2.3.4:80") is store.host("c", "1.2.3.4:80")
    assert store.host("c", "1.2.3.4:80") is not store.host("d", "1.2.3.4:80")


@pytest.mark.parametrize("cls", [ListenerStats, ClusterStats, HostStats])
def test_stats_are_slotted_ints(cls):
    stats = cls()
    for name in cls.COUNTERS + cls.GAUGES:
        assert getattr(stats, name) == 0
    with pytest.raises(AttributeError):
        stats.not_a_stat = 1  # a typo on the data path fails loudly instead of adding a field
    assert not hasattr(stats, "__dict__")


def test_required_stat_names():
    listener = set(ListenerStats.COUNTERS + ListenerStats.GAUGES)
    assert {
        "downstream_cx_total", "downstream_cx_active", "downstream_cx_destroy", "downstream_cx_overflow",
        "downstream_cx_idle_timeout", "downstream_rq_total", "downstream_rq_active", "downstream_rq_1xx",
        "downstream_rq_5xx", "downstream_rq_rx_reset", "downstream_cx_rx_bytes_total",
        "downstream_cx_tx_bytes_total", "downstream_rq_too_large", "downstream_rq_header_too_large",
        "downstream_rq_protocol_error",
    } <= listener  # fmt: skip
    cluster = set(ClusterStats.COUNTERS + ClusterStats.GAUGES + ClusterStats.HISTOGRAMS)
    assert {
        "upstream_cx_total", "upstream_cx_active", "upstream_cx_connect_fail", "upstream_cx_connect_timeout",
        "upstream_cx_destroy", "upstream_cx_overflow", "upstream_rq_total", "upstream_rq_active",
        "upstream_rq_pending_overflow", "upstream_rq_timeout", "upstream_rq_retry", "upstream_rq_2xx",
        "upstream_rq_4xx", "upstream_rq_5xx", "upstream_cx_rx_bytes_total", "upstream_cx_tx_bytes_total",
        "upstream_rq_time",
    } <= cluster  # fmt: skip


def test_samples_split_listener_and_http_scopes():
    store = StatsStore()
    stats = store.listener("ingress")
    stats.downstream_cx_total += 2
    stats.downstream_cx_overflow += 1
    stats.downstream_rq_total += 5
    names = {s.name: s.value for s in store.samples()}
    assert names["listener.ingress.downstream_cx_total"] == 2
    assert names["http.ingress.downstream_cx_total"] == 2
    assert names["listener.ingress.downstream_cx_overflow"] == 1
    assert "http.ingress.downstream_cx_overflow" not in names
    assert names["http.ingress.downstream_rq_total"] == 5
    assert "listener.ingress.downstream_rq_total" not in names


def test_host_stats_are_not_in_stats_samples():
    store = StatsStore()
    store.host("c", "1.1.1.1:80").rq_total += 1
    assert not [s for s in store.samples() if "1.1.1.1" in s.name]


def test_server_stats_refresh():
    store = StatsStore()
    store.listener("a").downstream_cx_active = 3
    store.listener("b").downstream_cx_active = 4
    store.server.live = 1
    names = {s.name: s.value for s in store.samples()}
    assert names["server.total_connections"] == 7
    assert names["server.memory_allocated"] > 1_000_000
    assert names["server.live"] == 1
    assert names["server.uptime"] >= 0


def _worker(n: int) -> dict:
    store = StatsStore()
    store.listener("l").downstream_rq_total += n
    store.listener("l").downstream_cx_active += 1
    store.cluster("c").upstream_rq_total += n
    store.cluster("c").upstream_rq_time.record(n)
    store.host("c", "10.0.0.1:80").rq_success += n
    return json.loads(json.dumps(store.snapshot()))  # snapshots travel as JSON


def test_merge_snapshots_from_workers():
    merged = StatsStore.merged([_worker(1), _worker(2), _worker(30)])
    assert merged.listener("l").downstream_rq_total == 33
    assert merged.listener("l").downstream_cx_active == 3  # gauges sum across workers
    assert merged.cluster("c").upstream_rq_total == 33
    hist = merged.cluster("c").upstream_rq_time
    assert hist.count == 3
    assert hist.sum == 33
    assert merged.host("c", "10.0.0.1:80").rq_success == 33


def test_merge_into_existing_store_and_ignores_unknown_fields():
    store = StatsStore()
    store.cluster("c").upstream_rq_total = 1
    snap = _worker(2)
    snap["clusters"]["c"]["from_a_newer_worker"] = 9
    store.merge([snap])
    assert store.cluster("c").upstream_rq_total == 3


def test_reset_counters_keeps_gauges():
    store = StatsStore()
    c = store.cluster("c")
    c.upstream_rq_total = 5
    c.upstream_rq_active = 2
    c.upstream_rq_time.record(1)
    store.reset_counters()
    assert c.upstream_rq_total == 0
    assert c.upstream_rq_active == 2
    assert c.upstream_rq_time.count == 0


def test_filter_stats_travel_from_workers_to_the_master_and_render_under_the_listener():
    from pymosn.filter.http.fault import FaultStats

    workers = [StatsStore(), StatsStore()]
    for n, store in enumerate(workers, 1):
        stats = store.filter("ingress", "fault", FaultStats)
        assert store.filter("ingress", "fault", FaultStats) is stats  # every plan of the listener shares it
        stats.aborts_injected += n
        stats.active_faults += 1
    master = StatsStore.merged(json.loads(json.dumps(w.snapshot())) for w in workers)
    samples = {s.name: (s.value, s.kind) for s in master.samples() if ".fault." in s.name}
    assert samples == {"http.ingress.fault.delays_injected": (0, "counter"),
                       "http.ingress.fault.aborts_injected": (3, "counter"),
                       "http.ingress.fault.faults_overflow": (0, "counter"),
                       "http.ingress.fault.active_faults": (2, "gauge")}
    master.reset_counters()
    assert master.filter("ingress", "fault", FaultStats).aborts_injected == 0


def test_named_counters_render_ship_and_merge_by_name():
    worker = StatsStore()
    allowed = worker.counter("tcp.rbac.allowed", "envoy_rbac_allowed", (("stat_prefix", "tcp."),))
    assert worker.counter("tcp.rbac.allowed") is allowed  # the data path keeps the object
    allowed.value += 2
    worker.counter("tcp.rbac.denied").value += 1
    samples = {s.name: s for s in worker.samples()}
    assert samples["tcp.rbac.allowed"][1:] == ("envoy_rbac_allowed", (("stat_prefix", "tcp."),), 2, "counter")
    assert samples["tcp.rbac.denied"].family == "envoy_tcp_rbac_denied"
    shipped = json.loads(json.dumps(worker.snapshot()))
    master = StatsStore.merged([shipped, shipped])
    assert master.named["tcp.rbac.allowed"].value == 4
    assert master.named["tcp.rbac.allowed"].labels == (("stat_prefix", "tcp."),)
    master.replace_with([shipped])
    assert master.named["tcp.rbac.denied"].value == 1
    master.reset_counters()
    assert master.named["tcp.rbac.allowed"].value == 0


def test_the_process_counters_are_in_the_process_store_and_add_up_at_the_master():
    from pymosn.filter.http.local_ratelimit import LocalRateLimitStats
    from pymosn.metrics.stats import PROCESS_COUNTERS

    names = [f"store_test_rl.http_local_rate_limit.{n}" for n in ("enabled", "enforced", "rate_limited", "ok")]
    try:
        stats = LocalRateLimitStats("store_test_rl")
        assert LocalRateLimitStats("store_test_rl").rate_limited is stats.rate_limited  # a route's config counts there too
        stats.rate_limited.value += 2
        worker = StatsStore(process=True)
        assert not any(s.name in names for s in StatsStore().samples())  # another store: not the process's
        master = StatsStore.merged([json.loads(json.dumps(worker.snapshot()))] * 2)
        for store, expected in ((worker, 2), (master, 4)):
            found = {s.name: (s.value, s.family, s.labels) for s in store.samples() if s.name in names}
            assert found[names[2]] == (expected, "envoy_http_local_rate_limit_rate_limited",
                                       (("envoy_local_http_ratelimit_prefix", "store_test_rl"),))
            assert set(found) == set(names)
    finally:
        for name in names:
            PROCESS_COUNTERS.pop(name, None)
