"""`x_example`: a whole X-Protocol codec in one file, the template for adding a TCP RPC
protocol to pymosn (registered as an entry point, or built in as this one is).

Wire format (big-endian), 16-byte header then two sections:

    0      magic 0x58 ('X')
    1      kind: 0 request, 1 one-way, 2 response
    2      flags: bit 0 heartbeat
    3      status (responses; 0 = ok)
    4..8   request id (uint32)
    8..10  header section length (uint16)
    10..12 reserved (0)
    12..16 body length (uint32)
    then   headers: "key=value\\n" lines, UTF-8
    then   body: opaque bytes

Status codes: 0 ok, 1 server error, 2 no route, 3 no healthy upstream / overflow, 4 timeout,
5 connection failure, 6 codec exception."""

from __future__ import annotations

import struct

from pymosn.api.errors import ProtocolError
from pymosn.api.headers import HeaderSide
from pymosn.protocol.xprotocol.api import Frame, FrameKind, LocalStatus, Match, PoolMode, XCodec

MAGIC = 0x58
HEADER = struct.Struct(">BBBBIHHI")
MAX_FRAME = 16 * 1024 * 1024  # a larger frame is a protocol error, not an allocation

_STATUS = {
    LocalStatus.NO_ROUTE: 2,
    LocalStatus.NO_HEALTHY_UPSTREAM: 3,
    LocalStatus.UPSTREAM_OVERFLOW: 3,
    LocalStatus.TIMEOUT: 4,
    LocalStatus.CONNECTION_FAILURE: 5,
    LocalStatus.CODEC_EXCEPTION: 6,
}
_HTTP = {0: 200, 2: 404, 3: 503, 4: 504, 5: 502, 6: 400}
# a stream filter's local reply, by its HTTP status (MOSN's codes); any other is 1, server error
_FILTER_STATUS = {200: 0, 404: 2, 502: 3, 503: 3, 509: 3, 504: 4}


def encode_headers(headers: dict[str, str]) -> bytes:
    for key, value in headers.items():
        if "=" in key or "\n" in key or "\n" in value:
            raise ProtocolError(f"x_example: header {key[:40]!r} cannot be written as a key=value line")
    return "".join(f"{k}={v}\n" for k, v in headers.items()).encode()


def encode(
    kind: FrameKind,
    request_id: int,
    headers: dict[str, str] | None = None,
    body: bytes = b"",
    *,
    heartbeat: bool = False,
    status: int = 0,
) -> bytes:
    section = encode_headers(headers or {})
    return HEADER.pack(MAGIC, kind, int(heartbeat), status, request_id, len(section), 0, len(body)) + section + body


class ExampleCodec(XCodec):
    name = "x_example"
    pool_mode = PoolMode.MULTIPLEX
    rewritable_headers = HeaderSide.BOTH  # rewrite_headers below handles either kind of frame

    def match(self, data: bytes) -> Match:
        if not data:
            return Match.AGAIN
        return Match.YES if data[0] == MAGIC else Match.NO

    def decode(self, buffer: bytearray) -> Frame | None:
        if len(buffer) < HEADER.size:
            return None
        magic, kind, flags, status, request_id, header_len, _, body_len = HEADER.unpack_from(buffer)
        if magic != MAGIC:
            raise ProtocolError(f"x_example: bad magic 0x{magic:02x}")
        if kind > FrameKind.RESPONSE:
            raise ProtocolError(f"x_example: unknown frame kind {kind}")
        size = HEADER.size + header_len + body_len
        if size > MAX_FRAME:
            raise ProtocolError(f"x_example: frame of {size} bytes is over the {MAX_FRAME} limit")
        if len(buffer) < size:
            return None
        raw = buffer[:size]
        del buffer[:size]
        try:
            lines = bytes(raw[HEADER.size : HEADER.size + header_len]).decode().splitlines()
        except UnicodeDecodeError:
            raise ProtocolError("x_example: header section is not UTF-8") from None
        headers = {}
        for line in lines:
            key, sep, value = line.partition("=")
            if not sep:
                raise ProtocolError(f"x_example: header line without '=': {line[:40]!r}")
            headers[key] = value
        return Frame(FrameKind(kind), request_id, raw, heartbeat=bool(flags & 1), status=status, headers=headers)

    def set_request_id(self, frame: Frame, request_id: int) -> None:
        struct.pack_into(">I", frame.raw, 4, request_id)
        frame.request_id = request_id

    def heartbeat(self, request_id: int) -> bytes:
        return encode(FrameKind.REQUEST, request_id, heartbeat=True)

    def heartbeat_reply(self, request: Frame) -> bytes:
        return encode(FrameKind.RESPONSE, request.request_id, heartbeat=True)

    def local_reply(self, request: Frame, status: LocalStatus, message: str) -> bytes:
        return encode(FrameKind.RESPONSE, request.request_id, {"error": message}, status=_STATUS[status])

    def status_reply(self, request: Frame, code: int, message: str) -> bytes:
        return encode(FrameKind.RESPONSE, request.request_id, {"error": message}, status=_FILTER_STATUS.get(code, 1))

    def body_of(self, frame: Frame) -> bytes:
        header_len = struct.unpack_from(">H", frame.raw, 8)[0]
        return bytes(frame.raw[HEADER.size + header_len :])

    def rewrite_headers(self, frame: Frame, headers: dict[str, str]) -> None:
        section = encode_headers(headers)
        if len(section) > 0xFFFF:
            raise ProtocolError(f"x_example: a header section of {len(section)} bytes is over 65535")
        raw = frame.raw
        header_len = struct.unpack_from(">H", raw, 8)[0]
        rewritten = raw[: HEADER.size] + section + raw[HEADER.size + header_len :]
        struct.pack_into(">H", rewritten, 8, len(section))
        frame.raw = rewritten
        frame.headers = dict(headers)

    def http_status(self, response: Frame) -> int:
        return _HTTP.get(response.status, 500)
