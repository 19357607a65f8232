#!/usr/bin/env python3
"""The RPC benchmark's load generator and echo server, for any X-Protocol codec pymosn has.

    python3 bench/rpc_load.py server --protocol bolt --port 12200
    python3 bench/rpc_load.py client --protocol bolt --port 2046 --connections 4 --callers 50 --duration 10

The client runs `callers` coroutines spread over `connections` persistent connections, each
calling in a loop (send one request, wait for its answer, repeat), with responses matched by
request id, so requests from many callers are in flight on each connection at once (as SOFARPC
and Dubbo clients do). It prints one JSON line: requests, errors, seconds, rps. The server
answers every request at once with the same request id and the request's payload. Both run on
uvloop; neither decodes payloads. Payloads are small (64 bytes) unless --payload says otherwise.

Per-protocol frames come from the codec's own module (`encode*` helpers), so a frame the
benchmark sends is one the codec's tests already pin down."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time

from pymosn.protocol.xprotocol import registry
from pymosn.protocol.xprotocol.api import Frame, FrameKind


def adapter(protocol: str, payload: bytes):
    """(request template bytes, respond(frame) -> bytes) for a protocol."""
    if protocol == "x_example":
        from pymosn.protocol.xprotocol.example import encode

        def respond(frame: Frame) -> bytes:
            return encode(FrameKind.RESPONSE, frame.request_id, {}, payload)

        return encode(FrameKind.REQUEST, 0, {"service": "com.example.Echo"}, payload), respond
    if protocol in ("bolt", "boltv2"):
        from pymosn.protocol.xprotocol import bolt

        return bolt.bench_frames(protocol, payload)
    if protocol == "dubbo":
        from pymosn.protocol.xprotocol import dubbo

        return dubbo.bench_frames(payload)
    raise SystemExit(f"no benchmark frames for {protocol!r}")


class _ServerConn(asyncio.Protocol):
    def __init__(self, codec, respond) -> None:
        self.codec, self.respond = codec, respond
        self.buffer = bytearray()

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        out = []
        while True:
            frame = self.codec.decode(buffer)
            if frame is None:
                break
            if frame.kind == FrameKind.REQUEST:
                out.append(self.codec.heartbeat_reply(frame) if frame.heartbeat else self.respond(frame))
        if out:
            self.transport.write(b"".join(out))


async def serve(args) -> None:
    codec = registry.get(args.protocol)
    _, respond = adapter(args.protocol, b"p" * args.payload)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _ServerConn(codec, respond), "127.0.0.1", args.port, backlog=1024)
    print(json.dumps({"listening": server.sockets[0].getsockname()[1]}), flush=True)
    await asyncio.Event().wait()


class _ClientConn(asyncio.Protocol):
    def __init__(self, codec) -> None:
        self.codec = codec
        self.buffer = bytearray()
        self.waiting: dict[int, asyncio.Future] = {}
        self.next_id = 1
        self.closed = asyncio.Event()

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        while True:
            frame = self.codec.decode(buffer)
            if frame is None:
                break
            future = self.waiting.pop(frame.request_id, None)
            if future is not None and not future.done():
                future.set_result(frame)

    def connection_lost(self, exc) -> None:
        for future in self.waiting.values():
            if not future.done():
                future.set_exception(ConnectionError("connection lost"))
        self.closed.set()


async def load(args) -> None:
    codec = registry.get(args.protocol)
    template, _ = adapter(args.protocol, b"p" * args.payload)
    probe = codec.decode(bytearray(template))
    loop = asyncio.get_running_loop()
    conns = []
    for _ in range(args.connections):
        _, conn = await loop.create_connection(lambda: _ClientConn(codec), "127.0.0.1", args.port)
        conns.append(conn)
    counts = {"requests": 0, "errors": 0}
    deadline = loop.time() + args.duration

    async def caller(conn: _ClientConn) -> None:
        while loop.time() < deadline:
            request_id = conn.next_id
            conn.next_id = request_id + 1 if request_id < codec.max_request_id else 1
            frame = Frame(probe.kind, 0, bytearray(template))
            codec.set_request_id(frame, request_id)
            future = loop.create_future()
            conn.waiting[request_id] = future
            conn.transport.write(frame.raw)
            try:
                answer = await asyncio.wait_for(future, 10)
            except (TimeoutError, ConnectionError):
                counts["errors"] += 1
                return
            if codec.response_ok(answer):
                counts["requests"] += 1
            else:
                counts["errors"] += 1

    started = time.monotonic()
    await asyncio.gather(*(caller(conns[i % len(conns)]) for i in range(args.callers)))
    elapsed = time.monotonic() - started
    for conn in conns:
        conn.transport.close()
    print(json.dumps({**counts, "seconds": round(elapsed, 3), "rps": round(counts["requests"] / elapsed, 1)}))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("role", choices=["server", "client"])
    parser.add_argument("--protocol", default="x_example")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--callers", type=int, default=50)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--payload", type=int, default=64)
    args = parser.parse_args(argv)
    import uvloop

    uvloop.run(serve(args) if args.role == "server" else load(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
