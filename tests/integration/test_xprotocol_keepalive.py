"""Upstream keep-alive of X-Protocol connections, on real sockets: an idle connection sends
heartbeats and stays up while they are answered; one whose heartbeats go unanswered is
closed, and whoever waits on it is told."""

from __future__ import annotations

import asyncio
import socket

from pymosn.network.connection import Connection
from pymosn.protocol.xprotocol.example import ExampleCodec
from pymosn.stream.xprotocol import KeepAlive, XClientConnection
from tests.support.xexample_peer import XExampleServer


async def connect(port: int, keepalive: KeepAlive) -> XClientConnection:
    loop = asyncio.get_running_loop()

    def factory() -> Connection:
        conn = Connection(loop)
        XClientConnection(conn, ExampleCodec(), keepalive=keepalive)
        return conn

    _, conn = await loop.create_connection(factory, "127.0.0.1", port)
    return conn.read_filters[0]


def test_idle_connection_is_kept_alive_with_heartbeats():
    with XExampleServer() as server:
        async def main() -> XClientConnection:
            # A generous heartbeat timeout: on a loaded machine the server's thread may answer
            # late, and this test is about heartbeats being sent, not about slow answers.
            client = await connect(server.port, KeepAlive(interval=0.1, timeout=2.0, max_failures=3))
            deadline = asyncio.get_running_loop().time() + 10
            while server.heartbeats < 4 and not client.closed and asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(0.05)
            return client

        client = asyncio.run(main())
        assert server.heartbeats >= 4  # an idle connection kept sending them
        assert not client.closed


def test_unanswered_heartbeats_close_the_connection():
    silent = socket.socket()  # accepts (the kernel does) and never answers
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    try:
        async def main() -> tuple[XClientConnection, float]:
            loop = asyncio.get_running_loop()
            started = loop.time()
            client = await connect(silent.getsockname()[1], KeepAlive(interval=0.1, timeout=0.1, max_failures=2))
            while not client.closed and loop.time() - started < 3:
                await asyncio.sleep(0.02)
            return client, loop.time() - started

        client, took = asyncio.run(main())
        assert client.closed
        assert 0.3 <= took < 1.5  # two heartbeats (0.1 s idle + 0.1 s timeout each), then closed
    finally:
        silent.close()
