"""Client side of an X-Protocol upstream connection: many requests in flight, told apart by the
request ids this connection hands out.

`send(frame, receiver)` gives the frame a fresh id of this connection (rewritten in its raw
bytes), writes it, and remembers the receiver under that id. A response is delivered to the
receiver that owns its id; a response whose id nobody owns any more (its caller timed out or
went away) is dropped and counted, never delivered to another caller. When the connection
closes, every receiver still waiting is told.

Keep-alive: while the connection carries no requests it sends a heartbeat every `interval`;
`max_failures` heartbeats in a row without an answer within `timeout` close it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from pymosn.api.errors import ProtocolError, ResetKind, ResetSource, StreamReset
from pymosn.api.filter import FilterStatus
from pymosn.network.connection import Connection
from pymosn.protocol.xprotocol.api import Frame, FrameKind, XCodec


class ResponseReceiver:
    def on_response(self, frame: Frame) -> None: ...

    def on_upstream_failure(self, reset: StreamReset) -> None: ...


class KeepAlive:
    __slots__ = ("interval", "timeout", "max_failures")

    def __init__(self, interval: float = 15.0, timeout: float = 3.0, max_failures: int = 3) -> None:
        self.interval = interval
        self.timeout = timeout
        self.max_failures = max_failures


class XClientConnection:
    def __init__(
        self,
        conn: Connection,
        codec: XCodec,
        *,
        keepalive: KeepAlive | None = None,
        on_late_response: Callable[[], None] | None = None,
        on_close: Callable[[XClientConnection], None] | None = None,
    ) -> None:
        self.conn = conn
        self.codec = codec
        self.buffer = bytearray()
        self.waiting: dict[int, Any] = {}
        self.next_id = 1
        self.max_id = codec.max_request_id
        self.keepalive = keepalive
        self.on_late_response = on_late_response
        self.on_close = on_close
        self.closed = False
        self.heartbeat_id: int | None = None
        self.heartbeat_failures = 0
        self._timer: asyncio.TimerHandle | None = None
        self.last_activity = 0.0
        conn.read_filters = [self]
        conn.close_callbacks.append(self._on_close)

    @property
    def active(self) -> int:
        return len(self.waiting)

    # --- requests ------------------------------------------------------------------------------

    def send(self, frame: Frame, receiver: Any) -> int:
        """Writes `frame` with a fresh id; returns the id (to cancel with)."""
        request_id = self._allocate()
        self.codec.set_request_id(frame, request_id)
        if frame.kind == FrameKind.REQUEST:
            self.waiting[request_id] = receiver
        self.conn.write(frame.raw)
        return request_id

    def ping(self, receiver: Any) -> int:
        """Sends a heartbeat whose answer goes to `receiver` (health checks)."""
        request_id = self._allocate()
        self.waiting[request_id] = receiver
        self.conn.write(self.codec.heartbeat(request_id))
        return request_id

    def cancel(self, request_id: int) -> None:
        """The caller gave up (timeout, went away): a late response will be dropped."""
        self.waiting.pop(request_id, None)

    def _allocate(self) -> int:
        request_id = self.next_id
        waiting = self.waiting
        while request_id in waiting or request_id == self.heartbeat_id:
            request_id = request_id + 1 if request_id < self.max_id else 1
        self.next_id = request_id + 1 if request_id < self.max_id else 1
        return request_id

    # --- read filter ---------------------------------------------------------------------------

    def on_new_connection(self) -> FilterStatus:
        if self.keepalive is not None:
            self.last_activity = self.conn.loop.time()
            self._timer = self.conn.loop.call_later(self.keepalive.interval, self._keepalive_tick)
        return FilterStatus.CONTINUE

    def on_data(self, data: bytes) -> FilterStatus:
        buffer = self.buffer
        buffer += data
        decode = self.codec.decode
        waiting = self.waiting
        try:
            while buffer:
                frame = decode(buffer)
                if frame is None:
                    break
                if frame.kind != FrameKind.RESPONSE:
                    continue  # a server has nothing to ask us
                request_id = frame.request_id
                receiver = waiting.pop(request_id, None)
                if receiver is not None:
                    receiver.on_response(frame)
                elif request_id == self.heartbeat_id:
                    self.heartbeat_id = None
                    self.heartbeat_failures = 0
                elif not frame.heartbeat and self.on_late_response is not None:
                    self.on_late_response()
        except ProtocolError as error:
            self.fail(_upstream(ResetKind.PROTOCOL_ERROR, f"upstream protocol error: {error.reason}"))
        if self.keepalive is not None:
            self.last_activity = self.conn.loop.time()
        return FilterStatus.STOP

    def on_eof(self) -> bool:
        return False

    # --- keep-alive ----------------------------------------------------------------------------

    def _keepalive_tick(self) -> None:
        self._timer = None
        keepalive = self.keepalive
        if self.closed or keepalive is None:  # the tick only runs with a keepalive configured
            return
        loop = self.conn.loop
        if self.heartbeat_id is not None:  # the last heartbeat was not answered in time
            self.heartbeat_id = None
            self.heartbeat_failures += 1
            if self.heartbeat_failures >= keepalive.max_failures:
                self.fail(_upstream(ResetKind.TIMEOUT, "upstream did not answer heartbeats"))
                return
        idle_for = loop.time() - self.last_activity
        if self.waiting or idle_for < keepalive.interval:
            self._timer = loop.call_later(max(keepalive.interval - idle_for, 0.05), self._keepalive_tick)
            return
        self.heartbeat_id = request_id = self._allocate()
        self.conn.write(self.codec.heartbeat(request_id))
        self._timer = loop.call_later(keepalive.timeout, self._keepalive_tick)

    # --- endings -------------------------------------------------------------------------------

    def fail(self, reset: StreamReset) -> None:
        """Close the connection and tell every waiting receiver."""
        self.conn.close()
        self._fail_waiting(reset)

    def close(self) -> None:
        self.conn.close()

    def _fail_waiting(self, reset: StreamReset) -> None:
        waiting, self.waiting = self.waiting, {}
        for receiver in waiting.values():
            receiver.on_upstream_failure(reset)

    def _on_close(self, conn: Connection, exc: Exception | None) -> None:
        self.closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        detail = "upstream connection closed" if exc is None else f"upstream connection reset: {exc}"
        self._fail_waiting(_upstream(ResetKind.CONNECTION_CLOSED, detail))
        if self.on_close is not None:
            self.on_close(self)


def _upstream(kind: ResetKind, detail: str) -> StreamReset:
    return StreamReset(ResetSource.UPSTREAM, kind, detail)
