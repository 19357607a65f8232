"""Errors shared by every layer."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class PymosnError(Exception):
    """Base of every error pymosn raises on purpose."""


@dataclass(frozen=True, slots=True)
class ConfigIssue:
    """One problem found in a config: the JSON path it sits at and what is wrong."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class ConfigError(PymosnError):
    """A config was rejected; carries every issue found, not just the first."""

    def __init__(self, issues: list[ConfigIssue]):
        self.issues = issues
        super().__init__("\n".join(str(i) for i in issues))


class ProtocolError(PymosnError):
    """The peer violated its protocol. `status` is the HTTP status a server should answer with;
    `details` Envoy's %RESPONSE_CODE_DETAILS% for it (the codec's name for the error, such as
    http1.codec_error), "" where the codec has none."""

    def __init__(self, reason: str, status: int = 400, details: str = ""):
        self.reason = reason
        self.status = status
        self.details = details
        super().__init__(reason)


class ResetSource(Enum):
    """Which side ended a stream early."""

    DOWNSTREAM = "downstream"  # the client
    UPSTREAM = "upstream"  # the host the request went to
    LOCAL = "local"  # pymosn itself (a request it cannot carry on)


class ResetKind(Enum):
    """How a stream was ended early."""

    PROTOCOL_ERROR = "protocol_error"  # the peer broke its protocol
    RESET = "reset"  # the peer reset the stream (RST_STREAM)
    REFUSED = "refused"  # the peer never processed it (REFUSED_STREAM, past a GOAWAY)
    CONNECTION_CLOSED = "connection_closed"  # the connection went away with the stream open
    TIMEOUT = "timeout"  # the peer stopped answering
    UNSUPPORTED = "unsupported"  # the request asks for something the path cannot carry


@dataclass(frozen=True, slots=True)
class StreamReset:
    """Why a stream ended before its exchange completed: told by a stream connection to the
    stream's receiver, which decides the flag, status and counters from `source` and `kind`.
    `status` is set for a downstream protocol error the server can still answer (400, 413,
    431, ...); 0 when the stream is gone already (HTTP/2 RST_STREAM, connection closed)."""

    source: ResetSource
    kind: ResetKind
    detail: str = ""
    status: int = 0
    details: str = ""  # Envoy's %RESPONSE_CODE_DETAILS% for the stream it ends, if the codec has one


def downstream_protocol_error(error: ProtocolError, answerable: bool = True) -> StreamReset:
    """The reset of a stream whose request broke the protocol."""
    return StreamReset(ResetSource.DOWNSTREAM, ResetKind.PROTOCOL_ERROR, error.reason,
                       error.status if answerable else 0, error.details)


DOWNSTREAM_CLOSED = StreamReset(ResetSource.DOWNSTREAM, ResetKind.CONNECTION_CLOSED, "downstream connection closed",
                                details="downstream_remote_disconnect")
# only an HTTP/2 client can reset one stream (RST_STREAM): Envoy's HTTP/2 codec names it so
DOWNSTREAM_RESET = StreamReset(ResetSource.DOWNSTREAM, ResetKind.RESET, "downstream stream reset",
                               details="http2.remote_reset")


class FailureKind(Enum):
    """Why no upstream stream could start (the request never reached a host)."""

    CONNECT_TIMEOUT = "connect_timeout"  # TCP connect or the HTTP/2 SETTINGS exchange took too long
    CONNECT_REFUSED = "connect_refused"  # the TCP connect failed (refused, unreachable)
    TLS_HANDSHAKE = "tls_handshake"  # the host's certificate or TLS parameters were rejected
    CONNECTION_CLOSED = "connection_closed"  # the host closed the new connection before it was usable
    OVERFLOW = "overflow"  # a circuit breaker (pending requests, connections) is full
    CLUSTER_REMOVED = "cluster_removed"  # the cluster went away with the request waiting


@dataclass(frozen=True, slots=True)
class UpstreamFailure:
    """Why a request got no upstream stream: told by a connection pool to the requester, which
    decides flag, status and retries from `kind`; `detail` is for people (the local reply
    body and %UPSTREAM_TRANSPORT_FAILURE_REASON%). The sibling of StreamReset: a StreamReset
    ends a stream that started, an UpstreamFailure means none started. Made on error paths only."""

    kind: FailureKind
    detail: str

    @property
    def retryable(self) -> bool:
        """Another try (on another connection or host) may succeed; a full breaker says no."""
        return self.kind is not FailureKind.OVERFLOW


PENDING_OVERFLOW = UpstreamFailure(FailureKind.OVERFLOW, "pending requests overflow")
CONNECTION_OVERFLOW = UpstreamFailure(FailureKind.OVERFLOW, "connection limit reached")
CLUSTER_REMOVED = UpstreamFailure(FailureKind.CLUSTER_REMOVED, "cluster removed")
