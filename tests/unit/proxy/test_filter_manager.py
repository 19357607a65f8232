from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from pymosn.api.headers import HeaderMap, RequestHeaderMap
from pymosn.api.stream_filter import (
    CONTINUE,
    FILTER_FAILED,
    REQUEST_ENTITY_TOO_LARGE,
    STOP,
    STOP_AND_BUFFER,
    DecoderFilter,
    EncoderFilter,
    FilterCallbacks,
    FilterPhase,
    FilterStatus,
    StreamFilter,
)
from tests.support.fakes import FakeRoute, request_headers
from tests.support.filter_harness import FilterHarness

Step = FilterStatus | Callable[..., FilterStatus]


class Scripted(StreamFilter):
    """Answers each call from its script (a status, or a callable given the callbacks and the
    call's arguments); CONTINUE for calls without one."""

    def __init__(self, callbacks: FilterCallbacks, **script: Step | list[Step]) -> None:
        self.callbacks = callbacks
        self.script = {name: list(steps) if isinstance(steps, list) else [steps] for name, steps in script.items()}
        self.seen: list[tuple[str, Any]] = []

    def _next(self, call: str, *args: Any) -> FilterStatus:
        self.seen.append((call, args[0] if args else None))
        steps = self.script.get(call)
        if not steps:
            return CONTINUE
        step = steps.pop(0) if len(steps) > 1 else steps[0]
        return step(self.callbacks, *args) if callable(step) else step

    def decode_headers(self, headers: RequestHeaderMap, end_stream: bool) -> FilterStatus:
        return self._next("decode_headers", headers, end_stream)

    def decode_data(self, data: bytes, end_stream: bool) -> FilterStatus:
        return self._next("decode_data", data, end_stream)

    def decode_trailers(self, trailers: HeaderMap) -> FilterStatus:
        return self._next("decode_trailers", trailers)

    def encode_headers(self, status: int, headers: HeaderMap, end_stream: bool) -> FilterStatus:
        return self._next("encode_headers", status, headers, end_stream)

    def encode_data(self, data: bytes, end_stream: bool) -> FilterStatus:
        return self._next("encode_data", data, end_stream)

    def encode_trailers(self, trailers: HeaderMap) -> FilterStatus:
        return self._next("encode_trailers", trailers)


def scripted(**script: Any) -> Callable[[FilterCallbacks], Scripted]:
    return lambda callbacks: Scripted(callbacks, **script)


def reply(status: int, flag: str | None = None, details: str = "") -> Callable[..., FilterStatus]:
    def send(callbacks: FilterCallbacks, *_: Any) -> FilterStatus:
        callbacks.send_local_reply(status, b"denied", flag, details)
        return STOP
    return send


def upstream_kinds(harness: FilterHarness) -> list[str]:
    return [item[0] for item in harness.owner.upstream]


def test_continue_through_reaches_the_router_in_order_and_the_downstream_in_reverse():
    harness = FilterHarness(("a", scripted()), ("b", scripted()))
    harness.request(request_headers(b"/x"))
    harness.request_data(b"body", False)
    harness.request_trailers([(b"x-t", b"1")])
    harness.response(200, [(b"server", b"o")])
    harness.response_data(b"resp", True)
    assert upstream_kinds(harness) == ["headers", "data", "trailers"]
    assert harness.owner.upstream_body() == b"body"
    assert [item[0] for item in harness.owner.downstream] == ["headers", "data"]
    decode_order = [who for who, call, _ in harness.calls if call == "decode_headers"]
    encode_order = [who for who, call, _ in harness.calls if call == "encode_headers"]
    assert decode_order == ["a", "b"] and encode_order == ["b", "a"]
    harness.destroy()
    assert harness.destroyed("a") == harness.destroyed("b") == 1


