"""The fault injection filter through FilterHarness: delays on the fake loop, aborts as local
replies, percentages with an injected random source, header-chosen faults, targets, the
active-fault limit, counters and cleanup; both config shapes and refused values with paths."""

from __future__ import annotations

from typing import Any

import pytest

from pymosn.api.stream_filter import CONTINUE, STOP, FilterPhase
from pymosn.config.issues import IssueLog
from pymosn.filter.http import fault
from tests.support.fakes import FakeRoute, request_headers
from tests.support.filter_harness import FilterHarness


class ClusterRoute:
    def __init__(self, cluster_name: str) -> None:
        self.name = "r"
        self.cluster_name = cluster_name


def _config(raw: dict[str, Any], draws: list[int] | None = None) -> fault.FaultFilterConfig:
    log = IssueLog()
    decoded = fault.decode_envoy(raw, "$.typed_config", log)
    assert log.errors == [] and decoded is not None
    config = fault.FaultFilterConfig(decoded)
    if draws is not None:
        config.randrange = lambda n: draws.pop(0)
    return config


def _harness(config: fault.FaultFilterConfig, route: Any = None) -> FilterHarness:
    return FilterHarness(("fault", config), route=route)


def _send(harness: FilterHarness, extra: list[tuple[bytes, bytes]] | None = None) -> None:
    harness.request(request_headers(b"/a", extra=extra), end_stream=True)


FULL = {"numerator": 100}
ABORT_503 = {"abort": {"http_status": 503, "percentage": FULL}}
DELAY_2S = {"delay": {"fixed_delay": "2s", "percentage": FULL}}


def test_fixed_delay_holds_the_request_until_the_timer_fires():
    config = _config(DELAY_2S)
    harness = _harness(config)
    _send(harness)
    assert harness.statuses("fault") == [("decode_headers", STOP)]
    assert harness.owner.upstream == [] and harness.stream_info.response_flags == [fault.DELAY_INJECTED]
    assert (config.stats.delays_injected, config.stats.active_faults) == (1, 1)
    harness.loop.advance(1.9)
    assert harness.owner.upstream == []
    harness.loop.advance(0.1)
    assert harness.owner.upstream_kinds() == ["headers"] and harness.used("fault", "continue_decoding") == [()]
    harness.destroy()
    assert config.stats.active_faults == 0 and harness.destroyed("fault") == 1


def test_a_stream_destroyed_during_its_delay_cancels_the_timer():
    config = _config(DELAY_2S)
    harness = _harness(config)
    _send(harness)
    harness.destroy()
    assert harness.loop.pending == 0 and config.stats.active_faults == 0
    harness.loop.advance(5)
    assert harness.owner.upstream == [] and harness.used("fault", "continue_decoding") == []


def test_abort_answers_locally_with_flag_and_details():
    config = _config(ABORT_503)
    harness = _harness(config)
    _send(harness)
    reply = harness.owner.local_replies[0]
    assert (reply.status, reply.body, reply.flag, reply.details) == (503, b"fault filter abort", fault.FAULT_INJECTED,
                                                                     "fault_filter_abort")
    assert harness.owner.downstream_status() == 503 and harness.owner.upstream == []
    assert (config.stats.aborts_injected, config.stats.active_faults) == (1, 1)
    harness.destroy()
    assert config.stats.active_faults == 0


def test_grpc_abort_answers_200_with_the_grpc_status():
    harness = _harness(_config({"abort": {"grpc_status": 14, "percentage": FULL}}))
    _send(harness)
    reply = harness.owner.local_replies[0]
    assert reply.status == 200 and reply.headers[b"grpc-status"] == b"14"


def test_delay_then_abort_counts_one_active_fault():
    config = _config({**DELAY_2S, **ABORT_503})
    harness = _harness(config)
    _send(harness)
    assert harness.owner.local_replies == []
    harness.loop.advance(2)
    assert harness.owner.local_replies[0].status == 503 and harness.owner.upstream == []
    assert harness.stream_info.response_flags == [fault.DELAY_INJECTED]  # FI travels with the local reply
    assert (config.stats.delays_injected, config.stats.aborts_injected, config.stats.active_faults) == (1, 1, 1)
    harness.destroy()
    assert config.stats.active_faults == 0


@pytest.mark.parametrize(("percentage", "draw", "aborted"), [
    ({"numerator": 30}, 29, True), ({"numerator": 30}, 30, False),
    ({"numerator": 5, "denominator": "TEN_THOUSAND"}, 4, True),
    ({"numerator": 5, "denominator": "MILLION"}, 5, False),
])
def test_percentages_are_envoys_fractional_percent(percentage: dict[str, Any], draw: int, aborted: bool):
    asked: list[int] = []
    config = _config({"abort": {"http_status": 500, "percentage": percentage}})
    config.randrange = lambda n: asked.append(n) or draw  # type: ignore[func-returns-value]
    harness = _harness(config)
    _send(harness)
    assert bool(harness.owner.local_replies) == aborted
    assert asked == [fault.DENOMINATORS[percentage.get("denominator", "HUNDRED")]]


