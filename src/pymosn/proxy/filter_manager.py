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

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from pymosn.api.connection import ConnectionInfo
from pymosn.api.headers import HeaderMap, RequestHeaderMap
from pymosn.api.stream_filter import (
    FILTER_FAILED,
    REQUEST_ENTITY_TOO_LARGE,
    DecoderFilter,
    EncoderFilter,
    Route,
)
from pymosn.api.stream_info import StreamInfo
from pymosn.proxy.filter_chain import CONTINUED, DEFAULT_BUFFER_LIMIT, HOST_HOOK, ROUTE_HOOK, Chain
from pymosn.proxy.filter_plan import FilterChainEntry, FilterChainPlan
from pymosn.proxy.filter_sides import DecoderChain, EncoderChain

__all__ = ["DEFAULT_BUFFER_LIMIT", "FilterChainEntry", "FilterChainPlan", "FilterManager", "FilterManagerOwner",
           "LocalReply"]


@dataclass(frozen=True, slots=True)
class LocalReply:
    status: int
    body: bytes = b""
    flag: str | None = None  # %RESPONSE_FLAGS%
    details: str = ""  # %RESPONSE_CODE_DETAILS%
    headers: Mapping[bytes, bytes] | None = None  # extra response headers


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

    def render_local_reply(self, reply: LocalReply) -> tuple[int, HeaderMap, bytes]:
        """The reply as the downstream's protocol answers it (status, headers, body): HTTP with
        a text body, or a gRPC status for a gRPC request (proxy/local_reply.py)."""

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
    """The callbacks one filter of one stream gets.

    Made by the manager as `FilterCallbacksImpl()` with its two slots set after: per filter per
    stream, and a class without `__init__` is made for half the cost of one with it."""

    __slots__ = ("_manager", "_index")
    _manager: FilterManager
    _index: int  # the filter's entry in the plan

    @property
    def name(self) -> str:
        return self._manager.plan.names[self._index]

    @property
    def stream_info(self) -> StreamInfo:
        return self._manager.stream_info

    @property
    def connection(self) -> ConnectionInfo:
        return self._manager.connection

    @property
    def route(self) -> Route | None:
        manager = self._manager
        return manager._route if manager._route_resolved else manager.route

    def clear_route_cache(self) -> None:
        self._manager.clear_route_cache()

    def per_filter_config(self, name: str | None = None) -> object | None:
        manager = self._manager
        return manager.owner.per_filter_config(manager.route, manager.plan.names[self._index] if name is None else name)

    def continue_decoding(self) -> None:
        manager = self._manager
        manager.resume(manager.decoders, manager.layout.decoder_position[self._index])

    def continue_encoding(self) -> None:
        manager = self._manager
        manager.resume(manager.encoders, manager.layout.encoder_position[self._index])

    def send_local_reply(
        self, status: int, body: bytes = b"", flag: str | None = None, details: str = "",
        headers: Mapping[bytes, bytes] | None = None,
    ) -> None:
        self._manager.send_local_reply(LocalReply(status, body, flag, details, headers))