def test_a_filter_of_one_side_only_is_not_run_on_the_other():
    class RequestOnly(DecoderFilter):
        def __init__(self, callbacks: FilterCallbacks) -> None:
            pass

        def decode_headers(self, headers: RequestHeaderMap, end_stream: bool) -> FilterStatus:
            headers.set(b"x-seen", b"1")
            return CONTINUE

    class ResponseOnly(EncoderFilter):
        def __init__(self, callbacks: FilterCallbacks) -> None:
            pass

        def encode_headers(self, status: int, headers: HeaderMap, end_stream: bool) -> FilterStatus:
            headers.add(b"x-resp", b"1")
            return CONTINUE

    harness = FilterHarness(("req", RequestOnly), ("resp", ResponseOnly))
    harness.request(request_headers(), end_stream=True)
    harness.response(204, end_stream=True)
    assert harness.owner.upstream[0][1].get(b"x-seen") == b"1"
    assert harness.owner.downstream[0][2].get(b"x-resp") == b"1"
    assert harness.statuses("req") == [("decode_headers", CONTINUE)]
    assert harness.statuses("resp") == [("encode_headers", CONTINUE)]
    harness.destroy()
    assert harness.destroyed("req") == harness.destroyed("resp") == 1


def test_stop_on_headers_holds_body_and_trailers_until_continue():
    harness = FilterHarness(("wait", scripted(decode_headers=STOP)), ("after", scripted()))
    harness.request(request_headers())
    harness.request_data(b"one", False)
    harness.request_data(b"two", False)
    harness.request_trailers([(b"x-t", b"1")])
    assert harness.owner.upstream == []
    assert harness.statuses("after") == []
    harness.callbacks["wait"].continue_decoding()
    assert upstream_kinds(harness) == ["headers", "data", "data", "trailers"]
    assert harness.owner.upstream_body() == b"onetwo"
    # the stopped filter saw the held chunks itself before they went on
    assert [call for call, _ in harness.filters["wait"].seen] == [
        "decode_headers", "decode_data", "decode_data", "decode_trailers"]
    assert harness.statuses("after")[0] == ("decode_headers", CONTINUE)


def test_stop_on_data_holds_later_chunks_until_continue_and_keeps_order():
    harness = FilterHarness(("wait", scripted(decode_data=[STOP, CONTINUE])), ("after", scripted()))
    harness.request(request_headers())
    harness.request_data(b"1", False)
    harness.request_data(b"2", True)
    assert upstream_kinds(harness) == ["headers"]
    harness.callbacks["wait"].continue_decoding()
    assert harness.owner.upstream[1:] == [("data", b"1", False), ("data", b"2", True)]


def test_continue_from_inside_the_call_that_returns_stop_is_honoured():
    def resume_now(callbacks: FilterCallbacks, *_: Any) -> FilterStatus:
        callbacks.continue_decoding()
        return STOP

    harness = FilterHarness(("a", scripted(decode_headers=resume_now)))
    harness.request(request_headers(), end_stream=True)
    assert upstream_kinds(harness) == ["headers"]


def test_a_stray_continue_is_ignored():
    harness = FilterHarness(("a", scripted()))
    harness.callbacks["a"].continue_decoding()
    harness.request(request_headers(), end_stream=True)
    harness.callbacks["a"].continue_decoding()
    harness.callbacks["a"].continue_encoding()
    assert upstream_kinds(harness) == ["headers"]


def test_stop_then_continue_from_a_timer_on_the_loop():
    def later(callbacks: FilterCallbacks, *_: Any) -> FilterStatus:
        callbacks.connection.loop.call_later(0.5, callbacks.continue_decoding)
        return STOP

    harness = FilterHarness(("slow", scripted(decode_headers=later)))
    harness.request(request_headers())
    harness.request_data(b"abc", True)
    harness.loop.advance(0.4)
    assert harness.owner.upstream == []
    harness.loop.advance(0.2)
    assert harness.owner.upstream[1:] == [("data", b"abc", True)]
    assert harness.used("slow", "continue_decoding") == [()]


