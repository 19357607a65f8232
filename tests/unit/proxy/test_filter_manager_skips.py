"""What the manager leaves out: a method a filter's class keeps at the API's default (`*_data`,
`*_trailers` continue, `on_destroy` does nothing) is not called, and a destroyed stream leaves
no reference cycle. Driven without the FilterHarness, which marks every method as taken so it
can record the calls the defaults would get."""

from __future__ import annotations

import gc
import weakref
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from pymosn.api.headers import HeaderMap, RequestHeaderMap
from pymosn.api.stream_filter import (
    CONTINUE,
    STOP,
    STOP_AND_BUFFER,
    DecoderFilter,
    EncoderFilter,
    FilterCallbacks,
    FilterPhase,
    FilterStatus,
    StreamFilter,
)
from pymosn.api.stream_info import StreamInfo
from pymosn.proxy.filter_manager import FilterChainEntry, FilterChainPlan, FilterManager
from tests.support.fakes import FakeOwner, FakeRoute, fake_connection, request_headers
from tests.support.scripted_filter import Scripted, reply


class Made:
    """A FilterConfig making `cls(callbacks)` and keeping what it made."""

    def __init__(self, cls: Any) -> None:
        self.cls = cls
        self.made: list[Any] = []

    def create_filter(self, callbacks: FilterCallbacks) -> Any:
        self.made.append(self.cls(callbacks))
        return self.made[-1]


def manager(*configs: Any, owner: FakeOwner | None = None, buffer_limit: int = 1 << 20) -> FilterManager:
    plan = FilterChainPlan([FilterChainEntry(f"f{i}", config) for i, config in enumerate(configs)])
    return FilterManager(owner or FakeOwner(), plan, StreamInfo(), fake_connection(), buffer_limit)


class HeadersOnly(DecoderFilter):
    """Overrides decode_headers and on_destroy only; an instance-level decode_data is not seen."""

    def __init__(self, callbacks: FilterCallbacks) -> None:
        self.callbacks = callbacks
        self.destroyed = 0
        self.data_calls = 0
        self.decode_data = self._count_data  # type: ignore[method-assign]  # not the class's: not called

    def _count_data(self, data: bytes, end_stream: bool) -> FilterStatus:
        self.data_calls += 1
        return CONTINUE

    def decode_headers(self, headers: RequestHeaderMap, end_stream: bool) -> FilterStatus:
        return CONTINUE

    def on_destroy(self) -> None:
        self.destroyed += 1


class BodyReader(StreamFilter):
    """Takes the body and trailers of both sides."""

    def __init__(self, callbacks: FilterCallbacks) -> None:
        self.callbacks = callbacks
        self.seen: list[tuple[str, Any]] = []

    def decode_headers(self, headers: RequestHeaderMap, end_stream: bool) -> FilterStatus:
        return CONTINUE

    def decode_data(self, data: bytes, end_stream: bool) -> FilterStatus:
        self.seen.append(("decode_data", data))
        return CONTINUE

    def decode_trailers(self, trailers: HeaderMap) -> FilterStatus:
        self.seen.append(("decode_trailers", trailers.get(b"x-t")))
        return CONTINUE

    def encode_headers(self, status: int, headers: HeaderMap, end_stream: bool) -> FilterStatus:
        return CONTINUE

    def encode_data(self, data: bytes, end_stream: bool) -> FilterStatus:
        self.seen.append(("encode_data", data))
        return CONTINUE

    def encode_trailers(self, trailers: HeaderMap) -> FilterStatus:
        self.seen.append(("encode_trailers", trailers.get(b"grpc-status")))
        return CONTINUE


class Waits(DecoderFilter):
    """Stops the request headers (STOP or STOP_AND_BUFFER); keeps the default decode_data."""

    status = STOP

    def __init__(self, callbacks: FilterCallbacks) -> None:
        self.callbacks = callbacks

    def decode_headers(self, headers: RequestHeaderMap, end_stream: bool) -> FilterStatus:
        return self.status


class Buffers(Waits):
    status = STOP_AND_BUFFER


def test_a_filter_overriding_only_headers_gets_no_body_calls_and_its_on_destroy_once():
    only, reader = Made(HeadersOnly), Made(BodyReader)
    m = manager(only, reader)
    m.decode_headers(request_headers(), False)
    m.decode_data(b"a", False)
    m.decode_data(b"b", True)
    m.encode_headers(200, HeaderMap.of([]), False)
    m.encode_data(b"r", True)
    m.destroy()
    m.destroy()
    assert only.made[0].data_calls == 0 and only.made[0].destroyed == 1
    assert reader.made[0].seen == [("decode_data", b"a"), ("decode_data", b"b"), ("encode_data", b"r")]
    owner = m.owner
    assert isinstance(owner, FakeOwner)
    assert owner.upstream[1:] == [("data", b"a", False), ("data", b"b", True)]
    assert owner.downstream_body() == b"r"


