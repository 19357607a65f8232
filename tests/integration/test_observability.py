"""Admin API, stats and access log against a real process."""

from __future__ import annotations

import json
import time

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.support.proxy import free_port, simple_config


def admin(p, path):
    return httpx.get(f"http://127.0.0.1:{p.admin_port}{path}")


def test_admin_endpoints(proxy, origin):
    for i in range(5):
        httpx.get(f"http://127.0.0.1:{proxy.port}/echo/{i}")
    httpx.get(f"http://127.0.0.1:{proxy.port}/status/503")
    assert admin(proxy, "/ready").status_code == 200
    stats = admin(proxy, "/stats").text
    lines = dict(line.split(": ", 1) for line in stats.splitlines() if ": " in line and "P50" not in line)
    assert int(lines["cluster.origin.upstream_rq_total"]) == 6
    assert int(lines["cluster.origin.upstream_rq_2xx"]) == 5
    assert int(lines["cluster.origin.upstream_rq_5xx"]) == 1
    assert int(lines["cluster.origin.upstream_cx_total"]) >= 1
    assert int(lines["http.ingress.downstream_rq_total"]) == 6 or int(lines.get("listener.ingress.downstream_rq_total", 0)) == 6
    dump = admin(proxy, "/config_dump").json()
    assert json.dumps(dump).count("ingress") >= 1
    clusters = admin(proxy, "/clusters").text
    assert f"origin::127.0.0.1:{origin.port}::rq_total::6" in clusters


def test_prometheus_exposition_parses(proxy):
    httpx.get(f"http://127.0.0.1:{proxy.port}/echo")
    text = admin(proxy, "/stats/prometheus").text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    rq = [s for s in families["envoy_cluster_upstream_rq"].samples if s.labels.get("envoy_cluster_name") == "origin"] if "envoy_cluster_upstream_rq" in families else []
    total = [s for f in families.values() for s in f.samples if s.name == "envoy_cluster_upstream_rq_total" and s.labels.get("envoy_cluster_name") == "origin"]
    assert total and total[0].value == 1
    assert any(name.startswith("envoy_cluster_upstream_rq_time") for name in families)
    del rq


def test_access_log_records_flags(origin, tmp_path, start_proxy):
    log_path = tmp_path / "access.log"
    p = start_proxy(
        lambda port: simple_config(
            port,
            [origin.port],
            listener={"access_logs": [{"log_path": str(log_path), "log_format": "%REQ(:METHOD)% %REQ(:PATH)% %RESPONSE_CODE% %RESPONSE_FLAGS% %UPSTREAM_CLUSTER%"}]},
            routes=[{"match": {"prefix": "/echo"}, "route": {"cluster_name": "origin"}}],
        )
    )
    httpx.get(f"http://127.0.0.1:{p.port}/echo/x")
    httpx.get(f"http://127.0.0.1:{p.port}/missing")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        text = log_path.read_text() if log_path.exists() else ""
        if text.count("\n") >= 2:
            break
        time.sleep(0.1)
    lines = text.splitlines()
    assert lines[0] == "GET /echo/x 200 - origin"
    assert lines[1] == "GET /missing 404 NR -"


def test_graceful_stop_on_sigterm(proxy):
    assert httpx.get(f"http://127.0.0.1:{proxy.port}/echo").status_code == 200
    proxy.proc.terminate()
    assert proxy.proc.wait(10) == 0


def test_unused(tmp_path):
    assert free_port()
