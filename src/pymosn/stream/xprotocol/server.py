"""Server side of an X-Protocol (TCP RPC) downstream connection.

A read filter that cuts the byte stream into frames with the connection's codec, answers
heartbeats itself, and hands every request to `on_request(server, frame)`. Responses are
written back as raw frames in whatever order they come: RPC callers match them by request id.
A request in flight keeps itself in `requests` until it ends; when the connection closes each
is told on_reset(reset), so none waits on for a caller that is gone."""

from __future__ import annotations

from collections.abc import Callable

from pymosn.api.errors import DOWNSTREAM_CLOSED, ProtocolError, StreamReset, downstream_protocol_error
from pymosn.api.filter import FilterStatus
from pymosn.network.connection import Connection
from pymosn.protocol.xprotocol.api import Frame, FrameKind, XCodec


class XServerConnection:
    def __init__(
        self,
        conn: Connection,
        codec: XCodec,
        on_request: Callable[[XServerConnection, Frame], None],
        *,
        on_protocol_error: Callable[[ProtocolError], None] | None = None,
        on_heartbeat: Callable[[], None] | None = None,
    ) -> None:
        self.conn = conn
        self.codec = codec
        self.on_request = on_request
        self.on_protocol_error = on_protocol_error
        self.on_heartbeat = on_heartbeat
        self.buffer = bytearray()
        self.in_flight = 0  # requests we owe a response (one-way ones excluded)
        self.draining = False
        self.broken = False
        self.requests: set = set()  # requests in flight (they add and remove themselves)
        self._close_reset: StreamReset = DOWNSTREAM_CLOSED
        conn.close_callbacks.append(self._on_close)
        self.close_listeners: list[Callable[[], None]] = []

    # --- read filter -------------------------------------------------------------------------

    def on_new_connection(self) -> FilterStatus:
        return FilterStatus.CONTINUE

    def on_data(self, data: bytes) -> FilterStatus:
        if self.broken:
            return FilterStatus.STOP
        buffer = self.buffer
        buffer += data
        decode = self.codec.decode
        try:
            while buffer:
                frame = decode(buffer)
                if frame is None:
                    break
                self._dispatch(frame)
                if self.broken or self.conn.closed:
                    break
        except ProtocolError as error:
            self._fail(error)
        return FilterStatus.STOP

    def _dispatch(self, frame: Frame) -> None:
        kind = frame.kind
        if kind == FrameKind.RESPONSE:
            return  # a caller has nothing to answer; heartbeat replies to us land here too
        if frame.heartbeat:
            if self.on_heartbeat is not None:
                self.on_heartbeat()
            if kind == FrameKind.REQUEST:
                self.conn.write(self.codec.heartbeat_reply(frame))
            return
        if kind == FrameKind.REQUEST:
            self.in_flight += 1
        self.on_request(self, frame)

    def _fail(self, error: ProtocolError) -> None:
        """Bytes that can never be a frame: nothing after them can be trusted either."""
        self.broken = True
        self.buffer.clear()
        if self.on_protocol_error is not None:
            self.on_protocol_error(error)
        self._close_reset = downstream_protocol_error(error, answerable=False)
        self.conn.close()

    # --- responses -----------------------------------------------------------------------------

    def send_response(self, data: bytes | bytearray) -> None:
        """A response to one of this connection's requests (its id already the caller's)."""
        self.in_flight -= 1
        conn = self.conn
        conn.write(data)
        if not self.in_flight:
            if self.draining:
                conn.close()
            elif conn.on_idle is not None:
                conn.on_idle(conn)

    def drain(self, close_idle: bool = True) -> None:
        """Graceful shutdown: answer what is in flight, then close."""
        self.draining = True
        if close_idle and not self.in_flight:
            self.conn.close()

    def on_eof(self) -> bool:
        """The caller sent FIN. As in MOSN (a read EOF closes the connection as RemoteClose,
        which resets its streams) the requests in flight end now, not when the close completes:
        that waits for the answers already written to be flushed to the caller, which may be
        slow to read them or never do, and meanwhile a held request would still be answered."""
        self._reset_requests()
        return False  # asyncio closes the connection once those answers are written

    def _on_close(self, conn: Connection, exc: Exception | None) -> None:
        self._reset_requests()
        listeners, self.close_listeners = self.close_listeners, []
        for listener in listeners:
            listener()

    def _reset_requests(self) -> None:
        requests, self.requests = self.requests, set()
        for request in requests:
            request.on_reset(self._close_reset)

    # --- hot upgrade ---------------------------------------------------------------------------

    def quiesce(self) -> None:
        """Take no new requests (they wait in the socket buffer) so that the connection falls
        idle and can move, requests and all, to the process taking over."""
        self.conn.pause_reading()

    def migration_state(self) -> tuple[dict, list, bytes] | None:
        """Nothing owed to the caller: the connection can move, with the bytes of a frame that
        has begun to arrive (the new process continues decoding from them)."""
        if self.in_flight or self.broken or self.draining:
            return None
        return {"kind": "xprotocol", "codec": self.codec.name}, [], bytes(self.buffer)

    def on_migrated(self) -> None:
        self.broken = True
        self.buffer.clear()