def test_stop_and_buffer_from_a_data_call_includes_that_chunk():
    harness = FilterHarness(("buf", scripted(decode_data=[STOP_AND_BUFFER, CONTINUE])))
    harness.request(request_headers())
    harness.request_data(b"ab", False)
    harness.request_data(b"cd", True)
    assert harness.filters["buf"].seen[1:] == [("decode_data", b"ab"), ("decode_data", b"abcd")]
    assert harness.owner.upstream[1:] == [("data", b"abcd", True)]


def test_stop_over_the_limit_pauses_reading_and_resumes_when_released():
    harness = FilterHarness(("wait", scripted(decode_headers=STOP)), buffer_limit=10)
    harness.request(request_headers())
    harness.request_data(b"x" * 6, False)
    assert harness.owner.reading_paused == 0
    harness.request_data(b"y" * 6, False)
    assert harness.owner.reading_paused == 1
    harness.request_data(b"z" * 6, True)
    assert harness.owner.reading_paused == 1  # told once
    assert harness.owner.local_replies == []  # a STOP never fails a request for its size
    harness.callbacks["wait"].continue_decoding()
    assert harness.owner.reading_resumed == 1
    assert harness.owner.upstream_body() == b"x" * 6 + b"y" * 6 + b"z" * 6
    assert harness.manager.decoders.buffered == 0


def test_stop_and_buffer_gives_the_filter_the_whole_body_once():
    harness = FilterHarness(("buf", scripted(decode_headers=STOP_AND_BUFFER)), ("after", scripted()))
    harness.request(request_headers())
    harness.request_data(b"ab", False)
    harness.request_data(b"cd", False)
    assert harness.owner.upstream == []
    harness.request_data(b"ef", True)
    assert harness.filters["buf"].seen[1:] == [("decode_data", b"abcdef")]
    assert harness.owner.upstream[1:] == [("data", b"abcdef", True)]
    assert harness.owner.upstream[0][0] == "headers"
    assert harness.callback_log == []  # the buffering needed no continue


def test_stop_and_buffer_with_trailers_gives_body_then_trailers():
    harness = FilterHarness(("buf", scripted(decode_headers=STOP_AND_BUFFER)))
    harness.request(request_headers())
    harness.request_data(b"ab", False)
    harness.request_trailers([(b"grpc-status", b"0")])
    assert [call for call, _ in harness.filters["buf"].seen] == ["decode_headers", "decode_data", "decode_trailers"]
    assert upstream_kinds(harness) == ["headers", "data", "trailers"]
    assert harness.owner.upstream[1] == ("data", b"ab", False)


def test_stop_and_buffer_then_stop_on_the_body_waits_for_continue():
    harness = FilterHarness(("buf", scripted(decode_headers=STOP_AND_BUFFER, decode_data=STOP)))
    harness.request(request_headers())
    harness.request_data(b"ab", True)
    assert harness.owner.upstream == []  # the headers wait for the filter's decision on the body
    harness.callbacks["buf"].continue_decoding()
    assert upstream_kinds(harness) == ["headers", "data"]


def test_stop_and_buffer_over_the_limit_answers_413():
    harness = FilterHarness(("buf", scripted(decode_headers=STOP_AND_BUFFER)), ("after", scripted()),
                            buffer_limit=8)
    harness.request(request_headers())
    harness.request_data(b"12345", False)
    harness.request_data(b"67890", False)
    (too_large,) = harness.owner.local_replies
    assert (too_large.status, too_large.flag, too_large.details) == (
        413, REQUEST_ENTITY_TOO_LARGE, "request_payload_too_large")
    assert harness.owner.downstream_status() == 413
    assert harness.owner.upstream == []
    harness.request_data(b"more", True)  # the rest of the request is dropped
    assert harness.owner.upstream == [] and harness.manager.decoders.buffered == 0
    assert harness.statuses("after") == [("encode_headers", CONTINUE), ("encode_data", CONTINUE)]


