from prometheus_client.parser import text_string_to_metric_families

from pymosn.metrics import StatsStore, render_prometheus, render_text
from pymosn.metrics.stats import GrpcStats


def _store():
    store = StatsStore()
    cluster = store.cluster("backend")
    cluster.grpc.count(0, ("helloworld.Greeter", "SayHello"))
    cluster.grpc.count(0, ("helloworld.Greeter", "SayHello"))
    cluster.grpc.count(5, ("helloworld.Greeter", "SayHello"))
    cluster.grpc.count(14)
    store.listener("ingress").grpc.count(12)
    return store


def test_envoy_text_names():
    text = render_text(_store())
    lines = set(text.splitlines())
    assert {
        "cluster.backend.grpc.0: 2",
        "cluster.backend.grpc.5: 1",
        "cluster.backend.grpc.14: 1",
        "cluster.backend.grpc.success: 2",
        "cluster.backend.grpc.failure: 2",
        "cluster.backend.grpc.total: 4",
        "cluster.backend.grpc.helloworld.Greeter.SayHello.0: 2",
        "cluster.backend.grpc.helloworld.Greeter.SayHello.5: 1",
        "cluster.backend.grpc.helloworld.Greeter.SayHello.success: 2",
        "cluster.backend.grpc.helloworld.Greeter.SayHello.failure: 1",
        "cluster.backend.grpc.helloworld.Greeter.SayHello.total: 3",
        "http.ingress.grpc.12: 1",
        "http.ingress.grpc.total: 1",
        "http.ingress.grpc.failure: 1",
    } <= lines
    assert "listener.ingress.grpc.12: 1" not in lines  # a connection manager stat, as in Envoy


def test_prometheus_families_and_labels():
    families = {f.name: f for f in text_string_to_metric_families(render_prometheus(_store()))}
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value for s in families["envoy_cluster_grpc_0"].samples}
    assert samples[("envoy_cluster_grpc_0_total", (("envoy_cluster_name", "backend"),))] == 2
    key = (
        "envoy_cluster_grpc_0_total",
        (
            ("envoy_cluster_name", "backend"),
            ("envoy_grpc_bridge_method", "SayHello"),
            ("envoy_grpc_bridge_service", "helloworld.Greeter"),
        ),
    )
    assert samples[key] == 2
    assert "envoy_http_grpc_12" in families


def test_nothing_rendered_without_calls():
    store = StatsStore()
    store.cluster("c")
    store.listener("l")
    assert "grpc" not in render_text(store)


def test_snapshot_merge_and_reset():
    snap = _store().snapshot()
    merged = StatsStore.merged([snap, snap])
    assert merged.cluster("backend").grpc.statuses == {0: 4, 5: 2, 14: 2}
    assert merged.cluster("backend").grpc.methods[("helloworld.Greeter", "SayHello")] == {0: 4, 5: 2}
    assert merged.listener("ingress").grpc.statuses == {12: 2}
    merged.reset_counters()
    assert not merged.cluster("backend").grpc.statuses
    assert not merged.cluster("backend").grpc.methods


def test_per_method_counts_are_bounded_and_skip_unimplemented():
    stats = GrpcStats()
    for i in range(GrpcStats.MAX_METHODS + 50):
        stats.count(0, ("svc", f"m{i}"))
    stats.count(12, ("svc", "nonexistent"))
    assert len(stats.methods) == GrpcStats.MAX_METHODS
    assert ("svc", "nonexistent") not in stats.methods
    assert stats.statuses == {0: GrpcStats.MAX_METHODS + 50, 12: 1}
