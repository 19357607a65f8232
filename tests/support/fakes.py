"""Fakes for unit tests of the proxy core with no sockets: a loop with manual time, a
connection record, a real network connection on a recording transport, and a filter-manager
owner that records what reached each side."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable
from typing import Any, cast

from pymosn.api.connection import ConnectionInfo
from pymosn.api.headers import HeaderMap, RequestHeaderMap
from pymosn.api.stream_filter import Route
from pymosn.network.connection import Connection
from pymosn.protocol.http1 import BODY_CHUNKED, BODY_LENGTH, BODY_NONE, ResponseHead
from pymosn.proxy.local_reply import render_http


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


class RecordingTransport(asyncio.Transport):
    """The transport under a real network.Connection in unit tests: what the connection writes
    is kept in `out` (take() hands it over); pausing, closing and aborting are recorded, and
    closing ends the connection at once (connection_lost), as a peer that read everything."""

    def __init__(self) -> None:
        super().__init__()
        self.out = bytearray()
        self.reading_paused = False
        self.closed = False
        self.aborted = False
        self.protocol: Connection | None = None

    def take(self) -> bytes:
        out = bytes(self.out)
        self.out.clear()
        return out

    def write(self, data: Any) -> None:
        self.out += data

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            if self.protocol is not None:
                self.protocol.connection_lost(None)

    def abort(self) -> None:
        self.aborted = True
        self.close()

    def pause_reading(self) -> None:
        self.reading_paused = True

    def resume_reading(self) -> None:
        self.reading_paused = False

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        self.closed = True

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 1), "peername": ("127.0.0.1", 2)}.get(name, default)


_IDLE_LOOP: asyncio.AbstractEventLoop | None = None  # never run: a connection without timers needs one


def connection_on(loop: Any = None, buffer_limit: int = 32 * 1024) -> tuple[Connection, RecordingTransport]:
    """A real network.Connection, established on a RecordingTransport, with `loop` (a fake
    loop's timers) or an idle one: a real one, since the compiled build checks that a
    stream connection gets a Connection."""
    global _IDLE_LOOP
    if loop is None:
        if _IDLE_LOOP is None:
            _IDLE_LOOP = asyncio.new_event_loop()
        loop = _IDLE_LOOP
    conn, transport = Connection(loop, buffer_limit=buffer_limit), RecordingTransport()
    transport.protocol = conn
    conn.connection_made(transport)
    return conn, transport


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

    def render_local_reply(self, reply: Any) -> tuple[int, HeaderMap, bytes]:
        status, pairs, body = render_http(reply)
        return status, HeaderMap.of(pairs), body

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


class FakeServerStream:
    """A downstream stream (the ServerStream contract) recording what the proxy sent."""

    def __init__(self, loop: FakeLoop | None = None, protocol: str = "HTTP/1.1") -> None:
        self.loop = loop or FakeLoop()
        self.protocol = protocol
        self.connection = fake_connection(self.loop, remote_address="10.0.0.2:40000", local_address="10.0.0.1:8080")
        self.sent: list[tuple[Any, ...]] = []  # ("headers", status, pairs, body_kind, end) / ("data", ..) / ...
        self.resets = 0
        self.closes_after_response = 0
        self.reading_paused = False
        self.pauses = 0
        self.resumes = 0
        self.watermark_listener: Any = None

    def send_continue(self) -> None:
        self.sent.append(("continue",))

    def send_headers(self, status: int, headers: list[tuple[bytes, bytes]], body_kind: int, end_stream: bool,
                     reason: bytes = b"") -> None:
        self.sent.append(("headers", status, list(headers), body_kind, end_stream))

    def send_data(self, data: bytes, end_stream: bool) -> None:
        self.sent.append(("data", data, end_stream))

    def send_trailers(self, trailers: list[tuple[bytes, bytes]]) -> None:
        self.sent.append(("trailers", list(trailers)))

    def send_raw(self, data: bytes) -> None:
        self.sent.append(("raw", data))

    def reset(self) -> None:
        self.resets += 1

    def close_after_response(self) -> None:
        self.closes_after_response += 1

    def close(self) -> None:
        self.sent.append(("close",))

    def pause_reading(self) -> None:
        self.reading_paused = True
        self.pauses += 1

    def resume_reading(self) -> None:
        self.reading_paused = False
        self.resumes += 1

    def set_watermark_listener(self, listener: Any) -> None:
        self.watermark_listener = listener

    def clear_watermark_listener(self, listener: Any) -> None:
        if self.watermark_listener is listener:
            self.watermark_listener = None

    # --- reading what was sent ----------------------------------------------------------------

    @property
    def status(self) -> int | None:
        heads = [item[1] for item in self.sent if item[0] == "headers"]
        return heads[0] if heads else None

    def header(self, name: bytes) -> bytes | None:
        heads = [item[2] for item in self.sent if item[0] == "headers"]
        return next((v for n, v in heads[0] if n.lower() == name), None) if heads else None

    @property
    def body(self) -> bytes:
        return b"".join(item[1] for item in self.sent if item[0] == "data")

    @property
    def ended(self) -> bool:
        """The response was sent whole: its last item ended the stream."""
        last = self.sent[-1] if self.sent else None
        return last is not None and (last[0] == "trailers" or (last[0] == "headers" and last[4])
                                     or (last[0] == "data" and last[2]))


class FakeClientStream:
    """An upstream stream (the ClientStream contract) recording the request; a test answers
    through `respond` / `respond_data` / `respond_trailers` / `fail`."""

    def __init__(self, loop: FakeLoop | None = None, reused: bool = False) -> None:
        self.connection = fake_connection(loop, id=70, remote=("10.0.1.1", 80), local=("10.0.0.1", 50000),
                                          local_address="10.0.0.1:50000")
        self.reused = reused
        self.receiver: Any = None
        self.method = b""
        self.target = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.sent: list[tuple[Any, ...]] = []  # ("headers", end) / ("data", data, end) / ("trailers", t)
        self.resets = 0
        self.idled = 0
        self.write_paused = False
        self.reading_paused = False
        self.watermark_listener: Any = None

    def on_idle(self, stream: Any) -> None:
        self.idled += 1

    def send_headers(self, receiver: Any, method: bytes, target: bytes, headers: list[tuple[bytes, bytes]],
                     body_kind: int, end_stream: bool) -> None:
        self.receiver, self.method, self.target, self.headers = receiver, method, target, list(headers)
        self.sent.append(("headers", end_stream))

    def send_data(self, data: bytes, end_stream: bool) -> None:
        self.sent.append(("data", data, end_stream))

    def send_trailers(self, trailers: list[tuple[bytes, bytes]]) -> None:
        self.sent.append(("trailers", list(trailers)))

    def send_raw(self, data: bytes) -> None:
        self.sent.append(("raw", data))

    def reset(self) -> None:
        self.resets += 1
        self.receiver = None

    def pause_reading(self) -> None:
        self.reading_paused = True

    def resume_reading(self) -> None:
        self.reading_paused = False

    def set_watermark_listener(self, listener: Any) -> None:
        self.watermark_listener = listener

    def header(self, name: bytes) -> bytes | None:
        return next((v for n, v in self.headers if n.lower() == name), None)

    @property
    def body(self) -> bytes:
        return b"".join(item[1] for item in self.sent if item[0] == "data")

    @property
    def ended(self) -> bool:
        last = self.sent[-1] if self.sent else None
        return last is not None and (last[0] == "trailers" or last[-1] is True)

    # --- the upstream answering -----------------------------------------------------------------

    def respond(self, status: int = 200, pairs: list[tuple[bytes, bytes]] | None = None, body: bytes | None = None,
                streaming: bool = False) -> None:
        """The response: a head alone, a head and `body` (with its content-length), or with
        `streaming` a chunked head whose body and end the test sends on (respond_data...)."""
        pairs = list(pairs or [])
        if body is not None:
            pairs.append((b"content-length", b"%d" % len(body)))
        head = ResponseHead(status, b"", b"1.1", pairs, [n.lower() for n, _ in pairs])
        head.body_kind = BODY_CHUNKED if streaming else BODY_NONE if body is None else BODY_LENGTH
        head.content_length = len(body or b"")
        self.receiver.on_response_head(head, body is None and not streaming)
        if body is not None and self.receiver is not None:  # a stream the proxy reset hears no more
            self.receiver.on_response_data(body, True)

    def respond_data(self, data: bytes, end_stream: bool = False) -> None:
        if self.receiver is not None:  # as a real stream, a reset one delivers nothing more
            self.receiver.on_response_data(data, end_stream)

    def respond_trailers(self, pairs: list[tuple[bytes, bytes]]) -> None:
        if self.receiver is not None:
            self.receiver.on_response_trailers(pairs)

    def fail(self, reset: Any) -> None:
        receiver, self.receiver = self.receiver, None
        receiver.on_upstream_reset(reset)


class FakePool:
    """A host's pool that gives each request a new FakeClientStream at once, or (with `hold`)
    keeps the requesters waiting until the test calls `serve` or `refuse`."""

    def __init__(self, loop: FakeLoop | None = None) -> None:
        self.loop = loop
        self.hold = False
        self.waiters: list[Any] = []
        self.cancelled = 0
        self.streams: list[FakeClientStream] = []

    def acquire(self, requester: Any) -> FakeClientStream | None:
        if self.hold:
            self.waiters.append(requester)
            return None
        return self._new()

    def _new(self) -> FakeClientStream:
        stream = FakeClientStream(self.loop)
        self.streams.append(stream)
        return stream

    def cancel(self, requester: Any) -> None:
        if requester in self.waiters:
            self.waiters.remove(requester)
            self.cancelled += 1

    def serve(self) -> FakeClientStream:
        stream = self._new()
        self.waiters.pop(0).on_pool_ready(stream)
        return stream

    def refuse(self, failure: Any) -> None:
        self.waiters.pop(0).on_pool_failure(failure)
