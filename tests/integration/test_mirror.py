"""Request mirroring through a real pymosn: a real primary origin answers, a real mirror gets the
copies (or is slow, refuses, resets, never connects, or does not read), and the primary's answer,
its latency and its single access-log line never depend on the mirror. After each test every
listener's downstream_rq_active, every cluster's upstream_rq_active and every host's rq_active
are back to zero."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx
import pytest

from tests.support.admin import hosts_rq_active, log_lines, stats, wait_for, wait_stats
from tests.support.envoy_bootstraps import ROUTER, address, bootstrap, cluster, hcm, listener, routes, typed
from tests.support.h2_client import H2Client
from tests.support.h2_origin import H2Origin
from tests.support.origin import Origin
from tests.support.proxy import Pymosn, free_port
from tests.support.raw_http import exchange
from tests.support.tcp_servers import TcpServer, blackhole

LISTENERS = ("main", "triple", "plain", "h2", "filtered")
# the "filtered" listener's stream filter, ahead of the mirror: copies carry what it adds
TAG_REQUEST = {"type": "header_mutation", "config": {"mutations": {
    "request_mutations": [{"append": {"header": {"key": "x-tagged", "value": "by-filter"}}}],
    "request_trailers_mutations": [{"append": {"header": {"key": "x-trailer-tag", "value": "t"}}}]}}}
CLUSTERS = ("origin", "shadow", "shadow2", "silent", "resetting", "deaf", "refused", "blackhole")
SLOW_TIMEOUT = "3s"  # the route timeout of the silent mirror (a copy's deadline), the blackhole's connect timeout
LOG_FORMAT = "%REQ(:PATH)% %RESPONSE_CODE% %RESPONSE_FLAGS%\n"
IDLE = {**{f"http.{name}.downstream_rq_active": 0 for name in LISTENERS},
        **{f"cluster.{name}.upstream_rq_active": 0 for name in CLUSTERS}}


class Env:
    def __init__(self, ports: dict[str, int], admin: int, logs: dict[str, Path], primary: Origin, mirror: Origin,
                 h2_mirror: H2Origin):
        self.ports, self.admin, self.logs = ports, admin, logs
        self.primary, self.mirror, self.h2_mirror = primary, mirror, h2_mirror

    def url(self, path: str, listener: str = "main") -> str:
        return f"http://127.0.0.1:{self.ports[listener]}{path}"


def _route(case: str, policy: dict | None, timeout: str = "") -> dict:
    route: dict = {"match": {"prefix": "/", "headers": [{"name": "x-case", "value": case}]},
                   "route": {"cluster_name": "origin", **({"timeout": timeout} if timeout else {})}}
    if policy is not None:
        route["request_mirror_policies"] = policy
    return route


def _routes() -> list[dict]:
    return [
        _route("full", {"cluster": "shadow", "percent": 100}),
        _route("h2", {"cluster": "shadow2", "percent": 100}),
        _route("none", {"cluster": "shadow", "percent": 0}),
        _route("silent", {"cluster": "silent", "percent": 100}, SLOW_TIMEOUT),
        _route("blackhole", {"cluster": "blackhole", "percent": 100}, "20s"),  # the connect timeout ends it first
        _route("refused", {"cluster": "refused", "percent": 100}),
        _route("reset", {"cluster": "resetting", "percent": 100}),
        _route("deaf", {"cluster": "deaf", "percent": 100}),
        _route("header", {"cluster_header": "x-mirror-to", "percent": 100, "host_suffix": "-shadow"}),
    ]


def _listener(name: str, port: int, log: Path, amplification: int | None, protocol: str = "Http1") -> dict:
    out = {
        "name": name,
        "address": f"127.0.0.1:{port}",
        "filter_chains": [{"filters": [{"type": "proxy", "config": {
            "downstream_protocol": protocol, "upstream_protocol": "Http1", "router_config_name": "r"}}]}],
        "access_logs": [{"log_path": str(log), "log_format": LOG_FORMAT}],
    }
    if amplification is not None:
        out["stream_filters"] = [{"type": "mirror", "config": {"amplification": amplification}}]
    if name == "filtered":
        out["stream_filters"].insert(0, TAG_REQUEST)
    return out


def _cluster(name: str, port: int, **extra) -> dict:
    return {"name": name, "type": "SIMPLE", "lb_type": "LB_ROUNDROBIN", "hosts": [{"address": f"127.0.0.1:{port}"}],
            **extra}


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("mirror")
    dead = socket.socket()  # bound, never listening: every connect is refused
    dead.bind(("127.0.0.1", 0))
    silent, resetting, deaf = TcpServer("count"), TcpServer("reset"), TcpServer("deaf")
    with pytest.MonkeyPatch.context() as patch, Origin("primary") as primary, Origin("mirror") as mirror, \
            H2Origin() as h2_mirror, blackhole() as hole, dead:
        patch.setenv("PYMOSN_FILE_FLUSH_INTERVAL_MSEC", "50")
        ports = {name: free_port() for name in LISTENERS}
        admin = free_port()
        logs = {name: tmp / f"{name}.log" for name in LISTENERS}
        config = {
            "servers": [{
                "listeners": [_listener("main", ports["main"], logs["main"], 1),
                              _listener("triple", ports["triple"], logs["triple"], 3),
                              _listener("plain", ports["plain"], logs["plain"], None),
                              _listener("h2", ports["h2"], logs["h2"], 1, "Http2"),
                              _listener("filtered", ports["filtered"], logs["filtered"], 1)],
                "routers": [{"router_config_name": "r",
                             "virtual_hosts": [{"name": "all", "domains": ["*"], "routers": _routes()}]}],
            }],
            "cluster_manager": {"clusters": [
                _cluster("origin", primary.port),
                _cluster("shadow", mirror.port),
                _cluster("shadow2", h2_mirror.port, upstream_protocol="Http2"),
                _cluster("silent", silent.port),
                _cluster("resetting", resetting.port),
                _cluster("deaf", deaf.port),
                _cluster("refused", dead.getsockname()[1]),
                _cluster("blackhole", hole, connect_timeout=SLOW_TIMEOUT),
            ]},
            "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin}}},
        }
        try:
            with Pymosn(config, tmp, ports["main"]):
                yield Env(ports, admin, logs, primary, mirror, h2_mirror)
        finally:
            for server in (silent, resetting, deaf):
                server.close()


@pytest.fixture(autouse=True)
def fresh(env):
    """Each test sees only its own requests at the origins."""
    wait_stats(env.admin, IDLE)
    env.primary.requests.clear()
    env.mirror.requests.clear()
    env.h2_mirror.requests.clear()


def _idle(env: Env) -> dict[str, int]:
    """Waits for every counter the copies raised to fall back; returns the stats."""
    current = wait_stats(env.admin, IDLE, timeout=15)
    wait_for(lambda: not any(hosts_rq_active(env.admin).values()), what="every host's rq_active at 0")
    return current


def _lines(env: Env, path: str, count: int, listener: str = "main") -> list[str]:
    """The access-log lines of `path`, once there are `count` (a copy writes none: callers
    compare the whole list after the copies have ended)."""

    def mine() -> list[str]:
        return [line for line in log_lines(env.logs[listener], 0) if line.startswith(path + " ")]

    wait_for(lambda: len(mine()) >= count, what=f"{count} access-log lines for {path}")
    return mine()


def _counter(env: Env, name: str) -> int:
    return stats(env.admin).get(name, 0)


# --- copies that arrive ------------------------------------------------------------------------


def test_every_request_is_copied_with_its_body(env):
    body = b"b" * 200_000
    before = _counter(env, "cluster.shadow.upstream_rq_total")
    with httpx.Client(timeout=10) as client:
        for i in range(3):
            r = client.post(env.url(f"/mirror/full{i}"), content=body, headers={"x-case": "full", "host": "app.example:8080"})
            assert (r.status_code, r.content) == (200, body)
        r = client.get(env.url("/echo/full-get"), headers={"x-case": "full", "host": "app.example"})
        assert r.status_code == 200
    wait_for(lambda: len(env.mirror.requests) == 4, what="four copies at the mirror")
    copies = sorted(env.mirror.requests, key=lambda request: request["path"])
    assert [c["path"] for c in copies] == ["/echo/full-get", "/mirror/full0", "/mirror/full1", "/mirror/full2"]
    assert copies[0]["headers"]["host"] == "app.example"  # MOSN's mirror keeps the Host (Envoy's: below)
    for copy in copies[1:]:
        assert copy["body"] == body and copy["method"] == "POST"
        assert copy["headers"]["host"] == "app.example:8080"
        assert "x-forwarded-for" in copy["headers"] and copy["headers"]["x-case"] == "full"
    assert {p["headers"]["host"] for p in env.primary.requests} == {"app.example:8080", "app.example"}
    # the copy is the same request: the original's request id
    ids = {p["path"]: p["headers"]["x-request-id"] for p in env.primary.requests}
    assert all(ids[c["path"]] == c["headers"]["x-request-id"] for c in copies)
    current = _idle(env)
    assert current["cluster.shadow.upstream_rq_total"] - before == 4
    assert current["cluster.shadow.upstream_rq_2xx"] >= 4
    for i in range(3):
        assert _lines(env, f"/mirror/full{i}", 1) == [f"/mirror/full{i} 200 -"]


def test_chunked_request_with_trailers_is_copied_whole(env):
    raw = (b"POST /mirror/trailers HTTP/1.1\r\nHost: t\r\nx-case: full\r\nTransfer-Encoding: chunked\r\n"
           b"Connection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\nx-checksum: abc\r\n\r\n")
    answer = exchange(env.ports["main"], raw)
    assert answer.startswith(b"HTTP/1.1 200")
    wait_for(lambda: env.mirror.requests, what="the copy")
    (copy,) = env.mirror.requests
    assert copy["body"] == b"hello world" and copy["headers"]["x-checksum"] == "abc"
    assert copy["headers"]["host"] == "t"
    _idle(env)
    assert _lines(env, "/mirror/trailers", 1) == ["/mirror/trailers 200 -"]


def test_copies_to_an_http2_mirror_carry_body_and_trailers(env):
    raw = (b"POST /mirror/h2 HTTP/1.1\r\nHost: t\r\nx-case: h2\r\nTransfer-Encoding: chunked\r\n"
           b"Connection: close\r\n\r\n5\r\nhello\r\n0\r\nx-checksum: abc\r\n\r\n")
    assert exchange(env.ports["main"], raw).startswith(b"HTTP/1.1 200")
    body = b"y" * 300_000
    assert httpx.post(env.url("/mirror/h2-big"), content=body, headers={"x-case": "h2"}, timeout=10).content == body
    wait_for(lambda: len(env.h2_mirror.requests) == 2, what="two copies at the HTTP/2 mirror")
    small, big = sorted(env.h2_mirror.requests, key=lambda request: request["path"])
    assert (small["path"], small["body_bytes"], small["trailers"]) == ("/mirror/h2", 5, [("x-checksum", "abc")])
    assert (big["path"], big["body_bytes"]) == ("/mirror/h2-big", len(body))
    _idle(env)
    assert _lines(env, "/mirror/h2", 1) == ["/mirror/h2 200 -"]


def test_http2_clients_requests_are_copied_and_a_reset_one_is_dropped(env):
    before = stats(env.admin).get("cluster.shadow.upstream_rq_shadow_dropped", 0)
    with H2Client(env.ports["h2"]) as client:
        sid = client.request("/mirror/h2down", "POST", headers=[("x-case", "full")], end_stream=False)
        client.send_body(sid, b"over h2", end_stream=False)
        client.trailers(sid, [(b"x-checksum", b"h2")])
        assert client.response(sid).status == 200
        cut = client.request("/mirror/h2cut", "POST", headers=[("x-case", "full")], end_stream=False)
        client.send_body(cut, b"part", end_stream=False)
        wait_for(lambda: stats(env.admin)["cluster.shadow.upstream_rq_active"] == 1, what="the second copy under way")
        client.reset(cut)
        current = _idle(env)
    assert current["cluster.shadow.upstream_rq_shadow_dropped"] - before == 1
    (copy,) = [c for c in env.mirror.requests if c["path"] == "/mirror/h2down"]
    assert copy["body"] == b"over h2" and copy["headers"]["x-checksum"] == "h2"
    assert _lines(env, "/mirror/h2down", 1, "h2") == ["/mirror/h2down 200 -"]
    assert _lines(env, "/mirror/h2cut", 1, "h2") == ["/mirror/h2cut 0 DR"]


def test_copies_take_the_request_as_the_stream_filters_pass_it_on(env):
    raw = (b"POST /mirror/filtered HTTP/1.1\r\nHost: t\r\nx-case: full\r\nTransfer-Encoding: chunked\r\n"
           b"Connection: close\r\n\r\n3\r\nabc\r\n0\r\nx-checksum: abc\r\n\r\n")
    assert exchange(env.ports["filtered"], raw).startswith(b"HTTP/1.1 200")
    wait_for(lambda: env.mirror.requests, what="the copy")
    (copy,) = env.mirror.requests
    (original,) = env.primary.requests
    assert copy["body"] == original["body"] == b"abc"
    for request in (copy, original):
        headers = request["headers"]
        assert (headers["x-tagged"], headers["x-trailer-tag"], headers["x-checksum"]) == ("by-filter", "t", "abc")
    _idle(env)
    assert _lines(env, "/mirror/filtered", 1, "filtered") == ["/mirror/filtered 200 -"]


def test_a_zero_percent_policy_copies_nothing(env):
    with httpx.Client(timeout=10) as client:
        for i in range(5):
            assert client.post(env.url(f"/mirror/none{i}"), content=b"x", headers={"x-case": "none"}).status_code == 200
    assert len(env.primary.requests) == 5
    _idle(env)
    assert env.mirror.requests == []


def test_amplification_sends_that_many_copies_and_no_filter_sends_none(env):
    assert httpx.post(env.url("/mirror/triple", "triple"), content=b"abc", headers={"x-case": "full"}).status_code == 200
    wait_for(lambda: len(env.mirror.requests) == 3, what="three copies")
    assert all(c["body"] == b"abc" for c in env.mirror.requests)
    # the same routes on a listener without MOSN's mirror filter: no copy, as in MOSN
    assert httpx.post(env.url("/mirror/plain", "plain"), content=b"abc", headers={"x-case": "full"}).status_code == 200
    _idle(env)
    assert [c["path"] for c in env.mirror.requests] == ["/mirror/triple"] * 3
    assert _lines(env, "/mirror/triple", 1, "triple") == ["/mirror/triple 200 -"]
    assert _lines(env, "/mirror/plain", 1, "plain") == ["/mirror/plain 200 -"]


def test_cluster_header_names_the_mirror_or_skips_the_copy(env):
    with httpx.Client(timeout=10) as client:
        named = client.get(env.url("/echo/named"), headers={"x-case": "header", "x-mirror-to": "shadow"})
        unnamed = client.get(env.url("/echo/unnamed"), headers={"x-case": "header"})
        unknown = client.get(env.url("/echo/unknown"), headers={"x-case": "header", "x-mirror-to": "nosuch"})
    assert [r.status_code for r in (named, unnamed, unknown)] == [200, 200, 200]
    _idle(env)
    assert [c["path"] for c in env.mirror.requests] == ["/echo/named"]
    assert env.mirror.requests[0]["headers"]["host"] == f"127.0.0.1-shadow:{env.ports['main']}"


# --- mirrors that fail never touch the original ------------------------------------------------


def test_a_mirror_that_never_answers_neither_delays_nor_changes_the_answer(env):
    before = stats(env.admin)
    r = httpx.post(env.url("/mirror/silent"), content=b"payload", headers={"x-case": "silent"}, timeout=10)
    assert (r.status_code, r.content) == (200, b"payload")
    # answered while the copy is still waiting for its mirror
    assert stats(env.admin)["cluster.silent.upstream_rq_active"] == 1
    current = _idle(env)  # the copy's own deadline (the route timeout) ends it
    assert current["cluster.silent.upstream_rq_timeout"] - before.get("cluster.silent.upstream_rq_timeout", 0) == 1
    assert current["cluster.silent.upstream_rq_shadow_failed"] - before.get("cluster.silent.upstream_rq_shadow_failed", 0) == 1
    assert current["cluster.origin.upstream_rq_timeout"] == before.get("cluster.origin.upstream_rq_timeout", 0)
    assert _lines(env, "/mirror/silent", 1) == ["/mirror/silent 200 -"]


def test_a_blackholed_mirror_does_not_hold_the_answer(env):
    before = stats(env.admin)
    r = httpx.post(env.url("/mirror/hole"), content=b"payload", headers={"x-case": "blackhole"}, timeout=10)
    assert (r.status_code, r.content) == (200, b"payload")
    assert stats(env.admin)["cluster.blackhole.upstream_rq_active"] == 1  # still connecting
    current = _idle(env)  # the connect times out: the copy is dropped
    assert current["cluster.blackhole.upstream_rq_shadow_dropped"] - before.get("cluster.blackhole.upstream_rq_shadow_dropped", 0) == 1
    assert current["cluster.blackhole.upstream_rq_total"] == before.get("cluster.blackhole.upstream_rq_total", 0)
    assert _lines(env, "/mirror/hole", 1) == ["/mirror/hole 200 -"]


@pytest.mark.parametrize(("case", "cluster", "counter"), [
    ("refused", "refused", "upstream_rq_shadow_dropped"),
    ("reset", "resetting", "upstream_rq_shadow_failed"),
])
def test_a_mirror_that_refuses_or_resets_changes_nothing(env, case, cluster, counter):
    before = stats(env.admin).get(f"cluster.{cluster}.{counter}", 0)
    with httpx.Client(timeout=10) as client:
        for i in range(3):
            r = client.post(env.url(f"/mirror/{case}{i}"), content=b"payload", headers={"x-case": case})
            assert (r.status_code, r.content) == (200, b"payload")
    current = _idle(env)
    wait_for(lambda: stats(env.admin)[f"cluster.{cluster}.{counter}"] - before == 3, what=f"3 {counter}")
    assert current["cluster.origin.upstream_rq_5xx"] == stats(env.admin)["cluster.origin.upstream_rq_5xx"]
    for i in range(3):
        assert _lines(env, f"/mirror/{case}{i}", 1) == [f"/mirror/{case}{i} 200 -"]


def test_a_mirror_that_does_not_read_loses_the_copy_not_the_original(env):
    body = b"z" * (16 * 1024 * 1024)  # more than the kernel buffers and the cluster's buffer limit
    before = stats(env.admin).get("cluster.deaf.upstream_rq_shadow_dropped", 0)
    r = httpx.post(env.url("/echo/deaf"), content=body, headers={"x-case": "deaf"}, timeout=30)
    assert r.status_code == 200 and r.json()["body_bytes"] == len(body)
    current = _idle(env)
    assert current["cluster.deaf.upstream_rq_shadow_dropped"] - before == 1
    assert _lines(env, "/echo/deaf", 1) == ["/echo/deaf 200 -"]


def test_a_copy_whose_original_is_cut_short_is_dropped(env):
    before = stats(env.admin).get("cluster.shadow.upstream_rq_shadow_dropped", 0)
    sock = socket.create_connection(("127.0.0.1", env.ports["main"]))
    sock.sendall(b"POST /mirror/cut HTTP/1.1\r\nHost: c\r\nx-case: full\r\nContent-Length: 100\r\n\r\nonly part")
    wait_for(lambda: stats(env.admin)["cluster.shadow.upstream_rq_active"] == 1, what="the copy under way")
    sock.close()  # the client goes away before its request is whole
    current = _idle(env)
    assert current["cluster.shadow.upstream_rq_shadow_dropped"] - before == 1
    assert _lines(env, "/mirror/cut", 1) == ["/mirror/cut 0 DC"]


# --- Envoy's shape ---------------------------------------------------------------------------------


def test_envoy_request_mirror_policies(tmp_path):
    with Origin("primary") as primary, Origin("mirror") as mirror:
        port, admin = free_port(), free_port()
        vhost_routes = routes(
            {"match": {"prefix": "/all"}, "route": {"cluster": "app", "request_mirror_policies": [{"cluster": "copy"}]}},
            {"match": {"prefix": "/bare"}, "route": {"cluster": "app", "request_mirror_policies": [
                {"cluster": "copy", "disable_shadow_host_suffix_append": True}]}},
            {"match": {"prefix": "/never"}, "route": {"cluster": "app", "request_mirror_policies": [
                {"cluster": "copy", "runtime_fraction": {"default_value": {"numerator": 0}}}]}},
            {"match": {"prefix": "/"}, "route": {"cluster": "app"}},
        )
        vhost_routes["virtual_hosts"][0]["routes"][3]["route"]["timeout"] = "5s"
        tag = typed("tag", "envoy.extensions.filters.http.header_mutation.v3.HeaderMutation", mutations={
            "request_mutations": [{"append": {"header": {"key": "x-tagged", "value": "yes"}}}]})
        manager = hcm(vhost_routes, http_filters=[tag, ROUTER])
        raw = bootstrap(listener(manager, address={"socket_address": {"address": "127.0.0.1", "port_value": port}}),
                        clusters=[cluster("app", primary.port), cluster("copy", mirror.port)],
                        admin={"address": address(admin)})
        # the virtual host's policies serve the routes that have none
        raw["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]["route_config"][
            "virtual_hosts"][0]["request_mirror_policies"] = [{"cluster": "copy"}]
        with Pymosn(raw, tmp_path, port), httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            for path in ("/all/1", "/bare/1", "/never/1", "/other/1"):
                assert client.post(path, content=b"q", headers={"host": "svc:80"}).status_code == 200
            wait_for(lambda: len(mirror.requests) == 3, what="three copies")
            wait_stats(admin, {"cluster.copy.upstream_rq_active": 0, "cluster.app.upstream_rq_active": 0,
                               "http.l0.downstream_rq_active": 0})
        hosts = {c["path"]: c["headers"]["host"] for c in mirror.requests}
        assert hosts == {"/all/1": "svc-shadow:80", "/bare/1": "svc:80", "/other/1": "svc-shadow:80"}
        assert all(c["headers"]["x-tagged"] == "yes" for c in mirror.requests)  # after the http filters
