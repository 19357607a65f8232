"""The HTTP/2 frame format (RFC 9113 sections 4, 6 and 7): frame types, flags, error codes,
the layouts of the fields the codecs read and write; and frames written outside a codec
(`goaway`: h2 moves its connection to CLOSED on the first GOAWAY it sends, after which the
streams a graceful drain must finish could no longer be answered)."""

from __future__ import annotations

import struct

NO_ERROR = 0x0
PROTOCOL_ERROR = 0x1
FLOW_CONTROL_ERROR = 0x3
STREAM_CLOSED = 0x5
FRAME_SIZE_ERROR = 0x6
REFUSED_STREAM = 0x7
CANCEL = 0x8
COMPRESSION_ERROR = 0x9
ENHANCE_YOUR_CALM = 0xB

DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS = 0x0, 0x1, 0x2, 0x3, 0x4
PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = 0x5, 0x6, 0x7, 0x8, 0x9
END_STREAM = ACK = 0x1
END_HEADERS = 0x4
PADDED = 0x8
PRIORITY_FLAG = 0x20

MAX_WINDOW = MAX_STREAM_ID = 2**31 - 1
DEFAULT_WINDOW = 65_535
FRAME = struct.Struct(">BHBBL")  # 24-bit length as (8 high bits, 16 low bits), type, flags, stream
FRAME_U32 = struct.Struct(">BHBBLL")  # a frame whose payload is one 32-bit field (WINDOW_UPDATE, RST_STREAM)
U32 = struct.Struct(">L")
U32x2 = struct.Struct(">LL")
SETTING = struct.Struct(">HL")


def frame_header(length: int, kind: int, flags: int, sid: int) -> bytes:
    return FRAME.pack(length >> 16, length & 0xFFFF, kind, flags, sid)


_ERROR_NAMES = (
    "NO_ERROR", "PROTOCOL_ERROR", "INTERNAL_ERROR", "FLOW_CONTROL_ERROR", "SETTINGS_TIMEOUT", "STREAM_CLOSED",
    "FRAME_SIZE_ERROR", "REFUSED_STREAM", "CANCEL", "COMPRESSION_ERROR", "CONNECT_ERROR", "ENHANCE_YOUR_CALM",
    "INADEQUATE_SECURITY", "HTTP_1_1_REQUIRED",
)


def error_name(code: int) -> str:
    """RFC 9113 section 7's name of an error code (the number, for a code it does not name)."""
    return _ERROR_NAMES[code] if 0 <= code < len(_ERROR_NAMES) else str(code)


def goaway(last_stream_id: int, error_code: int = 0, debug: bytes = b"") -> bytes:
    payload = U32x2.pack(last_stream_id & MAX_STREAM_ID, error_code) + debug
    return frame_header(len(payload), GOAWAY, 0, 0) + payload