def test_no_percentage_is_zero_percent():
    harness = _harness(_config({"abort": {"http_status": 500}}))
    _send(harness)
    assert harness.owner.local_replies == [] and harness.statuses("fault") == [("decode_headers", CONTINUE)]


def test_header_faults_only_when_the_config_enables_them():
    plain = _harness(_config(ABORT_503))
    _send(plain, [(fault.HEADER_ABORT, b"418")])
    assert plain.owner.local_replies[0].status == 503  # the header is not read
    enabled = _config({"abort": {"header_abort": {}, "percentage": FULL},
                       "delay": {"header_delay": {}, "percentage": FULL}})
    harness = _harness(enabled)
    _send(harness, [(fault.HEADER_ABORT, b"418"), (fault.HEADER_DELAY, b"250")])
    assert harness.owner.local_replies == []
    harness.loop.advance(0.25)
    assert harness.owner.local_replies[0].status == 418
    none_asked = _harness(enabled)
    _send(none_asked)
    assert none_asked.statuses("fault") == [("decode_headers", CONTINUE)] and none_asked.owner.local_replies == []


def test_header_abort_grpc_and_bad_header_values():
    config = _config({"abort": {"header_abort": {}, "percentage": FULL}})
    grpc = _harness(config)
    _send(grpc, [(fault.HEADER_ABORT_GRPC, b"7")])
    assert grpc.owner.local_replies[0].status == 200 and grpc.owner.local_replies[0].headers[b"grpc-status"] == b"7"
    for bad in (b"700", b"abc", b"-1"):
        harness = _harness(config)
        _send(harness, [(fault.HEADER_ABORT, bad)])
        assert harness.owner.local_replies == []


def test_header_percentage_is_capped_by_the_configured_numerator():
    draws = [39, 40]
    config = _config({"abort": {"header_abort": {}, "percentage": {"numerator": 40}}}, draws)
    asks_more = _harness(config)
    _send(asks_more, [(fault.HEADER_ABORT, b"500"), (fault.HEADER_ABORT_PERCENTAGE, b"100")])
    assert asks_more.owner.local_replies  # 39 < min(100, 40)
    capped = _harness(config)
    _send(capped, [(fault.HEADER_ABORT, b"500"), (fault.HEADER_ABORT_PERCENTAGE, b"100")])
    assert capped.owner.local_replies == []  # 40 is not < 40
    zero = _harness(config)
    _send(zero, [(fault.HEADER_ABORT, b"500"), (fault.HEADER_ABORT_PERCENTAGE, b"0")])
    assert zero.owner.local_replies == []


def test_targets_upstream_cluster_headers_and_downstream_nodes():
    config = _config({**ABORT_503, "upstream_cluster": "backend",
                      "headers": [{"name": "x-user", "exact_match": "tester"},
                                  {"name": ":path", "string_match": {"prefix": "/A", "ignore_case": True}}],
                      "downstream_nodes": ["node-a"]})
    match = [(b"x-user", b"tester"), (fault.HEADER_DOWNSTREAM_NODE, b"node-a")]
    for route, extra, aborted in [
        (ClusterRoute("backend"), match, True),
        (ClusterRoute("other"), match, False),
        (None, match, False),
        (ClusterRoute("backend"), [(b"x-user", b"someone"), (fault.HEADER_DOWNSTREAM_NODE, b"node-a")], False),
        (ClusterRoute("backend"), [(b"x-user", b"tester")], False),
    ]:
        harness = _harness(config, route)
        _send(harness, extra)
        assert bool(harness.owner.local_replies) == aborted, (route and route.cluster_name, extra)


def test_max_active_faults_limits_concurrent_faults():
    config = _config({**DELAY_2S, "max_active_faults": 1})
    first, second = _harness(config), _harness(config)
    _send(first)
    _send(second)
    assert first.statuses("fault") == [("decode_headers", STOP)]
    assert second.statuses("fault") == [("decode_headers", CONTINUE)] and second.owner.upstream_kinds() == ["headers"]
    assert (config.stats.faults_overflow, config.stats.active_faults) == (1, 1)
    first.destroy()
    third = _harness(config)
    _send(third)
    assert third.statuses("fault") == [("decode_headers", STOP)] and config.stats.delays_injected == 2


def test_mosn_shape():
    log = IssueLog()
    decoded = fault.decode_mosn({"delay": {"fixed_delay": "100ms", "percentage": 100},
                                 "abort": {"status": 500, "percentage": 50}, "upstream_cluster": "c",
                                 "headers": [{"name": "X-Test", "value": "v.*", "regex": True}]}, "$.config", log)
    assert log.errors == [] and decoded is not None
    assert decoded.delay == fault.FaultDelay(0.1, fault.Percent(100))
    assert decoded.abort == fault.FaultAbort(500, None, fault.Percent(50))
    assert decoded.phase == FilterPhase.AFTER_ROUTE
    config = fault.FACTORY.create_config(decoded)
    config.randrange = lambda n: 0
    harness = FilterHarness(("fault", config, config.phase), route=ClusterRoute("c"))
    _send(harness, [(b"x-test", b"value")])
    harness.loop.advance(0.1)
    assert harness.owner.local_replies[0].status == 500


