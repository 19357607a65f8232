"""The header mutation filter: both config shapes, refused configs with their paths, and what
each action does to request and response headers and trailers, driven through FilterHarness."""

from __future__ import annotations

from typing import Any

import pytest

from pymosn.api.stream_filter import CONTINUE, DecoderFilter, EncoderFilter, StreamFilter
from pymosn.api.stream_info import StreamInfo
from pymosn.config.issues import IssueLog
from pymosn.filter.http import header_mutation as hm
from tests.support.fakes import request_headers
from tests.support.filter_harness import FilterHarness


def _append(key: str, value: str, action: str | None = None, **extra: Any) -> dict[str, Any]:
    option: dict[str, Any] = {"header": {"key": key, "value": value}, **extra}
    if action is not None:
        option["append_action"] = action
    return {"append": option}


def _config(**lists: list[dict[str, Any]]) -> hm.HeaderMutationFilterConfig:
    log = IssueLog()
    decoded = hm.decode_envoy({"@type": hm.TYPE_URL, "mutations": lists}, "$.typed_config", log)
    assert log.errors == [] and decoded is not None
    return hm.FACTORY.create_config(decoded)


def _errors(raw: Any, decode: Any = hm.decode_envoy) -> list[tuple[str, str]]:
    log = IssueLog()
    assert decode(raw, "$.f", log) is None
    return [(issue.path, issue.message) for issue in log.errors]


def _run(config: hm.HeaderMutationFilterConfig, extra: list[tuple[bytes, bytes]] | None = None) -> FilterHarness:
    harness = FilterHarness(("hm", config))
    harness.stream_info.downstream_remote_address = "10.0.0.2:40000"
    harness.request(request_headers(b"/a", extra=extra), end_stream=True)
    return harness


def test_request_actions_follow_envoys_append_actions():
    config = _config(request_mutations=[
        _append("x-add", "1"),  # APPEND_IF_EXISTS_OR_ADD by default: one more field
        _append("x-absent", "new", hm.ADD_IF_ABSENT),
        _append("x-present", "ignored", hm.ADD_IF_ABSENT),
        _append("x-set", "one", hm.OVERWRITE_IF_EXISTS_OR_ADD),
        _append("x-only-if", "no", hm.OVERWRITE_IF_EXISTS),
        _append("x-present", "over", hm.OVERWRITE_IF_EXISTS),
        {"remove": "x-secret"},
    ])
    harness = _run(config, [(b"x-add", b"0"), (b"x-present", b"old"), (b"x-set", b"a"), (b"x-set", b"b"),
                            (b"x-secret", b"s")])
    headers = harness.owner.upstream[0][1]
    assert headers.get_all(b"x-add") == [b"0", b"1"]
    assert headers.get(b"x-absent") == b"new"
    assert headers.get_all(b"x-present") == [b"over"]
    assert headers.get_all(b"x-set") == [b"one"]
    assert b"x-only-if" not in headers and b"x-secret" not in headers
    assert harness.statuses("hm") == [("decode_headers", CONTINUE)]


def test_values_render_variables_and_unavailable_ones_are_empty():
    config = _config(request_mutations=[
        _append("x-peer", "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%", hm.OVERWRITE_IF_EXISTS_OR_ADD),
        _append("x-pct", "100%% of %DOWNSTREAM_REMOTE_ADDRESS%"),
        _append("x-none", "%UPSTREAM_HOST%"),  # unavailable: empty, so not added
        _append("x-kept", "%UPSTREAM_HOST%", keep_empty_value=True),
    ])
    headers = _run(config).owner.upstream[0][1]
    assert headers.get(b"x-peer") == b"10.0.0.2"
    assert headers.get(b"x-pct") == b"100% of 10.0.0.2:40000"
    assert b"x-none" not in headers
    assert headers.get(b"x-kept") == b""


def test_request_pseudo_headers_may_be_overwritten():
    config = _config(request_mutations=[_append(":path", "/rewritten", hm.OVERWRITE_IF_EXISTS_OR_ADD)])
    headers = _run(config).owner.upstream[0][1]
    assert headers.path == b"/rewritten" and headers.changed


def test_response_headers_and_trailers_are_mutated():
    config = _config(response_mutations=[_append("x-served-by", "pymosn"), {"remove": "server"}],
                     response_trailers_mutations=[_append("x-trailer", "t")],
                     request_trailers_mutations=[{"remove": "x-req-trailer"}])
    harness = _run(config)
    harness.response(200, [(b"server", b"origin"), (b"content-length", b"0")])
    harness.response_trailers([(b"grpc-status", b"0")])
    _, status, headers, _ = harness.owner.downstream[0]
    assert status == 200 and headers.get(b"x-served-by") == b"pymosn" and b"server" not in headers
    assert harness.owner.downstream[1][1].get(b"x-trailer") == b"t"