def test_encoder_stop_and_buffer_over_the_limit_answers_500_directly():
    harness = FilterHarness(("buf", scripted(encode_headers=STOP_AND_BUFFER)), buffer_limit=4)
    harness.request(request_headers(), end_stream=True)
    harness.response(200)
    harness.response_data(b"123456", False)
    assert harness.owner.local_replies[0].details == "response_payload_too_large"
    assert harness.owner.downstream[0][1] == 500
    harness.response_data(b"late", True)
    assert [item[0] for item in harness.owner.downstream] == ["headers", "data"]


def test_encoder_stop_over_the_limit_pauses_the_upstream():
    harness = FilterHarness(("wait", scripted(encode_headers=STOP)), buffer_limit=4)
    harness.request(request_headers(), end_stream=True)
    harness.response(200)
    harness.response_data(b"123456", True)
    assert harness.owner.upstream_paused == 1
    harness.callbacks["wait"].continue_encoding()
    assert harness.owner.upstream_resumed == 1
    assert harness.owner.downstream_body() == b"123456"


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
    assert upstream_kinds(harness) == ["headers"]
    harness.callbacks["t"].continue_decoding()
    assert upstream_kinds(harness) == ["headers", "trailers"]
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

_STATUS = st.sampled_from([CONTINUE, CONTINUE, STOP, STOP_AND_BUFFER, "reply", "raise"])
_EVENTS = st.lists(st.sampled_from(["data", "data_end", "trailers", "continue", "response", "response_data",
                                    "response_end", "response_trailers", "encode_continue"]), max_size=12)


def _step(choice: Any) -> Step:
    if choice == "reply":
        return reply(403)
    if choice == "raise":
        def boom(callbacks: FilterCallbacks, *_: Any) -> FilterStatus:
            raise RuntimeError("random")
        return boom
    return choice


def _prefixes(events: list[str]) -> set[bytes]:
    """Every prefix of the request body the events sent (what may have reached the router)."""
    body = b""
    for event in events:
        if event == "data":
            body += b"chunk"
        elif event == "data_end":
            body += b"last"
            break
        elif event == "trailers":
            break
    return {body[:i] for i in range(len(body) + 1)}


