"""The access-log variables: each name maps to a factory that returns a getter
`(StreamInfo) -> str`, bound once at compile time. A missing value renders as `-`.

Two dialects share one table: Envoy command operators (upper case, optional `(ARG)`) and MOSN
variables (lower case, `request_header_<name>` style prefixes)."""

from __future__ import annotations

from collections.abc import Callable

from pymosn.accesslog.clock import envoy_start_time, go_duration, mosn_start_time
from pymosn.api.stream_info import StreamInfo

Getter = Callable[[StreamInfo], str]

MISSING = "-"


class FormatError(ValueError):
    """A format string that cannot be compiled; the message names the offending variable."""


def _text(value) -> str:
    return MISSING if value is None or value == "" else str(value)


def _attr(name: str) -> Getter:
    def get(info: StreamInfo) -> str:
        value = getattr(info, name)
        return MISSING if value is None or value == "" else str(value)

    return get


def _without_port(name: str) -> Getter:
    def get(info: StreamInfo) -> str:
        value = getattr(info, name)
        if not value:
            return MISSING
        host = value.rpartition(":")[0] or value
        return host.strip("[]")

    return get


def _flags(info: StreamInfo) -> str:
    return ",".join(info.response_flags) if info.response_flags else MISSING


def _ms_since_start(attr: str) -> Getter:
    """Envoy durations: whole milliseconds from the first request byte, `-` if not reached."""

    def get(info: StreamInfo) -> str:
        mark = getattr(info, attr)
        return str(int((mark - info.start_monotonic) * 1000)) if mark else MISSING

    return get


def _go_since_start(attr: str) -> Getter:
    def get(info: StreamInfo) -> str:
        mark = getattr(info, attr)
        return go_duration(mark - info.start_monotonic) if mark else MISSING

    return get


def _missing(info: StreamInfo) -> str:
    return MISSING


# Pseudo-headers Envoy's REQ() understands, read from the parsed request instead of headers.
_PSEUDO: dict[str, Callable[[StreamInfo], str | None]] = {
    ":authority": lambda i: i.authority or (i.request_headers or {}).get("host"),
    ":path": lambda i: i.path,
    ":method": lambda i: i.method,
    ":scheme": lambda i: (i.request_headers or {}).get(":scheme"),
}


def request_header(name: str) -> Getter:
    name = name.lower()
    pseudo = _PSEUDO.get(name)
    if pseudo is not None:
        return lambda info: _text(pseudo(info))
    if name == "x-request-id":
        # The proxy may generate the id without writing it back into the header dict.
        return lambda info: _text((info.request_headers or {}).get(name) or info.request_id)

    def get(info: StreamInfo) -> str:
        headers = info.request_headers
        return _text(headers.get(name)) if headers else MISSING

    return get


def response_header(name: str) -> Getter:
    name = name.lower()

    def get(info: StreamInfo) -> str:
        headers = info.response_headers
        return _text(headers.get(name)) if headers else MISSING

    return get


def _with_alternative(factory: Callable[[str], Getter], arg: str) -> Getter:
    """Envoy's `REQ(X-ENVOY-ORIGINAL-PATH?:PATH)`: the first header, else the second."""
    main, _, alternative = arg.partition("?")
    first = factory(main)
    if not alternative:
        return first
    second = factory(alternative)

    def get(info: StreamInfo) -> str:
        value = first(info)
        return second(info) if value == MISSING else value

    return get


def _time_getter(render: Callable[[float], str]) -> Getter:
    return lambda info: render(info.start_time) if info.start_time else MISSING


# Envoy's spellings of the gRPC status codes for %GRPC_STATUS(CAMEL_STRING|SNAKE_STRING|NUMBER)%
_GRPC_SNAKE = (
    "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS",
    "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
    "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
)
_GRPC_CAMEL = (
    "OK", "Canceled", "Unknown", "InvalidArgument", "DeadlineExceeded", "NotFound", "AlreadyExists",
    "PermissionDenied", "ResourceExhausted", "FailedPrecondition", "Aborted", "OutOfRange",
    "Unimplemented", "Internal", "Unavailable", "DataLoss", "Unauthenticated",
)


def _grpc_status(form: str) -> Getter:
    names = {"CAMEL_STRING": _GRPC_CAMEL, "SNAKE_STRING": _GRPC_SNAKE, "NUMBER": None}
    if form not in names:
        raise FormatError(f"%GRPC_STATUS({form})%: the format is CAMEL_STRING, SNAKE_STRING or NUMBER")
    table = names[form]

    def get(info: StreamInfo) -> str:
        status = info.grpc_status
        if status is None:
            return MISSING
        if table is None or not 0 <= status < len(table):
            return str(status)
        return table[status]

    return get


