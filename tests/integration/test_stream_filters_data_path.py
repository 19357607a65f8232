"""Stream filters on a real listener's data path: a third-party filter (tests/support/
probe_filter.py, loaded from its entry point) between a real client and a real origin, over
HTTP/1.1. Each test checks the stream ended once (gauges at zero, one access-log line with
the status, flags and details)."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from tests.support.admin import log_lines, stats, wait_stats
from tests.support.filter_plugin import install_probe
from tests.support.origin import Origin
from tests.support.proxy import Pymosn, free_port, simple_config

LOG_FORMAT = "%RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS% %REQ(:METHOD)% %REQ(:PATH)%\n"
IDLE = {"http.ingress.downstream_rq_active": 0, "cluster.origin.upstream_rq_active": 0}


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("filters")
    with pytest.MonkeyPatch.context() as patch, Origin() as origin:
        patch.setenv("PYMOSN_FILE_FLUSH_INTERVAL_MSEC", "50")
        install_probe(tmp, patch)
        port, admin = free_port(), free_port()
        log = tmp / "access.log"
        config = simple_config(port, [origin.port], admin_port=admin,
                               listener={"access_logs": [{"log_path": str(log), "log_format": LOG_FORMAT}],
                                         "stream_filters": [{"type": "probe"}]})
        with Pymosn(config, tmp, port) as proxy:
            proxy.admin_port = admin
            yield proxy, origin, log


def _get(env, path: str, probe: str = "", **kwargs) -> httpx.Response:
    proxy = env[0]
    headers = {"x-probe": probe} if probe else {}
    return httpx.request(kwargs.pop("method", "GET"), f"http://127.0.0.1:{proxy.port}{path}", headers=headers,
                         timeout=10, **kwargs)


def _last_line(env, count: int) -> str:
    return log_lines(env[2], count)[-1]


def _count(env) -> int:
    return len(env[2].read_text().splitlines()) if env[2].exists() else 0


def test_requests_pass_the_filter_both_ways(env):
    before = _count(env)
    response = _get(env, "/echo/pass")
    assert response.status_code == 200
    assert json.loads(response.content)["headers"]["x-probe-seen"] == "1"  # set by the filter, seen upstream
    assert "x-probe-destroyed" in response.headers
    assert _last_line(env, before + 1) == "200 - via_upstream GET /echo/pass"
    wait_stats(env[0].admin_port, IDLE)


def test_a_filter_local_reply_is_logged_with_its_flag_and_details(env):
    before = _count(env)
    response = _get(env, "/echo/deny", "deny")
    assert response.status_code == 403 and response.content == b"probe denied"
    assert _last_line(env, before + 1) == "403 FI probe_denied GET /echo/deny"
    wait_stats(env[0].admin_port, IDLE)


def test_a_filter_that_raises_answers_500_ff_and_counts_while_others_are_served(env):
    before = _count(env)
    errors = stats(env[0].admin_port).get("http.ingress.downstream_rq_filter_error", 0)
    response = _get(env, "/echo/raise", "raise")
    assert response.status_code == 500
    assert _last_line(env, before + 1) == "500 FF filter_raised[probe] GET /echo/raise"
    response = _get(env, "/echo/raise-late", "raise-response")
    assert response.status_code == 500
    assert _last_line(env, before + 2) == "500 FF filter_raised[probe] GET /echo/raise-late"
    assert _get(env, "/echo/after").status_code == 200  # the worker carries on
    wait_stats(env[0].admin_port, {**IDLE, "http.ingress.downstream_rq_filter_error": errors + 2})


def test_a_buffering_filter_sees_the_whole_body_before_it_goes_upstream(env):
    def chunks():
        yield b"a" * 1000
        yield b"b" * 500

    response = _get(env, "/echo/buffer", "buffer", method="POST", content=chunks())
    echoed = json.loads(response.content)
    assert response.status_code == 200 and echoed["body_bytes"] == 1500
    assert echoed["headers"]["x-probe-length"] == "1500"
    wait_stats(env[0].admin_port, IDLE)


def test_a_delayed_request_continues_from_a_timer(env):
    response = _get(env, "/echo/delay", "delay")
    assert response.status_code == 200 and json.loads(response.content)["headers"]["x-probe-seen"] == "1"
    wait_stats(env[0].admin_port, IDLE)


def test_a_grpc_request_denied_by_a_filter_gets_a_grpc_status(env):
    headers = {"x-probe": "deny", "content-type": "application/grpc"}
    response = httpx.post(f"http://127.0.0.1:{env[0].port}/pkg.Svc/Call", headers=headers, content=b"", timeout=10)
    assert response.status_code == 200 and response.headers["grpc-status"] == "7"  # PERMISSION_DENIED
    assert response.headers["grpc-message"] == "probe denied"
    wait_stats(env[0].admin_port, IDLE)


def test_every_filter_is_destroyed_once(env):
    # a request sees the filters of the requests that ended before it destroyed (its own not
    # yet); on a busy machine the last one may still be ending, so read until all have, and
    # each read's own filter is one more to count
    first = int(_get(env, "/echo/n").headers["x-probe-destroyed"])
    for probe in ("", "deny", "raise", "delay"):
        _get(env, "/echo/n", probe)
    for reads in range(100):
        seen = int(_get(env, "/echo/n").headers["x-probe-destroyed"])
        assert seen <= first + 5 + reads, "a filter was destroyed more than once"
        if seen == first + 5 + reads:
            break
        time.sleep(0.05)
    else:
        raise AssertionError(f"filters not all destroyed: {seen} of {first + 5 + reads}")
