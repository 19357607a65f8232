"""The stream-filter manager: one per stream of a listener that has stream filters.

It runs the request through the decoder filters (configured order, grouped by MOSN phase) to
the router, and the response through the encoder filters (reverse order) to the downstream,
with the statuses of pymosn.api.stream_filter, local replies and failure containment. It
talks to its owner, the active stream, only through `FilterManagerOwner`.

The fast path: a listener without stream filters makes no manager at all. Its active stream
holds `filters: FilterManager | None = None` and, per request, tests that once
(`if filters is None: route directly`), so an empty chain costs one attribute compare and
creates nothing.

Local replies follow Envoy's three cases. Before any response headers entered the encoder
chain, the reply goes through every encoder filter (a dual filter that sent it sees its own
reply, as in Envoy). When response headers are inside the encoder chain but not yet sent
(an encoder filter stopped them, or sends the reply itself), the reply goes straight to the
downstream, bypassing the encoder filters that already saw a response. Once response headers
were sent, the stream can only be reset. Either way the remaining decoder filters are skipped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from pymosn.api.connection import ConnectionInfo
from pymosn.api.headers import HeaderMap, RequestHeaderMap
from pymosn.api.stream_filter import (
    FILTER_FAILED,
    REQUEST_ENTITY_TOO_LARGE,
    DecoderFilter,
    EncoderFilter,
    FilterConfig,
    FilterPhase,
    Route,
)
from pymosn.api.stream_info import StreamInfo
from pymosn.proxy.filter_chain import HOST_HOOK, ROUTE_AND_HOST_HOOK, ROUTE_HOOK, RUNNING, Chain, Slot

DEFAULT_BUFFER_LIMIT = 1 << 20  # Envoy's per-stream default (per_connection_buffer_limit_bytes)


@dataclass(frozen=True, slots=True)
class LocalReply:
    status: int
    body: bytes = b""
    flag: str | None = None  # %RESPONSE_FLAGS%
    details: str = ""  # %RESPONSE_CODE_DETAILS%
    headers: Mapping[bytes, bytes] | None = None  # extra response headers


@dataclass(frozen=True, slots=True)
class FilterChainEntry:
    """One configured filter of a listener's chain: made once per config load."""

    name: str
    config: FilterConfig
    phase: FilterPhase = FilterPhase.BEFORE_ROUTE


class FilterManagerOwner(Protocol):
    """The active stream, as its filter manager sees it."""

    def on_decoded_headers(self, headers: RequestHeaderMap, end_stream: bool) -> None:
        """The request headers passed every decoder filter: route them (with `manager.route`)."""

    def on_decoded_data(self, data: bytes, end_stream: bool) -> None: ...

    def on_decoded_trailers(self, trailers: HeaderMap) -> None: ...

    def on_encoded_headers(self, status: int, headers: HeaderMap, end_stream: bool) -> None:
        """Response headers passed every encoder filter: send them downstream."""

    def on_encoded_data(self, data: bytes, end_stream: bool) -> None: ...

    def on_encoded_trailers(self, trailers: HeaderMap) -> None: ...

    def on_local_reply(self, reply: LocalReply) -> None:
        """A local reply is about to be encoded: record its flag and details, stop the upstream
        request. Called before the reply's headers reach any encoder filter."""

    def reset_stream(self, reply: LocalReply) -> None:
        """A local reply came after the response started downstream: reset the stream."""

    def resolve_route(self) -> Route | None: ...

    def per_filter_config(self, route: Route | None, name: str) -> object | None: ...

    def choose_host(self) -> None:
        """Pick the upstream host before AFTER_CHOOSE_HOST filters (may send a local reply)."""

    def pause_reading(self) -> None:
        """Back-pressure: held request bytes went over the limit; stop reading the downstream."""

    def resume_reading(self) -> None:
        """Held request bytes fell back under the limit. Must not feed data synchronously."""

    def pause_upstream(self) -> None: ...

    def resume_upstream(self) -> None: ...

    def on_filter_error(self, name: str, error: Exception) -> None:
        """A filter raised (a counter and a log line); the manager answers the stream itself."""


