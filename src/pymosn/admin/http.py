"""A small, strict HTTP/1.1 server protocol for the admin API.

httptools parses; every request is answered synchronously by a handler when its message is
complete, so pipelined requests are answered in order without any queue. Admin traffic is
local and light: limits are tight, and anything malformed gets a 400 and a close."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus

import httptools

log = logging.getLogger("pymosn.admin")

MAX_HEAD_BYTES = 16 * 1024
MAX_BODY_BYTES = 64 * 1024


@dataclass(slots=True)
class Request:
    method: str
    target: str  # the raw request target, path + query
    headers: dict[str, str] = field(default_factory=dict)  # lowercased names
    body: bytes = b""


@dataclass(slots=True)
class Response:
    status: int
    body: bytes | str = b""
    content_type: str = "text/plain; charset=UTF-8"
    headers: list[tuple[str, str]] = field(default_factory=list)
    # Run after the response bytes are handed to the transport (quit, drain).
    after: Callable[[], None] | None = None


Handler = Callable[[Request], Response]


class AdminHTTPProtocol(asyncio.Protocol):
    def __init__(self, handler: Handler, connections: set) -> None:
        self.handler = handler
        self.connections = connections
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.closing = False
        self.limit_status = 0
        self._reset()

    def _reset(self) -> None:
        self.url = b""
        self.headers: dict[str, str] = {}
        self.header_name = b""
        self.head_bytes = 0
        self.body = bytearray()

    # --- asyncio.Protocol ---------------------------------------------------------------------
    def connection_made(self, transport) -> None:
        self.transport = transport
        self.connections.add(self)

    def connection_lost(self, exc) -> None:
        self.connections.discard(self)
        self.transport = None

    def data_received(self, data: bytes) -> None:
        if self.closing:
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            # The request was already answered; the admin API never switches protocols.
            self.closing = True
            if self.transport is not None:
                self.transport.close()
        except httptools.HttpParserError:
            # A limit hit inside a callback surfaces here wrapped; it left its status behind.
            self._reply_error(self.limit_status or 400)

    def eof_received(self) -> bool | None:
        return None  # close our side too

    # --- httptools callbacks ----------------------------------------------------------------
    def on_message_begin(self) -> None:
        self._reset()

    def on_url(self, url: bytes) -> None:
        self._count_head(len(url))
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count_head(len(name) + len(value))
        self.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_body(self, body: bytes) -> None:
        if len(self.body) + len(body) > MAX_BODY_BYTES:
            self.limit_status = 413
            raise ValueError("admin request body too large")
        self.body += body

    def on_message_complete(self) -> None:
        request = Request(
            self.parser.get_method().decode("ascii"),
            self.url.decode("latin-1"),
            self.headers,
            bytes(self.body),
        )
        keep_alive = self.parser.should_keep_alive()
        try:
            response = self.handler(request)
        except Exception:
            log.exception("admin handler failed for %s %s", request.method, request.target)
            response = Response(500, "internal error\n")
        self._send(response, keep_alive, head_only=request.method == "HEAD")

    def _count_head(self, n: int) -> None:
        self.head_bytes += n
        if self.head_bytes > MAX_HEAD_BYTES:
            self.limit_status = 431
            raise ValueError("admin request head too large")

    # --- writing ------------------------------------------------------------------------------
    def _reply_error(self, status: int) -> None:
        reason = HTTPStatus(status).phrase
        self._send(Response(status, f"{reason}\n"), keep_alive=False)

    def _send(self, response: Response, keep_alive: bool, head_only: bool = False) -> None:
        transport = self.transport
        if transport is None or self.closing:
            return
        body = response.body.encode() if isinstance(response.body, str) else response.body
        try:
            phrase = HTTPStatus(response.status).phrase
        except ValueError:
            phrase = "Unknown"
        head = [
            f"HTTP/1.1 {response.status} {phrase}",
            f"content-type: {response.content_type}",
            f"content-length: {len(body)}",
            "cache-control: no-cache, max-age=0",
            "x-content-type-options: nosniff",
        ]
        head += [f"{k}: {v}" for k, v in response.headers]
        if not keep_alive:
            head.append("connection: close")
        data = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1")
        transport.write(data if head_only else data + body)
        if not keep_alive:
            self.closing = True
            transport.close()
        if response.after is not None:
            asyncio.get_running_loop().call_soon(response.after)
