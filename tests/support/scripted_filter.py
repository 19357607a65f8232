"""A stream filter that answers from a script, for tests of the filter pipeline.

    harness = FilterHarness(("wait", scripted(decode_headers=STOP)))

Each call takes the next step of its script (the last one repeats): a status, or a callable
given the filter's callbacks and the call's arguments (to send a local reply, continue later,
raise...); calls without a script CONTINUE. `seen` records (call, first argument)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeAlias

from pymosn.api.headers import HeaderMap, RequestHeaderMap
from pymosn.api.stream_filter import CONTINUE, STOP, FilterCallbacks, FilterStatus, StreamFilter

Step: TypeAlias = FilterStatus | Callable[..., FilterStatus]


class Scripted(StreamFilter):
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
