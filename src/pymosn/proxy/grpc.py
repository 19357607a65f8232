"""gRPC semantics at the proxy: which requests are gRPC, their deadline, their status, and the
answers the proxy gives them itself.

A gRPC call is an HTTP request whose content-type is application/grpc (or a subtype). The
proxy forwards it like any other request; what changes is:

- **Deadline.** A valid `grpc-timeout` starts a deadline when the request headers arrive, as
  Envoy's route `max_stream_duration` with `grpc_timeout_header_max: 0s` does (the header
  used as is). The route timeout still applies from the end of the request, so whichever
  expires first ends the call: the header can shorten the wait, never lengthen it. Invalid
  values (not 1-8 digits and one of H M S m u n) are ignored, as Envoy ignores them.
- **Local replies** (rendered by proxy/local_reply.py) are "trailers-only" responses: HTTP 200, content-type application/grpc,
  grpc-status and grpc-message in the one HEADERS frame that ends the stream, because a gRPC
  client reads the status from there, not from the HTTP status. The status is chosen by cause,
  not through Envoy's lossy HTTP-to-gRPC table (which turns a 504 into UNAVAILABLE, a retryable
  code, and a 413 into UNKNOWN); a timeout answers DEADLINE_EXCEEDED, as Envoy does since it
  stopped mapping its 504. Over HTTP/1.1 the same headers go out with Content-Length 0.
- **Status** of a finished call is read from the response trailers (or the trailers-only
  head); a response without one is given the status a gRPC client would infer from the HTTP
  status (the gRPC spec's table, which Envoy's `httpToGrpcStatus` follows)."""

from __future__ import annotations

from typing import Final

from pymosn.api import flags

OK: Final = 0
CANCELLED: Final = 1
UNKNOWN: Final = 2
INVALID_ARGUMENT: Final = 3
DEADLINE_EXCEEDED: Final = 4
NOT_FOUND: Final = 5
ALREADY_EXISTS: Final = 6
PERMISSION_DENIED: Final = 7
RESOURCE_EXHAUSTED: Final = 8
FAILED_PRECONDITION: Final = 9
ABORTED: Final = 10
OUT_OF_RANGE: Final = 11
UNIMPLEMENTED: Final = 12
INTERNAL: Final = 13
UNAVAILABLE: Final = 14
DATA_LOSS: Final = 15
UNAUTHENTICATED: Final = 16

# response flag -> (grpc-status, grpc-message); the text matches the HTTP local reply's body
LOCAL_STATUS = {
    flags.NO_ROUTE: (UNIMPLEMENTED, "no route matched"),
    flags.NO_HEALTHY_UPSTREAM: (UNAVAILABLE, "no healthy upstream"),
    flags.UPSTREAM_OVERFLOW: (UNAVAILABLE, "upstream overflow"),
    flags.UPSTREAM_CONNECTION_FAILURE: (UNAVAILABLE, "upstream connect error"),
    flags.UPSTREAM_CONNECTION_TERMINATION: (UNAVAILABLE, "upstream connection reset before response"),
    flags.UPSTREAM_PROTOCOL_ERROR: (UNAVAILABLE, "upstream protocol error"),
    flags.UPSTREAM_REQUEST_TIMEOUT: (DEADLINE_EXCEEDED, "upstream request timeout"),
    flags.DURATION_TIMEOUT: (DEADLINE_EXCEEDED, "grpc-timeout exceeded"),
    # gRPC's own servers refuse an oversized message with RESOURCE_EXHAUSTED; so do we
    flags.REQUEST_ENTITY_TOO_LARGE: (RESOURCE_EXHAUSTED, "request body too large"),
}

# seconds per unit of grpc-timeout
_UNITS: Final = {
    ord("H"): 3600.0,
    ord("M"): 60.0,
    ord("S"): 1.0,
    ord("m"): 1e-3,
    ord("u"): 1e-6,
    ord("n"): 1e-9,
}

_CONTENT_TYPE: Final = b"application/grpc"


def is_grpc_content_type(value: bytes) -> bool:
    """application/grpc, application/grpc+proto, application/grpc;charset=... but not
    application/grpc-web (a different wire format, which needs translating first)."""
    if not value.startswith(_CONTENT_TYPE):
        return False
    rest = value[len(_CONTENT_TYPE) : len(_CONTENT_TYPE) + 1]
    return rest in (b"", b"+", b";")


