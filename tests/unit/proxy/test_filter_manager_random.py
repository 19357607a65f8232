"""Random sequences of filter statuses and stream events: every filter destroyed once, nothing held, messages well formed."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from pymosn.api.stream_filter import (
    CONTINUE,
    STOP,
    STOP_AND_BUFFER,
    FilterCallbacks,
    FilterPhase,
    FilterStatus,
)
from tests.support.fakes import FakeRoute, request_headers
from tests.support.filter_harness import FilterHarness
from tests.support.scripted_filter import Scripted, Step, reply, scripted

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
