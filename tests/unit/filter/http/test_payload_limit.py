"""The payload limit (MOSN payload_limit, Envoy buffer) through FilterHarness: whole bodies under
the limit go upstream in one piece, bodies over it get the configured status with flag RT,
content-length over it is answered before the body; both config shapes and bad values."""

from __future__ import annotations

from typing import Any

import pytest

from pymosn.api.stream_filter import CONTINUE, REQUEST_ENTITY_TOO_LARGE, STOP, STOP_AND_BUFFER
from pymosn.config.issues import IssueLog
from pymosn.filter.http import payload_limit as pl
from tests.support.fakes import FakeRoute, request_headers
from tests.support.filter_harness import FilterHarness


def _harness(max_bytes: int, status: int = 413, buffer_limit: int = 1 << 20) -> tuple[FilterHarness,
                                                                                       pl.PayloadLimitFilterConfig]:
    config = pl.FACTORY.create_config(pl.PayloadLimitConfig(max_bytes, status))
    return FilterHarness(("limit", config), buffer_limit=buffer_limit), config


def test_a_body_within_the_limit_goes_upstream_whole():
    harness, config = _harness(10)
    harness.request(request_headers(b"/up", b"POST"))
    harness.request_data(b"12345")
    assert harness.owner.upstream == []  # held until the body is complete
    harness.request_data(b"67890", end_stream=True)
    assert harness.owner.upstream_kinds() == ["headers", "data"] and harness.owner.upstream_body() == b"1234567890"
    assert harness.statuses("limit") == [("decode_headers", STOP_AND_BUFFER), ("decode_data", CONTINUE)]
    assert config.stats.rq_too_large == 0


def test_a_body_over_the_limit_is_answered_with_413_and_nothing_goes_upstream():
    harness, config = _harness(10)
    harness.request(request_headers(b"/up", b"POST"))
    harness.request_data(b"123456")
    harness.request_data(b"78901", end_stream=True)
    reply = harness.owner.local_replies[0]
    assert (reply.status, reply.flag, reply.details) == (413, REQUEST_ENTITY_TOO_LARGE, pl.DETAILS)
    assert harness.owner.upstream == [] and harness.owner.downstream_status() == 413 and config.stats.rq_too_large == 1
    harness.destroy()
    assert harness.destroyed("limit") == 1


def test_content_length_over_the_limit_is_answered_from_the_headers():
    harness, config = _harness(10, status=400)
    harness.request(request_headers(b"/up", b"POST", extra=[(b"content-length", b"11")]))
    assert harness.statuses("limit") == [("decode_headers", STOP)]
    assert harness.owner.local_replies[0].status == 400 and config.stats.rq_too_large == 1


def test_body_and_trailers_within_the_limit():
    harness, _ = _harness(10)
    harness.request(request_headers(b"/up", b"POST"))
    harness.request_data(b"1234")
    harness.request_trailers([(b"x-t", b"1")])
    assert harness.owner.upstream_kinds() == ["headers", "data", "trailers"] and harness.owner.local_replies == []


def test_requests_without_a_body_and_limit_zero_pass_at_once():
    harness, _ = _harness(10)
    harness.request(request_headers(), end_stream=True)
    unlimited, _ = _harness(0)
    unlimited.request(request_headers(b"/up", b"POST"))
    unlimited.request_data(b"x" * 100, end_stream=True)
    assert harness.statuses("limit") == [("decode_headers", CONTINUE)]
    assert unlimited.statuses("limit") == [("decode_headers", CONTINUE), ("decode_data", CONTINUE)]
    assert unlimited.owner.upstream_body() == b"x" * 100


def test_the_stream_buffer_limit_still_applies():
    harness, config = _harness(100, buffer_limit=8)
    harness.request(request_headers(b"/up", b"POST"))
    harness.request_data(b"x" * 9)
    assert harness.owner.local_replies[0].status == 413 and harness.owner.upstream == []
    assert config.stats.rq_too_large == 0  # answered by the manager, the same status and flag


def test_config_shapes():
    log = IssueLog()
    assert pl.decode_envoy({"@type": pl.TYPE_URL, "maxRequestBytes": 1024}, "$", log) == pl.PayloadLimitConfig(1024)
    assert pl.decode_mosn({"max_entity_size": 100, "http_status": 500}, "$", log) == pl.PayloadLimitConfig(100, 500)
    assert pl.decode_mosn({"max_entity_size ": 100}, "$", log) == pl.PayloadLimitConfig(100)  # MOSN's spaced key
    assert pl.decode_mosn({}, "$", log) == pl.PayloadLimitConfig(0)
    assert log.errors == []


@pytest.mark.parametrize(("decode", "raw", "paths"), [
    (pl.decode_envoy, {}, ["$.f.max_request_bytes"]),
    (pl.decode_envoy, {"max_request_bytes": 0}, ["$.f.max_request_bytes"]),
    (pl.decode_envoy, {"max_request_bytes": "lots"}, ["$.f.max_request_bytes"]),
    (pl.decode_envoy, {"max_request_bytes": 1, "@type": "type.googleapis.com/x.Y"}, ["$.f.@type"]),
    (pl.decode_mosn, {"max_entity_size": -1}, ["$.f.max_entity_size"]),
    (pl.decode_mosn, {"max_entity_size": 10, "http_status": 99}, ["$.f.http_status"]),
    (pl.decode_mosn, {"max_entity": 10}, ["$.f.max_entity"]),
])
def test_bad_configs_are_errors_at_their_path(decode: Any, raw: dict[str, Any], paths: list[str]):
    log = IssueLog()
    assert decode(raw, "$.f", log) is None
    assert [issue.path for issue in log.errors] == paths


def test_a_routes_limit_replaces_the_filters_there():
    config = pl.FACTORY.create_config(pl.PayloadLimitConfig(10))
    answers = []
    for per_filter in ({"limit": pl.PayloadLimitConfig(3, 400)}, {"limit": pl.PayloadLimitConfig(0)}, {}):
        harness = FilterHarness(("limit", config), route=FakeRoute("r", per_filter))
        harness.request(request_headers(b"/up", b"POST"))
        harness.request_data(b"12345678901", end_stream=True)
        answers.append([r.status for r in harness.owner.local_replies])
    assert answers == [[400], [], [413]]


def test_envoy_buffer_per_route():
    log = IssueLog()
    assert pl.decode_envoy_route({"disabled": True}, "$.r", log) == pl.PayloadLimitConfig(0)
    assert pl.decode_envoy_route({"buffer": {"maxRequestBytes": 7}}, "$.r", log) == pl.PayloadLimitConfig(7)
    assert log.errors == []
    assert pl.decode_envoy_route({"disabled": False}, "$.r", log) is None
    assert [str(e) for e in log.errors] == ["$.r.disabled: must be true (as in Envoy)"]
