"""A real RPC server (asyncio, in a thread) and a multiplexing client for the X-Protocol proxy
tests, in x_example or, with `dialect=BOLT`/`BOLT_V2`, SOFARPC Bolt framing. The server echoes
the body; headers steer it:

  delay-ms=N     answer after N milliseconds (so answers come back out of order)
  die=1          close the connection instead of answering (a backend dying mid-request)
Heartbeats are answered; one-way requests are recorded and not answered."""

from __future__ import annotations

import asyncio
import socket
import struct
import threading

from pymosn.protocol.xprotocol.api import FrameKind
from pymosn.protocol.xprotocol.bolt import SOFA_REQUEST_CLASS, SOFA_RESPONSE_CLASS, BoltCodec, BoltV2Codec
from pymosn.protocol.xprotocol.dubbo import DubboCodec
from pymosn.protocol.xprotocol.example import ExampleCodec, encode
from pymosn.protocol.xprotocol.hessian2 import Reader, write_string


class ExampleDialect:
    codec = ExampleCodec()

    def request(self, kind, request_id, headers, body, heartbeat=False) -> bytes:
        return encode(kind, request_id, headers, body, heartbeat=heartbeat)

    def response(self, request_id, headers, body) -> bytes:
        return encode(FrameKind.RESPONSE, request_id, headers, body)

    def body(self, frame) -> bytes:
        n = int.from_bytes(frame.raw[12:16], "big")
        return bytes(frame.raw[-n:]) if n else b""


class BoltDialect:
    """SOFARPC Bolt frames (v1, or v2 with CRC32) carrying the body as opaque content."""

    def __init__(self, v2: bool = False) -> None:
        self.codec = BoltV2Codec() if v2 else BoltCodec()
        self.extra = {"crc": True} if v2 else {}
        self.v2 = v2

    def request(self, kind, request_id, headers, body, heartbeat=False) -> bytes:
        return self.codec.request(request_id, headers, body, class_name=SOFA_REQUEST_CLASS,
                                  oneway=kind == FrameKind.ONEWAY, heartbeat=heartbeat, **self.extra)

    def response(self, request_id, headers, body) -> bytes:
        return self.codec.response(request_id, 0, headers, body, class_name=SOFA_RESPONSE_CLASS, **self.extra)

    def body(self, frame) -> bytes:
        raw = frame.raw
        offset = {(False, True): 16, (False, False): 18, (True, True): 18, (True, False): 20}[
            (self.v2, frame.kind == FrameKind.RESPONSE)]
        n = struct.unpack_from(">I", raw, offset)[0]
        end = len(raw) - (4 if self.v2 and raw[11] & 1 else 0)
        return bytes(raw[end - n:end]) if n else b""


class DubboDialect:
    """Dubbo frames whose one argument (a string) is the body; other headers travel as
    attachments, `service` as the interface path and `method` as the method."""

    codec = DubboCodec()

    def request(self, kind, request_id, headers, body, heartbeat=False) -> bytes:
        if heartbeat:
            return self.codec.heartbeat(request_id)
        attachments = {k: v for k, v in headers.items() if k not in ("service", "method")}
        return self.codec.request(request_id, headers.get("service", "com.example.Echo"), headers.get("method", "echo"),
                                  [write_string(body.decode("latin-1"))], descriptor="Ljava/lang/String;",
                                  attachments=attachments, oneway=kind == FrameKind.ONEWAY)

    def response(self, request_id, headers, body) -> bytes:
        return self.codec.value_response(request_id, write_string(body.decode("latin-1")))

    def body(self, frame) -> bytes:
        reader = Reader(memoryview(frame.raw)[16:])
        if frame.kind == FrameKind.RESPONSE:
            if frame.status != 20:
                return b""
            reader.read_int()
        else:
            for _ in range(5):
                reader.read_string()
        return (reader.read_string() or "").encode("latin-1")


EXAMPLE, BOLT, BOLT_V2, DUBBO = ExampleDialect(), BoltDialect(), BoltDialect(v2=True), DubboDialect()


class _Handler(asyncio.Protocol):
    def __init__(self, server: XExampleServer) -> None:
        self.server = server
        self.buffer = bytearray()
        self.transport = None

    def connection_made(self, transport) -> None:
        self.transport = transport
        self.server.connections += 1

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        dialect = self.server.dialect
        while True:
            frame = dialect.codec.decode(self.buffer)
            if frame is None:
                return
            if frame.heartbeat:
                self.server.heartbeats += 1
                self.transport.write(dialect.codec.heartbeat_reply(frame))
                continue
            self.server.requests.append(frame)
            if frame.kind == FrameKind.ONEWAY:
                continue
            if frame.headers.get("die"):
                self.transport.abort()
                return
            reply = dialect.response(frame.request_id, {"server": self.server.name}, dialect.body(frame))
            delay = int(frame.headers.get("delay-ms", "0"))
            if delay:
                asyncio.get_running_loop().call_later(delay / 1000, self._write, reply)
            else:
                self.transport.write(reply)

    def _write(self, data: bytes) -> None:
        if not self.transport.is_closing():
            self.transport.write(data)


class XExampleServer:
    def __init__(self, name: str = "x", port: int = 0, dialect=EXAMPLE) -> None:
        self.name = name
        self.dialect = dialect
        self.requests: list = []
        self.heartbeats = 0
        self.connections = 0
        self.port = port
        self._ready = threading.Event()

    def __enter__(self) -> XExampleServer:
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        self._ready.wait(5)
        return self

    def _run(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.server = self.loop.run_until_complete(
            self.loop.create_server(lambda: _Handler(self), "127.0.0.1", self.port, reuse_address=True)
        )
        self.port = self.server.sockets[0].getsockname()[1]
        self._ready.set()
        self.loop.run_forever()

    def __exit__(self, *exc) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


class XExampleClient:
    """A blocking client on one connection: `call` sends and waits for its own answer, so
    many threads may call at once and answers come back in any order."""

    def __init__(self, port: int, timeout: float = 10.0, dialect=EXAMPLE) -> None:
        self.dialect = dialect
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.lock = threading.Lock()
        self.next_id = 1
        self.answers: dict[int, object] = {}
        self.cond = threading.Condition()
        self.buffer = bytearray()
        self.closed = False
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def send(self, kind: FrameKind, headers: dict, body: bytes = b"", heartbeat: bool = False) -> int:
        with self.lock:
            request_id = self.next_id
            self.next_id += 1
            self.sock.sendall(self.dialect.request(kind, request_id, headers, body, heartbeat))
        return request_id

    def call(self, headers: dict, body: bytes = b"", timeout: float = 10.0):
        request_id = self.send(FrameKind.REQUEST, headers, body)
        return self.wait(request_id, timeout)

    def wait(self, request_id: int, timeout: float = 10.0):
        with self.cond:
            if not self.cond.wait_for(lambda: request_id in self.answers or self.closed, timeout):
                raise TimeoutError(f"no answer to request {request_id}")
            if request_id not in self.answers:
                raise ConnectionError("connection closed")
            return self.answers.pop(request_id)

    def _read(self) -> None:
        while True:
            try:
                data = self.sock.recv(65536)
            except OSError:
                data = b""
            if not data:
                with self.cond:
                    self.closed = True
                    self.cond.notify_all()
                return
            self.buffer += data
            while True:
                frame = self.dialect.codec.decode(self.buffer)
                if frame is None:
                    break
                with self.cond:
                    self.answers[frame.request_id] = frame
                    self.cond.notify_all()

    def close(self) -> None:
        self.sock.close()


def body_of(frame, dialect=EXAMPLE) -> bytes:
    return dialect.body(frame)
