"""The one local-reply mapper of the HTTP proxy: every answer the proxy gives itself, in two
steps.

1. The cause becomes a `LocalReply` (status, text body, response flag, Envoy's
   %RESPONSE_CODE_DETAILS%, extra headers): `reply_for(flag)` for the proxy's own causes (the
   REPLIES table), a filter's `send_local_reply` for a filter's, a route's direct response or
   redirect as a `DirectReply`.
2. The reply is rendered as the downstream's protocol answers it, by a `Renderer`: `render_http`
   (the status, a text/plain body with its length, the reply's headers), or for a request
   detected as gRPC, `render_grpc`: a trailers-only response (HTTP 200, grpc-status and
   grpc-message in the one header block that ends the stream). The grpc-status is chosen by
   cause for the proxy's own flags (proxy/grpc.py LOCAL_STATUS: a timeout is
   DEADLINE_EXCEEDED, not the UNAVAILABLE Envoy's table gives a 504), taken from a grpc-status
   header the reply carries (the fault filter's gRPC abort), and otherwise mapped from the HTTP
   status as Envoy's httpToGrpcStatus does (403 PERMISSION_DENIED, 429 UNAVAILABLE, ...). A
   direct response stays HTTP, as it always has. `render` picks between them for a stream.

The third rendering is an X-Protocol codec's own status frame (`render_rpc`, for RPC requests:
proxy/rpc.py, proxy/rpc_filters.py): the proxy's causes by the codec's precise reason, any other
reply from its HTTP status by the codec's table of MOSN's codes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Protocol

from pymosn.api import flags
from pymosn.api.errors import FailureKind
from pymosn.protocol.xprotocol.api import Frame, LocalStatus, XCodec
from pymosn.proxy.filter_manager import LocalReply
from pymosn.proxy.grpc import LOCAL_STATUS, encode_message, http_to_grpc_status

# %RESPONSE_CODE_DETAILS% values (Envoy's ResponseCodeDetails)
VIA_UPSTREAM: Final = "via_upstream"
DIRECT_RESPONSE: Final = "direct_response"
_EARLY_RESET = "upstream_reset_before_response_started"

# flag -> (status, body, details)
REPLIES = {
    flags.NO_ROUTE: (404, b"no route matched\n", "route_not_found"),
    flags.NO_HEALTHY_UPSTREAM: (503, b"no healthy upstream\n", "no_healthy_upstream"),
    flags.UPSTREAM_OVERFLOW: (503, b"upstream overflow\n", _EARLY_RESET + "{overflow}"),
    flags.UPSTREAM_CONNECTION_FAILURE: (502, b"upstream connect error\n", _EARLY_RESET + "{connection_failure}"),
    flags.UPSTREAM_CONNECTION_TERMINATION: (502, b"upstream connection reset before response\n",
                                            _EARLY_RESET + "{connection_termination}"),
    flags.UPSTREAM_PROTOCOL_ERROR: (502, b"upstream protocol error\n", _EARLY_RESET + "{protocol_error}"),
    flags.UPSTREAM_REQUEST_TIMEOUT: (504, b"upstream request timeout\n", "response_timeout"),
    # only gRPC calls have one; the details are Envoy's for its max_stream_duration
    flags.DURATION_TIMEOUT: (504, b"grpc-timeout exceeded\n", "max_duration_timeout"),
    flags.REQUEST_ENTITY_TOO_LARGE: (413, b"request body too large\n", "request_payload_too_large"),
    flags.DOWNSTREAM_PROTOCOL_ERROR: (400, b"downstream protocol error\n", ""),
}
CLUSTER_NOT_FOUND = "cluster_not_found"
# The details of a flag whose cause came after the response started (the stream is reset, not
# answered): an upstream reset is Envoy's upstream_reset_after_response_started{...}, a timeout
# keeps its name
LATE_DETAILS = {flag: details.replace(_EARLY_RESET, "upstream_reset_after_response_started")
                for flag, (_, _, details) in REPLIES.items()}

# How a request that got no upstream stream is answered: kind -> (flag, status). A full breaker
# is UO; a TLS handshake the host failed is UF 503, as Envoy answers it, where a refused or
# timed-out connect is UF 502.
FAILURE_REPLIES = {
    FailureKind.CONNECT_TIMEOUT: (flags.UPSTREAM_CONNECTION_FAILURE, 502),
    FailureKind.CONNECT_REFUSED: (flags.UPSTREAM_CONNECTION_FAILURE, 502),
    FailureKind.TLS_HANDSHAKE: (flags.UPSTREAM_CONNECTION_FAILURE, 503),
    FailureKind.CONNECTION_CLOSED: (flags.UPSTREAM_CONNECTION_FAILURE, 502),
    FailureKind.CLUSTER_REMOVED: (flags.UPSTREAM_CONNECTION_FAILURE, 502),
    FailureKind.OVERFLOW: (flags.UPSTREAM_OVERFLOW, 503),
}


def reply_for(flag: str, body: bytes | None = None, status: int | None = None, details: str | None = None) -> LocalReply:
    """The proxy's reply for `flag`, its default status, body and details unless given."""
    default_status, default_body, default_details = REPLIES[flag]
    return LocalReply(default_status if status is None else status, default_body if body is None else body, flag,
                      default_details if details is None else details)


