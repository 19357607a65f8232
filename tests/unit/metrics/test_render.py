import json
import math

import pytest
from prometheus_client.parser import text_string_to_metric_families

from pymosn.metrics import StatsStore, render_json, render_prometheus, render_text


@pytest.fixture
def store():
    store = StatsStore()
    store.server.live = 1
    listener = store.listener("ingress")
    listener.downstream_rq_total = 10
    listener.downstream_rq_2xx = 7
    listener.downstream_rq_5xx = 3
    listener.downstream_cx_active = 2
    cluster = store.cluster("foo")
    cluster.upstream_rq_total = 12
    cluster.upstream_rq_2xx = 12
    for v in (0.3, 3, 7, 7, 120, 5_000_000):
        cluster.upstream_rq_time.record(v)
    store.cluster("bar").upstream_cx_active = 1
    return store


def test_text_format_sorted_name_value(store):
    text = render_text(store)
    lines = text.splitlines()
    assert "cluster.foo.upstream_rq_total: 12" in lines
    assert "http.ingress.downstream_rq_2xx: 7" in lines
    assert "listener.ingress.downstream_cx_active: 2" in lines
    assert "server.live: 1" in lines
    plain = [line for line in lines if "upstream_rq_time" not in line]
    assert plain == sorted(plain)
    # histograms come last, Envoy style
    assert lines[-1].startswith("cluster.foo.upstream_rq_time: P0(nan,")
    assert " P50(nan," in lines[-1] and " P99(nan," in lines[-1] and " P100(nan,5e+06)" in lines[-1]
    assert "cluster.bar.upstream_rq_time: No recorded values" in lines


def test_text_filter_and_usedonly(store):
    lines = render_text(store, filter=r"^cluster\.foo\.upstream_rq_(total|2xx)$").splitlines()
    assert lines == ["cluster.foo.upstream_rq_2xx: 12", "cluster.foo.upstream_rq_total: 12"]
    used = render_text(store, used_only=True)
    assert "cluster.foo.upstream_rq_4xx" not in used
    assert "cluster.foo.upstream_rq_total: 12" in used
    assert render_text(store, filter="nothing-matches") == ""


def test_json_format(store):
    doc = json.loads(render_json(store, filter="foo"))
    values = {s["name"]: s["value"] for s in doc["stats"] if "name" in s}
    assert values["cluster.foo.upstream_rq_total"] == 12
    hist = doc["stats"][-1]["histograms"]
    assert hist["supported_quantiles"][2] == 50
    computed = hist["computed_quantiles"][0]
    assert computed["name"] == "cluster.foo.upstream_rq_time"
    assert len(computed["values"]) == len(hist["supported_quantiles"])


def _families(text):
    return {f.name: f for f in text_string_to_metric_families(text)}


def test_prometheus_parses_with_prometheus_client(store):
    text = render_prometheus(store)
    families = _families(text)
    # prometheus_client strips the _total suffix from counter family names
    rq = families["envoy_cluster_upstream_rq"]
    assert rq.type == "counter"
    by_cluster = {s.labels["envoy_cluster_name"]: s.value for s in rq.samples if s.name.endswith("_total")}
    assert by_cluster == {"foo": 12, "bar": 0}
    assert families["envoy_cluster_upstream_cx_active"].type == "gauge"
    assert families["envoy_server_live"].samples[0].value == 1
    xx = families["envoy_http_downstream_rq_xx"]
    codes = {
        s.labels["envoy_response_code_class"]: s.value
        for s in xx.samples
        if s.labels["envoy_http_conn_manager_prefix"] == "ingress"
    }
    assert codes == {"1": 0, "2": 7, "3": 0, "4": 0, "5": 3}
    listener = families["envoy_listener_downstream_cx_active"]
    assert listener.samples[0].labels == {"envoy_listener_address": "ingress"}


def test_prometheus_histogram(store):
    text = render_prometheus(store)
    assert "# TYPE envoy_cluster_upstream_rq_time histogram" in text
    hist = _families(text)["envoy_cluster_upstream_rq_time"]
    assert hist.type == "histogram"
    foo = [s for s in hist.samples if s.labels["envoy_cluster_name"] == "foo"]
    buckets = {s.labels["le"]: s.value for s in foo if s.name.endswith("_bucket")}
    assert buckets["0.5"] == 1
    assert buckets["5"] == 2
    assert buckets["+Inf"] == 6
    values = [v for _, v in sorted(((float(k), v) for k, v in buckets.items()))]
    assert values == sorted(values)  # cumulative
    count = next(s.value for s in foo if s.name.endswith("_count"))
    total = next(s.value for s in foo if s.name.endswith("_sum"))
    assert count == 6
    assert math.isclose(total, 5_000_137.3)


def test_prometheus_one_type_line_per_family(store):
    text = render_prometheus(store)
    types = [line for line in text.splitlines() if line.startswith("# TYPE")]
    assert len(types) == len(set(types))
    assert len([t for t in types if " envoy_cluster_upstream_rq_xx " in t]) == 1


def test_prometheus_label_values_are_escaped():
    store = StatsStore()
    store.cluster('we"ird\\name\nx').upstream_rq_total = 4
    text = render_prometheus(store)
    assert 'envoy_cluster_name="we\\"ird\\\\name\\nx"' in text
    rq = _families(text)["envoy_cluster_upstream_rq"]
    assert rq.samples[0].labels["envoy_cluster_name"] == 'we"ird\\name\nx'


def test_prometheus_filter(store):
    text = render_prometheus(store, filter=r"upstream_rq_total")
    assert set(_families(text)) == {"envoy_cluster_upstream_rq"}


def test_empty_store_renders():
    store = StatsStore()
    assert render_text(store).startswith("server.")
    _families(render_prometheus(store))
    json.loads(render_json(store))
