"""A real HTTP/1.1 origin server for integration tests, run on its own loop in a thread.

Behaviour is chosen by path, so one origin serves every test:
  /echo...           200, JSON of method/path/headers/body_bytes (body discarded, counted)
  /mirror            200, the request body echoed back with the same framing (CL or chunked)
  /status/NNN        that status, short body
  /chunked           a chunked response with trailers (x-trailer: done)
  /big/N             N bytes of body, written as fast as the transport drains
  /slow/MS           answers after MS milliseconds
  /reset             closes the connection without answering
  /half              sends the head and half the body, then closes
  /close             answers with Connection: close, then closes
  /once-per-conn     answers the first request of a connection (as keep-alive); resets on any
                     later one, like a server closing an idle connection as it is reused
  /ws                answers 101 to an Upgrade request, then echoes raw bytes
  /nolength          a body without Content-Length or chunking (ends at close)
  /garbage           bytes that are not an HTTP response
  /badchunk          a chunked response whose second chunk size is not hex
  /switch            101 Switching Protocols whatever the request asked for
  /stall             the head and 10 of 100 body bytes, then nothing (the connection stays)
Every request is recorded in `origin.requests` (method, path, headers, body_bytes; the body
itself for /mirror) once complete, its path
in `origin.heads` as soon as its head is; a request whose connection closed before it was
complete, in `origin.cut_short` (path, time.monotonic())."""

from __future__ import annotations

import asyncio
import json
import threading
import time

import httptools


