"""Errors become local replies in one place: the status, flag and text body for each cause, and
the same causes in an X-Protocol codec's own status (`render_rpc`)."""

from __future__ import annotations

from pymosn.api import flags
from pymosn.api.errors import FailureKind
from pymosn.protocol.xprotocol.api import Frame, LocalStatus, XCodec
from pymosn.proxy.filter_manager import LocalReply

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
