from urllib.parse import unquote_to_bytes

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pymosn.protocol.http1 import RequestHead
from pymosn.proxy import grpc


@pytest.mark.parametrize(
    "value",
    [b"application/grpc", b"application/grpc+proto", b"application/grpc+json", b"application/grpc;charset=utf-8"],
)
def test_grpc_content_types(value):
    assert grpc.is_grpc_content_type(value)


@pytest.mark.parametrize(
    "value", [b"application/grpc-web", b"application/grpc-web+proto", b"application/json", b"text/grpc", b""]
)
def test_other_content_types(value):
    assert not grpc.is_grpc_content_type(value)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (b"1H", 3600.0),
        (b"2M", 120.0),
        (b"3S", 3.0),
        (b"250m", 0.25),
        (b"1500u", 0.0015),
        (b"100n", 1e-7),
        (b"0S", 0.0),
        (b"99999999S", 99999999.0),
        (b"00000001m", 0.001),
    ],
)
def test_timeout_units(value, seconds):
    assert grpc.parse_timeout(value) == pytest.approx(seconds)


@pytest.mark.parametrize(
    "value",
    [b"", b"S", b"1", b"100000000S", b"1s", b"1h", b"-1S", b"+1S", b" 1S", b"1.5S", b"1SS", b"\xd9\xa1S", b"abcS"],
)
def test_invalid_timeouts_are_ignored(value):
    assert grpc.parse_timeout(value) is None


def test_message_percent_encoding():
    assert grpc.encode_message("no route matched") == b"no route matched"
    assert grpc.encode_message("100% sure") == b"100%25 sure"
    assert grpc.encode_message("caf\u00e9\n") == b"caf%C3%A9%0A"
    assert grpc.encode_message("\u4f60\u597d") == b"%E4%BD%A0%E5%A5%BD"


@given(st.text())
def test_message_round_trip(text):
    encoded = grpc.encode_message(text)
    assert all(0x20 <= b < 0x7F for b in encoded)  # a valid header value, always
    assert unquote_to_bytes(encoded).decode("utf-8") == text


@pytest.mark.parametrize(
    ("http", "status"),
    [(400, 13), (401, 16), (403, 7), (404, 12), (429, 14), (502, 14), (503, 14), (504, 14), (500, 2), (413, 2), (200, 2)],
)
def test_http_to_grpc_status_is_the_spec_table(http, status):
    assert grpc.http_to_grpc_status(http) == status


def test_grpc_to_http_status():
    assert grpc.grpc_to_http_status(grpc.OK) == 200
    assert grpc.grpc_to_http_status(grpc.NOT_FOUND) == 404
    assert grpc.grpc_to_http_status(grpc.UNAVAILABLE) == 503
    assert grpc.grpc_to_http_status(grpc.DEADLINE_EXCEEDED) == 504
    assert grpc.grpc_to_http_status(99) == 500


def test_status_in_headers():
    assert grpc.status_in([(b"content-type", b"application/grpc"), (b"grpc-status", b"5")]) == 5
    assert grpc.status_in([(b"Grpc-Status", b"0")]) == 0
    assert grpc.status_in([(b"grpc-status", b"x")]) == grpc.UNKNOWN
    assert grpc.status_in([(b"grpc-message", b"5")]) is None


@pytest.mark.parametrize(
    ("path", "parts"),
    [
        (b"/helloworld.Greeter/SayHello", ("helloworld.Greeter", "SayHello")),
        (b"/Svc/M", ("Svc", "M")),
        (b"/", None),
        (b"/only", None),
        (b"/a/b/c", None),
        (b"//M", None),
        (b"/S/", None),
        (b"/S/M?x=1", None),
        (b"no-slash/M", None),
    ],
)
def test_split_path(path, parts):
    assert grpc.split_path(path) == parts


def _head(headers):
    head = RequestHead(b"POST", b"/pkg.Svc/Call", b"2", headers, [n.lower() for n, _ in headers])
    return head


def test_detect():
    assert grpc.detect(_head([(b"content-type", b"application/json")])) is None
    assert grpc.detect(_head([])) is None
    call = grpc.detect(_head([(b"Content-Type", b"application/grpc"), (b"grpc-timeout", b"150m")]))
    assert call is not None
    assert call.path == b"/pkg.Svc/Call"
    assert call.timeout == pytest.approx(0.15)
    call = grpc.detect(_head([(b"content-type", b"application/grpc+proto"), (b"grpc-timeout", b"1x")]))
    assert call is not None and call.timeout is None


@given(st.binary(max_size=12))
def test_parse_timeout_never_raises(value):
    seconds = grpc.parse_timeout(value)
    assert seconds is None or (seconds >= 0 and value[:-1].isdigit() and len(value) <= 9)


@given(st.binary(max_size=8))
def test_status_in_never_raises(value):
    status = grpc.status_in([(b"grpc-status", value)])
    assert status is not None and 0 <= status <= 999
