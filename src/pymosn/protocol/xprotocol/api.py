"""The X-Protocol codec interface: what a TCP RPC protocol tells pymosn so the proxy can route,
multiplex, time out and answer its requests without understanding their payloads.

A codec is sans-IO and stateless (one instance serves every connection). It turns bytes into
Frames and back. A Frame keeps its exact wire bytes (`raw`): the proxy forwards those, after
rewriting the request id in place, so payloads are never decoded or re-encoded.

Stream filters see a frame as a header map and a body (`headers_of`, `body_of`); a frame whose
headers a filter changed is re-encoded (`rewrite_headers`) before it goes on, and a local
reply a filter sends with an HTTP status is answered in the protocol's own status
(`status_reply`, MOSN's Hijack(Mapping(code)))."""

from __future__ import annotations

from enum import IntEnum
from typing import ClassVar

from pymosn.api.errors import ProtocolError
from pymosn.api.headers import HeaderSide
from pymosn.protocol.detect import Match


class FrameKind(IntEnum):
    REQUEST = 0  # expects a response with the same request id
    ONEWAY = 1  # a request that gets no response
    RESPONSE = 2


__all__ = ["Frame", "FrameKind", "LocalStatus", "Match", "PoolMode", "XCodec"]


class PoolMode(IntEnum):
    """How upstream connections carry requests."""

    MULTIPLEX = 0  # many requests in flight per connection, told apart by request id
    PINGPONG = 1  # one request at a time per connection
    BOUND = 2  # each downstream connection gets its own upstream connection


class LocalStatus(IntEnum):
    """Why the proxy answers a request itself; the codec maps each to its own status code."""

    NO_ROUTE = 0
    NO_HEALTHY_UPSTREAM = 1
    UPSTREAM_OVERFLOW = 2  # circuit breaker / connection limits
    TIMEOUT = 3
    CONNECTION_FAILURE = 4  # could not reach the upstream, or it went away mid-request
    CODEC_EXCEPTION = 5  # the request could not be decoded or forwarded


# For a codec without its own table (XCodec.status_reply): the HTTP status of a filter's local
# reply -> the nearest reason the codec already renders; any other status is CODEC_EXCEPTION.
_NEAREST_LOCAL_STATUS = {
    404: LocalStatus.NO_ROUTE,
    502: LocalStatus.NO_HEALTHY_UPSTREAM,
    503: LocalStatus.UPSTREAM_OVERFLOW,
    509: LocalStatus.UPSTREAM_OVERFLOW,  # MOSN's LimitExceededCode
    504: LocalStatus.TIMEOUT,
}


class Frame:
    """One decoded message. `headers` are what the router and filters may see (service,
    method, ... and any header map the protocol carries); `raw` is the whole frame as it was
    read, forwarded as is."""

    __slots__ = ("kind", "request_id", "heartbeat", "status", "headers", "raw", "timeout_ms", "class_name")

    def __init__(
        self,
        kind: FrameKind,
        request_id: int,
        raw: bytearray,
        *,
        heartbeat: bool = False,
        status: int = 0,
        headers: dict[str, str] | None = None,
        timeout_ms: int = 0,
        class_name: str = "",
    ) -> None:
        self.kind = kind
        self.request_id = request_id
        self.raw = raw
        self.heartbeat = heartbeat
        self.status = status  # responses: the protocol's own status code
        self.headers = headers if headers is not None else {}
        self.timeout_ms = timeout_ms  # the caller's own timeout, when the protocol carries one
        self.class_name = class_name  # e.g. Bolt's request class name; "" when none

    def __repr__(self) -> str:
        kind = self.kind.name.lower()
        return f"Frame({kind} id={self.request_id}{' heartbeat' if self.heartbeat else ''} {len(self.raw)}B)"


class XCodec:
    """Base of every X-Protocol codec. Subclasses set the class attributes and implement the
    methods; see protocol/xprotocol/example.py for a whole codec in one file."""

    name: ClassVar[str] = ""  # the name configs use: downstream_protocol / sub_protocol
    pool_mode: ClassVar[PoolMode] = PoolMode.MULTIPLEX
    max_request_id: ClassVar[int] = 2**32 - 1  # request ids the proxy allocates stay below this
    # routable names that are the frame's own fields rather than entries of its header map
    # (e.g. Bolt's `class_name`): filters may read them, and changing them is an error
    fixed_headers: ClassVar[frozenset[str]] = frozenset()
    # whose header maps `rewrite_headers` can re-encode, requests' and/or responses': a listener
    # whose filters would change headers of a side not listed is refused when its config loads
    rewritable_headers: ClassVar[HeaderSide] = HeaderSide.NONE

    def match(self, data: bytes) -> Match:
        """Do these first bytes of a connection belong to this protocol?"""
        raise NotImplementedError

    def decode(self, buffer: bytearray) -> Frame | None:
        """Takes one whole frame off the front of `buffer` (deleting its bytes), or returns
        None when the buffer holds less than a frame. Raises ProtocolError for bytes that can
        never become a valid frame; nothing else may escape."""
        raise NotImplementedError

    def set_request_id(self, frame: Frame, request_id: int) -> None:
        """Rewrites the request id in `frame.raw` (and `frame.request_id`)."""
        raise NotImplementedError

    def heartbeat(self, request_id: int) -> bytes:
        """A heartbeat request the proxy sends to keep an idle upstream connection checked."""
        raise NotImplementedError

    def heartbeat_reply(self, request: Frame) -> bytes:
        """The answer to a heartbeat request, for the proxy to reply to a downstream one."""
        raise NotImplementedError

    def local_reply(self, request: Frame, status: LocalStatus, message: str) -> bytes:
        """An error response to `request` (same request id) when the proxy answers itself."""
        raise NotImplementedError

    def status_reply(self, request: Frame, code: int, message: str) -> bytes:
        """An error response to `request` for a local reply given as an HTTP status in MOSN's
        terms (403 permission denied, 404 no route, 503 overflow, 504 timeout, 509 limit
        exceeded, ...): a stream filter's. A codec with its own status table overrides this
        (MOSN's XProtocol Mapping); this default answers with the nearest LocalStatus."""
        return self.local_reply(request, _NEAREST_LOCAL_STATUS.get(code, LocalStatus.CODEC_EXCEPTION), message)

    # --- what stream filters see (called only on listeners with stream filters) -------------

    def headers_of(self, frame: Frame) -> dict[str, str]:
        """The header map of `frame` as received (names as sent). Requests carry it decoded in
        `frame.headers`; a codec that decodes response headers only on demand overrides this."""
        return frame.headers

    def body_of(self, frame: Frame) -> bytes:
        """The frame's payload (what a body-size limit counts). This default is the whole
        frame, an upper bound; codecs override it with their content section."""
        return bytes(frame.raw)

    def rewrite_headers(self, frame: Frame, headers: dict[str, str]) -> None:
        """Re-encodes `frame.raw` (and `frame.headers`) so that its header map is `headers`
        (names as they are to be sent; none of `fixed_headers`). Raises ProtocolError when the
        frame cannot carry them: the request is then answered with CODEC_EXCEPTION rather than
        forwarded without the change."""
        raise ProtocolError(f"{self.name}: this protocol cannot carry changed headers")

    def response_ok(self, response: Frame) -> bool:
        """Whether a response reports success (for stats and retries)."""
        return response.status == 0

    def http_status(self, response: Frame) -> int:
        """The HTTP status class stats and access logs show for this response (MOSN's
        HTTPMapping): 200 for success, else the nearest HTTP meaning."""
        return 200 if self.response_ok(response) else 500