class FilterCallbacksImpl:
    """The callbacks one filter of one stream gets."""

    __slots__ = ("_manager", "name", "decoder_slot", "encoder_slot")

    def __init__(self, manager: FilterManager, name: str) -> None:
        self._manager = manager
        self.name = name
        self.decoder_slot: Slot | None = None
        self.encoder_slot: Slot | None = None

    @property
    def stream_info(self) -> StreamInfo:
        return self._manager.stream_info

    @property
    def connection(self) -> ConnectionInfo:
        return self._manager.connection

    @property
    def route(self) -> Route | None:
        return self._manager.route

    def clear_route_cache(self) -> None:
        self._manager.clear_route_cache()

    def per_filter_config(self, name: str | None = None) -> object | None:
        manager = self._manager
        return manager.owner.per_filter_config(manager.route, self.name if name is None else name)

    def continue_decoding(self) -> None:
        self._manager.resume(self.decoder_slot, decoding=True)

    def continue_encoding(self) -> None:
        self._manager.resume(self.encoder_slot, decoding=False)

    def send_local_reply(
        self, status: int, body: bytes = b"", flag: str | None = None, details: str = "",
        headers: Mapping[bytes, bytes] | None = None,
    ) -> None:
        self._manager.send_local_reply(LocalReply(status, body, flag, details, headers))


def _hook(previous: FilterPhase, phase: FilterPhase) -> int:
    route = previous < FilterPhase.AFTER_ROUTE <= phase
    host = previous < FilterPhase.AFTER_CHOOSE_HOST <= phase
    return ROUTE_AND_HOST_HOOK if route and host else ROUTE_HOOK if route else HOST_HOOK if host else 0


