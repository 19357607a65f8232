"""SOFARPC Bolt, protocol codes 1 (`bolt`) and 2 (`boltv2`), as an X-Protocol codec.

Wire format (big-endian), from SOFABolt's RpcProtocol / RpcProtocolV2:

    v1 request:  proto=1 type cmdcode(2) ver2 requestId(4) codec timeout(4)
                 classLen(2) headerLen(2) contentLen(4) | class | header map | content   (22 B)
    v1 response: proto=1 type cmdcode(2) ver2 requestId(4) codec respStatus(2)
                 classLen(2) headerLen(2) contentLen(4) | ...                           (20 B)
    v2 adds ver1 after proto and a switch byte after codec (24 B / 22 B); with the switch's
    CRC bit set, a CRC32 of everything before it follows the content.

type: 0 response, 1 request, 2 one-way. cmdcode: 0 heartbeat, 1 request, 2 response. The header
map is a sequence of (int32 length, UTF-8 key, int32 length, UTF-8 value); it carries what
routing needs (`service`, `sofa_head_method_name`, ...). The class name and content (hessian2
in SOFARPC) are forwarded untouched."""

from __future__ import annotations

import struct
import zlib

from pymosn.api.errors import ProtocolError
from pymosn.api.headers import HeaderSide
from pymosn.protocol.xprotocol.api import Frame, FrameKind, LocalStatus, Match, PoolMode, XCodec

MAX_FRAME = 16 * 1024 * 1024  # bigger is a protocol error, not an allocation (MOSN warns at 1 GiB)

TYPE_RESPONSE, TYPE_REQUEST, TYPE_ONEWAY = 0, 1, 2
CMD_HEARTBEAT, CMD_REQUEST, CMD_RESPONSE = 0, 1, 2
HESSIAN2 = 1
CRC_SWITCH = 0x01

# Response statuses (SOFABolt ResponseStatus)
SUCCESS = 0x0000
ERROR = 0x0001
SERVER_EXCEPTION = 0x0002
UNKNOWN = 0x0003
SERVER_THREADPOOL_BUSY = 0x0004
ERROR_COMM = 0x0005
NO_PROCESSOR = 0x0006
TIMEOUT = 0x0007
CLIENT_SEND_ERROR = 0x0008
CODEC_EXCEPTION = 0x0009
CONNECTION_CLOSED = 0x0010
SERVER_SERIAL_EXCEPTION = 0x0011
SERVER_DESERIAL_EXCEPTION = 0x0012

# Why the proxy answers -> status, as MOSN's bolt Mapping does
_LOCAL_STATUS = {
    LocalStatus.NO_ROUTE: NO_PROCESSOR,
    LocalStatus.NO_HEALTHY_UPSTREAM: NO_PROCESSOR,
    LocalStatus.UPSTREAM_OVERFLOW: SERVER_THREADPOOL_BUSY,
    LocalStatus.TIMEOUT: TIMEOUT,
    LocalStatus.CONNECTION_FAILURE: CONNECTION_CLOSED,
    LocalStatus.CODEC_EXCEPTION: CODEC_EXCEPTION,
}
# A local reply's HTTP status (MOSN's api codes) -> status, as MOSN's bolt Mapping; any other
# code is UNKNOWN. Bolt has no "permission denied": MOSN answers SERVER_EXCEPTION.
_MOSN_CODE_STATUS = {
    200: SUCCESS,
    403: SERVER_EXCEPTION,
    404: NO_PROCESSOR,
    502: NO_PROCESSOR,
    503: SERVER_THREADPOOL_BUSY,
    504: TIMEOUT,
    0: CODEC_EXCEPTION,  # MOSN's CodecExceptionCode
    3: SERVER_DESERIAL_EXCEPTION,  # MOSN's DeserialExceptionCode
}
# Status -> HTTP status for stats and access logs (MOSN's BoltStatusMapping)
_HTTP_STATUS = {SUCCESS: 200, SERVER_THREADPOOL_BUSY: 503, TIMEOUT: 504, CONNECTION_CLOSED: 502}

_V1_REQ = struct.Struct(">BBHBIBiHHI")  # 22
_V1_RESP = struct.Struct(">BBHBIBHHHI")  # 20
_V2_REQ = struct.Struct(">BBBHBIBBiHHI")  # 24
_V2_RESP = struct.Struct(">BBBHBIBBHHHI")  # 22
# every head ends with classLen(2) headerLen(2) contentLen(4)
_LENGTHS = struct.Struct(">HHI")
MAX_HEADER_MAP = 0xFFFF  # headerLen is 16 bits


