"""The local rate limit filter through FilterHarness on a fake clock: 429s with flag, details
and body, enabled / enforced fractions, x-ratelimit headers, descriptors from the filter's own
rate_limits and from the route's, per-route configs and per-connection buckets, counters;
both config shapes and refused configs with their paths."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from pymosn.api.stream_filter import STOP, EncoderFilter
from pymosn.config import rate_limits as rl
from pymosn.config.issues import IssueLog
from pymosn.filter.http import local_ratelimit as lr
from pymosn.filter.http import local_ratelimit_config as lrc
from pymosn.filter.http import local_ratelimit_filter as lrf
from pymosn.metrics.stats import PROCESS_COUNTERS
from tests.support.fakes import FakeLoop, fake_connection, request_headers
from tests.support.filter_harness import FilterHarness

ALL = {"default_value": {"numerator": 100}}


def _raw(**fields: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {"stat_prefix": fields.pop("stat_prefix", "test_rl"),
                           "filter_enabled": ALL, "filter_enforced": ALL,
                           "token_bucket": {"max_tokens": 2, "tokens_per_fill": 1, "fill_interval": "1s"}}
    raw.update(fields)
    return {k: v for k, v in raw.items() if v is not None}


def _config(raw: dict[str, Any], loop: FakeLoop, **kwargs: Any) -> lr.LocalRateLimitFilterConfig:
    log = IssueLog()
    decoded = lrc.decode_envoy(raw, "$.typed_config", log)
    assert log.errors == [] and decoded is not None
    for name in lr.COUNTERS:  # each test's counters from zero
        PROCESS_COUNTERS.pop(f"{decoded.stat_prefix}.{lr.STATS_SCOPE}.{name}", None)
    return lr.LocalRateLimitFilterConfig(decoded, clock=loop.time, **kwargs)


def _counts(stats: lr.LocalRateLimitStats) -> dict[str, int]:
    return {name: getattr(stats, name).value for name in lr.COUNTERS}


def _errors(raw: Any, decode=lrc.decode_envoy) -> list[tuple[str, str]]:
    log = IssueLog()
    assert decode(raw, "$.c", log) is None
    return [(issue.path, issue.message) for issue in log.errors]


class Route:
    def __init__(self, **attrs: Any) -> None:
        self.name = "r"
        self.per_filter: dict[str, object] = attrs.pop("per_filter", {})
        self.__dict__.update(attrs)


def _request(config, loop: FakeLoop, *, path: bytes = b"/a", extra=None, route=None, connection=None) -> FilterHarness:
    harness = FilterHarness(("rl", config), loop=loop, route=route)
    if connection is not None:
        harness.manager.connection = connection
    harness.request(request_headers(path, extra=extra), end_stream=True)
    if not harness.owner.local_replies:
        harness.response(200, [(b"server", b"origin")], end_stream=True)
    return harness


def _status(harness: FilterHarness) -> int:
    return harness.owner.downstream_status()


def _headers(harness: FilterHarness) -> dict[bytes, bytes]:
    return dict(harness.owner.downstream[0][2].pairs())


def test_over_the_bucket_a_429_with_flag_details_and_body():
    loop = FakeLoop()
    config = _config(_raw(), loop)
    assert [_status(_request(config, loop)) for _ in range(3)] == [200, 200, 429]
    limited = _request(config, loop)
    reply = limited.owner.local_replies[0]
    assert (reply.status, reply.body, reply.flag, reply.details) == (429, b"local_rate_limited", lr.RATE_LIMITED,
                                                                     "local_rate_limited")
    assert ("decode_headers", STOP) in limited.statuses("rl") and limited.owner.upstream == []
    stats = config.stats
    assert _counts(stats) == {"enabled": 4, "ok": 2, "rate_limited": 2, "enforced": 2}
    loop.advance(1.0)
    assert _status(_request(config, loop)) == 200


def test_not_enabled_requests_are_not_even_counted():
    loop = FakeLoop()
    config = _config(_raw(filter_enabled=None), loop)
    assert {_status(_request(config, loop)) for _ in range(5)} == {200}
    assert config.stats.enabled.value == 0 and config.stats.ok.value == 0


def test_enabled_but_not_enforced_counts_and_marks_the_request():
    loop = FakeLoop()
    raw = _raw(filter_enforced={"runtime_key": "x", "default_value": {"numerator": 0}},
               request_headers_to_add_when_not_enforced=[{"header": {"key": "x-would-limit", "value": "yes"}}])
    config = _config(raw, loop)
    harnesses = [_request(config, loop) for _ in range(3)]
    assert [_status(h) for h in harnesses] == [200, 200, 200]
    forwarded = [h.owner.upstream[0][1].get(b"x-would-limit") for h in harnesses]
    assert forwarded == [None, None, b"yes"]
    assert (config.stats.rate_limited.value, config.stats.enforced.value) == (1, 0)


def test_a_fraction_enabled_draws_per_request():
    loop = FakeLoop()
    draws = [10, 70, 10]
    raw = _raw(filter_enabled={"default_value": {"numerator": 50}})
    config = _config(raw, loop, randrange=lambda n: draws.pop(0))
    [_request(config, loop) for _ in range(3)]
    assert config.stats.enabled.value == 2


def test_x_ratelimit_headers_on_answers_and_on_the_429():
    loop = FakeLoop()
    config = _config(_raw(enable_x_ratelimit_headers="DRAFT_VERSION_03",
                          response_headers_to_add=[{"header": {"key": "x-limited", "value": "1"}}]), loop)
    first = _headers(_request(config, loop))
    assert (first[b"x-ratelimit-limit"], first[b"x-ratelimit-remaining"], first[b"x-ratelimit-reset"]) == \
        (b"2", b"1", b"1")
    assert b"x-limited" not in first  # only on limited requests
    _request(config, loop)
    limited = _headers(_request(config, loop))
    assert limited[b"x-ratelimit-remaining"] == b"0" and limited[b"x-limited"] == b"1"


def test_the_filter_is_on_the_response_path_only_when_a_config_adds_response_headers(monkeypatch):
    loop = FakeLoop()
    monkeypatch.setattr(lrf, "_route_configs", False)
    plain = _config(_raw(), loop)
    assert not isinstance(plain.create_filter(None), EncoderFilter)  # type: ignore[arg-type]
    assert _request(plain, loop).statuses("rl") == [("decode_headers", lr.CONTINUE)]  # its response passes by
    for fields in ({"enable_x_ratelimit_headers": "DRAFT_VERSION_03"},
                   {"response_headers_to_add": [{"header": {"key": "x-limited", "value": "1"}}]}):
        assert isinstance(_config(_raw(**fields), loop).create_filter(None), EncoderFilter)  # type: ignore[arg-type]
    # once a route has a config of its own (which may add them), every filter has both sides
    monkeypatch.setattr(lrf, "_route_configs", True)
    assert isinstance(plain.create_filter(None), EncoderFilter)  # type: ignore[arg-type]
    assert [call for call, _ in _request(plain, loop).statuses("rl")] == ["decode_headers", "encode_headers"]


def test_the_request_side_alone_limits_as_both_sides_do(monkeypatch):
    loop = FakeLoop()
    monkeypatch.setattr(lrf, "_route_configs", False)
    config = _config(_raw(token_bucket={"max_tokens": 1, "fill_interval": "1s"}), loop)
    assert [h.owner.local_replies[0].status if h.owner.local_replies else 200
            for h in (_request(config, loop), _request(config, loop))] == [200, 429]
    assert _counts(config.stats) == {"enabled": 2, "enforced": 1, "rate_limited": 1, "ok": 1}


def test_a_custom_status_and_below_400_means_429():
    loop = FakeLoop()
    teapot = _config(_raw(status={"code": "ServiceUnavailable"}, token_bucket={"max_tokens": 1, "fill_interval": "1s"}),
                     loop)
    assert [_status(_request(teapot, loop)) for _ in range(2)] == [200, 503]
    low = _config(_raw(stat_prefix="low", status={"code": 302}, token_bucket={"max_tokens": 1, "fill_interval": "1s"}),
                  loop)
    assert [_status(_request(low, loop)) for _ in range(2)] == [200, 429]


def test_grpc_requests_with_resource_exhausted_get_its_status():
    loop = FakeLoop()
    config = _config(_raw(rate_limited_as_resource_exhausted=True, token_bucket={"max_tokens": 1, "fill_interval": "1s"}),
                     loop)
    grpc = [(b"content-type", b"application/grpc")]
    _request(config, loop, extra=grpc)
    reply = _request(config, loop, extra=grpc).owner.local_replies[0]
    assert reply.status == 429 and reply.headers[b"grpc-status"] == b"8"
    assert _request(config, loop).owner.local_replies[0].headers is None  # not gRPC


HEADER_POLICY = [{"actions": [{"request_headers": {"header_name": "x-user", "descriptor_key": "user"}}]}]
ONE_PER_USER = {"entries": [{"key": "user", "value": "alice"}],
                "token_bucket": {"max_tokens": 1, "tokens_per_fill": 1, "fill_interval": "60s"}}


def test_descriptors_from_the_filters_own_rate_limits():
    loop = FakeLoop()
    config = _config(_raw(rate_limits=HEADER_POLICY, descriptors=[ONE_PER_USER],
                          token_bucket={"max_tokens": 100, "fill_interval": "1s"}), loop)
    alice, bob = [(b"x-user", b"alice")], [(b"x-user", b"bob")]
    assert [_status(_request(config, loop, extra=alice)) for _ in range(2)] == [200, 429]
    assert [_status(_request(config, loop, extra=bob)) for _ in range(3)] == [200, 200, 200]
    assert _status(_request(config, loop)) == 200  # no header: no descriptor


def test_the_default_bucket_only_when_nothing_matched_if_asked():
    loop = FakeLoop()
    raw = _raw(rate_limits=HEADER_POLICY, always_consume_default_token_bucket=False,
               descriptors=[{**ONE_PER_USER, "token_bucket": {"max_tokens": 5, "fill_interval": "60s"}}],
               token_bucket={"max_tokens": 1, "fill_interval": "60s"})
    config = _config(raw, loop)
    alice = [(b"x-user", b"alice")]
    assert [_status(_request(config, loop, extra=alice)) for _ in range(3)] == [200, 200, 200]
    assert [_status(_request(config, loop)) for _ in range(2)] == [200, 429]


def test_the_strictest_matching_descriptor_is_tried_first_and_decides():
    loop = FakeLoop()
    policies = [{"actions": [{"generic_key": {"descriptor_value": "all"}}]}, HEADER_POLICY[0]]
    loose = {"entries": [{"key": "generic_key", "value": "all"}],
             "token_bucket": {"max_tokens": 10, "tokens_per_fill": 10, "fill_interval": "1s"}}
    config = _config(_raw(rate_limits=policies, descriptors=[loose, ONE_PER_USER], token_bucket=None,
                          enable_x_ratelimit_headers="DRAFT_VERSION_03"), loop)
    alice = [(b"x-user", b"alice")]
    first = _headers(_request(config, loop, extra=alice))
    assert (first[b"x-ratelimit-limit"], first[b"x-ratelimit-remaining"]) == (b"1", b"0")  # the strictest reports
    limited = _request(config, loop, extra=alice)
    assert _status(limited) == 429 and _headers(limited)[b"x-ratelimit-limit"] == b"1"
    assert config.limiter is not None
    loose_bucket = config.limiter.descriptors[(("generic_key", "all"),)][1]
    assert loose_bucket.remaining() == 9  # the refused request took no token of the looser one


def test_actions_header_value_match_remote_address_and_masked_remote_address():
    loop = FakeLoop()
    policy = [{"actions": [
        {"header_value_match": {"descriptor_value": "get", "headers": [{"name": ":method", "exact_match": "GET"}]}},
        {"remote_address": {}},
        {"masked_remote_address": {"v4_prefix_mask_len": 24}}]}]
    exact = {"entries": [{"key": "header_match", "value": "get"}, {"key": "remote_address", "value": "10.0.0.2"},
                         {"key": "masked_remote_address", "value": "10.0.0.0/24"}],
             "token_bucket": {"max_tokens": 1, "fill_interval": "60s"}}
    config = _config(_raw(rate_limits=policy, descriptors=[exact], token_bucket=None), loop)
    assert [_status(_request(config, loop)) for _ in range(2)] == [200, 429]
    other = fake_connection(loop, remote=("10.0.0.3", 1000))
    assert _status(_request(config, loop, connection=other)) == 200


def test_descriptors_from_the_route_and_virtual_host():
    loop = FakeLoop()
    route_policy = (rl.RateLimit(actions=(rl.RateLimitAction(kind=rl.REQUEST_HEADERS, descriptor_key="user",
                                                             header_name="x-user"),)),)
    vhost_policy = (rl.RateLimit(actions=(rl.RateLimitAction(kind=rl.GENERIC_KEY, descriptor_key="vh",
                                                             descriptor_value="all"),)),)
    vh_limit = {"entries": [{"key": "vh", "value": "all"}], "token_bucket": {"max_tokens": 1, "fill_interval": "60s"}}
    alice = [(b"x-user", b"alice")]

    def run(option: str, route: Route) -> list[int]:
        config = _config(_raw(stat_prefix=option, descriptors=[ONE_PER_USER, vh_limit], token_bucket=None,
                              vh_rate_limits=option), loop)
        return [_status(_request(config, loop, route=route, extra=alice)) for _ in range(2)]

    both = Route(rate_limits=route_policy, vh_rate_limits=vhost_policy)
    assert run("OVERRIDE", both) == [200, 429]  # the route's own: alice's bucket
    assert run("OVERRIDE", Route(rate_limits=(), vh_rate_limits=vhost_policy)) == [200, 429]  # the vhost's
    assert run("IGNORE", Route(rate_limits=(), vh_rate_limits=vhost_policy)) == [200, 200]
    included = Route(rate_limits=(), vh_rate_limits=vhost_policy, include_vh_rate_limits=True)
    assert run("IGNORE", included) == [200, 429]  # the route asks for its virtual host's


def test_a_route_config_has_its_own_bucket():
    loop = FakeLoop()
    config = _config(_raw(token_bucket={"max_tokens": 100, "fill_interval": "1s"}), loop)
    log = IssueLog()
    per_route = lrc.decode_envoy_route(_raw(stat_prefix="route_rl", token_bucket={"max_tokens": 1, "fill_interval": "1s"}),
                                       "$.routes[0].typed_per_filter_config.rl", log)
    assert per_route is not None
    route_config = lr.FACTORY.create_route_config(per_route)
    route = Route(per_filter={"rl": route_config})
    assert [_status(_request(config, loop, route=route)) for _ in range(2)] == [200, 429]
    assert _status(_request(config, loop)) == 200  # other routes: the filter's bucket
    assert route_config.stats.enforced.value == 1 and config.stats.enforced.value == 0


def test_per_connection_buckets():
    loop = FakeLoop()
    config = _config(_raw(local_rate_limit_per_downstream_connection=True,
                          token_bucket={"max_tokens": 1, "fill_interval": "1s"}), loop)
    one, two = fake_connection(loop), fake_connection(loop, id=8)
    assert [_status(_request(config, loop, connection=one)) for _ in range(2)] == [200, 429]
    assert _status(_request(config, loop, connection=two)) == 200


def test_the_mosn_shape_takes_the_same_json():
    log = IssueLog()
    decoded = lrc.decode_mosn({"stat_prefix": "m", "token_bucket": {"max_tokens": 3, "fill_interval": "2s"},
                               "filter_enabled": ALL}, "$.stream_filters[0].config", log)
    assert log.errors == [] and decoded is not None
    assert decoded.token_bucket == lrc.TokenBucketSpec(3, 1, 2.0) and decoded.identity == "$.stream_filters[0].config"
    assert _errors({"statPrefix": "m"}, lrc.decode_mosn)[0][0] == "$.c.statPrefix"  # proto names only


def test_a_decoded_config_survives_the_config_dump():
    log = IssueLog()
    raw = _raw(rate_limits=HEADER_POLICY + [{"actions": [{"header_value_match": {
        "descriptor_value": "v", "expect_match": False, "headers": [{"name": "x", "prefix_match": "a"}]}}]}],
        descriptors=[ONE_PER_USER], response_headers_to_add=[{"header": {"key": "x-a", "value": "b"}}])
    decoded = lrc.decode_envoy(raw, "$.t", log)
    assert log.errors == [] and decoded is not None
    assert msgspec.convert(msgspec.to_builtins(decoded), lrc.LocalRateLimitConfig) == decoded


@pytest.mark.parametrize(("field", "value", "where"), [
    ("token_bucket", {"max_tokens": 1, "fill_interval": "10ms"}, "$.c.token_bucket.fill_interval"),
    ("token_bucket", {"fill_interval": "1s"}, "$.c.token_bucket.max_tokens"),
    ("descriptors", [{"entries": [{"key": "user"}], "token_bucket": {"max_tokens": 1, "fill_interval": "1s"}}],
     "$.c.descriptors[0].entries[0].value"),
    ("descriptors", [ONE_PER_USER, ONE_PER_USER], "$.c.descriptors[1]"),
    ("local_cluster_rate_limit", {}, "$.c.local_cluster_rate_limit"),
    ("rate_limits", [{"actions": [{"source_cluster": {}}]}], "$.c.rate_limits[0].actions[0].source_cluster"),
    ("rate_limits", [{"actions": [{"metadata": {"descriptor_key": "k"}}]}], "$.c.rate_limits[0].actions[0].metadata"),
    ("rate_limits", [{"actions": [{"generic_key": {"descriptor_value": "%REQ(x)%"}}]}],
     "$.c.rate_limits[0].actions[0].generic_key.descriptor_value"),
    ("rate_limits", [{"actions": [{"generic_key": {"descriptor_value": "a"}}], "hits_addend": {"number": 2}}],
     "$.c.rate_limits[0].hits_addend"),
    ("status", {"code": 999}, "$.c.status.code"),
    ("stage", 11, "$.c.stage"),
    ("tokenz", 1, "$.c.tokenz"),
])
def test_refused_configs_name_the_field(field: str, value: Any, where: str):
    assert where in [path for path, _ in _errors(_raw(**{field: value}))]


def test_a_route_config_needs_its_own_bucket_and_a_wrong_type_is_refused():
    assert _errors(_raw(token_bucket=None), lrc.decode_envoy_route)[0][0] == "$.c.token_bucket"
    wrong = {"@type": "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault", **_raw()}
    assert _errors(wrong)[0][0] == "$.c.@type"