class FilterManager:
    __slots__ = ("owner", "stream_info", "connection", "decoders", "encoders", "filters", "destroyed",
                 "_route", "_route_resolved", "_local_reply", "_failed")

    def __init__(
        self, owner: FilterManagerOwner, entries: Sequence[FilterChainEntry], stream_info: StreamInfo,
        connection: ConnectionInfo, buffer_limit: int = DEFAULT_BUFFER_LIMIT,
    ) -> None:
        self.owner = owner
        self.stream_info = stream_info
        self.connection = connection
        self.destroyed = False
        self._route: Route | None = None
        self._route_resolved = False
        self._local_reply: LocalReply | None = None
        self._failed: tuple[str, Exception] | None = None
        self.filters: list[tuple[str, DecoderFilter | EncoderFilter]] = []
        decoder_slots: list[Slot] = []
        encoder_slots: list[Slot] = []
        for entry in entries:
            callbacks = FilterCallbacksImpl(self, entry.name)
            try:
                made = entry.config.create_filter(callbacks)
            except Exception as error:  # answered at the request headers, with the others destroyed
                if self._failed is None:
                    self._failed = (entry.name, error)
                continue
            self.filters.append((entry.name, made))
            if isinstance(made, DecoderFilter):
                callbacks.decoder_slot = Slot(made, callbacks, entry.phase)
                decoder_slots.append(callbacks.decoder_slot)
            if isinstance(made, EncoderFilter):
                callbacks.encoder_slot = Slot(made, callbacks)
                encoder_slots.append(callbacks.encoder_slot)
        decoder_slots.sort(key=lambda slot: slot.phase)  # stable: configured order within a phase
        previous = FilterPhase.BEFORE_ROUTE
        for slot in decoder_slots:
            slot.hook = _hook(previous, slot.phase)
            previous = slot.phase
        encoder_slots.reverse()
        self.decoders = Chain(
            decoder_slots, True, buffer_limit,
            (self._decoded_headers, owner.on_decoded_data, owner.on_decoded_trailers),
            owner.pause_reading, owner.resume_reading, self._run_hook, self._request_too_large, self._raised,
        )
        self.encoders = Chain(
            encoder_slots, False, buffer_limit,
            (self._encoded_headers, owner.on_encoded_data, owner.on_encoded_trailers),
            owner.pause_upstream, owner.resume_upstream, self._run_hook, self._response_too_large, self._raised,
        )

    # --- from the downstream (request) ------------------------------------------------------

    def decode_headers(self, headers: RequestHeaderMap, end_stream: bool) -> None:
        if self.destroyed:
            return
        if self._failed is not None:
            name, error = self._failed
            self._raised_named(name, error)
            return
        self.decoders.headers(headers, end_stream)

    def decode_data(self, data: bytes, end_stream: bool) -> None:
        if not self.destroyed:
            self.decoders.data(data, end_stream)

    def decode_trailers(self, trailers: HeaderMap) -> None:
        if not self.destroyed:
            self.decoders.trailers(trailers)

    # --- from the router (response) ---------------------------------------------------------

    def encode_headers(self, status: int, headers: HeaderMap, end_stream: bool) -> None:
        if self.destroyed or self._local_reply is not None:
            return  # a local reply replaced the upstream response
        self.encoders.status = status
        self.encoders.headers(headers, end_stream)

    def encode_data(self, data: bytes, end_stream: bool) -> None:
        if not self.destroyed and self._local_reply is None:
            self.encoders.data(data, end_stream)

    def encode_trailers(self, trailers: HeaderMap) -> None:
        if not self.destroyed and self._local_reply is None:
            self.encoders.trailers(trailers)

    # --- route ------------------------------------------------------------------------------

    @property
    def route(self) -> Route | None:
        if not self._route_resolved:
            self._route = self.owner.resolve_route()
            self._route_resolved = True
        return self._route

    def clear_route_cache(self) -> None:
        self._route_resolved = False
        self._route = None

    # --- continue, local replies, failures --------------------------------------------------

    def resume(self, slot: Slot | None, decoding: bool) -> None:
        """A filter's continue: ignored unless that filter's side is stopped."""
        if self.destroyed or slot is None:
            return
        chain = self.decoders if decoding else self.encoders
        if chain.aborted:
            return
        if slot.in_call:
            slot.continue_pending = True  # honoured when its call returns STOP
        elif slot.state != RUNNING:
            chain.release(slot, True)

    def send_local_reply(self, reply: LocalReply) -> None:
        """Answer the stream locally (from a filter or from the owner, e.g. the router)."""
        if self.destroyed:
            return
        encoders = self.encoders
        self.decoders.abort()
        if encoders.headers_sent:
            encoders.abort()
            self.owner.reset_stream(reply)
            return
        direct = encoders.headers_entered
        self._local_reply = reply
        self.owner.on_local_reply(reply)
        if self.destroyed:
            return
        pairs = [(b"content-type", b"text/plain"), (b"content-length", str(len(reply.body)).encode())]
        if reply.headers:
            pairs += reply.headers.items()
        headers = HeaderMap.of(pairs)
        if direct:  # encoder filters already saw a response: straight to the downstream
            encoders.abort()
            encoders.headers_sent = True
            self.owner.on_encoded_headers(reply.status, headers, not reply.body)
            if reply.body:
                self.owner.on_encoded_data(reply.body, True)
            return
        encoders.status = reply.status
        encoders.headers(headers, not reply.body)
        if reply.body and not encoders.aborted and self._local_reply is reply:
            encoders.data(reply.body, True)

    def _raised(self, slot: Slot, error: Exception) -> None:
        self._raised_named(slot.callbacks.name, error)

    def _raised_named(self, name: str, error: Exception) -> None:
        self.owner.on_filter_error(name, error)
        self.send_local_reply(LocalReply(500, b"", FILTER_FAILED, f"filter_raised[{name}]"))

    def _request_too_large(self) -> None:
        self.send_local_reply(LocalReply(413, b"Payload Too Large", REQUEST_ENTITY_TOO_LARGE,
                                         "request_payload_too_large"))

    def _response_too_large(self) -> None:
        self.send_local_reply(LocalReply(500, b"Internal Server Error", None, "response_payload_too_large"))

    def _run_hook(self, hook: int) -> None:
        if hook & ROUTE_HOOK:
            _ = self.route
        if hook & HOST_HOOK:
            self.owner.choose_host()

    def _decoded_headers(self, headers: HeaderMap, end_stream: bool) -> None:
        assert isinstance(headers, RequestHeaderMap)
        self.owner.on_decoded_headers(headers, end_stream)

    def _encoded_headers(self, headers: HeaderMap, end_stream: bool) -> None:
        self.owner.on_encoded_headers(self.encoders.status, headers, end_stream)

    # --- end --------------------------------------------------------------------------------

    def destroy(self) -> None:
        """The stream ended: every filter's on_destroy, once, whatever happened before."""
        if self.destroyed:
            return
        self.destroyed = True
        self.decoders.abort()
        self.encoders.abort()
        for name, made in self.filters:
            try:
                made.on_destroy()
            except Exception as error:
                self.owner.on_filter_error(name, error)
