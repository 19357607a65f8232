"""Errors become local replies in one place: the status, flag and text body for each cause."""

from __future__ import annotations

from pymosn.api import flags

# flag -> (status, body)
REPLIES = {
    flags.NO_ROUTE: (404, b"no route matched\n"),
    flags.NO_HEALTHY_UPSTREAM: (503, b"no healthy upstream\n"),
    flags.UPSTREAM_OVERFLOW: (503, b"upstream overflow\n"),
    flags.UPSTREAM_CONNECTION_FAILURE: (502, b"upstream connect error\n"),
    flags.UPSTREAM_CONNECTION_TERMINATION: (502, b"upstream connection reset before response\n"),
    flags.UPSTREAM_REQUEST_TIMEOUT: (504, b"upstream request timeout\n"),
    flags.DURATION_TIMEOUT: (504, b"grpc-timeout exceeded\n"),  # only gRPC calls have one
    flags.REQUEST_ENTITY_TOO_LARGE: (413, b"request body too large\n"),
    flags.DOWNSTREAM_PROTOCOL_ERROR: (400, b"downstream protocol error\n"),
}


def local_reply_headers(body: bytes) -> list[tuple[bytes, bytes]]:
    return [(b"content-type", b"text/plain"), (b"content-length", b"%d" % len(body))]
