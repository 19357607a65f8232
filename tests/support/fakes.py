"""Fakes for unit tests of the proxy core with no sockets: a loop with manual time, a
connection record, and a filter-manager owner that records what reached each side."""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from typing import Any, cast

from pymosn.api.connection import ConnectionInfo
from pymosn.api.headers import HeaderMap, RequestHeaderMap
from pymosn.api.stream_filter import Route


class FakeTimer:
    def __init__(self, when: float, callback: Callable[..., object], args: tuple[Any, ...]) -> None:
        self.when = when
        self.callback = callback
        self.args = args
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class FakeLoop:
    """The parts of an asyncio loop the proxy core uses for timers, on a clock tests move."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self._timers: list[tuple[float, int, FakeTimer]] = []
        self._order = itertools.count()

    def time(self) -> float:
        return self.now

    def call_later(self, delay: float, callback: Callable[..., object], *args: Any) -> FakeTimer:
        return self.call_at(self.now + delay, callback, *args)

    def call_at(self, when: float, callback: Callable[..., object], *args: Any) -> FakeTimer:
        timer = FakeTimer(when, callback, args)
        heapq.heappush(self._timers, (when, next(self._order), timer))
        return timer

    def call_soon(self, callback: Callable[..., object], *args: Any) -> FakeTimer:
        return self.call_at(self.now, callback, *args)

    def advance(self, seconds: float = 0.0) -> None:
        """Move the clock and run every timer due by then, in time order."""
        until = self.now + seconds
        while self._timers and self._timers[0][0] <= until:
            when, _, timer = heapq.heappop(self._timers)
            self.now = max(self.now, when)
            if not timer.cancelled:
                timer.callback(*timer.args)
        self.now = until

    @property
    def pending(self) -> int:
        return sum(1 for _, _, timer in self._timers if not timer.cancelled)


def fake_connection(loop: FakeLoop | None = None, **fields: Any) -> ConnectionInfo:
    values: dict[str, Any] = {"id": 7, "remote": ("10.0.0.2", 40000), "local": ("10.0.0.1", 8080)}
    values.update(fields)
    return ConnectionInfo(loop=cast(Any, loop or FakeLoop()), **values)


def request_headers(path: bytes = b"/", method: bytes = b"GET", host: bytes = b"svc.local",
                    extra: list[tuple[bytes, bytes]] | None = None) -> RequestHeaderMap:
    pairs = [(b"host", host)] + (extra or [])
    return RequestHeaderMap(pairs, [name.lower() for name, _ in pairs], method, path)


class FakeRoute:
    def __init__(self, name: str, per_filter: dict[str, object] | None = None) -> None:
        self.name = name
        self.per_filter = per_filter or {}


class FakeOwner:
    """A filter manager's owner that records, in order, what passed each side."""

    def __init__(self, route: Route | None = None) -> None:
        self.route = route
        self.upstream: list[tuple[Any, ...]] = []  # what passed every decoder filter
        self.downstream: list[tuple[Any, ...]] = []  # what passed every encoder filter
        self.local_replies: list[Any] = []
        self.resets: list[Any] = []
        self.route_lookups = 0
        self.hosts_chosen = 0
        self.reading_paused = 0
        self.reading_resumed = 0
        self.upstream_paused = 0
        self.upstream_resumed = 0
        self.filter_errors: list[tuple[str, Exception]] = []
        self.events: list[str] = []  # route/host/pause calls interleaved with filter calls

    def on_decoded_headers(self, headers: RequestHeaderMap, end_stream: bool) -> None:
        self.upstream.append(("headers", headers, end_stream))

    def on_decoded_data(self, data: bytes, end_stream: bool) -> None:
        self.upstream.append(("data", data, end_stream))

    def on_decoded_trailers(self, trailers: HeaderMap) -> None:
        self.upstream.append(("trailers", trailers))

    def on_encoded_headers(self, status: int, headers: HeaderMap, end_stream: bool) -> None:
        self.downstream.append(("headers", status, headers, end_stream))

    def on_encoded_data(self, data: bytes, end_stream: bool) -> None:
        self.downstream.append(("data", data, end_stream))

    def on_encoded_trailers(self, trailers: HeaderMap) -> None:
        self.downstream.append(("trailers", trailers))

    def on_local_reply(self, reply: Any) -> None:
        self.local_replies.append(reply)

    def reset_stream(self, reply: Any) -> None:
        self.resets.append(reply)

    def resolve_route(self) -> Route | None:
        self.route_lookups += 1
        self.events.append("route")
        return self.route

    def per_filter_config(self, route: Route | None, name: str) -> object | None:
        """A FakeRoute's per_filter, or a real RouteEntry's filter_configs (what the proxy reads)."""
        configs = getattr(route, "filter_configs", None)
        return (getattr(route, "per_filter", {}) if configs is None else configs).get(name)

    def choose_host(self) -> None:
        self.hosts_chosen += 1
        self.events.append("host")

    def pause_reading(self) -> None:
        self.reading_paused += 1

    def resume_reading(self) -> None:
        self.reading_resumed += 1

    def pause_upstream(self) -> None:
        self.upstream_paused += 1

    def resume_upstream(self) -> None:
        self.upstream_resumed += 1

    def on_filter_error(self, name: str, error: Exception) -> None:
        self.filter_errors.append((name, error))

    # --- reading what happened --------------------------------------------------------------

    def upstream_kinds(self) -> list[str]:
        return [item[0] for item in self.upstream]

    def upstream_body(self) -> bytes:
        return b"".join(item[1] for item in self.upstream if item[0] == "data")

    def downstream_body(self) -> bytes:
        return b"".join(item[1] for item in self.downstream if item[0] == "data")

    def downstream_status(self) -> int | None:
        heads = [item[1] for item in self.downstream if item[0] == "headers"]
        return heads[0] if heads else None