def encode_header_map(headers: dict[str, str]) -> bytes:
    out = bytearray()
    for key, value in headers.items():
        k, v = key.encode(), value.encode()
        out += struct.pack(">i", len(k)) + k + struct.pack(">i", len(v)) + v
    return bytes(out)


def decode_header_map(raw: bytes | memoryview) -> dict[str, str]:
    headers: dict[str, str] = {}
    i, end = 0, len(raw)
    try:
        while i < end:
            if end - i < 4:
                raise ProtocolError("bolt: truncated header map")
            (klen,) = struct.unpack_from(">i", raw, i)
            i += 4
            key = ""
            if klen > 0:
                if klen > end - i:
                    raise ProtocolError("bolt: header key overruns the header map")
                key = bytes(raw[i : i + klen]).decode()
                i += klen
            if end - i < 4:
                raise ProtocolError("bolt: header map ends after a key")
            (vlen,) = struct.unpack_from(">i", raw, i)
            i += 4
            value = ""
            if vlen > 0:
                if vlen > end - i:
                    raise ProtocolError("bolt: header value overruns the header map")
                value = bytes(raw[i : i + vlen]).decode()
                i += vlen
            headers[key] = value
    except UnicodeDecodeError:
        raise ProtocolError("bolt: header map is not UTF-8") from None
    return headers


