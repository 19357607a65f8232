"""The HTTP stream-filter API: what a filter implements, what it may call, and how it is made.

A filter sits between the downstream stream and the router. Decoder filters see the request
(headers, body chunks, trailers) in configured order; encoder filters see the response in the
reverse order. One filter object may be both (a subclass of `StreamFilter`). Every call returns
a status saying whether iteration goes on to the next filter:

CONTINUE
    Hand what this filter was given (possibly modified in place) to the next filter now. The
    filter must not call `continue_decoding()` / `continue_encoding()` for it.

STOP
    Iteration stops at this filter; what it was given and everything that arrives after it
    (body chunks, trailers) is held by the filter manager and reaches no later filter. The
    filter MUST later call `continue_decoding()` (`continue_encoding()` on the encoder side)
    exactly once, from any callback (a timer, a finished lookup), or send a local reply;
    held items are then replayed in order: the stopping item goes to the next filter, items
    the filter has not seen yet go to the filter itself first. While held bytes exceed the
    buffer limit the manager applies back-pressure (stops reading the downstream for the
    request, the upstream for the response) and releases it once the bytes moved on: a
    STOP never fails a request for its size.

STOP_AND_BUFFER
    The filter wants the whole body. Returned from `*_headers` or `*_data`: the manager
    buffers the body (a chunk the filter returned it for included) until the end of stream,
    then calls the filter's `*_data` once more with the whole body and `end_stream` true
    (with `end_stream` false followed by `*_trailers` when trailers end the message). The
    statuses of that call apply as usual: the filter does not call continue for the buffering
    itself. Above the buffer limit the stream fails as Envoy's does: a 413 local reply
    (`request_payload_too_large`) for a request, a 500 (`response_payload_too_large`) for a
    response. On a call that ends the stream (headers or data with `end_stream` true) and
    from `*_trailers` there is nothing more to wait for: it means STOP. A filter that calls
    continue while the body is still arriving gets the part buffered so far, not ended.

A filter that sends a local reply returns any status; the rest of its chain is skipped. A
filter that raises is contained: its stream gets a 500 local reply with the response flag
`FILTER_FAILED` and `%RESPONSE_CODE_DETAILS%` `filter_raised[<name>]`; other streams go on.

Filters run in the worker's event loop and must not block it. A decoder filter is registered
in one of MOSN's phases: BEFORE_ROUTE filters run before the route is known, AFTER_ROUTE
after it was resolved, AFTER_CHOOSE_HOST after the upstream host was picked.

How a filter is made: a `FilterFactory` (what the registry registers under a name) validates
and decodes the filter's config once, at config load, into an immutable config object; that
object's `create_filter(callbacks)` makes one filter per stream, and the filter's
`on_destroy()` is called exactly once when the stream ends, whatever way it ends.

The manager calls `*_data`, `*_trailers` and `on_destroy()` only on filters whose class
overrides them: the defaults below continue or do nothing, so skipping them changes nothing and
a body passes filters that do not read it for free. Define these methods on the class; one
assigned on an instance is not seen.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from enum import IntEnum
from typing import Any, Protocol

from pymosn.api.connection import ConnectionInfo

# the flags the manager answers with, re-exported where filter authors look for them
from pymosn.api.flags import FILTER_FAILED as FILTER_FAILED
from pymosn.api.flags import REQUEST_ENTITY_TOO_LARGE as REQUEST_ENTITY_TOO_LARGE
from pymosn.api.headers import HeaderMap, RequestHeaderMap
from pymosn.api.stream_info import StreamInfo


class FilterStatus(IntEnum):
    CONTINUE = 0
    STOP = 1
    STOP_AND_BUFFER = 2


# The same three values for each kind of call; separate names keep signatures explicit.
HeadersStatus = FilterStatus
DataStatus = FilterStatus
TrailersStatus = FilterStatus
CONTINUE = FilterStatus.CONTINUE
STOP = FilterStatus.STOP
STOP_AND_BUFFER = FilterStatus.STOP_AND_BUFFER


class FilterPhase(IntEnum):
    """When a decoder filter runs relative to routing (MOSN's receive-filter phases)."""

    BEFORE_ROUTE = 0
    AFTER_ROUTE = 1
    AFTER_CHOOSE_HOST = 2


class Route(Protocol):
    """What a filter may read of the route its request matched."""

    @property
    def name(self) -> str | None: ...

    @property
    def cluster_name(self) -> str:
        """The route's fixed cluster; "" for a route that picks one per request (a header,
        weights) or answers itself (direct response, redirect)."""
        ...


class FilterCallbacks(Protocol):
    """Given to each filter of a stream when it is made; valid until its `on_destroy()`."""

    @property
    def stream_info(self) -> StreamInfo: ...

    @property
    def connection(self) -> ConnectionInfo: ...

    @property
    def route(self) -> Route | None:
        """The route of the request: resolved on first access, then cached; None: no route."""
        ...

    def clear_route_cache(self) -> None:
        """Forget the cached route; call it after changing what routing reads (headers, path)."""

    def per_filter_config(self, name: str | None = None) -> object | None:
        """The most specific per-route config for filter `name` (default: this filter's own):
        route, then virtual host, then route configuration; None when none has one."""

    def continue_decoding(self) -> None:
        """Resume request iteration after this filter returned STOP (see the module docstring)."""

    def continue_encoding(self) -> None:
        """Resume response iteration after this filter returned STOP."""

    def send_local_reply(
        self, status: int, body: bytes = b"", flag: str | None = None, details: str = "",
        headers: Mapping[bytes, bytes] | None = None,
    ) -> None:
        """Answer the request from here. `flag` is the access log's %RESPONSE_FLAGS% code,
        `details` its %RESPONSE_CODE_DETAILS% (Envoy style: `lower_snake_case[ARG]`)."""


class DecoderFilter(ABC):
    """The request side of a filter."""

    @abstractmethod
    def decode_headers(self, headers: RequestHeaderMap, end_stream: bool) -> HeadersStatus: ...

    def decode_data(self, data: bytes, end_stream: bool) -> DataStatus:
        return CONTINUE

    def decode_trailers(self, trailers: HeaderMap) -> TrailersStatus:
        return CONTINUE

    def on_destroy(self) -> None:
        """The stream ended (completed, reset or failed): release what the filter holds."""
        return None


class EncoderFilter(ABC):
    """The response side of a filter."""

    @abstractmethod
    def encode_headers(self, status: int, headers: HeaderMap, end_stream: bool) -> HeadersStatus: ...

    def encode_data(self, data: bytes, end_stream: bool) -> DataStatus:
        return CONTINUE

    def encode_trailers(self, trailers: HeaderMap) -> TrailersStatus:
        return CONTINUE

    def on_destroy(self) -> None:
        """The stream ended (completed, reset or failed): release what the filter holds."""
        return None


class StreamFilter(DecoderFilter, EncoderFilter):
    """A filter of both sides (Envoy's dual filter); `on_destroy()` is still called once."""


AnyFilter = DecoderFilter | EncoderFilter


class FilterConfig(Protocol):
    """A filter's validated, immutable config: shared by every stream, makes their filters."""

    def create_filter(self, callbacks: FilterCallbacks) -> AnyFilter: ...


class PhasedFilterConfig(FilterConfig, Protocol):
    """A config whose decoder filters run in a phase other than BEFORE_ROUTE."""

    @property
    def phase(self) -> FilterPhase: ...


class FilterFactory(Protocol):
    """What the extension registry holds for a stream filter kind.

    `config_type` is the msgspec Struct the raw config is decoded into (errors name the field
    path); `create_config` checks what a type cannot express and returns the shared config.
    Both run once per config load, never per request."""

    name: str
    config_type: type[Any]

    def create_config(self, config: Any) -> FilterConfig: ...
