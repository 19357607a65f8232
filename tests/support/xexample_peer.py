"""A real x_example RPC server (asyncio, in a thread) and a multiplexing client, for the
X-Protocol proxy tests. The server echoes the body; headers steer it:

  delay-ms=N     answer after N milliseconds (so answers come back out of order)
  die=1          close the connection instead of answering (a backend dying mid-request)
Heartbeats are answered; one-way requests are recorded and not answered."""

from __future__ import annotations

import asyncio
import socket
import threading

from pymosn.protocol.xprotocol.api import FrameKind
from pymosn.protocol.xprotocol.example import ExampleCodec, encode

CODEC = ExampleCodec()


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
        while True:
            frame = CODEC.decode(self.buffer)
            if frame is None:
                return
            if frame.heartbeat:
                self.server.heartbeats += 1
                self.transport.write(CODEC.heartbeat_reply(frame))
                continue
            self.server.requests.append(frame)
            if frame.kind == FrameKind.ONEWAY:
                continue
            if frame.headers.get("die"):
                self.transport.abort()
                return
            body = bytes(frame.raw[-_body_len(frame):]) if _body_len(frame) else b""
            reply = encode(FrameKind.RESPONSE, frame.request_id, {"server": self.server.name}, body)
            delay = int(frame.headers.get("delay-ms", "0"))
            if delay:
                asyncio.get_running_loop().call_later(delay / 1000, self._write, reply)
            else:
                self.transport.write(reply)

    def _write(self, data: bytes) -> None:
        if not self.transport.is_closing():
            self.transport.write(data)


def _body_len(frame) -> int:
    return int.from_bytes(frame.raw[12:16], "big")


class XExampleServer:
    def __init__(self, name: str = "x", port: int = 0) -> None:
        self.name = name
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

    def __init__(self, port: int, timeout: float = 10.0) -> None:
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
            self.sock.sendall(encode(kind, request_id, headers, body, heartbeat=heartbeat))
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
                frame = CODEC.decode(self.buffer)
                if frame is None:
                    break
                with self.cond:
                    self.answers[frame.request_id] = frame
                    self.cond.notify_all()

    def close(self) -> None:
        self.sock.close()


def body_of(frame) -> bytes:
    n = _body_len(frame)
    return bytes(frame.raw[-n:]) if n else b""
