"""The contracts between a stream codec (HTTP/1.1, HTTP/2) and the proxy, written down.

A server stream connection hands each downstream request to a `StreamReceiver` (the proxy's
ActiveStream) and gives it a `ServerStream` to answer through; the proxy sends the request
on with a `ClientStream` from a pool and hears of the response as its `ResponseReceiver`.
HTTP/1.1's per-connection objects and HTTP/2's per-stream ones implement them alike, so the
proxy reaches nothing of a stream beyond these methods (mypy checks that through the
annotations on ActiveStream and UpstreamRequest).

Heads are the codec's: protocol.http1 RequestHead / ResponseHead (this layer cannot name
them). Headers are lists of (name, value) byte pairs; `body_kind` is one of protocol.http1's
BODY_* constants."""

from __future__ import annotations

from typing import Any, Protocol

from pymosn.api.connection import ConnectionInfo
from pymosn.api.errors import StreamReset

Headers = list[tuple[bytes, bytes]]


class WatermarkListener(Protocol):
    """Told when pending writes cross the high and low watermarks (back-pressure)."""

    def on_above_write_high_watermark(self) -> None: ...

    def on_below_write_low_watermark(self) -> None: ...


class ServerStream(Protocol):
    """The downstream side of one request: where its response goes."""

    protocol: str  # "HTTP/1.1" or "HTTP/2", for a stream with no request head to read it from

    @property
    def connection(self) -> ConnectionInfo: ...

    def send_continue(self) -> None: ...

    def send_headers(self, status: int, headers: Headers, body_kind: int, end_stream: bool,
                     reason: bytes = b"") -> None: ...

    def send_data(self, data: bytes, end_stream: bool) -> None: ...

    def send_trailers(self, trailers: Headers) -> None: ...

    def send_raw(self, data: bytes) -> None:
        """Tunnel bytes after a 101 (HTTP/1.1 upgrade)."""

    def reset(self) -> None:
        """The response cannot be completed: abort it (HTTP/1.1 closes the connection, HTTP/2
        sends RST_STREAM). The receiver is told nothing more."""

    def close_after_response(self) -> None:
        """No further request may follow this one on the connection (its bytes will not be
        read, or are not HTTP): HTTP/1.1 answers Connection: close; HTTP/2 ends the stream only."""

    def close(self) -> None:
        """End the exchange after what was sent (a tunnel whose upstream closed): HTTP/1.1
        closes the connection gracefully, HTTP/2 resets the stream."""

    @property
    def reading_paused(self) -> bool: ...

    def pause_reading(self) -> None:
        """Stop delivering request bytes (flow control: HTTP/2 withholds this stream's credit)."""

    def resume_reading(self) -> None: ...

    def set_watermark_listener(self, listener: WatermarkListener | None) -> None:
        """Who hears when the response bytes back up toward the client (None: nobody)."""

    def clear_watermark_listener(self, listener: WatermarkListener) -> None:
        """Forget `listener` if it is still the one set (a stream ending)."""


class StreamReceiver(Protocol):
    """The proxy's side of one downstream request, told by the server stream connection."""

    def on_headers(self, head: Any, end_stream: bool) -> None: ...

    def on_data(self, data: bytes, end_stream: bool) -> None: ...

    def on_trailers(self, trailers: Headers) -> None: ...

    def on_upgrade_data(self, data: bytes) -> None: ...

    def on_reset(self, reset: StreamReset) -> None:
        """The stream ended early (the client went away, reset it or broke the protocol);
        a reset with a status may still be answered if the response has not begun."""

    def on_bad_request(self, head: Any, reset: StreamReset) -> None:
        """A request that broke the protocol before it could start (head is None when it could
        not be parsed): one stream all the same, to be answered with the error."""


class ResponseReceiver(Protocol):
    """The proxy's side of one upstream request, told by the client stream."""

    def on_response_head(self, head: Any, end_stream: bool) -> None: ...

    def on_response_data(self, data: bytes, end_stream: bool) -> None: ...

    def on_response_trailers(self, trailers: Headers) -> None: ...

    def on_response_raw(self, data: bytes) -> None:
        """Tunnel bytes after a 101."""

    def on_upstream_reset(self, reset: StreamReset) -> None: ...


class ClientStream(Protocol):
    """The upstream side of one request, taken from a pool."""

    reused: bool  # the connection carried a request before this one (a stale one may be retried)

    def on_idle(self, stream: Any) -> None:
        """Hand back a stream the requester no longer wanted when the pool gave it."""

    @property
    def connection(self) -> ConnectionInfo: ...

    def send_headers(self, receiver: ResponseReceiver, method: bytes, target: bytes, headers: Headers,
                     body_kind: int, end_stream: bool) -> None: ...

    def send_data(self, data: bytes, end_stream: bool) -> None: ...

    def send_trailers(self, trailers: Headers) -> None: ...

    def send_raw(self, data: bytes) -> None: ...

    def reset(self) -> None:
        """Give the request up (the downstream went away or the proxy answered locally)."""

    @property
    def write_paused(self) -> bool:
        """The request bytes are backed up toward the upstream."""

    def pause_reading(self) -> None:
        """Stop delivering response bytes (the downstream is backed up)."""

    def resume_reading(self) -> None: ...

    def set_watermark_listener(self, listener: WatermarkListener | None) -> None: ...
