"""Errors become local replies in one place: the status, flag and text body for each cause, and
one reply rendered three ways: as HTTP (`render_http`), as a gRPC trailers-only response
(`render_grpc`) and in an X-Protocol codec's own status (`render_rpc`)."""

from __future__ import annotations

from dataclasses import dataclass

from pymosn.api import flags
from pymosn.api.errors import FailureKind
from pymosn.api.headers import HeaderMap
from pymosn.protocol.xprotocol.api import Frame, LocalStatus, XCodec
from pymosn.proxy.filter_manager import LocalReply
from pymosn.proxy.grpc import LOCAL_STATUS, encode_message, http_to_grpc_status
from pymosn.proxy.grpc import local_reply_headers as grpc_reply_headers

# flag -> (status, body)
REPLIES = {
    flags.NO_ROUTE: (404, b"no route matched\n"),
    flags.NO_HEALTHY_UPSTREAM: (503, b"no healthy upstream\n"),
    flags.UPSTREAM_OVERFLOW: (503, b"upstream overflow\n"),
    flags.UPSTREAM_CONNECTION_FAILURE: (502, b"upstream connect error\n"),
    flags.UPSTREAM_CONNECTION_TERMINATION: (502, b"upstream connection reset before response\n"),
    flags.UPSTREAM_PROTOCOL_ERROR: (502, b"upstream protocol error\n"),
    flags.UPSTREAM_REQUEST_TIMEOUT: (504, b"upstream request timeout\n"),
    flags.DURATION_TIMEOUT: (504, b"grpc-timeout exceeded\n"),  # only gRPC calls have one
    flags.REQUEST_ENTITY_TOO_LARGE: (413, b"request body too large\n"),
    flags.DOWNSTREAM_PROTOCOL_ERROR: (400, b"downstream protocol error\n"),
}

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


def local_reply_headers(body: bytes) -> list[tuple[bytes, bytes]]:
    return [(b"content-type", b"text/plain"), (b"content-length", b"%d" % len(body))]


DIRECT_RESPONSE = "direct_response"  # %RESPONSE_CODE_DETAILS% of a route's direct response or redirect

Rendered = tuple[int, HeaderMap, bytes]  # status, headers, body


@dataclass(frozen=True, slots=True)
class DirectReply(LocalReply):
    """A route's direct response or redirect: the route's answer, never turned into a gRPC
    status (as without filters)."""


def render_http(reply: LocalReply) -> Rendered:
    """The reply as an HTTP response: a text body with its length, plus the reply's headers."""
    body = reply.body
    pairs = [(b"content-type", b"text/plain"), (b"content-length", b"%d" % len(body))]
    if reply.headers:
        pairs += reply.headers.items()
    return reply.status, HeaderMap.of(pairs), body


def render_grpc(reply: LocalReply, http1: bool) -> tuple[int, Rendered]:
    """The reply as a gRPC trailers-only response, and its grpc-status: chosen by the cause
    for the proxy's own flags, from a grpc-status the reply names (a fault's gRPC abort),
    else from the HTTP status as a gRPC client would read it."""
    text = reply.body.decode("utf-8", "replace").strip()
    given = reply.headers.get(b"grpc-status") if reply.headers else None
    if given is not None and given.isdigit():
        status = int(given)
        message = reply.headers.get(b"grpc-message", b"").decode("utf-8", "replace") if reply.headers else ""
        pairs = [(b"content-type", b"application/grpc"), (b"grpc-status", given),
                 (b"grpc-message", encode_message(message or text))]
        if http1:
            pairs.append((b"content-length", b"0"))
    elif reply.flag in LOCAL_STATUS:
        status, pairs = grpc_reply_headers(reply.flag, text, http1)
    else:
        status = http_to_grpc_status(reply.status)
        pairs = [(b"content-type", b"application/grpc"), (b"grpc-status", b"%d" % status)]
        if text:
            pairs.append((b"grpc-message", encode_message(text)))
        if http1:
            pairs.append((b"content-length", b"0"))
    if reply.headers:
        pairs += [(name, value) for name, value in reply.headers.items() if name not in _GRPC_OWN]
    return status, (200, HeaderMap.of(pairs), b"")


_GRPC_OWN = frozenset({b"grpc-status", b"grpc-message", b"content-type", b"content-length"})


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
# pymosn's filters answer with Envoy's statuses; where MOSN's filters use a code of their own for
# the same cause, the codec is given MOSN's: a rate limit is MOSN's LimitExceededCode (509)
_MOSN_CODE_OF_FLAG = {flags.RATE_LIMITED: 509}


def render_rpc(reply: LocalReply, codec: XCodec, request: Frame) -> bytes:
    """The reply as the codec's error response to `request` (its details as the message)."""
    flag = reply.flag
    if flag is None:
        return codec.status_reply(request, reply.status, reply.details)
    cause = RPC_CAUSES.get(flag)
    if cause is not None:
        return codec.local_reply(request, cause, reply.details)
    return codec.status_reply(request, _MOSN_CODE_OF_FLAG.get(flag, reply.status), reply.details)