class _Handler(asyncio.Protocol):
    def __init__(self, origin: Origin) -> None:
        self.origin = origin
        self.parser = httptools.HttpRequestParser(self)
        self.transport = None
        self.tunnel = False
        self.paused = False
        self.served = 0
        self.in_request = False  # a request head has arrived, its end has not
        self._reset()

    def _reset(self) -> None:
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.body_bytes = 0
        self.mirror_chunks: list[bytes] | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport
        self.origin.connections += 1

    def connection_lost(self, exc) -> None:
        if self.in_request:
            self.origin.cut_short.append((self.url.decode("latin-1"), time.monotonic()))

    def data_received(self, data: bytes) -> None:
        if self.tunnel:
            self.transport.write(data)
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade as upgrade:
            self.tunnel = True
            rest = data[upgrade.args[0]:] if upgrade.args else b""
            self.transport.write(
                b"HTTP/1.1 101 Switching Protocols\r\nupgrade: test\r\nconnection: upgrade\r\n\r\n" + rest
            )
        except httptools.HttpParserError:
            self.transport.close()

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        self.in_request = True
        self.origin.heads.append(self.url.decode("latin-1"))
        if self.url.startswith(b"/mirror"):
            self.mirror_chunks = []

    def on_body(self, body: bytes) -> None:
        self.body_bytes += len(body)
        if self.mirror_chunks is not None:
            self.mirror_chunks.append(body)

    def on_message_complete(self) -> None:
        self.in_request = False
        path = self.url.decode("latin-1")
        method = self.parser.get_method().decode()
        headers = {n.decode("latin-1").lower(): v.decode("latin-1") for n, v in self.headers}
        body = b"".join(self.mirror_chunks) if self.mirror_chunks is not None else None
        self.origin.requests.append({"method": method, "path": path, "headers": headers, "raw_headers": self.headers,
                                     "body_bytes": self.body_bytes, "body": body})
        if self.url.startswith(b"/ws") and headers.get("upgrade"):
            return  # answered in data_received once llhttp reports the upgrade
        keep = self.parser.should_keep_alive()
        self._respond(method, path, headers, keep)
        self._reset()

    def _write_head(self, status: int, headers: list[tuple[str, str]], keep: bool) -> None:
        lines = [f"HTTP/1.1 {status} X"] + [f"{k}: {v}" for k, v in headers]
        if not keep:
            lines.append("connection: close")
        self.transport.write(("\r\n".join(lines) + "\r\n\r\n").encode())

    def _respond(self, method: str, path: str, headers: dict, keep: bool) -> None:
        t = self.transport
        if path.startswith("/reset"):
            t.abort()
            return
        if path.startswith("/slow/"):
            ms = int(path.split("/")[2])
            asyncio.get_running_loop().call_later(ms / 1000, self._simple, 200, b"slow\n", keep)
            return
        if path.startswith("/status/"):
            self._simple(int(path.split("/")[2]), b"status\n", keep)
            return
        if path.startswith("/mirror"):
            body = b"".join(self.mirror_chunks or [])
            if headers.get("transfer-encoding") == "chunked":
                self._write_head(200, [("transfer-encoding", "chunked")], keep)
                t.write(b"%x\r\n%b\r\n0\r\n\r\n" % (len(body), body) if body else b"0\r\n\r\n")
            else:
                self._write_head(200, [("content-length", str(len(body)))], keep)
                t.write(body)
            return
        if path.startswith("/chunked"):
            self._write_head(200, [("transfer-encoding", "chunked"), ("trailer", "x-trailer")], keep)
            t.write(b"5\r\nhello\r\n6\r\n world\r\n0\r\nx-trailer: done\r\n\r\n")
            return
        if path.startswith("/big/"):
            size = int(path.split("/")[2])
            self._write_head(200, [("content-length", str(size))], keep)
            asyncio.get_running_loop().create_task(self._stream(size))
            return
        if path.startswith("/half"):
            self._write_head(200, [("content-length", "100")], True)
            t.write(b"x" * 50)
            t.close()
            return
        if path.startswith("/garbage"):
            t.write(b"this is not HTTP\r\n\r\n")
            return
        if path.startswith("/badchunk"):
            self._write_head(200, [("transfer-encoding", "chunked")], keep)
            t.write(b"5\r\nhello\r\nzz\r\nbad\r\n")
            return
        if path.startswith("/switch"):
            t.write(b"HTTP/1.1 101 Switching Protocols\r\nupgrade: test\r\nconnection: upgrade\r\n\r\n")
            return
        if path.startswith("/stall"):
            self._write_head(200, [("content-length", "100")], keep)
            t.write(b"x" * 10)
            return
        if path.startswith("/nolength"):
            self._write_head(200, [("content-type", "text/plain")], False)
            t.write(b"until close")
            t.close()
            return
        if path.startswith("/once-per-conn"):
            self.served += 1
            if self.served > 1:
                t.abort()  # as a server that timed the idle connection out just now
                return
            self._simple(200, b"first on this connection\n", True)
            return
        if path.startswith("/close"):
            self._simple(200, b"closing\n", False)
            return
        body = json.dumps(
            {"method": method, "path": path, "headers": headers, "body_bytes": self.body_bytes, "origin": self.origin.name}
        ).encode()
        if method == "HEAD":
            self._write_head(200, [("content-length", str(len(body))), ("content-type", "application/json")], keep)
        else:
            self._simple(200, body, keep, "application/json")

    def _simple(self, status: int, body: bytes, keep: bool, ctype: str = "text/plain") -> None:
        if self.transport.is_closing():
            return
        no_body = status in (204, 304) or status < 200
        headers = [("content-type", ctype)] + ([] if no_body else [("content-length", str(len(body)))])
        self._write_head(status, headers, keep)
        if not no_body:
            self.transport.write(body)
        if not keep:
            self.transport.close()

    async def _stream(self, size: int) -> None:
        chunk = b"x" * 65536
        sent = 0
        while sent < size and not self.transport.is_closing():
            n = min(len(chunk), size - sent)
            self.transport.write(chunk[:n])
            sent += n
            while self.paused and not self.transport.is_closing():
                await asyncio.sleep(0.005)
            self.origin.streamed = sent

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False


class Origin:
    """Start with `with Origin() as origin:`; `origin.port` is the bound port."""

    def __init__(self, name: str = "origin", ssl_context=None) -> None:
        self.name = name
        self.ssl_context = ssl_context
        self.requests: list[dict] = []
        self.heads: list[str] = []
        self.cut_short: list[tuple[str, float]] = []
        self.connections = 0
        self.streamed = 0
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server = None

    def __enter__(self) -> Origin:
        self._thread.start()
        fut = asyncio.run_coroutine_threadsafe(self._start(), self._loop)
        self.port = fut.result(5)
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
