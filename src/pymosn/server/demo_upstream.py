"""A tiny built-in HTTP/1.1 origin for `pymosn demo`: answers every request with a JSON echo
of what it received (method, path, headers, body size)."""

from __future__ import annotations

import asyncio
import json

import httptools


class _EchoProtocol(asyncio.Protocol):
    def __init__(self, name: str) -> None:
        self.name = name
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self._reset()

    def _reset(self) -> None:
        self.url = b""
        self.headers: list[tuple[str, str]] = []
        self.body_size = 0

    def connection_made(self, transport) -> None:  # type: ignore[override]
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.transport.close()

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.decode("latin-1"), value.decode("latin-1")))

    def on_body(self, body: bytes) -> None:
        self.body_size += len(body)

    def on_message_complete(self) -> None:
        payload = {
            "upstream": self.name,
            "method": self.parser.get_method().decode(),
            "path": self.url.decode("latin-1"),
            "headers": dict(self.headers),
            "body_bytes": self.body_size,
        }
        body = json.dumps(payload, indent=2).encode() + b"\n"
        keep = self.parser.should_keep_alive()
        head = (
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n%s\r\n"
            % (len(body), b"" if keep else b"connection: close\r\n")
        )
        self.transport.write(head + body)
        if not keep:
            self.transport.close()
        self._reset()


async def start_echo_upstream(host: str = "127.0.0.1", port: int = 0, name: str = "demo-upstream"):
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _EchoProtocol(name), host, port)
    return server, server.sockets[0].getsockname()[1]
