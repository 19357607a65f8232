import pytest

from pymosn.config.address import parse_host_port


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:2045", ("127.0.0.1", 2045)),
        ("[::1]:80", ("::1", 80)),
        ("localhost:0", ("localhost", 0)),
        (":8080", ("", 8080)),
        (["10.0.0.1", 9], ("10.0.0.1", 9)),
    ],
)
def test_parses_host_port(text, expected):
    assert parse_host_port(text) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("abc", "expected \"host:port\", got 'abc'"),
        ("1.2.3.4:http", "expected \"host:port\""),
        ("::1:80", r"\[::1\]:80"),
        ("1.2.3.4:70000", "port 70000 out of range 0..65535"),
        (2045, "expected \"host:port\", got 2045"),
    ],
)
def test_rejects_bad_addresses(value, message):
    with pytest.raises(ValueError, match=message):
        parse_host_port(value)
