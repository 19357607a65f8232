"""Drives stream filters through the real FilterManager with a FakeOwner and records what
each filter returned and which callbacks it used.

    harness = FilterHarness(("auth", lambda callbacks: AuthFilter(callbacks, config)))
    harness.request(request_headers(b"/x"), end_stream=True)
    assert harness.statuses("auth") == [("decode_headers", STOP)]
    assert harness.owner.local_replies[0].status == 403

A chain element is a (name, make) pair, `make` being a FilterConfig or a callable taking the
filter's callbacks, optionally with a phase: (name, make, FilterPhase.AFTER_ROUTE)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

from pymosn.api.connection import ConnectionInfo
from pymosn.api.headers import HeaderMap, RequestHeaderMap
from pymosn.api.stream_filter import (
    AnyFilter,
    DecoderFilter,
    EncoderFilter,
    FilterCallbacks,
    FilterPhase,
    FilterStatus,
    Route,
    StreamFilter,
)
from pymosn.api.stream_info import StreamInfo
from pymosn.proxy.filter_manager import DEFAULT_BUFFER_LIMIT, FilterChainEntry, FilterChainPlan, FilterManager
from tests.support.fakes import FakeLoop, FakeOwner, fake_connection

_FILTER_CALLS = ("decode_headers", "decode_data", "decode_trailers", "encode_headers", "encode_data",
                 "encode_trailers", "on_destroy")


class RecordingCallbacks:
    """The callbacks a filter gets, recording every call before passing it on."""

    def __init__(self, harness: FilterHarness, name: str, real: FilterCallbacks) -> None:
        self._harness = harness
        self._name = name
        self._real = real

    def _log(self, call: str, *args: Any) -> None:
        self._harness.callback_log.append((self._name, call, args))

    @property
    def stream_info(self) -> StreamInfo:
        return self._real.stream_info

    @property
    def connection(self) -> Any:
        return self._real.connection

    @property
    def route(self) -> Route | None:
        return self._real.route

    def clear_route_cache(self) -> None:
        self._log("clear_route_cache")
        self._real.clear_route_cache()

    def per_filter_config(self, name: str | None = None) -> object | None:
        return self._real.per_filter_config(self._name if name is None else name)

    def continue_decoding(self) -> None:
        self._log("continue_decoding")
        self._real.continue_decoding()

    def continue_encoding(self) -> None:
        self._log("continue_encoding")
        self._real.continue_encoding()

    def send_local_reply(self, status: int, body: bytes = b"", flag: str | None = None, details: str = "",
                         headers: Mapping[bytes, bytes] | None = None) -> None:
        self._log("send_local_reply", status, flag, details)
        self._real.send_local_reply(status, body, flag, details, headers)


class _Config:
    def __init__(self, harness: FilterHarness, name: str, make: Any) -> None:
        self._harness = harness
        self._name = name
        self._make = make.create_filter if hasattr(make, "create_filter") else make

    def create_filter(self, callbacks: FilterCallbacks) -> AnyFilter:
        recording = RecordingCallbacks(self._harness, self._name, callbacks)
        made: AnyFilter = self._make(recording)
        self._harness.filters[self._name] = made
        self._harness.callbacks[self._name] = recording
        if not hasattr(made, "__dict__"):  # a compiled filter
            return _wrapped(self._harness, self._name, made)
        for call, method in _methods(made).items():
            setattr(made, call, self._harness._recorder(self._name, call, method))
        made.__class__ = _observed(type(made), tuple(_methods(made)))
        return made


def _side(made: Any) -> type | None:
    decoder, encoder = isinstance(made, DecoderFilter), isinstance(made, EncoderFilter)
    return StreamFilter if decoder and encoder else DecoderFilter if decoder else EncoderFilter if encoder else None


def _methods(made: Any) -> dict[str, Callable[..., Any]]:
    """The filter's methods by name, with the API's defaults of its sides where its class is a
    filter by registration (the compiled built-ins) and left them out."""
    side = _side(made)
    found: dict[str, Callable[..., Any]] = {}
    for call in _FILTER_CALLS:
        method = getattr(made, call, None)
        if method is None and side is not None and hasattr(side, call):
            method = functools.partial(getattr(side, call), made)
        if method is not None:
            found[call] = method
    return found


_OBSERVED: dict[type, type] = {}


def _observed(cls: type, calls: tuple[str, ...]) -> type:
    """`cls` with every filter method its own: the manager skips methods a class leaves at the
    API's default, and the harness is to record every call a filter gets, defaults included.
    (The recorders are on the instance; these class methods only mark the methods as taken.)"""
    observed = _OBSERVED.get(cls)
    if observed is None:
        def taken(call: str) -> Callable[..., Any]:
            return lambda self, *args: self.__dict__[call](*args)

        namespace: dict[str, Any] = {call: taken(call) for call in calls}
        namespace.update(__slots__=(), __module__=cls.__module__, __qualname__=cls.__qualname__)
        observed = _OBSERVED[cls] = type(cls)(cls.__name__, (cls,), namespace)
    return observed


class _Recorded:
    """A compiled filter's stand-in: a native class takes neither patched methods nor a new
    class, and is a filter by registration, with only the methods it overrides; this one is
    of the same sides with every method its own, each recorded, then the filter's (or the
    API's default, which the filter left out)."""

    __slots__ = ("_recorders",)
    _recorders: dict[str, Callable[..., Any]]


