"""The local rate limit through a real listener and origin, in both config formats: a route's
own bucket answering 429 (flag RL, details and body local_rate_limited, its response headers
and x-ratelimit headers), descriptors from a header (the filter's own rate_limits in the MOSN
form, the virtual host's in Envoy's), a gRPC call's status, Envoy's counters in /stats, one log
line per request and gauges back to zero. Then MOSN's flowControlFilter, and the bucket holding for the whole
proxy with two worker processes."""

from __future__ import annotations

import re
import socket
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.support import filter_env
from tests.support.admin import log_lines, stats, wait_for, wait_stats
from tests.support.filter_env import IDLE, LOG_FORMAT, line_count
from tests.support.origin import Origin
from tests.support.proxy import Pymosn, free_port, simple_config

TYPE = "type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit"
ALWAYS = {"runtime_key": "rl", "default_value": {"numerator": 100, "denominator": "HUNDRED"}}
HOUR = "3600s"  # no refill while a test runs

# the listener's: a bucket no test empties, and one token an hour per x-user alice
FILTER = {"stat_prefix": "rl_all", "filter_enabled": ALWAYS, "filter_enforced": ALWAYS,
          "token_bucket": {"max_tokens": 100000, "tokens_per_fill": 100000, "fill_interval": HOUR},
          "descriptors": [{"entries": [{"key": "user", "value": "alice"}],
                           "token_bucket": {"max_tokens": 1, "tokens_per_fill": 1, "fill_interval": HOUR}}]}
BY_USER = [{"actions": [{"request_headers": {"header_name": "x-user", "descriptor_key": "user"}}]}]
# the /limited route's own: two requests an hour
ROUTE = {"stat_prefix": "rl_route", "filter_enabled": ALWAYS, "filter_enforced": ALWAYS,
         "token_bucket": {"max_tokens": 2, "tokens_per_fill": 2, "fill_interval": HOUR},
         "enable_x_ratelimit_headers": "DRAFT_VERSION_03",
         "response_headers_to_add": [{"append_action": "OVERWRITE_IF_EXISTS_OR_ADD",
                                      "header": {"key": "x-local-rate-limit", "value": "true"}}]}

# gRPC calls to /echo/grpc: one an hour, then RESOURCE_EXHAUSTED
GRPC_ROUTE = {"stat_prefix": "rl_grpc", "filter_enabled": ALWAYS, "filter_enforced": ALWAYS,
              "token_bucket": {"max_tokens": 1, "tokens_per_fill": 1, "fill_interval": HOUR},
              "rate_limited_as_resource_exhausted": True}


def mosn_config(port: int, admin: int, origin: int, log: str) -> dict:
    routes = [{"match": {"prefix": "/limited"}, "route": {"cluster_name": "origin"},
               "per_filter_config": {"local_ratelimit": ROUTE}},
              {"match": {"prefix": "/echo/grpc"}, "route": {"cluster_name": "origin"},
               "per_filter_config": {"local_ratelimit": GRPC_ROUTE}},
              {"match": {"prefix": "/"}, "route": {"cluster_name": "origin"}}]
    listener = {"access_logs": [{"log_path": log, "log_format": LOG_FORMAT}],
                "stream_filters": [{"type": "local_ratelimit", "config": {**FILTER, "rate_limits": BY_USER}}]}
    return simple_config(port, [origin], admin_port=admin, routes=routes, listener=listener)


def envoy_config(port: int, admin: int, origin: int, log: str) -> dict:
    name = "envoy.filters.http.local_ratelimit"
    routes = [{"match": {"prefix": "/limited"}, "route": {"cluster": "origin"},
               "typed_per_filter_config": {name: {"@type": TYPE, **ROUTE}}},
              {"match": {"prefix": "/echo/grpc"}, "route": {"cluster": "origin"},
               "typed_per_filter_config": {name: {"@type": TYPE, **GRPC_ROUTE}}},
              {"match": {"prefix": "/"}, "route": {"cluster": "origin"}}]
    return filter_env.envoy_bootstrap(port, admin, origin, log, routes, [
        {"name": name, "typed_config": {"@type": TYPE, **FILTER}}], rate_limits=BY_USER)