class FilterManager:
    # per-stream state rarely read, with its usual value (see filter_chain.py)
    _route: Route | None = None
    _route_resolved = False
    _route_taken = False  # the router has the route (and picks, or picked, its host)

    def __init__(
        self, owner: FilterManagerOwner, plan: FilterChainPlan, stream_info: StreamInfo,
        connection: ConnectionInfo, buffer_limit: int = DEFAULT_BUFFER_LIMIT,
    ) -> None:
        self.owner = owner
        self.plan = plan
        self.stream_info = stream_info
        self.connection = connection
        # read on every event: instance values are read faster than class-level defaults
        self.destroyed = False
        self._failed: tuple[str, Exception] | None = None
        self._local_reply: LocalReply | None = None
        made: list[DecoderFilter | EncoderFilter | None] = []
        usual = True  # every filter has the class the plan's layout was learnt from
        index = 0
        try:
            for config, cls in plan.expected:
                callbacks = FilterCallbacksImpl()
                callbacks._manager = self
                callbacks._index = index
                made.append(filter := config.create_filter(callbacks))
                if type(filter) is not cls:
                    usual = False
                index += 1
        except Exception as error:  # answered at the request headers, with the others destroyed
            self._failed = (plan.names[index], error)
            made.append(None)
            for later in range(index + 1, len(plan.configs)):
                callbacks = FilterCallbacksImpl()
                callbacks._manager = self
                callbacks._index = later
                try:
                    made.append(plan.configs[later].create_filter(callbacks))
                except Exception:
                    made.append(None)
            usual = False
        self.filters = made
        layout = plan.usual_layout
        if layout is None or not usual:
            layout = plan.layout(made)
        self.layout = layout
        # the chains, made as the callbacks are (see Chain)
        decoders = self.decoders = DecoderChain()
        decoders.manager = self
        decoders.filters = made
        decoders.owner = owner
        decoders.shape = layout.decoder_shape
        decoders.aborted = False
        decoders.stops = None
        encoders = self.encoders = EncoderChain()
        encoders.manager = self
        encoders.filters = made
        encoders.owner = owner
        encoders.shape = layout.encoder_shape
        encoders.aborted = False
        encoders.stops = None
        if buffer_limit != DEFAULT_BUFFER_LIMIT:
            decoders.limit = encoders.limit = buffer_limit

    # --- from the downstream (request) ------------------------------------------------------

    def decode_headers(self, headers: RequestHeaderMap, end_stream: bool) -> None:
        if self.destroyed:
            return
        if self._failed is not None:
            name, error = self._failed
            self.filter_raised(name, error)
            return
        self.decoders.headers(headers, end_stream)

    # (destroy() aborted both chains: they drop what comes after it)

    def decode_data(self, data: bytes, end_stream: bool) -> None:
        self.decoders.data(data, end_stream)

    def decode_trailers(self, trailers: HeaderMap) -> None:
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

    def take_route(self) -> Route | None:
        """The route the router sends the request on: resolved now if need be, and final from
        here on (docs/design/stream-filters.md "Clearing the route cache")."""
        route = self.route
        self._route_taken = True
        return route

    def clear_route_cache(self) -> None:
        """Re-match the route on next access, unless the router already took it: once the host
        is chosen (before AFTER_CHOOSE_HOST filters) or the request has left the decoder filters,
        a cleared route changes nothing (Envoy re-routes only before its router filter runs;
        MOSN ignores a re-match after host selection), so `route` keeps answering the route
        the request goes to."""
        if self._route_taken:
            return
        self._route_resolved = False
        self._route = None

    # --- continue, local replies, failures --------------------------------------------------

    def resume(self, chain: Chain, index: int) -> None:
        """A filter's continue: ignored unless that filter's side is stopped."""
        if self.destroyed or index < 0 or chain.aborted:
            return
        if chain.calling == index:
            chain.calling = CONTINUED  # honoured when its call returns STOP
        elif chain.stopped(index):
            chain.release(index, True)

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
        status, headers, body = self.owner.render_local_reply(reply)
        if direct:  # encoder filters already saw a response: straight to the downstream
            encoders.abort()
            encoders.headers_sent = True
            self.owner.on_encoded_headers(status, headers, not body)
            if body:
                self.owner.on_encoded_data(body, True)
            return
        encoders.status = status
        encoders.headers(headers, not body)
        if body and not encoders.aborted and self._local_reply is reply:
            encoders.data(body, True)

    def filter_raised(self, name: str, error: Exception) -> None:
        self.owner.on_filter_error(name, error)
        self.send_local_reply(LocalReply(500, b"", FILTER_FAILED, f"filter_raised[{name}]"))

    def too_large(self, request: bool) -> None:
        if request:
            self.send_local_reply(LocalReply(413, b"Payload Too Large", REQUEST_ENTITY_TOO_LARGE,
                                             "request_payload_too_large"))
        else:
            self.send_local_reply(LocalReply(500, b"Internal Server Error", None, "response_payload_too_large"))

    def run_hook(self, hook: int) -> None:
        if hook & ROUTE_HOOK:
            _ = self.route
        if hook & HOST_HOOK:
            self.owner.choose_host()

    # --- end --------------------------------------------------------------------------------

    def destroy(self) -> None:
        """The stream ended: every filter's on_destroy, once, whatever happened before."""
        if self.destroyed:
            return
        self.destroyed = True
        decoders, encoders = self.decoders, self.encoders
        # a chain that never stopped holds nothing and applies no back-pressure
        if decoders.stops is None:
            decoders.aborted = True
        else:
            decoders.abort()
        if encoders.stops is None:
            encoders.aborted = True
        else:
            encoders.abort()
        made = self.filters
        for entry in self.layout.destroyed:
            try:
                made[entry].on_destroy()  # type: ignore[union-attr]  # (None entries are not listed)
            except Exception as error:
                self.owner.on_filter_error(self.plan.names[entry], error)
        # Nothing drives the chains or reads the filters from here on: dropping these links
        # leaves no reference cycle, so the stream's objects go with their last reference
        # instead of waiting for the cyclic garbage collector.
        made.clear()
        decoders.manager = encoders.manager = None
