"""The filter manager's iteration: order, sides, STOP and STOP_AND_BUFFER, buffering and back-pressure."""

from __future__ import annotations

from typing import Any

from pymosn.api.headers import HeaderMap, RequestHeaderMap
from pymosn.api.stream_filter import (
    CONTINUE,
    REQUEST_ENTITY_TOO_LARGE,
    STOP,
    STOP_AND_BUFFER,
    DecoderFilter,
    EncoderFilter,
    FilterCallbacks,
    FilterStatus,
)
from tests.support.fakes import request_headers
from tests.support.filter_harness import FilterHarness
from tests.support.scripted_filter import scripted


def test_continue_through_reaches_the_router_in_order_and_the_downstream_in_reverse():
    harness = FilterHarness(("a", scripted()), ("b", scripted()))
    harness.request(request_headers(b"/x"))
    harness.request_data(b"body", False)
    harness.request_trailers([(b"x-t", b"1")])
    harness.response(200, [(b"server", b"o")])
    harness.response_data(b"resp", True)
    assert harness.owner.upstream_kinds() == ["headers", "data", "trailers"]
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
    assert harness.owner.upstream_kinds() == ["headers", "data", "data", "trailers"]
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
    assert harness.owner.upstream_kinds() == ["headers"]
    harness.callbacks["wait"].continue_decoding()
    assert harness.owner.upstream[1:] == [("data", b"1", False), ("data", b"2", True)]


def test_continue_from_inside_the_call_that_returns_stop_is_honoured():
    def resume_now(callbacks: FilterCallbacks, *_: Any) -> FilterStatus:
        callbacks.continue_decoding()
        return STOP

    harness = FilterHarness(("a", scripted(decode_headers=resume_now)))
    harness.request(request_headers(), end_stream=True)
    assert harness.owner.upstream_kinds() == ["headers"]


def test_a_stray_continue_is_ignored():
    harness = FilterHarness(("a", scripted()))
    harness.callbacks["a"].continue_decoding()
    harness.request(request_headers(), end_stream=True)
    harness.callbacks["a"].continue_decoding()
    harness.callbacks["a"].continue_encoding()
    assert harness.owner.upstream_kinds() == ["headers"]


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
    assert harness.owner.upstream_kinds() == ["headers", "data", "trailers"]
    assert harness.owner.upstream[1] == ("data", b"ab", False)


def test_stop_and_buffer_then_stop_on_the_body_waits_for_continue():
    harness = FilterHarness(("buf", scripted(decode_headers=STOP_AND_BUFFER, decode_data=STOP)))
    harness.request(request_headers())
    harness.request_data(b"ab", True)
    assert harness.owner.upstream == []  # the headers wait for the filter's decision on the body
    harness.callbacks["buf"].continue_decoding()
    assert harness.owner.upstream_kinds() == ["headers", "data"]


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