@pytest.fixture(scope="module", params=["mosn", "envoy"])
def env(request, tmp_path_factory):
    yield from filter_env.start(request.param, tmp_path_factory, mosn_config, envoy_config)


def _get(proxy, path: str, **kwargs) -> httpx.Response:
    return filter_env.request(proxy, path, **kwargs)


def test_a_routes_bucket_answers_429_with_flag_details_and_headers(env):
    lines = line_count(env)
    answers = [_get(env, "/limited/echo") for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    ok, limited = answers[1], answers[2]
    assert (ok.headers["x-ratelimit-limit"], ok.headers["x-ratelimit-remaining"]) == ("2", "0")
    assert "x-local-rate-limit" not in ok.headers
    assert limited.content == b"local_rate_limited" and limited.headers["x-local-rate-limit"] == "true"
    assert (limited.headers["x-ratelimit-limit"], limited.headers["x-ratelimit-remaining"]) == ("2", "0")
    assert 0 < int(limited.headers["x-ratelimit-reset"]) <= 3600
    assert log_lines(env.log, lines + 3)[lines:] == [
        "200 - via_upstream /limited/echo", "200 - via_upstream /limited/echo", "429 RL local_rate_limited /limited/echo"]
    assert _get(env, "/echo/other").status_code == 200  # other routes: the filter's bucket
    wait_stats(env.admin_port, {**IDLE, "rl_route.http_local_rate_limit.enabled": 3,
                                "rl_route.http_local_rate_limit.ok": 2,
                                "rl_route.http_local_rate_limit.rate_limited": 1,
                                "rl_route.http_local_rate_limit.enforced": 1})


def test_a_descriptor_from_a_header_has_its_own_bucket(env):
    before = stats(env.admin_port)
    lines = line_count(env)
    alice = [_get(env, "/echo/a", headers={"x-user": "alice"}).status_code for _ in range(2)]
    bob = [_get(env, "/echo/b", headers={"x-user": "bob"}).status_code for _ in range(3)]
    assert alice == [200, 429] and bob == [200, 200, 200]
    # the five lines, in any order (each request's own connection), before the next test counts
    assert sorted(log_lines(env.log, lines + 5)[lines:]) == sorted(
        ["200 - via_upstream /echo/a", "429 RL local_rate_limited /echo/a"] + ["200 - via_upstream /echo/b"] * 3)
    prefix = "rl_all.http_local_rate_limit"
    wait_stats(env.admin_port, {**IDLE, f"{prefix}.enforced": before.get(f"{prefix}.enforced", 0) + 1,
                                f"{prefix}.ok": before.get(f"{prefix}.ok", 0) + 4})


def test_a_grpc_call_over_the_limit_gets_its_grpc_status(env):
    lines = line_count(env)
    headers = {"content-type": "application/grpc"}
    calls = [httpx.post(f"http://127.0.0.1:{env.port}/echo/grpc/Call", headers=headers, content=b"", timeout=10)
             for _ in range(2)]
    assert calls[0].status_code == 200 and "grpc-status" not in calls[0].headers  # the origin's answer
    limited = calls[1]
    assert (limited.status_code, limited.headers["grpc-status"]) == (200, "8")  # RESOURCE_EXHAUSTED
    assert log_lines(env.log, lines + 2)[-1].startswith("200 RL local_rate_limited /echo/grpc/Call")
    wait_stats(env.admin_port, {**IDLE, "rl_grpc.http_local_rate_limit.enforced": 1})


def test_mosn_flow_control_refuses_a_resource_over_its_qps(tmp_path):
    flow = {"global_switch": True, "limit_key_type": "PATH", "action": {"status": 503, "body": "blocked"},
            "rules": [{"resource": "/echo/hot", "threshold": 2, "statIntervalInMs": 3600000}]}
    with Origin() as origin:
        port, admin = free_port(), free_port()
        log = tmp_path / "access.log"
        listener = {"access_logs": [{"log_path": str(log), "log_format": LOG_FORMAT}],
                    "stream_filters": [{"type": "flowControlFilter", "config": flow}]}
        config = simple_config(port, [origin.port], admin_port=admin, listener=listener)
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("PYMOSN_FILE_FLUSH_INTERVAL_MSEC", "50")
            with Pymosn(config, tmp_path, port):
                hot = [httpx.get(f"http://127.0.0.1:{port}/echo/hot?x={i}", timeout=10) for i in range(3)]
                assert [r.status_code for r in hot] == [200, 200, 503] and hot[2].content == b"blocked"
                assert httpx.get(f"http://127.0.0.1:{port}/echo/cold", timeout=10).status_code == 200
                assert log_lines(log, 4)[2] == "503 RL flow_control_limited /echo/hot?x=2"
                wait_stats(admin, {**IDLE, "http.ingress.flow_control.passed": 2,
                                   "http.ingress.flow_control.blocked": 1})


# --- two workers, one bucket ------------------------------------------------------------------

MAX_TOKENS, TOKENS_PER_FILL, FILL_INTERVAL = 30, 15, 0.5
WORKERS, CLIENTS, WINDOW = 2, 8, 2.0
REQUEST = b"GET /echo/w HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"


def _status_of(port: int) -> int:
    """One request on a fresh connection (so the kernel spreads them over the workers)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(REQUEST)
        head = b""
        while b"\r\n" not in head:
            chunk = s.recv(4096)
            if not chunk:
                break
            head += chunk
    return int(head.split(b" ", 2)[1])


def _accepting(pid: int) -> bool:
    """Whether worker `pid` waits for connections on its listening socket: the socket is in its
    loop's epoll set (/proc/PID/fdinfo of the epoll descriptor lists each watched fd)."""
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    listening = int(argv[argv.index(b"--listen-fds") + 1].split(b",")[0])
    for info in Path(f"/proc/{pid}/fdinfo").iterdir():
        try:
            text = info.read_text()
        except OSError:
            continue
        if re.search(rf"^tfd:\s+{listening}\s", text, re.M):
            return True
    return False


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100  # utime + stime, in clock ticks of 1/100 s


def test_two_workers_admit_no_more_than_one_bucket_allows(tmp_path):
    limit = {"stat_prefix": "rl_workers", "filter_enabled": ALWAYS, "filter_enforced": ALWAYS,
             "token_bucket": {"max_tokens": MAX_TOKENS, "tokens_per_fill": TOKENS_PER_FILL,
                              "fill_interval": f"{FILL_INTERVAL}s"}}
    with Origin() as origin:
        port, admin = free_port(), free_port()
        config = simple_config(port, [origin.port], admin_port=admin,
                               listener={"stream_filters": [{"type": "local_ratelimit", "config": limit}]})
        with Pymosn(config, tmp_path, port, ["--concurrency", str(WORKERS)]) as proxy:
            assert proxy.proc is not None
            children = Path(f"/proc/{proxy.proc.pid}/task/{proxy.proc.pid}/children")
            wait_for(lambda: len(children.read_text().split()) == WORKERS, what="both workers started")
            workers = [int(pid) for pid in children.read_text().split()]
            wait_for(lambda: all(_accepting(pid) for pid in workers), timeout=30, what="both workers accepting")
            cpu_before = [_cpu_seconds(pid) for pid in workers]
            codes: list[int] = []
            lock = threading.Lock()
            started = time.monotonic()
            deadline = started + WINDOW

            def client() -> None:
                while time.monotonic() < deadline:
                    code = _status_of(port)
                    with lock:
                        codes.append(code)

            threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=60)
            span = time.monotonic() - started  # every admitted request was decided within it
            cpu = [_cpu_seconds(pid) - before for pid, before in zip(workers, cpu_before)]
            admitted, refused = codes.count(200), codes.count(429)
            assert admitted + refused == len(codes), set(codes)
            bound = MAX_TOKENS + TOKENS_PER_FILL * (int(span / FILL_INTERVAL) + 1) + (WORKERS - 1)
            assert MAX_TOKENS <= admitted <= bound, (admitted, refused, span, bound)
            assert refused > 0
            assert min(cpu) >= 0.1 * max(cpu) > 0, cpu  # both workers served the clients
            prefix = "rl_workers.http_local_rate_limit"
            wait_stats(admin, {f"{prefix}.ok": admitted, f"{prefix}.rate_limited": refused,
                               f"{prefix}.enforced": refused, "http.ingress.downstream_rq_active": 0})
