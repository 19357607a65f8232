"""The admin server on a real socket (127.0.0.1:0), queried with httpx and raw sockets."""

import asyncio
import json
import re

import httpx
from prometheus_client.parser import text_string_to_metric_families

from pymosn.admin import AdminServer
from pymosn.metrics import StatsStore

CLUSTERS = [
    {
        "name": "backend",
        "hosts": [
            {
                "address": "10.0.0.1:8080",
                "weight": 2,
                "health": "healthy",
                "stats": {
                    "cx_active": 1,
                    "cx_total": 4,
                    "rq_total": 9,
                    "rq_active": 0,
                    "rq_success": 8,
                    "rq_error": 1,
                    "rq_timeout": 0,
                    "cx_connect_fail": 0,
                },  # fmt: skip
            },
            {"address": "10.0.0.2:8080", "weight": 1, "health": "unhealthy", "stats": {"cx_active": 0}},
        ],
    }
]


class Harness:
    def __init__(self):
        self.store = StatsStore()
        self.store.cluster("backend").upstream_rq_total = 9
        self.store.cluster("backend").upstream_rq_time.record(12)
        self.store.listener("ingress").downstream_rq_2xx = 5
        self.live = True
        self.quit_calls = 0
        self.drain_calls = 0
        self.server = AdminServer(
            self.store,
            config_dump=lambda: {"listeners": [{"name": "ingress"}], "tls": {"private_key": "SECRET"}},
            clusters=lambda: CLUSTERS,
            listeners=lambda: [{"name": "ingress", "address": "127.0.0.1:2045"}],
            on_quit=self._quit,
            on_drain=self._drain,
            ready=lambda: self.live,
        )

    def _quit(self):
        self.quit_calls += 1

    def _drain(self):
        self.drain_calls += 1
        self.live = False


def run(scenario):
    """Start the server on an ephemeral port, run `scenario(harness, client, port)`, stop."""

    async def main():
        h = Harness()
        host, port = await h.server.start("127.0.0.1", 0)
        assert host == "127.0.0.1" and port > 0
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
                return await scenario(h, client, port)
        finally:
            await h.server.stop()

    return asyncio.run(main())


