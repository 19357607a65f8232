"""The rate limits on a real Bolt listener, between a real Bolt client and a real Bolt upstream:
Envoy's local rate limit (a route's bucket, x-ratelimit headers written into the Bolt response's
header map, a descriptor from a Bolt header) and MOSN's flowControlFilter (a rule on the RPC
service). A limited call gets the codec's own status (MOSN's LimitExceededCode 509 is Bolt's
UNKNOWN), never reaches the upstream, is counted in /stats and logged once with flag RL; gauges
return to zero."""

from __future__ import annotations

import pytest

from pymosn.protocol.xprotocol import bolt
from pymosn.protocol.xprotocol.api import FrameKind
from tests.integration.test_xprotocol import rpc_config
from tests.support.admin import log_lines, stats, wait_stats
from tests.support.proxy import Pymosn, free_port
from tests.support.xexample_peer import BOLT, XExampleClient, XExampleServer

LOG_FORMAT = "%RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS% %REQ(SERVICE)% %REQ(X-USER)%\n"
IDLE = {"http.rpc.downstream_rq_active": 0, "cluster.a.upstream_rq_active": 0, "rpc.bolt.downstream_rq_active": 0}
ALWAYS = {"runtime_key": "rl", "default_value": {"numerator": 100, "denominator": "HUNDRED"}}
HOUR = "3600s"  # no refill while a test runs
LIMITED, HOT, PLAIN = "com.acme.Limited:1.0", "com.acme.Hot:1.0", "com.acme.Echo:1.0"

# the listener's bucket, which no test empties, and one call an hour for x-user alice
FILTER = {"stat_prefix": "rl_all", "filter_enabled": ALWAYS, "filter_enforced": ALWAYS,
          "token_bucket": {"max_tokens": 100000, "tokens_per_fill": 100000, "fill_interval": HOUR},
          "descriptors": [{"entries": [{"key": "user", "value": "alice"}],
                           "token_bucket": {"max_tokens": 1, "tokens_per_fill": 1, "fill_interval": HOUR}}],
          "rate_limits": [{"actions": [{"request_headers": {"header_name": "x-user", "descriptor_key": "user"}}]}]}
# the LIMITED service's route: two calls an hour, with x-ratelimit headers
ROUTE = {"stat_prefix": "rl_route", "filter_enabled": ALWAYS, "filter_enforced": ALWAYS,
         "token_bucket": {"max_tokens": 2, "tokens_per_fill": 2, "fill_interval": HOUR},
         "enable_x_ratelimit_headers": "DRAFT_VERSION_03"}
# MOSN's flow control: the HOT service, once an hour (its resource is the RPC service)
FLOW = {"global_switch": True, "limit_key_type": "PATH",
        "rules": [{"resource": HOT, "threshold": 1, "statIntervalInMs": 3600000}]}


def _service(name: str) -> dict:
    return {"headers": [{"name": "service", "value": name}]}


ROUTES = [
    {"match": _service(LIMITED), "route": {"cluster_name": "a"}, "per_filter_config": {"local_ratelimit": ROUTE}},
    {"match": {"headers": [{"name": "service", "value": ".*", "regex": True}]}, "route": {"cluster_name": "a"}},
]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("rpc_rate_limits")
    with pytest.MonkeyPatch.context() as patch, XExampleServer("a", dialect=BOLT) as upstream:
        patch.setenv("PYMOSN_FILE_FLUSH_INTERVAL_MSEC", "50")
        port, admin = free_port(), free_port()
        log = tmp / "access.log"
        config = rpc_config(port, admin, {"a": [upstream.port]}, protocol="bolt", routes=ROUTES)
        config["servers"][0]["listeners"][0].update(
            access_logs=[{"log_path": str(log), "log_format": LOG_FORMAT}],
            stream_filters=[{"type": "local_ratelimit", "config": FILTER},
                            {"type": "flowControlFilter", "config": FLOW}])
        with Pymosn(config, tmp, port) as proxy:
            proxy.admin_port = admin
            yield proxy, upstream, log