class BoltCodec(XCodec):
    """Bolt v1 (SOFARPC protocol code 1)."""

    name = "bolt"
    pool_mode = PoolMode.MULTIPLEX
    fixed_headers = frozenset({"class_name"})  # the request class, routable like a header
    rewritable_headers = HeaderSide.BOTH  # requests and responses carry a header map
    max_request_id = 2**32 - 1
    code = 1
    request_head = _V1_REQ
    response_head = _V1_RESP
    id_offset = 5
    type_offset = 1

    def match(self, data: bytes) -> Match:
        if not data:
            return Match.AGAIN
        return Match.YES if data[0] == self.code else Match.NO

    def decode(self, buffer: bytearray) -> Frame | None:
        if len(buffer) < self.response_head.size:
            return None
        if buffer[0] != self.code:
            raise ProtocolError(f"{self.name}: protocol code {buffer[0]}, expected {self.code}")
        kind = buffer[self.type_offset]
        if kind == TYPE_RESPONSE:
            head = self.response_head
        elif kind in (TYPE_REQUEST, TYPE_ONEWAY):
            head = self.request_head
            if len(buffer) < head.size:
                return None
        else:
            raise ProtocolError(f"{self.name}: unknown command type {kind}")
        fields = head.unpack_from(buffer)
        cmdcode, request_id, switch, timeout_or_status, class_len, header_len, content_len = self._fields(fields)
        if cmdcode not in (CMD_HEARTBEAT, CMD_REQUEST, CMD_RESPONSE):
            raise ProtocolError(f"{self.name}: unknown command code {cmdcode}")
        crc = 4 if switch & CRC_SWITCH else 0
        size = head.size + class_len + header_len + content_len + crc
        if size > MAX_FRAME:
            raise ProtocolError(f"{self.name}: frame of {size} bytes is over the {MAX_FRAME} limit")
        if len(buffer) < size:
            return None
        raw = buffer[:size]
        del buffer[:size]
        if crc:
            (expected,) = struct.unpack_from(">I", raw, size - 4)
            if zlib.crc32(memoryview(raw)[: size - 4]) != expected:
                raise ProtocolError(f"{self.name}: CRC32 mismatch")
        headers: dict[str, str] = {}
        class_name = ""
        if kind != TYPE_RESPONSE:
            start = head.size
            if class_len:
                try:
                    class_name = bytes(raw[start : start + class_len]).decode()
                except UnicodeDecodeError:
                    raise ProtocolError(f"{self.name}: class name is not UTF-8") from None
            if header_len:
                start += class_len
                headers = decode_header_map(memoryview(raw)[start : start + header_len])
        frame_kind = FrameKind.RESPONSE if kind == TYPE_RESPONSE else (
            FrameKind.ONEWAY if kind == TYPE_ONEWAY else FrameKind.REQUEST)
        return Frame(
            frame_kind,
            request_id,
            raw,
            heartbeat=cmdcode == CMD_HEARTBEAT,
            status=timeout_or_status if kind == TYPE_RESPONSE else 0,
            headers=headers,
            timeout_ms=max(timeout_or_status, 0) if kind != TYPE_RESPONSE else 0,
            class_name=class_name,
        )

    def _fields(self, fields: tuple) -> tuple:
        _, _, cmdcode, _, request_id, _, timeout_or_status, class_len, header_len, content_len = fields
        return cmdcode, request_id, 0, timeout_or_status, class_len, header_len, content_len

    def set_request_id(self, frame: Frame, request_id: int) -> None:
        raw = frame.raw
        struct.pack_into(">I", raw, self.id_offset, request_id)
        frame.request_id = request_id
        if self._has_crc(raw):
            struct.pack_into(">I", raw, len(raw) - 4, zlib.crc32(memoryview(raw)[:-4]))

    def _has_crc(self, raw: bytearray) -> bool:
        return False

    # --- frames the proxy makes ----------------------------------------------------------------

    def request(self, request_id: int, headers: dict[str, str], content: bytes = b"", *, class_name: str = "",
                oneway: bool = False, timeout_ms: int = 3000, heartbeat: bool = False) -> bytes:
        kind = TYPE_ONEWAY if oneway else TYPE_REQUEST
        cmd = CMD_HEARTBEAT if heartbeat else CMD_REQUEST
        cls, hdr = class_name.encode(), encode_header_map(headers)
        head = _V1_REQ.pack(1, kind, cmd, 1, request_id, HESSIAN2, timeout_ms, len(cls), len(hdr), len(content))
        return head + cls + hdr + content

    def response(self, request_id: int, status: int, headers: dict[str, str] | None = None, content: bytes = b"",
                 *, class_name: str = "", heartbeat: bool = False) -> bytes:
        cmd = CMD_HEARTBEAT if heartbeat else CMD_RESPONSE
        cls, hdr = class_name.encode(), encode_header_map(headers or {})
        head = _V1_RESP.pack(1, TYPE_RESPONSE, cmd, 1, request_id, HESSIAN2, status, len(cls), len(hdr), len(content))
        return head + cls + hdr + content

    def heartbeat(self, request_id: int) -> bytes:
        return self.request(request_id, {}, timeout_ms=-1, heartbeat=True)

    def heartbeat_reply(self, request: Frame) -> bytes:
        return self.response(request.request_id, SUCCESS, heartbeat=True)

    def local_reply(self, request: Frame, status: LocalStatus, message: str) -> bytes:
        # MOSN's hijack answers with the status alone (no SofaResponse body); a SOFARPC client
        # maps the status to its exception (e.g. TIMEOUT -> InvokeTimeoutException).
        return self._status_frame(request, _LOCAL_STATUS[status])

    def status_reply(self, request: Frame, code: int, message: str) -> bytes:
        return self._status_frame(request, _MOSN_CODE_STATUS.get(code, UNKNOWN))

    def _status_frame(self, request: Frame, status: int) -> bytes:
        return self.response(request.request_id, status)

    # --- the header map and content, for stream filters ----------------------------------------

    def _sections(self, raw: bytearray) -> tuple[int, int, int, int]:
        """(where the class name starts, class, header map and content lengths)."""
        head = self.response_head if raw[self.type_offset] == TYPE_RESPONSE else self.request_head
        class_len, header_len, content_len = _LENGTHS.unpack_from(raw, head.size - _LENGTHS.size)
        return head.size, class_len, header_len, content_len

    def headers_of(self, frame: Frame) -> dict[str, str]:
        if frame.kind != FrameKind.RESPONSE:
            return frame.headers
        # responses are forwarded without decoding their header map: decoded here, on demand
        start, class_len, header_len, _ = self._sections(frame.raw)
        start += class_len
        frame.headers = decode_header_map(memoryview(frame.raw)[start : start + header_len]) if header_len else {}
        return frame.headers

    def body_of(self, frame: Frame) -> bytes:
        start, class_len, header_len, content_len = self._sections(frame.raw)
        start += class_len + header_len
        return bytes(frame.raw[start : start + content_len])

    def rewrite_headers(self, frame: Frame, headers: dict[str, str]) -> None:
        raw = frame.raw
        header_map = encode_header_map(headers)
        if len(header_map) > MAX_HEADER_MAP:
            raise ProtocolError(f"{self.name}: a header map of {len(header_map)} bytes is over {MAX_HEADER_MAP}")
        start, class_len, header_len, _ = self._sections(raw)
        crc = self._has_crc(raw)
        cut = start + class_len
        rewritten = raw[:cut] + header_map + raw[cut + header_len : len(raw) - 4 if crc else len(raw)]
        struct.pack_into(">H", rewritten, start - 6, len(header_map))
        if crc:
            rewritten += struct.pack(">I", zlib.crc32(rewritten))
        frame.raw = rewritten
        frame.headers = dict(headers)

    def response_ok(self, response: Frame) -> bool:
        return response.status == SUCCESS

    def http_status(self, response: Frame) -> int:
        return _HTTP_STATUS.get(response.status, 500)