def test_request_trailers_are_mutated():
    config = _config(request_trailers_mutations=[{"remove": "x-req-trailer"}])
    harness = FilterHarness(("hm", config))
    harness.request(request_headers(b"/a"))
    harness.request_trailers([(b"x-req-trailer", b"1"), (b"x-keep", b"2")])
    trailers = harness.owner.upstream[-1][1]
    assert list(trailers) == [(b"x-keep", b"2")]


def test_a_filter_only_has_the_sides_it_has_rules_for():
    request_only = _config(request_mutations=[{"remove": "x-a"}]).create_filter(None)  # type: ignore[arg-type]
    response_only = _config(response_mutations=[{"remove": "x-a"}]).create_filter(None)  # type: ignore[arg-type]
    both = _config(request_mutations=[{"remove": "x-a"}],
                   response_mutations=[{"remove": "x-a"}]).create_filter(None)  # type: ignore[arg-type]
    assert isinstance(request_only, DecoderFilter) and not isinstance(request_only, EncoderFilter)
    assert isinstance(response_only, EncoderFilter) and not isinstance(response_only, DecoderFilter)
    assert isinstance(both, StreamFilter)


def test_mosn_shape_and_envoy_json_names_decode_to_the_same_config():
    mosn = hm.decode_mosn({"mutations": {"request_mutations": [_append("x-a", "1", hm.ADD_IF_ABSENT)]}}, "$.c",
                          IssueLog())
    envoy = hm.decode_envoy({"mutations": {"requestMutations": [
        {"append": {"header": {"key": "x-a", "value": "1"}, "appendAction": hm.ADD_IF_ABSENT}}]}}, "$.t", IssueLog())
    assert mosn == envoy == hm.HeaderMutationConfig(request=(hm.HeaderMutationRule(hm.ADD_IF_ABSENT, "x-a", "1"),))


def test_deprecated_append_bool_maps_to_an_action():
    decoded = hm.decode_envoy({"mutations": {"request_mutations": [
        {"append": {"header": {"key": "x-a", "value": "1"}, "append": False}}]}}, "$", IssueLog())
    assert decoded is not None and decoded.request[0].action == hm.OVERWRITE_IF_EXISTS_OR_ADD


@pytest.mark.parametrize(("raw", "expected"), [
    ({"mutations": {"request_mutations": [{"remove": "host"}]}}, "$.f.mutations.request_mutations[0].remove"),
    ({"mutations": {"request_mutations": [{"remove": ":path"}]}}, "$.f.mutations.request_mutations[0].remove"),
    ({"mutations": {"request_mutations": [{}]}}, "$.f.mutations.request_mutations[0]"),
    ({"mutations": {"response_mutations": [_append(":status", "500", hm.OVERWRITE_IF_EXISTS_OR_ADD)]}},
     "$.f.mutations.response_mutations[0].append.header.key"),
    ({"mutations": {"request_mutations": [_append(":path", "/x")]}},
     "$.f.mutations.request_mutations[0].append.header.key"),
    ({"mutations": {"request_mutations": [_append("host", "evil")]}},
     "$.f.mutations.request_mutations[0].append.header.key"),
    ({"mutations": {"response_mutations": [_append("content-length", "0", hm.OVERWRITE_IF_EXISTS_OR_ADD)]}},
     "$.f.mutations.response_mutations[0].append.header.key"),
    ({"mutations": {"request_mutations": [{"remove": "transfer-encoding"}]}},
     "$.f.mutations.request_mutations[0].remove"),
    ({"mutations": {"request_mutations": [_append("Bad Name", "x")]}},
     "$.f.mutations.request_mutations[0].append.header.key"),
    ({"mutations": {"request_mutations": [_append("x-a", "a\r\nx-injected: 1")]}},
     "$.f.mutations.request_mutations[0].append.header.value"),
    ({"mutations": {"request_mutations": [_append("x-a", "%NO_SUCH_OPERATOR%")]}},
     "$.f.mutations.request_mutations[0].append.header.value"),
    ({"mutations": {"request_mutations": [_append("x-a", "1", "APPEND")]}},
     "$.f.mutations.request_mutations[0].append.append_action"),
    ({"mutations": {"request_mutations": [_append("x-a", "1", hm.ADD_IF_ABSENT, append=True)]}},
     "$.f.mutations.request_mutations[0].append.append"),
    ({"mutations": {"query_parameter_mutations": [{"remove": "q"}]}}, "$.f.mutations.query_parameter_mutations"),
    ({"mutations": {"request_mutation": []}}, "$.f.mutations.request_mutation"),
    ({"mutations": {"request_mutations": {"remove": "x"}}}, "$.f.mutations.request_mutations"),
    ({"@type": "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault"}, "$.f.@type"),
])
def test_bad_configs_are_errors_at_their_path(raw: dict[str, Any], expected: str):
    assert [path for path, _ in _errors(raw)] == [expected]


