"""llhttp (through httptools), the parser pymosn's HTTP/1.1 decoders replaced, as an oracle.

What it reports is only what llhttp itself decides: the method, target, fields, body and whether
each message completed, or that it refused the bytes. pymosn's own rules on top (Host, Expect,
transfer codings other than chunked) are not llhttp's and are left out of what tests compare."""

from __future__ import annotations

from dataclasses import dataclass, field

import httptools


@dataclass
class Message:
    method: bytes = b""
    target: bytes = b""
    status: int = 0
    version: str = ""
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: bytes = b""
    trailers: list[tuple[bytes, bytes]] = field(default_factory=list)
    complete: bool = False


class _Recorder:
    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.parser: httptools.HttpRequestParser | httptools.HttpResponseParser | None = None
        self._in_head = True

    def on_message_begin(self) -> None:
        self.messages.append(Message())
        self._in_head = True

    def on_url(self, url: bytes) -> None:
        self.messages[-1].target += url

    def on_header(self, name: bytes, value: bytes) -> None:
        # llhttp keeps a value's trailing whitespace; RFC 9112 (and pymosn) does not
        (self.messages[-1].headers if self._in_head else self.messages[-1].trailers).append(
            (name, value.rstrip(b" \t"))
        )

    def on_headers_complete(self) -> None:
        self._in_head = False
        message = self.messages[-1]
        assert self.parser is not None
        message.version = self.parser.get_http_version()
        if isinstance(self.parser, httptools.HttpRequestParser):
            message.method = self.parser.get_method()
        else:
            message.status = self.parser.get_status_code()

    def on_body(self, body: bytes) -> None:
        self.messages[-1].body += body

    def on_message_complete(self) -> None:
        self.messages[-1].complete = True


def parse_requests(data: bytes) -> list[Message] | None:
    """The requests llhttp reads in `data`, or None if it refuses the bytes."""
    return _parse(httptools.HttpRequestParser, data)


def parse_responses(data: bytes) -> list[Message] | None:
    return _parse(httptools.HttpResponseParser, data)


def _parse(parser_type, data: bytes) -> list[Message] | None:
    recorder = _Recorder()
    parser = recorder.parser = parser_type(recorder)
    try:
        parser.feed_data(data)
    except httptools.HttpParserError:
        return None
    return recorder.messages