def _lines(env) -> int:
    return len(env[2].read_text().splitlines()) if env[2].exists() else 0


def _calls(env, headers: dict, count: int) -> list:
    client = XExampleClient(env[0].port, dialect=BOLT)
    try:
        return [client.call(headers, b"x") for _ in range(count)]
    finally:
        client.close()


def test_a_routes_local_rate_limit_answers_the_bolt_status_with_x_ratelimit_headers(env):
    proxy, upstream, log = env
    before, served = _lines(env), len(upstream.requests)
    answers = _calls(env, {"service": LIMITED}, 3)
    assert [a.kind for a in answers] == [FrameKind.RESPONSE] * 3
    assert [a.status for a in answers] == [bolt.SUCCESS, bolt.SUCCESS, bolt.UNKNOWN]  # 429 -> 509 -> UNKNOWN
    assert len(upstream.requests) == served + 2  # the limited call never left
    # the upstream's answers carry the bucket's headers, written into the Bolt header map
    headers = BOLT.codec.headers_of(answers[1])
    assert (headers["server"], headers["x-ratelimit-limit"], headers["x-ratelimit-remaining"]) == ("a", "2", "0")
    assert 0 < int(headers["x-ratelimit-reset"]) <= 3600
    assert log_lines(log, before + 3)[before:] == [f"200 - via_upstream {LIMITED} -"] * 2 + [
        f"429 RL local_rate_limited {LIMITED} -"]
    wait_stats(proxy.admin_port, {**IDLE, "rl_route.http_local_rate_limit.enabled": 3,
                                  "rl_route.http_local_rate_limit.ok": 2,
                                  "rl_route.http_local_rate_limit.rate_limited": 1,
                                  "rl_route.http_local_rate_limit.enforced": 1})


def test_a_descriptor_from_a_bolt_header_has_its_own_bucket(env):
    proxy, upstream, log = env
    counts = stats(proxy.admin_port)
    before, served = _lines(env), len(upstream.requests)
    alice = _calls(env, {"service": PLAIN, "x-user": "alice"}, 2)
    bob = _calls(env, {"service": PLAIN, "x-user": "bob"}, 2)
    assert [a.status for a in alice] == [bolt.SUCCESS, bolt.UNKNOWN]
    assert [a.status for a in bob] == [bolt.SUCCESS, bolt.SUCCESS]
    assert len(upstream.requests) == served + 3
    assert log_lines(log, before + 4)[before + 1] == f"429 RL local_rate_limited {PLAIN} alice"
    prefix = "rl_all.http_local_rate_limit"
    wait_stats(proxy.admin_port, {**IDLE, f"{prefix}.enforced": counts.get(f"{prefix}.enforced", 0) + 1,
                                  f"{prefix}.ok": counts.get(f"{prefix}.ok", 0) + 3})


def test_mosn_flow_control_limits_an_rpc_service(env):
    proxy, upstream, log = env
    counts = stats(proxy.admin_port)
    before, served = _lines(env), len(upstream.requests)
    hot = _calls(env, {"service": HOT}, 2)
    assert [a.status for a in hot] == [bolt.SUCCESS, bolt.UNKNOWN]  # its action's 509: Bolt's UNKNOWN
    assert _calls(env, {"service": PLAIN}, 1)[0].status == bolt.SUCCESS  # no rule for it
    assert len(upstream.requests) == served + 2
    assert log_lines(log, before + 3)[before + 1] == f"509 RL flow_control_limited {HOT} -"
    wait_stats(proxy.admin_port, {
        **IDLE, "http.rpc.flow_control.passed": counts.get("http.rpc.flow_control.passed", 0) + 1,
        "http.rpc.flow_control.blocked": counts.get("http.rpc.flow_control.blocked", 0) + 1,
        "rpc.bolt.downstream_rq_local_reply": counts.get("rpc.bolt.downstream_rq_local_reply", 0) + 1})