@settings(max_examples=150, deadline=None)
@given(
    scripts=st.lists(st.fixed_dictionaries({
        call: st.lists(_STATUS, min_size=1, max_size=3)
        for call in ("decode_headers", "decode_data", "decode_trailers", "encode_headers", "encode_data",
                     "encode_trailers")
    }), min_size=1, max_size=4),
    phases=st.lists(st.sampled_from(list(FilterPhase)), min_size=4, max_size=4),
    events=_EVENTS,
    limit=st.sampled_from([4, 64]),
)
def test_random_statuses_and_events_destroy_each_filter_once_and_hold_nothing(scripts, phases, events, limit):
    chain = [(f"f{i}", scripted(**{call: [_step(c) for c in steps] for call, steps in script.items()}), phases[i])
             for i, script in enumerate(scripts)]
    harness = FilterHarness(*chain, route=FakeRoute("r"), buffer_limit=limit)
    harness.request(request_headers())
    ended = response_ended = False
    for event in events:
        if event == "data" and not ended:
            harness.request_data(b"chunk", False)
        elif event == "data_end" and not ended:
            harness.request_data(b"last", True)
            ended = True
        elif event == "trailers" and not ended:
            harness.request_trailers([(b"t", b"1")])
            ended = True
        elif event == "continue":
            for callbacks in harness.callbacks.values():
                callbacks.continue_decoding()
        elif event == "encode_continue":
            for callbacks in harness.callbacks.values():
                callbacks.continue_encoding()
        elif event == "response" and not harness.manager.encoders.headers_entered:
            harness.response(200)
        elif event == "response_data" and harness.manager.encoders.headers_entered and not response_ended:
            harness.response_data(b"resp", False)
        elif event == "response_end" and harness.manager.encoders.headers_entered and not response_ended:
            harness.response_data(b"end", True)
            response_ended = True
        elif event == "response_trailers" and harness.manager.encoders.headers_entered and not response_ended:
            harness.response_trailers([(b"grpc-status", b"0")])
            response_ended = True
    owner = harness.owner
    # what reached each side is a well-formed prefix of the message, in order
    for side in (owner.upstream, owner.downstream):
        kinds = [item[0] for item in side]
        assert kinds[:1] in ([], ["headers"]) and kinds.count("headers") <= 1
        assert "trailers" not in kinds[:-1]
        assert all(not item[-1] for item in side[:-1])  # nothing after an end of stream
    if not owner.local_replies and not owner.resets:
        assert owner.upstream_body() in _prefixes(events)
    if owner.local_replies and not harness.manager.encoders.stops:
        # a local reply no encoder filter is holding reached the downstream (or reset it)
        assert any(item[0] == "headers" for item in owner.downstream) or owner.resets
    # each filter saw its request in order: headers first, nothing after trailers
    for made in harness.filters.values():
        assert isinstance(made, Scripted)
        calls = [call for call, _ in made.seen if call.startswith("decode")]
        assert calls[:1] in ([], ["decode_headers"]) and calls.count("decode_headers") <= 1
        assert "decode_trailers" not in calls[:-1]
    assert owner.reading_paused - owner.reading_resumed in (0, 1)
    harness.destroy()
    for name in harness.filters:
        assert harness.destroyed(name) == 1
    assert harness.manager.decoders.buffered == 0 and harness.manager.encoders.buffered == 0
    assert harness.manager.decoders.stops is None and harness.manager.encoders.stops is None
    assert owner.reading_paused == owner.reading_resumed
    assert owner.upstream_paused == owner.upstream_resumed


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


def test_buffering_over_the_limit_while_replaying_held_chunks_answers_413_once():
    # found by the random test: the 413 came while the chunks held by a STOP were replayed
    harness = FilterHarness(("wait", scripted(decode_headers=STOP, decode_data=STOP_AND_BUFFER)), buffer_limit=4)
    harness.request(request_headers())
    harness.request_data(b"chunk", False)
    harness.request_data(b"chunk", False)
    assert harness.owner.reading_paused == 1
    harness.callbacks["wait"].continue_decoding()
    assert [r.status for r in harness.owner.local_replies] == [413]
    assert harness.owner.reading_resumed == 1 and harness.manager.decoders.buffered == 0
    assert harness.owner.upstream == []


def test_a_local_reply_while_reading_is_paused_releases_the_back_pressure():
    harness = FilterHarness(("wait", scripted(decode_headers=STOP)), buffer_limit=2)
    harness.request(request_headers())
    harness.request_data(b"held", False)
    assert harness.owner.reading_paused == 1
    harness.callbacks["wait"].send_local_reply(503, b"", "UH", "no_healthy_upstream")
    assert harness.owner.reading_resumed == 1
    assert harness.owner.downstream_status() == 503


def test_the_owners_own_local_reply_runs_through_the_encoder_filters():
    from pymosn.proxy.filter_manager import LocalReply

    harness = FilterHarness(("a", scripted()))
    harness.request(request_headers(), end_stream=True)
    harness.manager.send_local_reply(LocalReply(504, b"upstream request timeout", "UT", "upstream_response_timeout"))
    assert harness.statuses("a")[-2:] == [("encode_headers", CONTINUE), ("encode_data", CONTINUE)]
    assert harness.owner.downstream_body() == b"upstream request timeout"
    harness.response(200, end_stream=True)  # a late upstream response is dropped
    assert len(harness.owner.downstream) == 2
