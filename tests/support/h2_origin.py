"""A real HTTP/2 origin server (h2c prior knowledge, or h2 over TLS with ALPN) for integration
tests, run on its own loop in a thread. Built on h2 so tests can make it misbehave on purpose.

Behaviour is chosen by path:
  /echo...        200 with Content-Length: JSON of method, path, authority, scheme, headers,
                  body_bytes and request trailers
  /slow/MS        the same, MS milliseconds after the request ended
  /big/N          N bytes of body with Content-Length, sent as the client's windows allow
  /mirror         the request body streamed back as it arrives (no Content-Length)
  /trailers       a body then trailers (x-trailer: done, grpc-status: 0)
  /rst            RST_STREAM(INTERNAL_ERROR) instead of a response
  /refuse-once    RST_STREAM(REFUSED_STREAM) the first time, /echo after
  /ignore-once    the first time, GOAWAY with a last_stream_id below this stream (never
                  processed), the connection closed; /echo after
  /goaway/MS      GOAWAY(NO_ERROR, last_stream_id = this stream) at once, the answer MS ms
                  later; the connection closes when its streams are done
  /hang           never answers (for cancellation tests)
  /slowsink       takes the request body slowly (window updates every 20 ms), then /echo
  /malformed/K    a response RFC 9113 calls malformed (K in MALFORMED: a field the proxy must
                  not pass on), or /malformed/info: a 103 then /echo (not malformed)
Every request is recorded in `origin.requests`, every stream the client reset in
`origin.resets` (path, error code), ALPN per connection in `origin.alpn`."""

from __future__ import annotations

import asyncio
import json
import threading

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings
from hyperframe.frame import GoAwayFrame

# What /malformed/K answers: HEADERS an HTTP/2 client must refuse (8.2.1, 8.2.2, 8.3.2).
MALFORMED = {
    "newline": [(b":status", b"200"), (b"x-split", b"a\r\nset-cookie: evil=1")],
    "upper": [(b":status", b"200"), (b"X-Upper", b"1")],
    "connection": [(b":status", b"200"), (b"connection", b"close")],
    "status": [(b":status", b"2x0")],
    "no-status": [(b"x-only", b"1")],
    "late-pseudo": [(b"x-first", b"1"), (b":status", b"200")],
    "request-pseudo": [(b":status", b"200"), (b":path", b"/")],
    "switching": [(b":status", b"101")],
}


class _Stream:
    def __init__(self, stream_id: int, headers: list) -> None:
        self.id = stream_id
        self.headers = headers
        fields = dict(headers)
        self.path = fields.get(b":path", b"").decode()
        self.method = fields.get(b":method", b"").decode()
        self.body_bytes = 0
        self.trailers: list = []
        self.out = bytearray()  # response body waiting for window
        self.out_end = False
        self.out_trailers: list | None = None
        self.done = False
        self.unacked = 0