def parse_timeout(value: bytes) -> float | None:
    """grpc-timeout (`1*8DIGIT unit`) in seconds; None when the value is not valid."""
    if not 2 <= len(value) <= 9:
        return None
    digits = value[:-1]
    if not digits.isdigit():  # bytes.isdigit is ASCII only: no signs, spaces or other digits
        return None
    unit = _UNITS.get(value[-1])
    if unit is None:
        return None
    return int(digits) * unit


def _unreserved() -> frozenset[int]:
    # the gRPC spec leaves printable ASCII but '%' unescaped in grpc-message
    return frozenset(range(0x20, 0x7F)) - {ord("%")}


_PLAIN: Final = _unreserved()


def encode_message(message: str) -> bytes:
    """grpc-message's percent-encoding of the UTF-8 text."""
    raw = message.encode("utf-8")
    if all(b in _PLAIN for b in raw):
        return raw
    return b"".join(bytes((b,)) if b in _PLAIN else b"%%%02X" % b for b in raw)


def http_to_grpc_status(http_status: int) -> int:
    """What a gRPC client reports for an HTTP response that carries no grpc-status."""
    if http_status == 200:
        return UNKNOWN  # a 200 without grpc-status is a broken gRPC response
    if http_status == 400:
        return INTERNAL
    if http_status == 401:
        return UNAUTHENTICATED
    if http_status == 403:
        return PERMISSION_DENIED
    if http_status == 404:
        return UNIMPLEMENTED
    if http_status in (429, 502, 503, 504):
        return UNAVAILABLE
    return UNKNOWN


# grpc-status -> the HTTP status it stands for (for host success/error accounting)
_AS_HTTP: Final = {
    OK: 200,
    CANCELLED: 499,
    UNKNOWN: 500,
    INVALID_ARGUMENT: 400,
    DEADLINE_EXCEEDED: 504,
    NOT_FOUND: 404,
    ALREADY_EXISTS: 409,
    PERMISSION_DENIED: 403,
    RESOURCE_EXHAUSTED: 429,
    FAILED_PRECONDITION: 400,
    ABORTED: 409,
    OUT_OF_RANGE: 400,
    UNIMPLEMENTED: 501,
    INTERNAL: 500,
    UNAVAILABLE: 503,
    DATA_LOSS: 500,
    UNAUTHENTICATED: 401,
}


def grpc_to_http_status(status: int) -> int:
    return _AS_HTTP.get(status, 500)


def status_in(headers) -> int | None:
    """The grpc-status of a header or trailer list, None when absent or not a number."""
    for name, value in headers:
        if name == b"grpc-status" or (len(name) == 11 and name.lower() == b"grpc-status"):
            return int(value) if value.isdigit() and len(value) <= 3 else UNKNOWN
    return None


def split_path(path: bytes) -> tuple[str, str] | None:
    """`/package.Service/Method` -> ("package.Service", "Method"); None for other shapes."""
    if path[:1] != b"/":
        return None
    service, sep, method = path[1:].partition(b"/")
    # ints: a byte search; `b"/" in method` raises and clears a TypeError inside CPython first
    if not sep or not service or not method or 47 in method or 63 in method:  # "/", "?"
        return None
    try:
        return service.decode("ascii"), method.decode("ascii")
    except UnicodeDecodeError:
        return None


class GrpcCall:
    """What the proxy tracks for one gRPC request; None on the ActiveStream of the rest."""

    __slots__ = ("path", "timeout", "deadline", "deadline_running", "route_timer_set", "status")

    def __init__(self, path: bytes, timeout: float | None) -> None:
        self.path = path
        self.timeout = timeout  # from grpc-timeout; None = no deadline of its own
        self.deadline = 0.0  # loop time the grpc-timeout expires at, once started
        self.deadline_running = False  # the stream's deadline-wheel entry is grpc-timeout's
        self.route_timer_set = False
        self.status: int | None = None


def detect(head) -> GrpcCall | None:
    """A GrpcCall when the request head says gRPC. One C-level list scan for the others, and no
    exception: a ValueError from list.index costs a traceback in the compiled build."""
    names = head.lower_names
    if b"content-type" not in names:
        return None
    if not is_grpc_content_type(head.headers[names.index(b"content-type")][1]):
        return None
    timeout = None
    if b"grpc-timeout" in names:
        timeout = parse_timeout(head.headers[names.index(b"grpc-timeout")][1].strip())
    return GrpcCall(head.target, timeout)

