"""Frames the server writes itself, outside the state machine: h2 moves its connection to
CLOSED on the first GOAWAY it sends, after which the streams a graceful drain must finish
could no longer be answered."""

from __future__ import annotations

import struct

GOAWAY = 0x7
MAX_STREAM_ID = 2**31 - 1

_HEADER = struct.Struct(">HBBBI")  # 24-bit length as (16 high bits, 8 low bits), type, flags, stream


def frame(kind: int, flags: int, stream_id: int, payload: bytes) -> bytes:
    size = len(payload)
    return _HEADER.pack(size >> 8, size & 0xFF, kind, flags, stream_id & MAX_STREAM_ID) + payload


def goaway(last_stream_id: int, error_code: int = 0, debug: bytes = b"") -> bytes:
    return frame(GOAWAY, 0, 0, struct.pack(">II", last_stream_id & MAX_STREAM_ID, error_code) + debug)
