"""The HTTP/2 frame format (RFC 9113 sections 4, 6 and 7): frame types, flags, error codes,
the layouts of the fields the codecs read and write; and frames written outside a codec
(`goaway`: h2 moves its connection to CLOSED on the first GOAWAY it sends, after which the
streams a graceful drain must finish could no longer be answered)."""

from __future__ import annotations

import struct
from typing import Final

# Final: compiled, each is a constant in the code that reads it, not a module-dict lookup and a
# boxed integer per use
NO_ERROR: Final = 0x0
PROTOCOL_ERROR: Final = 0x1
FLOW_CONTROL_ERROR: Final = 0x3
STREAM_CLOSED: Final = 0x5
FRAME_SIZE_ERROR: Final = 0x6
REFUSED_STREAM: Final = 0x7
CANCEL: Final = 0x8
COMPRESSION_ERROR: Final = 0x9
ENHANCE_YOUR_CALM: Final = 0xB

DATA: Final = 0x0
HEADERS: Final = 0x1
PRIORITY: Final = 0x2
RST_STREAM: Final = 0x3
SETTINGS: Final = 0x4
PUSH_PROMISE: Final = 0x5
PING: Final = 0x6
GOAWAY: Final = 0x7
WINDOW_UPDATE: Final = 0x8
CONTINUATION: Final = 0x9
END_STREAM: Final = 0x1
ACK: Final = 0x1
END_HEADERS: Final = 0x4
PADDED: Final = 0x8
PRIORITY_FLAG: Final = 0x20

MAX_WINDOW: Final = 2**31 - 1
MAX_STREAM_ID: Final = 2**31 - 1
DEFAULT_WINDOW: Final = 65_535
FRAME: Final = struct.Struct(">BHBBL")  # 24-bit length as (8 high bits, 16 low bits), type, flags, stream
FRAME_U32: Final = struct.Struct(">BHBBLL")  # a frame whose payload is one 32-bit field (WINDOW_UPDATE, RST_STREAM)
U32: Final = struct.Struct(">L")
U32x2: Final = struct.Struct(">LL")
SETTING: Final = struct.Struct(">HL")


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
