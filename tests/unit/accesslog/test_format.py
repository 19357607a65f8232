import re
import time

import pytest

from pymosn.accesslog import (
    DEFAULT_FORMAT,
    ENVOY_DEFAULT_FORMAT,
    MOSN_DEFAULT_FORMAT,
    FormatError,
    compile_format,
)
from pymosn.accesslog.clock import go_duration
from pymosn.api.stream_info import StreamInfo

T0 = 1_700_000_000.25  # 2023-11-14T22:13:20.250Z


@pytest.fixture
def info():
    i = StreamInfo("ingress", 42)
    i.start_time = T0
    i.start_monotonic = 100.0
    i.first_upstream_byte_monotonic = 100.0105
    i.end_monotonic = 100.0127
    i.method = "POST"
    i.path = "/api/v1/items?x=1"
    i.authority = "example.com"
    i.request_headers = {"host": "example.com", "user-agent": "curl/8.5", "x-request-id": "rid-1"}
    i.response_headers = {"content-type": "text/plain", "x-envoy-upstream-service-time": "10"}
    i.response_code = 201
    i.response_flags = []
    i.bytes_received = 17
    i.bytes_sent = 2048
    i.downstream_remote_address = "192.168.1.9:51000"
    i.downstream_local_address = "10.0.0.5:2045"
    i.upstream_host = "10.0.0.1:8080"
    i.upstream_local_address = "10.0.0.5:40000"
    i.upstream_cluster = "backend"
    i.route_name = "default-route"
    return i


def render(fmt, info):
    return compile_format(fmt).format(info)


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        ("%START_TIME%", "2023-11-14T22:13:20.250Z"),
        ("%START_TIME(%Y/%m/%d)%", "2023/11/14"),
        ("%START_TIME(%s.%3f)%", "1700000000.250"),
        ("%REQ(X-REQUEST-ID)%", "rid-1"),
        ("%REQ(:AUTHORITY)%", "example.com"),
        ("%REQ(:PATH)%", "/api/v1/items?x=1"),
        ("%REQ(:METHOD)%", "POST"),
        ("%REQ(USER-AGENT)%", "curl/8.5"),
        ("%REQ(user-agent)%", "curl/8.5"),
        ("%REQ(X-MISSING)%", "-"),
        ("%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%", "/api/v1/items?x=1"),
        ("%REQUEST_HEADER(USER-AGENT)%", "curl/8.5"),
        ("%REQ(USER-AGENT):4%", "curl"),
        ("%RESP(CONTENT-TYPE)%", "text/plain"),
        ("%RESPONSE_HEADER(X-NONE)%", "-"),
        ("%PROTOCOL%", "HTTP/1.1"),
        ("%RESPONSE_CODE%", "201"),
        ("%RESPONSE_FLAGS%", "-"),
        ("%BYTES_RECEIVED%", "17"),
        ("%BYTES_SENT%", "2048"),
        ("%DURATION%", "12"),
        ("%RESPONSE_DURATION%", "10"),
        ("%UPSTREAM_HOST%", "10.0.0.1:8080"),
        ("%UPSTREAM_CLUSTER%", "backend"),
        ("%UPSTREAM_LOCAL_ADDRESS%", "10.0.0.5:40000"),
        ("%UPSTREAM_TRANSPORT_FAILURE_REASON%", "-"),
        ("%DOWNSTREAM_REMOTE_ADDRESS%", "192.168.1.9:51000"),
        ("%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%", "192.168.1.9"),
        ("%DOWNSTREAM_LOCAL_ADDRESS%", "10.0.0.5:2045"),
        ("%ROUTE_NAME%", "default-route"),
        ("%CONNECTION_ID%", "42"),
    ],
)
def test_envoy_operators(info, fmt, expected):
    assert render(fmt, info) == expected


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        ("%start_time%", time.strftime("%Y/%m/%d %H:%M:%S", time.localtime(T0)) + ".250"),
        ("%request_received_duration%", "-"),
        ("%response_received_duration%", "10.5ms"),
        ("%duration%", "12.7ms"),
        ("%bytes_sent%", "2048"),
        ("%bytes_received%", "17"),
        ("%protocol%", "HTTP/1.1"),
        ("%response_code%", "201"),
        ("%response_flag%", "-"),
        ("%upstream_host%", "10.0.0.1:8080"),
        ("%upstream_cluster%", "backend"),
        ("%downstream_remote_address%", "192.168.1.9:51000"),
        ("%downstream_local_address%", "10.0.0.5:2045"),
        ("%upstream_local_address%", "10.0.0.5:40000"),
        ("%listener_name%", "ingress"),
        ("%route_name%", "default-route"),
        ("%request_header_user-agent%", "curl/8.5"),
        ("%request_header_X-Request-Id%", "rid-1"),
        ("%response_header_content-type%", "text/plain"),
        ("%response_header_x-none%", "-"),
        ("%connection_id%", "42"),
        ("%upstream_transport_failure_reason%", "-"),
    ],
)
def test_mosn_variables(info, fmt, expected):
    assert render(fmt, info) == expected


