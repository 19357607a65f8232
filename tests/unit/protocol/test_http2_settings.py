"""SETTINGS a listener advertises, and the raw frames the server writes itself."""

from __future__ import annotations

import hyperframe.frame

from pymosn.protocol.http2 import Http2Settings
from pymosn.protocol.http2.frames import MAX_STREAM_ID, goaway
from pymosn.protocol.http2.settings import (
    ENABLE_PUSH,
    INITIAL_WINDOW_SIZE,
    MAX_CONCURRENT_STREAMS,
    MAX_FRAME_SIZE_SETTING,
    MAX_HEADER_LIST_SIZE,
)


def test_defaults_are_valid_and_advertised():
    s = Http2Settings()
    assert s.problems() == []
    assert s.local_settings() == {
        ENABLE_PUSH: 0,
        MAX_CONCURRENT_STREAMS: 100,
        INITIAL_WINDOW_SIZE: 65536,
        MAX_FRAME_SIZE_SETTING: 16384,
        MAX_HEADER_LIST_SIZE: 60 * 1024,
    }


def test_out_of_range_values_are_named():
    s = Http2Settings(max_concurrent_streams=0, initial_stream_window_size=1, initial_connection_window_size=2**31,
                      max_frame_size=16_777_216, max_header_list_size=0)
    assert [field for field, _ in s.problems()] == [
        "max_concurrent_streams", "initial_stream_window_size", "initial_connection_window_size",
        "max_frame_size", "max_header_list_size",
    ]


def test_goaway_frame_parses_as_goaway():
    data = goaway(7, 0)
    frame, length = hyperframe.frame.Frame.parse_frame_header(memoryview(data[:9]))
    frame.parse_body(memoryview(data[9:9 + length]))
    assert isinstance(frame, hyperframe.frame.GoAwayFrame)
    assert (frame.stream_id, frame.last_stream_id, frame.error_code) == (0, 7, 0)
    frame, length = hyperframe.frame.Frame.parse_frame_header(memoryview(goaway(MAX_STREAM_ID, 2, b"bye")[:9]))
    assert length == 11