class BoltV2Codec(BoltCodec):
    """Bolt v2 (SOFARPC protocol code 2): ver1 and switch bytes; an optional CRC32 trailer."""

    name = "boltv2"
    code = 2
    request_head = _V2_REQ
    response_head = _V2_RESP
    id_offset = 6
    type_offset = 2

    def _fields(self, fields: tuple) -> tuple:
        _, _, _, cmdcode, _, request_id, _, switch, timeout_or_status, class_len, header_len, content_len = fields
        return cmdcode, request_id, switch, timeout_or_status, class_len, header_len, content_len

    def _has_crc(self, raw: bytearray) -> bool:
        return bool(raw[11] & CRC_SWITCH)

    def request(self, request_id: int, headers: dict[str, str], content: bytes = b"", *, class_name: str = "",
                oneway: bool = False, timeout_ms: int = 3000, heartbeat: bool = False, crc: bool = False) -> bytes:
        kind = TYPE_ONEWAY if oneway else TYPE_REQUEST
        cmd = CMD_HEARTBEAT if heartbeat else CMD_REQUEST
        cls, hdr = class_name.encode(), encode_header_map(headers)
        switch = CRC_SWITCH if crc else 0
        frame = _V2_REQ.pack(2, 1, kind, cmd, 1, request_id, HESSIAN2, switch, timeout_ms, len(cls), len(hdr),
                             len(content)) + cls + hdr + content
        return frame + struct.pack(">I", zlib.crc32(frame)) if crc else frame

    def response(self, request_id: int, status: int, headers: dict[str, str] | None = None, content: bytes = b"",
                 *, class_name: str = "", heartbeat: bool = False, crc: bool = False) -> bytes:
        cmd = CMD_HEARTBEAT if heartbeat else CMD_RESPONSE
        cls, hdr = class_name.encode(), encode_header_map(headers or {})
        switch = CRC_SWITCH if crc else 0
        frame = _V2_RESP.pack(2, 1, TYPE_RESPONSE, cmd, 1, request_id, HESSIAN2, switch, status, len(cls), len(hdr),
                              len(content)) + cls + hdr + content
        return frame + struct.pack(">I", zlib.crc32(frame)) if crc else frame

    def _status_frame(self, request: Frame, status: int) -> bytes:
        return self.response(request.request_id, status, crc=self._has_crc(request.raw))

    def heartbeat_reply(self, request: Frame) -> bytes:
        return self.response(request.request_id, SUCCESS, heartbeat=True, crc=self._has_crc(request.raw))


SOFA_REQUEST_CLASS = "com.alipay.sofa.rpc.core.request.SofaRequest"
SOFA_RESPONSE_CLASS = "com.alipay.sofa.rpc.core.response.SofaResponse"


def bench_frames(protocol: str, payload: bytes):
    """(request template with id 0, respond(frame) -> bytes) for bench/rpc_load.py."""
    codec = BoltV2Codec() if protocol == "boltv2" else BoltCodec()
    headers = {"service": "com.example.EchoService:1.0", "sofa_head_method_name": "echo"}
    template = codec.request(0, headers, payload, class_name=SOFA_REQUEST_CLASS)

    def respond(frame: Frame) -> bytes:
        return codec.response(frame.request_id, SUCCESS, None, payload, class_name=SOFA_RESPONSE_CLASS)

    return template, respond