def test_trailers_go_to_the_filters_that_take_them_on_both_sides():
    reader = Made(BodyReader)
    m = manager(Made(HeadersOnly), reader)
    m.decode_headers(request_headers(), False)
    m.decode_trailers(HeaderMap.of([(b"x-t", b"1")]))
    m.encode_headers(200, HeaderMap.of([]), False)
    m.encode_trailers(HeaderMap.of([(b"grpc-status", b"0")]))
    assert reader.made[0].seen == [("decode_trailers", b"1"), ("encode_trailers", b"0")]
    assert isinstance(m.owner, FakeOwner)
    assert m.owner.upstream_kinds() == ["headers", "trailers"]
    assert [item[0] for item in m.owner.downstream] == ["headers", "trailers"]


def test_a_stop_by_a_filter_without_decode_data_holds_the_body_until_continue():
    waits, reader = Made(Waits), Made(BodyReader)
    m = manager(waits, reader)
    m.decode_headers(request_headers(), False)
    m.decode_data(b"one", False)
    m.decode_data(b"two", True)
    assert isinstance(m.owner, FakeOwner)
    assert m.owner.upstream == [] and reader.made[0].seen == []
    waits.made[0].callbacks.continue_decoding()
    assert m.owner.upstream[1:] == [("data", b"one", False), ("data", b"two", True)]
    assert reader.made[0].seen == [("decode_data", b"one"), ("decode_data", b"two")]


def test_stop_and_buffer_by_a_filter_without_decode_data_passes_the_whole_body_on():
    reader = Made(BodyReader)
    m = manager(Made(Buffers), reader)
    m.decode_headers(request_headers(), False)
    m.decode_data(b"ab", False)
    m.decode_data(b"cd", True)
    assert isinstance(m.owner, FakeOwner)
    assert m.owner.upstream[1:] == [("data", b"abcd", True)]
    assert reader.made[0].seen == [("decode_data", b"abcd")]


def test_stop_and_buffer_over_the_limit_still_answers_413_without_decode_data():
    m = manager(Made(Buffers), buffer_limit=3)
    m.decode_headers(request_headers(), False)
    m.decode_data(b"abcd", False)
    assert isinstance(m.owner, FakeOwner)
    assert [r.status for r in m.owner.local_replies] == [413] and m.owner.upstream == []


def test_on_destroy_of_an_object_outside_the_api_bases_is_still_called_or_reported():
    class Duck:
        def __init__(self, callbacks: FilterCallbacks) -> None:
            self.destroyed = 0

        def on_destroy(self) -> None:
            self.destroyed += 1

    class Mute:
        def __init__(self, callbacks: FilterCallbacks) -> None:
            pass

    duck, mute = Made(Duck), Made(Mute)
    m = manager(duck, mute)
    m.decode_headers(request_headers(), True)
    m.destroy()
    assert duck.made[0].destroyed == 1
    assert isinstance(m.owner, FakeOwner)
    assert [(name, type(error)) for name, error in m.owner.filter_errors] == [("f1", AttributeError)]


def _live_managers() -> int:
    return sum(1 for obj in gc.get_objects() if type(obj) is FilterManager)


def test_a_destroyed_stream_is_freed_without_the_cycle_collector():
    gc.disable()
    try:
        made: list[weakref.ref[Any]] = []

        class Config:  # keeps no filter
            def __init__(self, cls: type) -> None:
                self.cls = cls

            def create_filter(self, callbacks: FilterCallbacks) -> Any:
                made.append(weakref.ref(filter := self.cls(callbacks)))
                return filter

        m = manager(Config(BodyReader), Config(Waits))
        m.decode_headers(request_headers(), False)
        m.decode_data(b"held", False)  # held by the stopped filter: a Stop record
        m.encode_headers(200, HeaderMap.of([]), True)
        m.destroy()
        # (counted, not weakly referenced: the compiled build's FilterManager takes no weakrefs)
        live_before = _live_managers()
        del m
        assert _live_managers() == live_before - 1 and [ref() for ref in made] == [None, None]
    finally:
        gc.enable()


def test_a_filter_raising_after_its_stream_was_destroyed_in_the_same_call_is_reported():
    class DestroysThenRaises(DecoderFilter):
        def __init__(self, callbacks: FilterCallbacks) -> None:
            self.callbacks = callbacks

        def decode_headers(self, headers: RequestHeaderMap, end_stream: bool) -> FilterStatus:
            streams[0].destroy()  # as an owner resetting the stream synchronously would
            raise RuntimeError("after the end")

    streams: list[FilterManager] = []
    streams.append(manager(Made(DestroysThenRaises)))
    streams[0].decode_headers(request_headers(), True)
    owner = streams[0].owner
    assert isinstance(owner, FakeOwner)
    assert [name for name, _ in owner.filter_errors] == ["f0"]
    assert owner.local_replies == [] and owner.upstream == []


