"""Protocol detection verdicts from first bytes (protocol/detect.py)."""

from __future__ import annotations

import pytest

from pymosn.protocol.detect import HTTP2_PREFACE, Match, match_http1, match_http2, match_request_line


@pytest.mark.parametrize(("data", "verdict"), [
    (b"GET / HTTP/1.1\r\n", Match.YES), (b"GE", Match.AGAIN), (b"", Match.AGAIN),
    (b"get / HTTP/1.1\r\n", Match.NO), (b"FOO / HTTP/1.1\r\n", Match.NO), (b"\x16\x03\x01", Match.NO),
])
def test_http1_knows_the_usual_methods(data, verdict):
    assert match_http1(data) is verdict


def test_http2_wants_the_whole_preface():
    assert match_http2(HTTP2_PREFACE) is Match.YES
    assert match_http2(HTTP2_PREFACE[:10]) is Match.AGAIN
    assert match_http2(b"GET / HTTP/1.1\r\n") is Match.NO


@pytest.mark.parametrize(("data", "verdict"), [
    (b"FOO / HTTP/1.1\r\n", Match.YES),  # any token then a space: the HTTP/1 codec judges the rest
    (b"M-SEARCH * HTTP/1.1\r\n", Match.YES),
    (b"FOO", Match.AGAIN),  # the method may go on
    (b" / HTTP/1.1", Match.NO),  # no method at all
    (b"F(O / HTTP/1.1", Match.NO),  # not a token
    (b"\x16\x03\x01\x02\x00", Match.NO),  # a TLS ClientHello
    (b"A" * 33, Match.NO), (b"A" * 32, Match.AGAIN),  # longer than any method
])
def test_request_line_with_any_method(data, verdict):
    assert match_request_line(data) is verdict