def test_missing_values_print_dash():
    info = StreamInfo()
    line = render(
        "%UPSTREAM_HOST% %upstream_cluster% %ROUTE_NAME% %DURATION% %REQ(:PATH)% %START_TIME%", info
    )
    assert line == "- - - - - -"


def test_flags_and_failure_reason(info):
    info.response_flags = ["UF", "URX"]
    info.upstream_transport_failure_reason = "connection refused"
    assert render("%RESPONSE_FLAGS% %response_flag% %UPSTREAM_TRANSPORT_FAILURE_REASON%", info) == (
        "UF,URX UF,URX connection refused"
    )


def test_request_id_falls_back_to_generated_id(info):
    info.request_headers = {}
    info.request_id = "generated"
    assert render("%REQ(X-REQUEST-ID)%", info) == "generated"


def test_literals_including_braces_are_kept(info):
    assert render('{"code": %RESPONSE_CODE%, "host": "%UPSTREAM_HOST%"} tail', info) == (
        '{"code": 201, "host": "10.0.0.1:8080"} tail'
    )
    assert render("no variables at all", info) == "no variables at all"


def test_mixed_dialects_in_one_format(info):
    assert render("%RESPONSE_CODE% %upstream_cluster%", info) == "201 backend"


def test_envoy_default_format(info):
    assert DEFAULT_FORMAT == ENVOY_DEFAULT_FORMAT
    line = render(ENVOY_DEFAULT_FORMAT, info)
    assert line == (
        '[2023-11-14T22:13:20.250Z] "POST /api/v1/items?x=1 HTTP/1.1" 201 - 17 2048 12 10 '
        '"-" "curl/8.5" "rid-1" "example.com" "10.0.0.1:8080"\n'
    )


def test_mosn_default_format(info):
    fields = render(MOSN_DEFAULT_FORMAT, info).split(" ")
    assert fields[2:] == [
        "-", "10.5ms", "2048", "17", "HTTP/1.1", "201", "12.7ms", "-", "201",
        "10.0.0.5:40000", "10.0.0.5:2045", "192.168.1.9:51000", "10.0.0.1:8080",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("fmt", "needle"),
    [
        ("%NOT_AN_OPERATOR%", "%NOT_AN_OPERATOR%"),
        ("a %no_such_var% b", "%no_such_var%"),
        ("%REQ%", "%REQ% needs an argument"),
        ("%REQ()%", "needs a header name"),
        ("%PROTOCOL(X)%", "takes no argument"),
        ("100%%", "'%%'"),
        ("%RESPONSE_CODE", "malformed or unterminated variable at offset 0"),
        ("x %", "offset 2"),
        ("%request_header_%", "%request_header_%"),
    ],
)
def test_bad_formats_fail_at_compile_time_naming_the_variable(fmt, needle):
    with pytest.raises(FormatError, match=re.escape(needle)):
        compile_format(fmt)


def test_unknown_variable_error_lists_known_names():
    with pytest.raises(FormatError) as e:
        compile_format("%upstream_hots%")
    assert "upstream_host" in str(e.value)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (5e-7, "500ns"), (0.00075, "750µs"), (0.0015033, "1.5033ms"), (2.5, "2.5s"), (60, "60s")],
)
def test_go_duration(seconds, text):
    assert go_duration(seconds) == text


def test_grpc_status_in_envoys_three_forms(info):
    assert render("%GRPC_STATUS%", info) == "-"  # not a gRPC call
    info.grpc_status = 3
    assert render("%GRPC_STATUS%", info) == "InvalidArgument"
    assert render("%GRPC_STATUS(CAMEL_STRING)%", info) == "InvalidArgument"
    assert render("%GRPC_STATUS(SNAKE_STRING)%", info) == "INVALID_ARGUMENT"
    assert render("%GRPC_STATUS(NUMBER)%", info) == "3"
    info.grpc_status = 42  # a status beyond the well-known ones prints as its number
    assert render("%GRPC_STATUS%", info) == "42"
    with pytest.raises(FormatError, match="CAMEL_STRING, SNAKE_STRING or NUMBER"):
        compile_format("%GRPC_STATUS(LOWER)%")