def test_every_bad_rule_is_reported_in_one_run():
    raw = {"mutations": {"request_mutations": [{"remove": "host"}, _append("x a", "1")],
                         "response_mutations": [{"remove": "x", "append": {}}]}}
    assert [path for path, _ in _errors(raw, hm.decode_mosn)] == [
        "$.f.mutations.request_mutations[0].remove", "$.f.mutations.request_mutations[1].append.header.key",
        "$.f.mutations.response_mutations[0]"]


def test_on_destroy_is_called_once():
    harness = _run(_config(request_mutations=[{"remove": "x-a"}]))
    harness.destroy()
    assert harness.destroyed("hm") == 1


def test_append_action_reads_as_envoys_enums():
    config = _config(request_mutations=[_append("x-set", "one", "overwrite_if_exists_or_add"),
                                        _append("x-absent", "new", 1)])  # 1: ADD_IF_ABSENT
    headers = _run(config, [(b"x-set", b"a")]).owner.upstream[0][1]
    assert headers.get_all(b"x-set") == [b"one"] and headers.get(b"x-absent") == b"new"


def _rules(*rules: dict[str, Any]) -> hm.Mutation | None:
    decoded = hm.decode_envoy({"mutations": {"request_mutations": list(rules)}}, "$", IssueLog())
    assert decoded is not None
    return hm.compile_rules(decoded.request)


_EXPECTED = {  # action -> (field values after it when the header was absent, when it held "old")
    hm.APPEND_IF_EXISTS_OR_ADD: ([b"v"], [b"old", b"v"]),
    hm.ADD_IF_ABSENT: ([b"v"], [b"old"]),
    hm.OVERWRITE_IF_EXISTS_OR_ADD: ([b"v"], [b"v"]),
    hm.OVERWRITE_IF_EXISTS: ([], [b"v"]),
}


@pytest.mark.parametrize("action", list(_EXPECTED))
@pytest.mark.parametrize("value", ["v", "%REQ(x-src)%"])  # a literal, and a value rendered per request
@pytest.mark.parametrize("present", [False, True])
def test_every_action_on_absent_and_present_headers_with_literal_and_rendered_values(action, value, present):
    mutation = _rules(_append("x-h", value, action))
    assert mutation is not None and mutation.needs_info == (value != "v")
    headers = request_headers(b"/", extra=[(b"X-H", b"old")] if present else [])
    info = StreamInfo("l", 1)
    info.request_headers = {"x-src": "v"}
    mutation.apply(headers, info)
    assert headers.get_all(b"x-h") == _EXPECTED[action][present]


def test_literal_rules_need_no_stream_info_and_empty_literals_are_dropped_at_compile_time():
    assert _rules(_append("x-empty", "")) is None  # never writes: nothing runs per request
    mutation = _rules(_append("x-a", "1", hm.OVERWRITE_IF_EXISTS_OR_ADD), _append("x-b", ""), {"remove": "x-c"},
                      _append("x-kept", "", keep_empty_value=True), _append("x-a", "2"))
    assert mutation is not None and not mutation.needs_info
    headers = request_headers(b"/", extra=[(b"x-c", b"gone")])
    mutation.apply(headers, None)
    assert headers.get_all(b"x-a") == [b"1", b"2"]  # in configured order
    assert b"x-b" not in headers and b"x-c" not in headers and headers.get(b"x-kept") == b""


def test_a_value_that_is_one_variable_renders_as_the_template_would():
    config = _config(request_mutations=[_append("x-one", "%DOWNSTREAM_REMOTE_ADDRESS%"),
                                        _append("x-around", "[%DOWNSTREAM_REMOTE_ADDRESS%]"),
                                        _append("x-missing", "%UPSTREAM_HOST%"),
                                        _append("x-set", "%DOWNSTREAM_REMOTE_ADDRESS%", hm.OVERWRITE_IF_EXISTS_OR_ADD),
                                        _append("x-set-missing", "%UPSTREAM_HOST%", hm.OVERWRITE_IF_EXISTS_OR_ADD),
                                        _append("x-set-kept", "%UPSTREAM_HOST%", hm.OVERWRITE_IF_EXISTS_OR_ADD,
                                                keep_empty_value=True)])
    headers = _run(config, [(b"x-set-missing", b"old"), (b"X-Set", b"old")]).owner.upstream[0][1]
    assert headers.get(b"x-one") == b"10.0.0.2:40000" and headers.get(b"x-around") == b"[10.0.0.2:40000]"
    assert headers.get_all(b"x-set") == [b"10.0.0.2:40000"]
    assert b"x-missing" not in headers
    assert headers.get_all(b"x-set-missing") == [b"old"]  # renders empty: nothing written, nothing replaced
    assert headers.get_all(b"x-set-kept") == [b""]
