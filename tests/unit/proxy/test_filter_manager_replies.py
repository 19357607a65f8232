"""Local replies, failures, routes, phases and destruction in the filter manager."""

from __future__ import annotations

from typing import Any

from pymosn.api.headers import HeaderMap, RequestHeaderMap
from pymosn.api.stream_filter import (
    CONTINUE,
    FILTER_FAILED,
    STOP,
    DecoderFilter,
    FilterCallbacks,
    FilterPhase,
    FilterStatus,
    StreamFilter,
)
from tests.support.fakes import FakeRoute, request_headers
from tests.support.filter_harness import FilterHarness
from tests.support.scripted_filter import Scripted, reply, scripted


def test_local_reply_before_route_skips_the_rest_and_the_router():
    harness = FilterHarness(("deny", scripted(decode_headers=reply(403, "RBAC", "rbac_access_denied"))),
                            ("later", scripted()), ("late_phase", scripted(), FilterPhase.AFTER_ROUTE),
                            route=FakeRoute("r"))
    harness.request(request_headers())
    harness.request_data(b"ignored", True)
    assert harness.owner.upstream == []
    assert harness.statuses("later") == [("encode_headers", CONTINUE), ("encode_data", CONTINUE)]
    assert harness.owner.route_lookups == 0
    assert harness.owner.downstream_status() == 403
    assert harness.owner.downstream_body() == b"denied"
    assert harness.owner.local_replies[0].details == "rbac_access_denied"


def test_local_reply_after_route_reads_the_route_and_encoder_filters_see_it():
    def by_route(callbacks: FilterCallbacks, *_: Any) -> FilterStatus:
        assert callbacks.route is not None and callbacks.route.name == "r1"
        callbacks.send_local_reply(429, b"", "RL", "local_rate_limited")
        return STOP

    harness = FilterHarness(("first", scripted()), ("limit", scripted(decode_headers=by_route), FilterPhase.AFTER_ROUTE),
                            route=FakeRoute("r1"))
    harness.request(request_headers(), end_stream=True)
    assert harness.owner.events[:2] == ["first.decode_headers", "route"]
    assert harness.owner.downstream[0][1] == 429
    # both encoder filters saw the reply, the sender included (Envoy's dual filter behaviour)
    assert ("encode_headers", CONTINUE) in harness.statuses("first")
    assert ("encode_headers", CONTINUE) in harness.statuses("limit")


def test_local_reply_from_an_encoder_filter_goes_straight_downstream():
    harness = FilterHarness(("outer", scripted()), ("inner", scripted(encode_headers=reply(502))))
    harness.request(request_headers(), end_stream=True)
    harness.response(200)
    harness.response_data(b"upstream body", True)
    assert harness.owner.downstream_status() == 502
    assert harness.owner.downstream_body() == b"denied"
    assert ("encode_headers", CONTINUE) not in harness.statuses("outer")


def test_local_reply_after_the_response_started_resets_the_stream():
    def late(callbacks: FilterCallbacks, *_: Any) -> FilterStatus:
        callbacks.send_local_reply(500)
        return STOP

    harness = FilterHarness(("a", scripted(encode_data=late)))
    harness.request(request_headers(), end_stream=True)
    harness.response(200)
    harness.response_data(b"x", True)
    assert harness.owner.resets and harness.owner.resets[0].status == 500
    assert harness.owner.local_replies == []


def test_trailers_stop_and_continue():
    harness = FilterHarness(("t", scripted(decode_trailers=STOP, encode_trailers=STOP)))
    harness.request(request_headers())
    harness.request_trailers([(b"a", b"1")])
    assert harness.owner.upstream_kinds() == ["headers"]
    harness.callbacks["t"].continue_decoding()
    assert harness.owner.upstream_kinds() == ["headers", "trailers"]
    harness.response(200)
    harness.response_trailers([(b"grpc-status", b"0")])
    harness.callbacks["t"].continue_encoding()
    assert [item[0] for item in harness.owner.downstream] == ["headers", "trailers"]


def test_a_filter_that_raises_gets_its_stream_a_500_with_a_flag():
    def boom(callbacks: FilterCallbacks, *_: Any) -> FilterStatus:
        raise RuntimeError("bug")

    harness = FilterHarness(("ok", scripted()), ("buggy", scripted(decode_data=boom)))
    harness.request(request_headers())
    harness.request_data(b"x", True)
    (name, error), = harness.owner.filter_errors
    assert name == "buggy" and isinstance(error, RuntimeError)
    failed = harness.owner.local_replies[0]
    assert (failed.status, failed.flag, failed.details) == (500, FILTER_FAILED, "filter_raised[buggy]")
    assert harness.owner.downstream_status() == 500
    harness.destroy()
    assert harness.destroyed("ok") == harness.destroyed("buggy") == 1


def test_a_filter_that_fails_to_be_made_answers_500_and_the_others_are_destroyed():
    def broken(callbacks: FilterCallbacks) -> Scripted:
        raise ValueError("bad state")

    harness = FilterHarness(("ok", scripted()), ("broken", broken))
    harness.request(request_headers(), end_stream=True)
    assert harness.owner.downstream_status() == 500
    assert harness.owner.filter_errors[0][0] == "broken"
    harness.destroy()
    assert harness.destroyed("ok") == 1


