"""Errors become local replies in one place: the status, flag and text body for each cause."""

from __future__ import annotations

from pymosn.api import flags
from pymosn.api.errors import FailureKind

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