@dataclass(frozen=True, slots=True)
class DirectReply(LocalReply):
    """A route's direct response or redirect: the route's answer, rendered as HTTP for every
    request (gRPC ones included) with the route's response headers in order."""

    extra: tuple[tuple[bytes, bytes], ...] = ()


Pairs = list[tuple[bytes, bytes]]
Rendered = tuple[int, Pairs, bytes]  # status, headers, body


class Renderer(Protocol):
    """How one downstream protocol answers a local reply."""

    def __call__(self, reply: LocalReply) -> Rendered: ...


def render_http(reply: LocalReply) -> Rendered:
    body = reply.body
    pairs = [(b"content-type", b"text/plain"), (b"content-length", b"%d" % len(body))]
    if reply.headers:
        pairs += reply.headers.items()
    if isinstance(reply, DirectReply) and reply.extra:
        pairs += reply.extra
    return reply.status, pairs, body


_GRPC_OWN = frozenset({b"grpc-status", b"grpc-message", b"content-type", b"content-length"})


def render_grpc(reply: LocalReply, http1: bool) -> tuple[int, Rendered]:
    """The reply as a trailers-only gRPC response, and its grpc-status (see the module docstring).
    Over HTTP/1.1 the header block carries Content-Length 0; over HTTP/2 END_STREAM ends it."""
    message = reply.body.decode("utf-8", "replace").strip()
    extra = reply.headers
    given = extra.get(b"grpc-status") if extra else None
    if given is not None and given.isdigit():
        status = int(given)
        given_message = extra.get(b"grpc-message") if extra else None
        if given_message is not None:
            message = given_message.decode("utf-8", "replace")
    elif reply.flag in LOCAL_STATUS:
        status, default = LOCAL_STATUS[reply.flag]
        message = message or default
    else:
        status = http_to_grpc_status(reply.status)
    pairs = [(b"content-type", b"application/grpc"), (b"grpc-status", b"%d" % status)]
    if message:
        pairs.append((b"grpc-message", encode_message(message)))
    if http1:
        pairs.append((b"content-length", b"0"))
    if extra:
        pairs += [(name, value) for name, value in extra.items() if name not in _GRPC_OWN]
    return status, (200, pairs, b"")


def render(reply: LocalReply, grpc: Any, http1: bool) -> Rendered:
    """The reply as this stream answers it: gRPC for a gRPC call (`grpc`, a proxy.grpc.GrpcCall,
    gets the status), HTTP otherwise and for direct responses."""
    if grpc is not None and not isinstance(reply, DirectReply):
        grpc.status, rendered = render_grpc(reply, http1)
        return rendered
    return render_http(reply)


# --- the RPC rendering: a local reply in the X-Protocol codec's own status ---------------------
# The proxy's own causes keep the codec's precise reason (LocalStatus); any other reply (a stream
# filter's) is rendered from its HTTP status by the codec's table of MOSN's codes
# (XCodec.status_reply, MOSN's Hijack(Mapping(code))).
RPC_CAUSES = {
    flags.NO_ROUTE: LocalStatus.NO_ROUTE,
    flags.NO_HEALTHY_UPSTREAM: LocalStatus.NO_HEALTHY_UPSTREAM,
    flags.UPSTREAM_OVERFLOW: LocalStatus.UPSTREAM_OVERFLOW,
    flags.UPSTREAM_CONNECTION_FAILURE: LocalStatus.CONNECTION_FAILURE,
    flags.UPSTREAM_CONNECTION_TERMINATION: LocalStatus.CONNECTION_FAILURE,
    flags.UPSTREAM_PROTOCOL_ERROR: LocalStatus.CONNECTION_FAILURE,
    flags.UPSTREAM_REQUEST_TIMEOUT: LocalStatus.TIMEOUT,
}
# Envoy's statuses that MOSN has a code of its own for: Too Many Requests is MOSN's
# LimitExceededCode (what its flow control answers); a status a filter is configured with is kept
_MOSN_CODE = {429: 509}


def render_rpc(reply: LocalReply, codec: XCodec, request: Frame) -> bytes:
    """The reply as the codec's error response to `request`; the message a codec may carry is
    the reply's details, else its text body."""
    message = reply.details or reply.body.decode("utf-8", "replace").strip()
    cause = RPC_CAUSES.get(reply.flag) if reply.flag is not None else None
    if cause is not None:
        return codec.local_reply(request, cause, message)
    status = reply.status
    return codec.status_reply(request, _MOSN_CODE.get(status, status), message)