def test_route_is_resolved_lazily_once_and_cleared_on_request():
    def reroute(callbacks: FilterCallbacks, headers: RequestHeaderMap, end_stream: bool) -> FilterStatus:
        assert callbacks.route is not None
        headers.set(b":path", b"/other")
        callbacks.clear_route_cache()
        assert callbacks.route is not None
        assert callbacks.route is callbacks.route
        return CONTINUE

    harness = FilterHarness(("plain", scripted()), route=FakeRoute("r"))
    harness.request(request_headers(), end_stream=True)
    assert harness.owner.route_lookups == 0  # nobody asked

    harness = FilterHarness(("rewrite", scripted(decode_headers=reroute)), route=FakeRoute("r"))
    harness.request(request_headers(), end_stream=True)
    assert harness.owner.route_lookups == 2
    assert harness.used("rewrite", "clear_route_cache") == [()]
    assert harness.manager.route is not None and harness.owner.route_lookups == 2


def test_phases_order_filters_and_run_routing_and_host_choice_between_them():
    harness = FilterHarness(("host", scripted(), FilterPhase.AFTER_CHOOSE_HOST), ("route", scripted(), FilterPhase.AFTER_ROUTE),
                            ("before", scripted()), route=FakeRoute("r"))
    harness.request(request_headers(), end_stream=True)
    assert harness.owner.events == ["before.decode_headers", "route", "route.decode_headers", "host",
                                     "host.decode_headers"]


def test_per_filter_config_comes_from_the_route_by_the_filters_name():
    def read(callbacks: FilterCallbacks, *_: Any) -> FilterStatus:
        assert callbacks.per_filter_config() == {"limit": 3}
        assert callbacks.per_filter_config("other") is None
        return CONTINUE

    harness = FilterHarness(("mine", scripted(decode_headers=read)), route=FakeRoute("r", {"mine": {"limit": 3}}))
    harness.request(request_headers(), end_stream=True)
    assert harness.statuses("mine") == [("decode_headers", CONTINUE)]


def test_stream_and_connection_info_reach_the_filter():
    def read(callbacks: FilterCallbacks, *_: Any) -> FilterStatus:
        assert callbacks.stream_info.listener_name == "test_listener"
        assert callbacks.connection.remote == ("10.0.0.2", 40000)
        return CONTINUE

    harness = FilterHarness(("mine", scripted(decode_headers=read)))
    harness.request(request_headers(), end_stream=True)
    assert harness.statuses("mine") == [("decode_headers", CONTINUE)]


def test_on_destroy_that_raises_is_contained_and_the_rest_still_destroyed():
    class Leaky(Scripted):
        def on_destroy(self) -> None:
            raise RuntimeError("leak")

    harness = FilterHarness(("leaky", lambda callbacks: Leaky(callbacks)), ("ok", scripted()))
    harness.request(request_headers(), end_stream=True)
    harness.destroy()
    harness.destroy()
    assert harness.destroyed("ok") == 1 and harness.destroyed("leaky") == 1
    assert harness.owner.filter_errors[0][0] == "leaky"


def test_nothing_runs_after_destroy():
    harness = FilterHarness(("wait", scripted(decode_headers=STOP)))
    harness.request(request_headers())
    harness.destroy()
    harness.callbacks["wait"].continue_decoding()
    harness.request_data(b"x", True)
    harness.response(200, end_stream=True)
    assert harness.owner.upstream == [] and harness.owner.downstream == []


# --- random sequences: every filter destroyed once, nothing held after the stream ----------------


def test_a_plan_shared_by_streams_relearns_its_layout_when_a_config_makes_other_classes():
    from pymosn.api.stream_info import StreamInfo
    from pymosn.proxy.filter_manager import FilterChainEntry, FilterChainPlan, FilterManager
    from tests.support.fakes import FakeOwner, fake_connection

    class RequestSide(DecoderFilter):
        def decode_headers(self, headers: RequestHeaderMap, end_stream: bool) -> FilterStatus:
            headers.add(b"x-side", b"request")
            return CONTINUE

    class BothSides(StreamFilter):
        def decode_headers(self, headers: RequestHeaderMap, end_stream: bool) -> FilterStatus:
            headers.add(b"x-side", b"both")
            return CONTINUE

        def encode_headers(self, status: int, headers: HeaderMap, end_stream: bool) -> FilterStatus:
            headers.add(b"x-side", b"both")
            return CONTINUE

    class Alternating:
        def __init__(self) -> None:
            self.made = 0

        def create_filter(self, callbacks: FilterCallbacks) -> DecoderFilter:
            self.made += 1
            if self.made == 1:
                raise RuntimeError("first stream fails")
            return RequestSide() if self.made == 2 else BothSides()

    plan = FilterChainPlan([FilterChainEntry("alt", Alternating())])
    outcomes = []
    for _ in range(3):
        owner = FakeOwner()
        manager = FilterManager(owner, plan, StreamInfo(), fake_connection())
        manager.decode_headers(request_headers(), True)
        manager.encode_headers(200, HeaderMap.of([]), True)
        manager.destroy()
        outcomes.append((owner.downstream_status(), [h.get(b"x-side") for _, h, _ in owner.upstream],
                         owner.downstream[0][2].get(b"x-side")))
    assert outcomes == [(500, [], None), (200, [b"request"], None), (200, [b"both"], b"both")]