class _Handler(asyncio.Protocol):
    def __init__(self, origin: H2Origin) -> None:
        self.origin = origin
        self.transport = None
        self.streams: dict[int, _Stream] = {}
        self.active = 0
        self.closing = False
        settings = {}
        if origin.max_concurrent_streams is not None:
            settings[h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS] = origin.max_concurrent_streams
        # what it sends is not validated: /malformed must reach the proxy as written
        self.h2 = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=False, header_encoding=None, validate_outbound_headers=False,
                                      normalize_outbound_headers=False)
        )
        if settings:
            self.h2.local_settings = h2.settings.Settings(client=False, initial_values=settings)

    def connection_made(self, transport) -> None:
        self.transport = transport
        self.origin.connections += 1
        ssl_object = transport.get_extra_info("ssl_object")
        self.origin.alpn.append(ssl_object.selected_alpn_protocol() if ssl_object else None)
        self.h2.initiate_connection()
        self.flush()

    def flush(self) -> None:
        data = self.h2.data_to_send()
        if data and not self.transport.is_closing():
            self.transport.write(data)

    def data_received(self, data: bytes) -> None:
        try:
            events = self.h2.receive_data(data)
        except h2.exceptions.ProtocolError as error:
            self.origin.errors.append(str(error))
            self.flush()
            self.transport.close()
            return
        for event in events:
            self.handle(event)
        self.flush()

    def connection_lost(self, exc) -> None:
        self.streams.clear()
        self.origin.closed += 1

    def handle(self, event) -> None:
        kind = type(event)
        if kind is h2.events.RequestReceived:
            stream = self.streams[event.stream_id] = _Stream(event.stream_id, event.headers)
            self.active += 1
            self.origin.peak_streams = max(self.origin.peak_streams, self.active)
            self.on_request(stream)
            if event.stream_ended is not None:
                self.on_request_end(stream)
        elif kind is h2.events.DataReceived:
            stream = self.streams.get(event.stream_id)
            if stream is None:
                return
            stream.body_bytes += len(event.data)
            if stream.path.startswith("/slowsink"):
                stream.unacked += event.flow_controlled_length
            elif event.flow_controlled_length:
                self.h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            if stream.path.startswith("/mirror") and event.data:
                stream.out += event.data
                self.send_pending(stream)
            if event.stream_ended is not None:
                self.on_request_end(stream)
        elif kind is h2.events.TrailersReceived:
            stream = self.streams.get(event.stream_id)
            if stream is not None:
                stream.trailers = event.headers
                self.on_request_end(stream)
        elif kind is h2.events.StreamReset:
            stream = self.streams.pop(event.stream_id, None)
            if stream is not None:
                self.active -= 1
                self.origin.resets.append((stream.path, int(event.error_code)))
                self.maybe_close()
        elif kind is h2.events.ConnectionTerminated:
            self.origin.goaways.append(int(event.error_code))
        elif kind is h2.events.WindowUpdated:
            targets = [self.streams.get(event.stream_id)] if event.stream_id else list(self.streams.values())
            for stream in targets:
                if stream is not None:
                    self.send_pending(stream)

    # --- behaviour ------------------------------------------------------------------------

    def on_request(self, stream: _Stream) -> None:
        path = stream.path
        if path.startswith("/rst"):
            self.h2.reset_stream(stream.id, h2.errors.ErrorCodes.INTERNAL_ERROR)
            self.finish(stream)
        elif path.startswith("/refuse-once") and not self.origin.refused:
            self.origin.refused = True
            self.h2.reset_stream(stream.id, h2.errors.ErrorCodes.REFUSED_STREAM)
            self.finish(stream)
        elif path.startswith("/ignore-once") and not self.origin.ignored:
            # GOAWAY naming an earlier stream as the last: this one was never processed
            self.origin.ignored = True
            self.closing = True
            frame = GoAwayFrame(0)
            frame.last_stream_id = stream.id - 2 if stream.id > 2 else 0
            frame.error_code = 0
            self.flush()
            self.transport.write(frame.serialize())
            self.streams.pop(stream.id, None)
            self.active -= 1
            self.maybe_close()
        elif path.startswith("/goaway"):
            self.closing = True
            frame = GoAwayFrame(0)
            frame.last_stream_id = stream.id
            frame.error_code = 0
            self.flush()
            self.transport.write(frame.serialize())
        elif path.startswith("/mirror"):
            self.h2.send_headers(stream.id, [(b":status", b"200"), (b"content-type", b"application/octet-stream")])
        elif path.startswith("/slowsink"):
            asyncio.get_running_loop().call_later(0.02, self.slow_ack, stream)

    def slow_ack(self, stream: _Stream) -> None:
        if stream.id not in self.streams or self.transport.is_closing():
            return
        if stream.unacked:
            try:
                self.h2.acknowledge_received_data(stream.unacked, stream.id)
            except h2.exceptions.StreamClosedError:
                pass
            stream.unacked = 0
            self.flush()
        if not stream.done:
            asyncio.get_running_loop().call_later(0.02, self.slow_ack, stream)

    def on_request_end(self, stream: _Stream) -> None:
        stream.done = True
        if stream.id not in self.streams:
            return  # already reset
        self.origin.requests.append(
            {
                "path": stream.path,
                "method": stream.method,
                "headers": [(n.decode(), v.decode()) for n, v in stream.headers],
                "body_bytes": stream.body_bytes,
                "trailers": [(n.decode(), v.decode()) for n, v in stream.trailers],
                "connection": id(self),
            }
        )
        path = stream.path.partition("?")[0]
        if path.startswith("/slow/"):
            delay = int(path.split("/")[2]) / 1000
            asyncio.get_running_loop().call_later(delay, self.answer_echo, stream)
        elif path.startswith("/goaway/"):
            delay = int(path.split("/")[2]) / 1000
            asyncio.get_running_loop().call_later(delay, self.answer_echo, stream)
        elif path.startswith("/big/"):
            size = int(path.split("/")[2])
            self.h2.send_headers(stream.id, [(b":status", b"200"), (b"content-length", b"%d" % size)])
            stream.out += b"x" * size
            stream.out_end = True
            self.send_pending(stream)
        elif path.startswith("/mirror"):
            stream.out_end = True
            self.send_pending(stream)
        elif path == "/malformed/info":
            self.h2.send_headers(stream.id, [(b":status", b"103"), (b"link", b"</style.css>; rel=preload")])
            self.answer_echo(stream)
        elif path.startswith("/malformed/"):
            self.h2.send_headers(stream.id, MALFORMED[path.split("/")[2]])  # open: the reset reaches h2
            self.flush()
        elif path.startswith("/trailers"):
            self.h2.send_headers(stream.id, [(b":status", b"200"), (b"content-type", b"text/plain")])
            stream.out += b"hello trailers"
            stream.out_end = True
            stream.out_trailers = [(b"x-trailer", b"done"), (b"grpc-status", b"0")]
            self.send_pending(stream)
        elif path.startswith("/hang") or path.startswith("/rst"):
            pass
        else:
            self.answer_echo(stream)

    def answer_echo(self, stream: _Stream) -> None:
        if stream.id not in self.streams or self.transport.is_closing():
            return
        fields = {n: v for n, v in stream.headers if n.startswith(b":")}
        body = json.dumps(
            {
                "method": stream.method,
                "path": stream.path,
                "authority": fields.get(b":authority", b"").decode(),
                "scheme": fields.get(b":scheme", b"").decode(),
                "headers": [[n.decode(), v.decode()] for n, v in stream.headers if not n.startswith(b":")],
                "body_bytes": stream.body_bytes,
                "trailers": [[n.decode(), v.decode()] for n, v in stream.trailers],
            }
        ).encode()
        self.h2.send_headers(
            stream.id,
            [(b":status", b"200"), (b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))],
        )
        stream.out += body
        stream.out_end = True
        self.send_pending(stream)
        self.flush()

    def send_pending(self, stream: _Stream) -> None:
        if stream.id not in self.streams:
            return
        h2conn = self.h2
        while stream.out:
            window = min(h2conn.local_flow_control_window(stream.id), h2conn.max_outbound_frame_size)
            if window <= 0:
                return
            chunk = bytes(stream.out[:window])
            del stream.out[:window]
            h2conn.send_data(stream.id, chunk)
        if stream.out_end:
            if stream.out_trailers is not None:
                h2conn.send_headers(stream.id, stream.out_trailers, end_stream=True)
            else:
                h2conn.end_stream(stream.id)
            self.finish(stream)

    def finish(self, stream: _Stream) -> None:
        if self.streams.pop(stream.id, None) is not None:
            self.active -= 1
        self.maybe_close()

    def maybe_close(self) -> None:
        if self.closing and not self.active:
            self.flush()
            asyncio.get_running_loop().call_later(0.05, self.transport.close)


class H2Origin:
    """`with H2Origin() as origin:`; `origin.port` is the bound port."""

    def __init__(self, ssl_context=None, max_concurrent_streams: int | None = None) -> None:
        self.ssl_context = ssl_context
        self.max_concurrent_streams = max_concurrent_streams
        self.requests: list[dict] = []
        self.resets: list[tuple[str, int]] = []
        self.alpn: list[str | None] = []
        self.errors: list[str] = []
        self.refused = False  # /refuse-once has been refused
        self.ignored = False  # /ignore-once has been left out of a GOAWAY
        self.closed = 0  # connections ended
        self.goaways: list[int] = []  # error codes of the GOAWAYs the client sent
        self.connections = 0
        self.peak_streams = 0  # the most streams one connection had open at once
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server = None

    def __enter__(self) -> H2Origin:
        self._thread.start()
        self.port = asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(5)
        return self

    async def _start(self) -> int:
        self._server = await asyncio.get_running_loop().create_server(
            lambda: _Handler(self), "127.0.0.1", 0, ssl=self.ssl_context
        )
        return self._server.sockets[0].getsockname()[1]

    def __exit__(self, *exc) -> None:
        async def stop() -> None:
            self._server.close()

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