# --- Envoy command operators -----------------------------------------------------------------------
# Operators taking no argument.
ENVOY_PLAIN: dict[str, Getter] = {
    "PROTOCOL": _attr("protocol"),
    "RESPONSE_CODE": lambda i: str(i.response_code),
    "RESPONSE_FLAGS": _flags,
    "RESPONSE_CODE_DETAILS": _attr("response_code_details"),
    "BYTES_RECEIVED": lambda i: str(i.bytes_received),
    "BYTES_SENT": lambda i: str(i.bytes_sent),
    "DURATION": _ms_since_start("end_monotonic"),
    "RESPONSE_DURATION": _ms_since_start("first_upstream_byte_monotonic"),
    "UPSTREAM_HOST": _attr("upstream_host"),
    "UPSTREAM_CLUSTER": _attr("upstream_cluster"),
    "UPSTREAM_LOCAL_ADDRESS": _attr("upstream_local_address"),
    "UPSTREAM_TRANSPORT_FAILURE_REASON": _attr("upstream_transport_failure_reason"),
    "UPSTREAM_CONNECTION_ID": _attr("upstream_connection_id"),
    "DOWNSTREAM_REMOTE_ADDRESS": _attr("downstream_remote_address"),
    "DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT": _without_port("downstream_remote_address"),
    "DOWNSTREAM_LOCAL_ADDRESS": _attr("downstream_local_address"),
    "DOWNSTREAM_PEER_URI_SAN": _attr("downstream_peer_uri_san"),
    "DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT": _without_port("downstream_local_address"),
    "ROUTE_NAME": _attr("route_name"),
    "CONNECTION_ID": _attr("connection_id"),
    "GRPC_STATUS": _grpc_status("CAMEL_STRING"),
}

# Operators taking `(ARG)`: factory(arg) -> getter. START_TIME's argument is optional.
ENVOY_WITH_ARG: dict[str, Callable[[str], Getter]] = {
    "REQ": lambda arg: _with_alternative(request_header, arg),
    "REQUEST_HEADER": lambda arg: _with_alternative(request_header, arg),
    "RESP": lambda arg: _with_alternative(response_header, arg),
    "RESPONSE_HEADER": lambda arg: _with_alternative(response_header, arg),
    "START_TIME": lambda arg: _time_getter(envoy_start_time(arg or None)),
    "GRPC_STATUS": _grpc_status,
}


# --- MOSN variables --------------------------------------------------------------------------------
MOSN_PLAIN: dict[str, Callable[[], Getter]] = {
    "start_time": lambda: _time_getter(mosn_start_time()),
    # StreamInfo has no "request fully received" mark yet; MOSN prints its zero value then.
    "request_received_duration": lambda: _missing,
    "response_received_duration": lambda: _go_since_start("first_upstream_byte_monotonic"),
    "request_finished_duration": lambda: _go_since_start("end_monotonic"),
    "duration": lambda: _go_since_start("end_monotonic"),
    "bytes_sent": lambda: ENVOY_PLAIN["BYTES_SENT"],
    "bytes_received": lambda: ENVOY_PLAIN["BYTES_RECEIVED"],
    "protocol": lambda: ENVOY_PLAIN["PROTOCOL"],
    "response_code": lambda: ENVOY_PLAIN["RESPONSE_CODE"],
    "response_flag": lambda: _flags,
    "response_flags": lambda: _flags,
    "upstream_host": lambda: ENVOY_PLAIN["UPSTREAM_HOST"],
    "upstream_cluster": lambda: ENVOY_PLAIN["UPSTREAM_CLUSTER"],
    "upstream_local_address": lambda: ENVOY_PLAIN["UPSTREAM_LOCAL_ADDRESS"],
    "upstream_transport_failure_reason": lambda: ENVOY_PLAIN["UPSTREAM_TRANSPORT_FAILURE_REASON"],
    "upstream_connection_id": lambda: ENVOY_PLAIN["UPSTREAM_CONNECTION_ID"],
    "downstream_remote_address": lambda: ENVOY_PLAIN["DOWNSTREAM_REMOTE_ADDRESS"],
    "downstream_local_address": lambda: ENVOY_PLAIN["DOWNSTREAM_LOCAL_ADDRESS"],
    "listener_name": lambda: _attr("listener_name"),
    "route_name": lambda: ENVOY_PLAIN["ROUTE_NAME"],
    "connection_id": lambda: ENVOY_PLAIN["CONNECTION_ID"],
}

MOSN_PREFIXED: dict[str, Callable[[str], Getter]] = {
    "request_header_": request_header,
    "response_header_": response_header,
}


def envoy_getter(operator: str, arg: str | None) -> Getter:
    if arg is None:
        getter = ENVOY_PLAIN.get(operator)
        if getter is not None:
            return getter
        if operator == "START_TIME":
            return ENVOY_WITH_ARG["START_TIME"]("")
        if operator in ENVOY_WITH_ARG:
            raise FormatError(f"%{operator}% needs an argument, e.g. %{operator}(X-REQUEST-ID)%")
    else:
        factory = ENVOY_WITH_ARG.get(operator)
        if factory is not None:
            if not arg and operator != "START_TIME":
                raise FormatError(f"%{operator}()% needs a header name")
            return factory(arg)
        if operator in ENVOY_PLAIN:
            raise FormatError(f"%{operator}% takes no argument, got ({arg})")
    raise FormatError(f"unknown access log command operator %{operator}%; known: {', '.join(_envoy_names())}")


def mosn_getter(name: str) -> Getter:
    factory = MOSN_PLAIN.get(name)
    if factory is not None:
        return factory()
    for prefix, header_factory in MOSN_PREFIXED.items():
        if name.startswith(prefix) and len(name) > len(prefix):
            return header_factory(name[len(prefix) :])
    known = sorted(MOSN_PLAIN) + [p + "<name>" for p in MOSN_PREFIXED]
    raise FormatError(f"unknown access log variable %{name}%; known: {', '.join(known)}")


def _envoy_names() -> list[str]:
    return sorted(ENVOY_PLAIN) + [f"{k}(...)" for k in sorted(ENVOY_WITH_ARG)]