async def raw(port: int, data: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    out = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    return out


def test_ready_live_then_draining():
    async def scenario(h, client, port):
        r = await client.get("/ready")
        assert (r.status_code, r.text) == (200, "LIVE\n")
        h.live = False
        r = await client.get("/ready")
        assert r.status_code == 503

    run(scenario)


def test_stats_text_filter_json_prometheus():
    async def scenario(h, client, port):
        r = await client.get("/stats")
        assert r.status_code == 200
        assert "cluster.backend.upstream_rq_total: 9" in r.text.splitlines()
        r = await client.get("/stats", params={"filter": "downstream_rq_2xx"})
        assert r.text.splitlines() == ["http.ingress.downstream_rq_2xx: 5"]
        r = await client.get("/stats?format=json")
        assert r.headers["content-type"] == "application/json"
        names = {s["name"]: s["value"] for s in r.json()["stats"] if "name" in s}
        assert names["cluster.backend.upstream_rq_total"] == 9
        r = await client.get("/stats?format=prometheus&filter=upstream_rq_total")
        assert "envoy_cluster_upstream_rq_total" in r.text
        r = await client.get("/stats?filter=(")
        assert r.status_code == 400
        assert "invalid filter regex" in r.text
        r = await client.get("/stats?format=xml")
        assert r.status_code == 400
        # data-path changes show up on the next request: everything renders at request time
        h.store.cluster("backend").upstream_rq_total += 1
        r = await client.get("/stats?filter=backend.upstream_rq_total")
        assert r.text == "cluster.backend.upstream_rq_total: 10\n"

    run(scenario)


def test_stats_prometheus_endpoint():
    async def scenario(h, client, port):
        r = await client.get("/stats/prometheus")
        assert r.status_code == 200
        assert r.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
        families = {f.name: f for f in text_string_to_metric_families(r.text)}
        assert families["envoy_cluster_upstream_rq_time"].type == "histogram"
        sample = families["envoy_cluster_upstream_rq"].samples[0]
        assert sample.labels == {"envoy_cluster_name": "backend"} and sample.value == 9

    run(scenario)


def test_config_dump_redacts_secrets_and_mosn_alias():
    async def scenario(h, client, port):
        for path in ("/config_dump", "/api/v1/config_dump"):
            r = await client.get(path)
            assert r.status_code == 200
            doc = r.json()
            assert doc["listeners"] == [{"name": "ingress"}]
            assert doc["tls"]["private_key"] == "[redacted]"
            assert "SECRET" not in r.text

    run(scenario)


def test_clusters_text_and_json():
    async def scenario(h, client, port):
        r = await client.get("/clusters")
        lines = r.text.splitlines()
        assert "backend::10.0.0.1:8080::cx_active::1" in lines
        assert "backend::10.0.0.1:8080::rq_total::9" in lines
        assert "backend::10.0.0.1:8080::weight::2" in lines
        assert "backend::10.0.0.1:8080::health_flags::healthy" in lines
        assert "backend::10.0.0.2:8080::health_flags::/failed_active_hc" in lines
        r = await client.get("/clusters?format=json")
        status = r.json()["cluster_statuses"][0]
        assert status["name"] == "backend"
        host = status["host_statuses"][0]
        assert host["address"] == {"socket_address": {"address": "10.0.0.1", "port_value": 8080}}
        stats = {s["name"]: (s["value"], s["type"]) for s in host["stats"]}
        assert stats["cx_active"] == ("1", "GAUGE")
        assert stats["rq_total"] == ("9", "COUNTER")

    run(scenario)


def test_listeners_and_server_info():
    async def scenario(h, client, port):
        r = await client.get("/listeners")
        assert r.text == "ingress::127.0.0.1:2045\n"
        r = await client.get("/listeners?format=json")
        assert r.json()["listener_statuses"][0]["local_address"]["socket_address"]["port_value"] == 2045
        r = await client.get("/server_info")
        info = r.json()
        assert info["state"] == "LIVE"
        assert info["version"]
        assert info["uptime_current_epoch"].endswith("s")
        r = await client.get("/api/v1/version")
        assert r.text.strip() == info["version"]

    run(scenario)


def test_quit_and_drain_are_post_only_and_call_back():
    async def scenario(h, client, port):
        r = await client.get("/quitquitquit")
        assert r.status_code == 405
        assert r.headers["allow"] == "POST"
        assert h.quit_calls == 0
        r = await client.post("/drain_listeners")
        assert (r.status_code, r.text) == (200, "OK\n")
        await asyncio.sleep(0.05)
        assert h.drain_calls == 1
        r = await client.get("/server_info")
        assert r.json()["state"] == "DRAINING"
        r = await client.post("/quitquitquit")
        assert r.status_code == 200
        await asyncio.sleep(0.05)
        assert h.quit_calls == 1

    run(scenario)


def test_wrong_method_on_get_endpoint():
    async def scenario(h, client, port):
        r = await client.post("/stats")
        assert r.status_code == 405
        r = await client.delete("/ready")
        assert r.status_code == 405

    run(scenario)


def test_unknown_path_404_and_help():
    async def scenario(h, client, port):
        r = await client.get("/nope")
        assert r.status_code == 404
        assert "/nope" in r.text
        r = await client.get("/")
        assert r.status_code == 200
        for path in (
            "/ready",
            "/stats/prometheus",
            "/config_dump",
            "/clusters",
            "/quitquitquit",
            "/api/v1/stats",
        ):
            assert path in r.text

    run(scenario)


def test_mosn_stats_alias_is_json():
    async def scenario(h, client, port):
        r = await client.get("/api/v1/stats")
        assert r.headers["content-type"] == "application/json"
        assert json.loads(r.text)["stats"]

    run(scenario)


def test_keep_alive_pipelining_and_connection_close():
    async def scenario(h, client, port):
        out = await raw(
            port,
            b"GET /ready HTTP/1.1\r\nHost: a\r\n\r\n"
            b"GET /nope HTTP/1.1\r\nHost: a\r\n\r\n"
            b"GET /ready HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        )
        # three answers in order, then the server closed (read() returned)
        statuses = re.findall(rb"HTTP/1\.1 \d+ [^\r]*", out)
        assert statuses == [b"HTTP/1.1 200 OK", b"HTTP/1.1 404 Not Found", b"HTTP/1.1 200 OK"]
        assert out.count(b"connection: close") == 1

    run(scenario)


def test_http10_closes_and_head_has_no_body():
    async def scenario(h, client, port):
        out = await raw(port, b"GET /ready HTTP/1.0\r\n\r\n")
        assert out.startswith(b"HTTP/1.1 200 OK") and out.endswith(b"\r\n\r\nLIVE\n")
        out = await raw(port, b"HEAD /ready HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        assert out.startswith(b"HTTP/1.1 200 OK") and out.endswith(b"\r\n\r\n")
        assert b"content-length: 5" in out

    run(scenario)


def test_malformed_and_oversized_requests():
    async def scenario(h, client, port):
        out = await raw(port, b"GET /ready HTTP/1.1\r\nHost a\r\n\r\n")
        assert out.startswith(b"HTTP/1.1 400 ")
        out = await raw(port, b"GET /ready HTTP/1.1\r\nHost: a\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n")
        assert out.startswith(b"HTTP/1.1 431 ")
        out = await raw(
            port, b"POST /quitquitquit HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\n" + b"x" * 100000
        )
        assert out.startswith(b"HTTP/1.1 413 ")
        assert h.quit_calls == 0

    run(scenario)


def test_stop_closes_open_connections():
    async def main():
        h = Harness()
        _, port = await h.server.start("127.0.0.1", 0)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /ready HTTP/1.1\r\nHost: a\r\n\r\n")
        await reader.readuntil(b"LIVE\n")
        await asyncio.wait_for(h.server.stop(), 5)
        assert await asyncio.wait_for(reader.read(), 5) == b""
        try:
            await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            pass
        else:
            raise AssertionError("admin port still accepting after stop()")

    asyncio.run(main())