def test_envoy_camel_case_and_type_url():
    log = IssueLog()
    decoded = fault.decode_envoy({"@type": fault.TYPE_URL, "maxActiveFaults": 3,
                                  "delay": {"fixedDelay": "0.5s", "percentage": {"numerator": 1}}}, "$", log)
    assert log.errors == [] and decoded is not None
    assert decoded.max_active_faults == 3 and decoded.delay == fault.FaultDelay(0.5, fault.Percent(1))


def test_response_rate_limit_is_a_warning():
    log = IssueLog()
    assert fault.decode_envoy({"response_rate_limit": {"fixed_limit": {"limit_kbps": 1}}}, "$", log) is not None
    assert [w.path for w in log.warnings] == ["$.response_rate_limit"]


@pytest.mark.parametrize(("raw", "paths"), [
    ({"abort": {"http_status": 600, "percentage": FULL}}, ["$.f.abort.http_status"]),
    ({"abort": {"percentage": FULL}}, ["$.f.abort"]),
    ({"abort": {"http_status": 500, "grpc_status": 1}}, ["$.f.abort"]),
    ({"delay": {"fixed_delay": "soon"}}, ["$.f.delay.fixed_delay"]),
    ({"delay": {"header_delay": {}, "fixed_delay": "1s"}}, ["$.f.delay"]),
    ({"delay": {"fixed_delay": "1s", "percentage": {"numerator": 1, "denominator": "THOUSAND"}}},
     ["$.f.delay.percentage.denominator"]),
    ({"delay": {"fixed_delay": "1s", "percentage": {"numerator": -1}}}, ["$.f.delay.percentage.numerator"]),
    ({"max_active_faults": "many"}, ["$.f.max_active_faults"]),
    ({"delay": {"header_delay": {"ms": 1}}}, ["$.f.delay.header_delay.ms"]),
    ({"abort": {"header_abort": True}}, ["$.f.abort.header_abort"]),
    ({"headers": [{"name": "x", "range_match": {"start": 1, "end": 2}}]}, ["$.f.headers[0].range_match"]),
    ({"headers": [{"name": "x", "safe_regex_match": {"regex": "("}}]}, ["$.f.headers[0].safe_regex_match.regex"]),
    ({"downstream_nodes": [1]}, ["$.f.downstream_nodes[0]"]),
    ({"upstream_clustr": "c"}, ["$.f.upstream_clustr"]),
    ({"@type": "type.googleapis.com/other.Message"}, ["$.f.@type"]),
])
def test_bad_envoy_configs_are_errors_at_their_path(raw: dict[str, Any], paths: list[str]):
    log = IssueLog()
    assert fault.decode_envoy(raw, "$.f", log) is None
    assert [issue.path for issue in log.errors] == paths


@pytest.mark.parametrize(("raw", "paths"), [
    ({"delay": {"percentage": 10}}, ["$.f.delay.fixed_delay"]),
    ({"delay": {"fixed_delay": "1s", "percentage": 101}}, ["$.f.delay.percentage"]),
    ({"abort": {"status": 99, "percentage": 10}}, ["$.f.abort.status"]),
    ({"abort": {"percentage": 10}}, ["$.f.abort.status"]),
    ({"headers": [{"value": "x"}]}, ["$.f.headers[0].name"]),
    ({"headers": [{"name": "x", "value": "[", "regex": True}]}, ["$.f.headers[0].value"]),
    ({"delay_percent": 10, "abort": {"status": 500, "percent": 1}}, ["$.f.delay_percent", "$.f.abort.percent"]),
])
def test_bad_mosn_configs_are_errors_at_their_path(raw: dict[str, Any], paths: list[str]):
    log = IssueLog()
    assert fault.decode_mosn(raw, "$.f", log) is None
    assert [issue.path for issue in log.errors] == paths


@pytest.mark.parametrize("denominator", ["ten_thousand", "Ten_Thousand", 1, "1"])
def test_envoy_denominators_read_as_envoys_enums(denominator: Any):
    # as everywhere in an Envoy bootstrap: a name in any case, or its number
    asked: list[int] = []
    config = _config({"abort": {"http_status": 500, "percentage": {"numerator": 5, "denominator": denominator}}})
    config.randrange = lambda n: asked.append(n) or 0  # type: ignore[func-returns-value]
    _send(_harness(config))
    assert asked == [10_000]


def test_a_routes_fault_config_replaces_the_filters_there():
    main = _config({"abort": {"http_status": 503, "percentage": {"numerator": 100}}})
    on_route = fault.FACTORY.create_route_config(fault.FaultConfig(abort=fault.FaultAbort(418, None, fault.Percent(100))))
    quiet = fault.FACTORY.create_route_config(fault.FaultConfig())
    answers = []
    for route in (FakeRoute("a", {"fault": on_route}), FakeRoute("b", {"fault": quiet}), FakeRoute("c")):
        harness = _harness(main, route)
        _send(harness)
        answers.append([r.status for r in harness.owner.local_replies])
    assert answers == [[418], [], [503]]
    assert main.stats.aborts_injected == 2  # the filter's counters, whichever config injected
