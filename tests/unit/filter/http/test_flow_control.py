"""MOSN's flowControlFilter in its QPS form through FilterHarness on a fake clock: the switch,
rules per resource (path, URI, query string), MOSN's default answer and a configured one, and
the sentinel rule kinds refused with their paths."""

from __future__ import annotations

from typing import Any

import pytest

from pymosn.api.stream_filter import FilterPhase
from pymosn.config.issues import IssueLog
from pymosn.filter.http import flow_control as fc
from tests.support.fakes import FakeLoop, request_headers
from tests.support.filter_harness import FilterHarness


def _raw(**fields: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {"global_switch": True, "limit_key_type": "PATH",
                           "rules": [{"resource": "/test", "threshold": 2}]}
    raw.update(fields)
    return raw


def _config(raw: dict[str, Any], loop: FakeLoop) -> fc.FlowControlFilterConfig:
    log = IssueLog()
    decoded = fc.decode_mosn(raw, "$.stream_filters[0].config", log)
    assert log.errors == [] and decoded is not None
    return fc.FlowControlFilterConfig(decoded, clock=loop.time)


def _status(config: fc.FlowControlFilterConfig, loop: FakeLoop, target: bytes = b"/test") -> int:
    harness = FilterHarness(("flow", config, config.phase), loop=loop)
    harness.request(request_headers(target), end_stream=True)
    if harness.owner.local_replies:
        return harness.owner.local_replies[0].status
    return 200


def test_a_resource_over_its_threshold_gets_mosns_answer():
    loop = FakeLoop()
    config = _config(_raw(), loop)
    assert config.phase == FilterPhase.AFTER_ROUTE
    assert [_status(config, loop) for _ in range(3)] == [200, 200, 509]
    harness = FilterHarness(("flow", config), loop=loop)
    harness.request(request_headers(b"/test"), end_stream=True)
    reply = harness.owner.local_replies[0]
    assert (reply.body, reply.flag, reply.details) == (b"current request is limited", fc.RATE_LIMITED,
                                                       "flow_control_limited")
    assert _status(config, loop, b"/other") == 200  # no rule: not limited
    assert (config.stats.passed, config.stats.blocked) == (2, 2)
    loop.advance(1.0)
    assert _status(config, loop) == 200


def test_the_switch_off_lets_everything_through():
    loop = FakeLoop()
    config = _config(_raw(global_switch=False), loop)
    assert {_status(config, loop) for _ in range(5)} == {200}


def test_a_configured_answer_and_interval_and_every_rule_of_a_resource():
    loop = FakeLoop()
    rules = [{"resource": "/test", "threshold": 5, "statIntervalInMs": 500},
             {"resource": "/test", "threshold": 1.5, "statIntervalInMs": 2000}]
    config = _config(_raw(action={"status": 500, "body": "blocked"}, rules=rules), loop)
    assert [_status(config, loop) for _ in range(2)] == [200, 500]
    loop.advance(0.5)
    assert _status(config, loop) == 500  # the 2 s rule is still empty
    loop.advance(1.5)
    assert _status(config, loop) == 200


def test_the_path_is_read_as_mosn_reads_it():
    loop = FakeLoop()
    config = _config(_raw(rules=[{"resource": "/test", "threshold": 1}]), loop)
    assert _status(config, loop, b"/test?a=1") == 200
    assert _status(config, loop, b"/a/../t%65st") == 509
    assert _status(config, loop, b"//test") == 509
    assert fc.normalized_path(b"/test/.") == b"/test/"  # as fasthttp: a trailing "." leaves the slash
    assert fc.normalized_path(b"/a/b/../c/") == b"/a/c/"


@pytest.mark.parametrize(("key_type", "limited", "free"), [
    ("URI", b"/test?a=1", b"/test?a=2"),
    ("ARG", b"/x?a=1", b"/test?a=2"),
])
def test_uri_and_query_string_resources(key_type: str, limited: bytes, free: bytes):
    loop = FakeLoop()
    resource = limited.decode() if key_type == "URI" else "a=1"
    config = _config(_raw(limit_key_type=key_type, rules=[{"resource": resource, "threshold": 0}]), loop)
    assert _status(config, loop, limited) == 509
    assert _status(config, loop, free) == 200


def test_mosns_sample_rule_keys_are_ignored_with_a_warning():
    log = IssueLog()
    rule = {"resource": "/test", "limitApp": "", "grade": 1, "threshold": 1, "strategy": 0}
    decoded = fc.decode_mosn(_raw(rules=[rule], app_name="sample", log_path="/tmp/sentinel", monitor=False), "$.c", log)
    assert log.errors == [] and decoded is not None and decoded.rules == (fc.FlowRule("/test", 1, 1.0),)
    warned = {issue.path for issue in log.warnings}
    assert {"$.c.rules[0].limitApp", "$.c.rules[0].grade", "$.c.rules[0].strategy", "$.c.log_path"} <= warned


@pytest.mark.parametrize(("raw", "where"), [
    (_raw(rules=[{"resource": "/t", "threshold": 1, "controlBehavior": 1}]), "$.c.rules[0].controlBehavior"),
    (_raw(rules=[{"resource": "/t", "threshold": 1, "tokenCalculateStrategy": 1}]),
     "$.c.rules[0].tokenCalculateStrategy"),
    (_raw(rules=[{"resource": "/t", "threshold": 1, "relationStrategy": 1}]), "$.c.rules[0].relationStrategy"),
    (_raw(rules=[{"resource": "/t", "threshold": 1, "adaptiveConfigName": "a"}]), "$.c.rules[0].adaptiveConfigName"),
    (_raw(rules=[{"resource": "/t"}]), "$.c.rules[0].threshold"),
    (_raw(rules=[{"threshold": 1}]), "$.c.rules[0].resource"),
    (_raw(rules=[{"resource": "/t", "threshold": 1, "thresold": 2}]), "$.c.rules[0].thresold"),
    (_raw(callback_name="custom"), "$.c.callback_name"),
    (_raw(dynamic_data_resources=[{"resource_type": "nacos"}]), "$.c.dynamic_data_resources"),
    (_raw(limit_key_type="COOKIE"), "$.c.limit_key_type"),
    (_raw(action={"status": 0}), "$.c.action.status"),
])
def test_what_pymosn_does_not_implement_is_refused_at_its_path(raw: dict[str, Any], where: str):
    log = IssueLog()
    assert fc.decode_mosn(raw, "$.c", log) is None
    assert where in [issue.path for issue in log.errors]
