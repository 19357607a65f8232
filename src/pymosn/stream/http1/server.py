"""Server side of an HTTP/1.1 downstream connection.

Turns decoded requests into calls on a stream receiver (one per request, from stream_factory)
and frames the receiver's response. Pipelined requests are decoded as they arrive but held in a
queue and started one at a time, so responses go out in request order."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from pymosn.api.errors import DOWNSTREAM_CLOSED, ProtocolError, StreamReset, downstream_protocol_error
from pymosn.api.filter import FilterStatus
from pymosn.api.streams import ServerStream, WatermarkListener
from pymosn.network.connection import Connection
from pymosn.protocol.http1 import BODY_CHUNKED, BODY_LENGTH, BODY_NONE, RequestDecoder, RequestHead
from pymosn.protocol.http1.decoder import DEFAULT_MAX_HEADERS, MOSN_HTTP10, Http10Policy
from pymosn.protocol.http1.encoder import encode_chunk, encode_last_chunk, encode_response_head
from pymosn.stream.http1.whole_connection import WholeConnectionStream

# Final, so compiled code holds them: FilterStatus.STOP is an enum class attribute lookup per read
_FILTER_STOP: Final = FilterStatus.STOP
_FILTER_CONTINUE: Final = FilterStatus.CONTINUE

_CONTINUE: Final = b"HTTP/1.1 100 Continue\r\n\r\n"
_MAX_QUEUED: Final = 32  # pipelined requests held before we stop reading the connection

# Queued-request event kinds
_DATA: Final = 0
_END: Final = 1
_ERROR: Final = 2
_TUNNEL: Final = 3


class ServerStreamConnection(WholeConnectionStream):
    """Read filter on a downstream connection. stream_factory(server, head) -> receiver with
    on_headers(head, end_stream), on_data(data, end_stream), on_trailers(trailers),
    on_upgrade_data(data) and on_reset(reset: StreamReset). A receiver told of a protocol error
    (a reset with a status) answers it, or resets the stream if its response has begun.
    Bytes that break the protocol outside any started request (a malformed head) get a
    receiver too, told on_bad_request(head or None, reset), so that every request this
    connection answers is one stream to the proxy."""

    protocol = "HTTP/1.1"  # for a receiver that has no request head to read it from

    def __init__(
        self,
        conn: Connection,
        stream_factory: Callable[[ServerStreamConnection, RequestHead | None], Any],
        *,
        max_head_bytes: int = 60 * 1024,
        max_headers: int = DEFAULT_MAX_HEADERS,
        http10: Http10Policy = MOSN_HTTP10,
        on_protocol_error: Callable[[ProtocolError], None] | None = None,
    ) -> None:
        self.conn = conn
        self.stream_factory = stream_factory
        self.decoder = RequestDecoder(self, max_head_bytes, max_headers, http10)
        self.on_protocol_error = on_protocol_error
        self.active: Any = None  # receiver of the request whose response we are sending
        self.active_head: RequestHead | None = None
        # where decoded events go: the active receiver or a queue entry; None between requests
        self._target: Any = None
        self._queue: deque[list] = deque()
        self._broken = False  # a protocol error was seen: decode nothing more
        self.draining = False  # set when the listener drains: answer with Connection: close
        self._keep_alive = True
        self._chunked = False
        self._no_body = False
        self._closing = False
        self._peer_closed = False  # the client half-closed: close once nothing is owed
        conn.close_callbacks.append(self._on_close)

    # --- read filter -------------------------------------------------------------------------

    def on_new_connection(self) -> FilterStatus:
        return _FILTER_CONTINUE

    def on_data(self, data: bytes) -> FilterStatus:
        if self._broken or self._closing:
            return _FILTER_STOP
        try:
            self.decoder.feed(data)
        except ProtocolError as error:
            self._protocol_error(error)
        return _FILTER_STOP

    def on_eof(self) -> bool:
        # Half-closed by the client: finish the responses we owe, then close.
        if self.active is None and not self._queue:
            return False
        target = self._target
        if target is not None and target is self.active and not self.decoder.upgraded:
            # Closed in the middle of the active request, which can never complete now: close,
            # and the receiver hears of it (from _on_close) and resets its upstream request.
            return False
        if type(target) is list:
            self._queue.remove(target)  # a queued request cut short: never started, dropped
            self._target = None
        self._peer_closed = True
        if not self._queue:
            self._keep_alive = False  # the active response is the last: it says so
        return True

    # --- decoder sink ------------------------------------------------------------------------

    def on_request_head(self, head: RequestHead) -> None:
        end_stream = head.body_kind == BODY_NONE and not head.upgrade
        if self.active is None and not self._queue:
            self._start(head, end_stream)
        else:
            entry = [head]
            self._queue.append(entry)
            self._target = entry
            if len(self._queue) >= _MAX_QUEUED:
                self.conn.pause_reading()

    def on_request_body(self, data: bytes) -> None:
        target = self._target
        if type(target) is list:
            target.append((_DATA, data))
        else:
            target.on_data(data, False)

    def on_request_end(self, trailers: list | None, last: bytes) -> None:
        target = self._target
        head = target[0] if type(target) is list else self.active_head
        # None: the request was answered (a direct response) before the decoder saw its end
        if head is None or (head.body_kind == BODY_NONE and not head.upgrade):
            self._target = None
            return  # already ended with the head
        if not head.upgrade:
            self._target = None  # what comes next is the next request's
        if type(target) is list:
            if last:
                target.append((_DATA, last))
            target.append((_END, trailers))
        elif trailers:
            target.on_trailers(trailers)
        else:
            target.on_data(last, True)

    def on_upgrade_data(self, data: bytes) -> None:
        target = self._target
        if type(target) is list:
            target.append((_TUNNEL, data))
        else:
            target.on_upgrade_data(data)

    def _start(self, head: RequestHead, end_stream: bool) -> None:
        self.active_head = head
        self._keep_alive = head.keep_alive and not self.draining
        self._chunked = False
        receiver = self.stream_factory(self, head)
        self.active = receiver
        self._target = receiver
        receiver.on_headers(head, end_stream)

    def _protocol_error(self, error: ProtocolError) -> None:
        """Nothing after bad bytes can be trusted: the request they belong to is answered
        with the error, in its turn, and the connection closes after it."""
        self._broken = True
        if self.on_protocol_error is not None:
            self.on_protocol_error(error)
        if self._closing:
            return  # a response that ended the connection has gone out: no one to tell
        reset = downstream_protocol_error(error)
        target = self._target
        if type(target) is list:
            target.append((_ERROR, reset))  # inside a queued request
        elif target is not None and target is self.active:
            self._reset_active(target, reset)  # inside the active request (e.g. a bad chunk)
        elif self.active is None and not self._queue:
            self._bad_request(None, reset)
        else:
            self._queue.append([None, (_ERROR, reset)])  # in a request after those in flight

    def _reset_active(self, receiver: Any, reset: StreamReset) -> None:
        receiver.on_reset(reset)
        if self.active is receiver:  # a receiver that neither answered nor reset
            self.active = None
            self.send_error(reset)

    def _bad_request(self, head: RequestHead | None, reset: StreamReset) -> None:
        self.active_head = head
        self._keep_alive = False
        self._chunked = False
        self._target = None
        receiver = self.stream_factory(self, head)
        self.active = receiver
        receiver.on_bad_request(head, reset)
        if self.active is receiver:
            self.active = None
            self.send_error(reset)

    def send_error(self, reset: StreamReset) -> None:
        body = reset.detail.encode() + b"\n"
        self.active_head = None
        self.conn.write(
            encode_response_head(
                reset.status or 400,
                [
                    (b"content-type", b"text/plain"),
                    (b"content-length", b"%d" % len(body)),
                    (b"connection", b"close"),
                ],
            )
            + body
        )
        self._closing = True
        self.conn.close()

    def drain(self, close_idle: bool = True) -> None:
        """Graceful shutdown: finish what is in flight with Connection: close, then close.
        close_idle=False leaves an idle connection open so its next request is still answered
        (with Connection: close): the gentlest end for a connection that cannot be migrated."""
        self.draining = True
        self._keep_alive = False
        if close_idle and self.active is None and not self._queue:
            self._closing = True
            self.conn.close()

    # --- the ServerStream contract (api.streams), for the active receiver ---------------------
    # One object per connection serves its requests one at a time, so the connection's own
    # reading and watermarks are the stream's.

    @property
    def reading_paused(self) -> bool:
        return self.conn.reading_paused

    def clear_watermark_listener(self, listener: WatermarkListener) -> None:
        if self.conn.watermark_listener is listener:
            self.conn.watermark_listener = None

    def close_after_response(self) -> None:
        self._keep_alive = False

    def close(self) -> None:
        self.conn.close()


    def send_continue(self) -> None:
        self.conn.write(_CONTINUE)

    def send_headers(
        self,
        status: int,
        headers: list[tuple[bytes, bytes]],
        body_kind: int,
        end_stream: bool,
        reason: bytes = b"",
    ) -> None:
        """Frames and writes a response head. `headers` must hold no hop-by-hop headers except
        Content-Length when body_kind is BODY_LENGTH (and Upgrade/Connection for a 101)."""
        head = self.active_head
        version = head.version if head is not None else b"1.1"
        no_body = (head is not None and head.method == b"HEAD") or status in (204, 304) or status < 200
        self._no_body = no_body
        if not no_body and not end_stream and body_kind != BODY_LENGTH:
            if version == b"1.1":
                headers.append((b"transfer-encoding", b"chunked"))
                self._chunked = True
            else:
                self._keep_alive = False  # HTTP/1.0: the body ends when we close
        if status == 101:
            pass
        elif not self._keep_alive or self.draining:
            self._keep_alive = False
            headers.append((b"connection", b"close"))
        elif version == b"1.0":
            headers.append((b"connection", b"keep-alive"))
        data = encode_response_head(status, headers, b"1.1", reason)
        self.conn.write(data)
        if end_stream:
            self._response_done()

    def send_data(self, data: bytes, end_stream: bool) -> None:
        if data and not self._no_body:
            self.conn.write(encode_chunk(data) if self._chunked else data)
        if end_stream:
            if self._chunked:
                self.conn.write(b"0\r\n\r\n")
            self._response_done()

    def send_trailers(self, trailers: list[tuple[bytes, bytes]]) -> None:
        if self._chunked:
            self.conn.write(encode_last_chunk(trailers))
        self._response_done()

    def send_raw(self, data: bytes) -> None:
        """Tunnel bytes after a 101 Switching Protocols."""
        self.conn.write(data)

    def reset(self) -> None:
        """The response cannot be completed (upstream failed after the head was sent)."""
        self.active = None
        self._closing = True
        self.conn.abort()

    def _response_done(self) -> None:
        self.active = None
        self.active_head = None
        if not self._keep_alive:
            self._closing = True
            self.conn.close()
            return
        if self._queue:
            # Next turn: the receiver whose last send this was finishes (and logs) first.
            self.conn.loop.call_soon(self._start_next)
            return
        if self._peer_closed:
            self._closing = True
            self.conn.close()
            return
        if self.conn.reading_paused:
            self.conn.resume_reading()
        if self.conn.on_idle is not None:
            self.conn.on_idle(self.conn)

    def _start_next(self) -> None:
        if self._queue and self.active is None and not self._closing:
            self._start_queued()

    def _start_queued(self) -> None:
        entry = self._queue.popleft()
        if self.conn.reading_paused and len(self._queue) < _MAX_QUEUED:
            self.conn.resume_reading()
        head: RequestHead | None = entry[0]
        if head is None or (len(entry) > 1 and entry[1][0] == _ERROR):
            self._bad_request(head, entry[1][1])  # broke before any of it went anywhere
            return
        self._start(head, head.body_kind == BODY_NONE and not head.upgrade)
        receiver = self.active
        for kind, payload in entry[1:]:
            if receiver is not self.active:
                return  # answered locally while replaying
            if kind == _DATA:
                receiver.on_data(payload, False)
            elif kind == _END:
                if payload:
                    receiver.on_trailers(payload)
                else:
                    receiver.on_data(b"", True)
            elif kind == _TUNNEL:
                receiver.on_upgrade_data(payload)
            else:
                self._reset_active(receiver, payload)
                return
        if self._target is entry:
            self._target = receiver

    def _on_close(self, conn: Connection, exc: Exception | None) -> None:
        receiver = self.active
        self.active = None
        self._queue.clear()
        if receiver is not None and not self._closing:
            receiver.on_reset(DOWNSTREAM_CLOSED)

    # --- hot upgrade -------------------------------------------------------------------------

    def migration_state(self) -> tuple[dict, list, bytes] | None:
        """Between requests (nothing in flight, queued or half-decoded) a keep-alive
        connection can move to another process as it is: HTTP/1.1 keeps no state across
        requests."""
        decoder = self.decoder
        if (
            self.active is not None
            or self._queue
            or self._broken
            or self._closing
            or self.draining
            or decoder.in_message
            or decoder.upgraded
        ):
            return None
        return {"kind": "http1"}, [], b""

    def on_migrated(self) -> None:
        self._closing = True

    @property
    def body_kind_of_request(self) -> int:
        head = self.active_head
        return head.body_kind if head is not None else BODY_NONE


__all__ = ["BODY_CHUNKED", "BODY_LENGTH", "BODY_NONE", "ServerStreamConnection"]


if TYPE_CHECKING:  # mypy checks that the class keeps the contract

    def _keeps_contract(server: ServerStreamConnection) -> ServerStream:
        return server
