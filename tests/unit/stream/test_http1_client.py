"""The HTTP/1.1 client stream connection driven byte by byte (stream/http1/client.py)."""

from __future__ import annotations

from typing import Any

from pymosn.network.connection import Connection
from pymosn.protocol.http1 import BODY_LENGTH, BODY_NONE
from pymosn.stream.http1.client import ClientStreamConnection
from tests.support.fakes import RecordingTransport, connection_on


class Receiver:
    def __init__(self) -> None:
        self.events: list[Any] = []

    def on_response_head(self, head, end_stream):
        self.events.append(("head", head.status, end_stream))

    def on_response_data(self, data, end_stream):
        self.events.append(("data", data, end_stream))

    def on_response_trailers(self, trailers):
        self.events.append(("trailers", trailers))

    def on_upstream_reset(self, reset):
        self.events.append(("reset", reset.kind))


def _client() -> tuple[ClientStreamConnection, Connection, RecordingTransport, list]:
    conn, transport = connection_on()
    idle: list = []
    return ClientStreamConnection(conn, idle.append), conn, transport, idle


def test_an_ended_exchange_leaves_no_watermark_listener_for_the_next():
    """A pooled connection's next request (a GET sets none) must not pause the previous
    request's client when the upstream's write buffer fills."""
    client, conn, _, idle = _client()
    upload, receiver = object(), Receiver()
    client.set_watermark_listener(upload)  # type: ignore[arg-type]
    client.send_headers(receiver, b"POST", b"/", [(b"host", b"a"), (b"content-length", b"2")], BODY_LENGTH, False)
    client.send_data(b"hi", True)
    assert conn.watermark_listener is upload
    client.on_data(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    assert receiver.events == [("head", 200, False), ("data", b"ok", True)]  # the body's end in one call
    assert idle == [client] and conn.watermark_listener is None


def test_a_get_response_is_head_then_one_data_call_with_the_end():
    client, _, transport, idle = _client()
    receiver = Receiver()
    client.send_headers(receiver, b"GET", b"/", [(b"host", b"a")], BODY_NONE, True)
    assert transport.take() == b"GET / HTTP/1.1\r\nhost: a\r\n\r\n"
    client.on_data(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel")
    client.on_data(b"lo")
    assert receiver.events == [("head", 200, False), ("data", b"hel", False), ("data", b"lo", True)]
    assert idle == [client] and client.reused