_WRAPPERS: dict[type, type] = {}


def _wrapped(harness: FilterHarness, name: str, made: Any) -> AnyFilter:
    side = _side(made)
    if side is None:
        return made  # (the manager reports what is no filter)
    methods = _methods(made)
    cls = _WRAPPERS.get(type(made))
    if cls is None:
        def forward(call: str) -> Callable[..., Any]:
            return lambda self, *args: self._recorders[call](*args)

        namespace: dict[str, Any] = {call: forward(call) for call in methods}
        namespace["__slots__"] = ()
        cls = _WRAPPERS[type(made)] = type(f"Recorded{type(made).__name__}", (_Recorded, side), namespace)
    wrapper = cls()
    wrapper._recorders = {call: harness._recorder(name, call, method) for call, method in methods.items()}
    return wrapper


class FilterHarness:
    def __init__(self, *chain: tuple[Any, ...], route: Route | None = None,
                 buffer_limit: int = DEFAULT_BUFFER_LIMIT, loop: FakeLoop | None = None,
                 connection: ConnectionInfo | None = None) -> None:
        self.loop = loop or FakeLoop()
        self.owner = FakeOwner(route)
        self.calls: list[tuple[str, str, FilterStatus | None]] = []  # (filter, call, status returned)
        self.callback_log: list[tuple[str, str, tuple[Any, ...]]] = []
        self.filters: dict[str, AnyFilter] = {}
        self.callbacks: dict[str, RecordingCallbacks] = {}
        self.stream_info = StreamInfo("test_listener", 7)
        entries = []
        for element in chain:
            name, make = element[0], element[1]
            phase = element[2] if len(element) > 2 else FilterPhase.BEFORE_ROUTE
            entries.append(FilterChainEntry(name, _Config(self, name, make), phase))
        self.manager = FilterManager(self.owner, FilterChainPlan(entries), self.stream_info,
                                     connection or fake_connection(self.loop), buffer_limit)

    def _recorder(self, name: str, call: str, method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        def recorded(*args: Any) -> Any:
            self.owner.events.append(f"{name}.{call}")
            try:
                status = method(*args)
            except Exception:
                self.calls.append((name, call, None))
                raise
            self.calls.append((name, call, status))
            return status
        return recorded

    # --- driving ----------------------------------------------------------------------------

    def request(self, headers: RequestHeaderMap, end_stream: bool = False) -> None:
        self.manager.decode_headers(headers, end_stream)

    def request_data(self, data: bytes, end_stream: bool = False) -> None:
        self.manager.decode_data(data, end_stream)

    def request_trailers(self, pairs: list[tuple[bytes, bytes]]) -> None:
        self.manager.decode_trailers(HeaderMap.of(pairs))

    def response(self, status: int = 200, pairs: list[tuple[bytes, bytes]] | None = None,
                 end_stream: bool = False) -> None:
        self.manager.encode_headers(status, HeaderMap.of(pairs or []), end_stream)

    def response_data(self, data: bytes, end_stream: bool = False) -> None:
        self.manager.encode_data(data, end_stream)

    def response_trailers(self, pairs: list[tuple[bytes, bytes]]) -> None:
        self.manager.encode_trailers(HeaderMap.of(pairs))

    def destroy(self) -> None:
        self.manager.destroy()

    # --- reading ----------------------------------------------------------------------------

    def statuses(self, name: str) -> list[tuple[str, FilterStatus | None]]:
        return [(call, status) for who, call, status in self.calls if who == name and call != "on_destroy"]

    def destroyed(self, name: str) -> int:
        return sum(1 for who, call, _ in self.calls if who == name and call == "on_destroy")

    def used(self, name: str, call: str) -> list[tuple[Any, ...]]:
        return [args for who, what, args in self.callback_log if who == name and what == call]