# --- skipping changes nothing: a class with only some methods behaves as one with all of them ---

_CALLS = ("decode_headers", "decode_data", "decode_trailers", "encode_headers", "encode_data", "encode_trailers")
_BASES = {"decoder": DecoderFilter, "encoder": EncoderFilter, "dual": StreamFilter}
_REQUIRED = {"decoder": ("decode_headers",), "encoder": ("encode_headers",),
             "dual": ("decode_headers", "encode_headers")}
_STEP = st.sampled_from([CONTINUE, STOP, STOP_AND_BUFFER, "reply"])
_EVENTS = st.lists(st.sampled_from(["data", "data_end", "trailers", "continue", "response", "response_data",
                                    "response_end", "response_trailers", "encode_continue"]), max_size=12)


def _scripted_class(side: str, calls: set[str]) -> type:
    """A Scripted-like filter of `side` whose class defines only `calls` (plus its side's
    required headers method): the other methods stay the API's defaults."""
    prefix = {"decoder": ("decode",), "encoder": ("encode",), "dual": ("decode", "encode")}[side]
    own = {call for call in calls | set(_REQUIRED[side]) if call.startswith(prefix)}
    namespace = {call: Scripted.__dict__[call] for call in own}
    namespace.update(__init__=Scripted.__init__, _next=Scripted._next)
    return type(f"{side}_{'_'.join(sorted(own))}", (_BASES[side],), namespace)


def _run(classes: list[type], scripts: list[dict[str, list[Any]]], phases: list[FilterPhase],
         events: list[str], limit: int) -> tuple[Any, ...]:
    made: list[Any] = []

    class Config:
        def __init__(self, cls: type, script: dict[str, list[Any]]) -> None:
            self.cls, self.script = cls, script

        def create_filter(self, callbacks: FilterCallbacks) -> Any:
            steps = {call: [reply(403) if step == "reply" else step for step in steps]
                     for call, steps in self.script.items()}
            made.append(self.cls(callbacks, **steps))
            return made[-1]

    owner = FakeOwner(FakeRoute("r"))
    plan = FilterChainPlan([FilterChainEntry(f"f{i}", Config(cls, script), phases[i])
                            for i, (cls, script) in enumerate(zip(classes, scripts, strict=True))])
    m = FilterManager(owner, plan, StreamInfo(), fake_connection(), limit)
    m.decode_headers(request_headers(), False)
    ended = response_ended = False
    for event in events:
        entered = m.encoders.headers_entered
        if event == "data" and not ended:
            m.decode_data(b"chunk", False)
        elif event == "data_end" and not ended:
            m.decode_data(b"last", True)
            ended = True
        elif event == "trailers" and not ended:
            m.decode_trailers(HeaderMap.of([(b"t", b"1")]))
            ended = True
        elif event in ("continue", "encode_continue"):
            for one in made:
                (one.callbacks.continue_decoding if event == "continue" else one.callbacks.continue_encoding)()
        elif event == "response" and not entered:
            m.encode_headers(200, HeaderMap.of([]), False)
        elif event == "response_data" and entered and not response_ended:
            m.encode_data(b"resp", False)
        elif event == "response_end" and entered and not response_ended:
            m.encode_data(b"end", True)
            response_ended = True
        elif event == "response_trailers" and entered and not response_ended:
            m.encode_trailers(HeaderMap.of([(b"grpc-status", b"0")]))
            response_ended = True
    m.destroy()

    def plain(items: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        return [tuple(value.pairs() if isinstance(value, HeaderMap) else value for value in item) for item in items]

    return (plain(owner.upstream), plain(owner.downstream),
            [(r.status, r.flag, r.details) for r in owner.local_replies], [r.status for r in owner.resets],
            owner.events, owner.reading_paused, owner.reading_resumed, owner.upstream_paused, owner.upstream_resumed,
            m.decoders.buffered, m.encoders.buffered)


@settings(max_examples=150, deadline=None)
@given(
    filters=st.lists(st.tuples(
        st.sampled_from(list(_BASES)),
        st.fixed_dictionaries({}, optional={call: st.lists(_STEP, min_size=1, max_size=3) for call in _CALLS}),
    ), min_size=1, max_size=4),
    phases=st.lists(st.sampled_from(list(FilterPhase)), min_size=4, max_size=4),
    events=_EVENTS,
    limit=st.sampled_from([4, 64]),
)
def test_a_class_keeping_defaults_behaves_as_one_defining_every_method(filters, phases, events, limit):
    scripts = [script for _, script in filters]
    partial = [_scripted_class(side, set(script)) for side, script in filters]
    full = [_scripted_class(side, set(_CALLS)) for side, _ in filters]
    assert _run(partial, scripts, phases, events, limit) == _run(full, scripts, phases, events, limit)
