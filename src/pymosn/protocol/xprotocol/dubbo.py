"""Apache Dubbo 2.x (Dubbo protocol, hessian2 serialization) as an X-Protocol codec.

Header, 16 bytes big-endian: magic 0xdabb, flag (0x80 request, 0x40 two-way, 0x20 event, low 5
bits the serialization id; hessian2 is 2), status (responses; 20 = OK), request id (int64),
body length (int32). A request body is: dubbo version, service path, service version, method
name, parameter-types descriptor, the arguments, the attachments map (hessian2 values).

For routing only the leading strings and the attachments are read; the arguments are skipped
without being built, and the body is forwarded untouched. A body that cannot be read for
routing still forwards (its frame is sound); only header-level garbage is a protocol error.
Headers exposed to routes use MOSN's names: service (= interface path), interface, method,
version, group, dubbo (framework version), plus every string attachment."""

from __future__ import annotations

import struct

from pymosn.api.errors import ProtocolError
from pymosn.api.headers import HeaderSide
from pymosn.protocol.xprotocol.api import Frame, FrameKind, LocalStatus, Match, PoolMode, XCodec
from pymosn.protocol.xprotocol.hessian2 import Reader, write_int, write_string, write_string_map

MAGIC = b"\xda\xbb"
HEADER = struct.Struct(">2sBBqI")
MAX_FRAME = 16 * 1024 * 1024  # Dubbo's own default payload limit is 8 MiB

FLAG_REQUEST, FLAG_TWO_WAY, FLAG_EVENT = 0x80, 0x40, 0x20
HESSIAN2 = 2

OK = 20
CLIENT_TIMEOUT = 30
SERVER_TIMEOUT = 31
BAD_REQUEST = 40
BAD_RESPONSE = 50
SERVICE_NOT_FOUND = 60
SERVICE_ERROR = 70
SERVER_ERROR = 80
CLIENT_ERROR = 90
SERVER_THREADPOOL_EXHAUSTED_ERROR = 100

RESPONSE_WITH_EXCEPTION, RESPONSE_VALUE, RESPONSE_NULL_VALUE = 0, 1, 2

# Why the proxy answers -> (status, message), as MOSN's dubbo hijack does
_LOCAL = {
    LocalStatus.NO_ROUTE: (SERVICE_NOT_FOUND, "404|router unavailable"),
    LocalStatus.NO_HEALTHY_UPSTREAM: (SERVICE_NOT_FOUND, "502|no health upstream"),
    LocalStatus.UPSTREAM_OVERFLOW: (BAD_REQUEST, "503|upstream overflow"),
    LocalStatus.TIMEOUT: (CLIENT_TIMEOUT, "504|timeout"),
    LocalStatus.CONNECTION_FAILURE: (SERVICE_NOT_FOUND, "502|upstream connection failure"),
    LocalStatus.CODEC_EXCEPTION: (SERVICE_ERROR, "0|codec exception"),
}
# A local reply's HTTP status (MOSN's api codes) -> (status, message), as MOSN's dubbo Hijack;
# another code is a SERVICE_ERROR with the code and the reply's details.
_MOSN_CODE = {
    0: (SERVICE_ERROR, "0|codec exception"),
    2: (SERVICE_ERROR, "2|unknown"),
    3: (SERVICE_ERROR, "3|deserial exception"),
    200: (OK, "200|success"),
    403: (SERVER_ERROR, "403|permission denied"),
    404: (SERVICE_NOT_FOUND, "404|router unavailable"),
    500: (SERVICE_ERROR, "500|internal error"),
    502: (SERVICE_NOT_FOUND, "502|no health upstream"),
    503: (BAD_REQUEST, "503|upstream overflow"),
    504: (CLIENT_TIMEOUT, "504|timeout"),
    509: (BAD_REQUEST, "509|limit exceeded"),
}
# the invocation's own fields, exposed as headers for routing; the rest are attachments
FIELD_HEADERS = frozenset({"dubbo", "service", "interface", "version", "method"})
_HTTP = {OK: 200, CLIENT_TIMEOUT: 504, SERVER_TIMEOUT: 504, BAD_REQUEST: 400, SERVICE_NOT_FOUND: 404,
         SERVER_THREADPOOL_EXHAUSTED_ERROR: 503}


def argument_count(descriptor: str) -> int:
    """How many arguments a JVM parameter descriptor like "Ljava/lang/String;I[J" lists."""
    count, i, n = 0, 0, len(descriptor)
    while i < n:
        c = descriptor[i]
        while c == "[":
            i += 1
            if i >= n:
                raise ProtocolError("dubbo: bad parameter types descriptor")
            c = descriptor[i]
        if c == "L":
            end = descriptor.find(";", i)
            if end < 0:
                raise ProtocolError("dubbo: bad parameter types descriptor")
            i = end
        elif c not in "ZBCDFIJSV":
            raise ProtocolError(f"dubbo: bad parameter type {c!r}")
        count += 1
        i += 1
    return count


def routing_headers(body: bytes | memoryview) -> dict[str, str]:
    reader = Reader(body)
    dubbo_version = reader.read_string() or ""
    path = reader.read_string() or ""
    version = reader.read_string() or ""
    method = reader.read_string() or ""
    headers = {"dubbo": dubbo_version, "service": path, "interface": path, "version": version, "method": method}
    descriptor = reader.read_string() or ""
    for _ in range(argument_count(descriptor)):
        reader.skip()
    if not reader.at_end():
        attachments = reader.read_string_map()
        for key, value in attachments.items():
            headers.setdefault(key, value)
        if "version" in attachments and not version:
            headers["version"] = attachments["version"]
    return headers


class DubboCodec(XCodec):
    name = "dubbo"
    pool_mode = PoolMode.MULTIPLEX
    max_request_id = 2**63 - 1
    fixed_headers = FIELD_HEADERS
    # a request's attachments are its header map; a response has none (MOSN's Dubbo neither)
    rewritable_headers = HeaderSide.REQUEST

    def match(self, data: bytes) -> Match:
        n = min(len(data), 2)
        if data[:n] != MAGIC[:n]:
            return Match.NO
        return Match.YES if n == 2 else Match.AGAIN

    def decode(self, buffer: bytearray) -> Frame | None:
        if len(buffer) < HEADER.size:
            if buffer[:2] and buffer[: min(2, len(buffer))] != MAGIC[: min(2, len(buffer))]:
                raise ProtocolError("dubbo: bad magic")
            return None
        magic, flag, status, request_id, length = HEADER.unpack_from(buffer)
        if magic != MAGIC:
            raise ProtocolError("dubbo: bad magic")
        if length < 0 or HEADER.size + length > MAX_FRAME:
            raise ProtocolError(f"dubbo: body of {length} bytes is over the limit")
        size = HEADER.size + length
        if len(buffer) < size:
            return None
        raw = buffer[:size]
        del buffer[:size]
        event = bool(flag & FLAG_EVENT)
        if flag & FLAG_REQUEST:
            kind = FrameKind.REQUEST if flag & FLAG_TWO_WAY else FrameKind.ONEWAY
            headers: dict[str, str] = {}
            if not event:
                try:
                    headers = routing_headers(memoryview(raw)[HEADER.size :])
                except ProtocolError:
                    headers = {}  # a body we cannot read for routing still forwards
            return Frame(kind, request_id, raw, heartbeat=event, headers=headers)
        return Frame(FrameKind.RESPONSE, request_id, raw, heartbeat=event, status=status)

    def set_request_id(self, frame: Frame, request_id: int) -> None:
        struct.pack_into(">q", frame.raw, 4, request_id)
        frame.request_id = request_id

    # --- frames the proxy (and tests) make -----------------------------------------------------

    def request(self, request_id: int, path: str, method: str, args: list[bytes] | None = None, *,
                descriptor: str = "", version: str = "", attachments: dict[str, str] | None = None,
                oneway: bool = False, dubbo_version: str = "2.0.2") -> bytes:
        """`args`: each argument already hessian2-encoded; `descriptor` must list them."""
        body = (write_string(dubbo_version) + write_string(path) + write_string(version) + write_string(method)
                + write_string(descriptor) + b"".join(args or []) + write_string_map(attachments or {}))
        flag = FLAG_REQUEST | HESSIAN2 | (0 if oneway else FLAG_TWO_WAY)
        return HEADER.pack(MAGIC, flag, 0, request_id, len(body)) + body

    def response(self, request_id: int, status: int, body: bytes) -> bytes:
        return HEADER.pack(MAGIC, HESSIAN2, status, request_id, len(body)) + body

    def value_response(self, request_id: int, value: bytes) -> bytes:
        """An OK response carrying one hessian2-encoded value."""
        return self.response(request_id, OK, write_int(RESPONSE_VALUE) + value)

    def heartbeat(self, request_id: int) -> bytes:
        return HEADER.pack(MAGIC, FLAG_REQUEST | FLAG_TWO_WAY | FLAG_EVENT | HESSIAN2, 0, request_id, 1) + b"N"

    def heartbeat_reply(self, request: Frame) -> bytes:
        return HEADER.pack(MAGIC, FLAG_EVENT | HESSIAN2, OK, request.request_id, 1) + b"N"

    def local_reply(self, request: Frame, status: LocalStatus, message: str) -> bytes:
        # As Dubbo servers send errors: the status byte, and the error message as the body.
        code, text = _LOCAL[status]
        return self.response(request.request_id, code, write_string(text))

    def status_reply(self, request: Frame, code: int, message: str) -> bytes:
        status, text = _MOSN_CODE.get(code) or (SERVICE_ERROR, f"{code}|{message}")
        return self.response(request.request_id, status, write_string(text))

    # --- the header map and body, for stream filters -------------------------------------------

    def body_of(self, frame: Frame) -> bytes:
        return bytes(frame.raw[HEADER.size :])

    def rewrite_headers(self, frame: Frame, headers: dict[str, str]) -> None:
        """Writes `headers` (attachments: the invocation's fields are fixed) into the request's
        attachments map. Entries that are not string pairs, and attachments named like a field,
        are kept byte for byte; removing or rewriting string pairs moves no Hessian reference."""
        if frame.kind == FrameKind.RESPONSE:
            raise ProtocolError("dubbo: a response carries no attachments to rewrite")
        body = memoryview(frame.raw)[HEADER.size :]
        reader = Reader(body)
        for _ in range(4):  # dubbo version, path, version, method
            reader.read_string()
        for _ in range(argument_count(reader.read_string() or "")):
            reader.skip()
        start = reader.pos
        opening, entries = (b"H", []) if reader.at_end() else reader.read_map_entries()
        attachments = bytearray(opening)
        pending = dict(headers)
        for entry_start, entry_end, key, value in entries:
            if key is None or value is None or key.lower() in FIELD_HEADERS:
                attachments += body[entry_start:entry_end]
            elif key in pending:
                new = pending.pop(key)
                attachments += body[entry_start:entry_end] if new == value else write_string(key) + write_string(new)
            # else: a filter removed it
        for key, value in pending.items():
            attachments += write_string(key) + write_string(value)
        attachments += b"Z"
        rewritten = bytearray(body[:start]) + attachments + body[reader.pos :]
        frame.raw = bytearray(frame.raw[: HEADER.size - 4]) + struct.pack(">I", len(rewritten)) + rewritten
        frame.headers = routing_headers(rewritten)

    def response_ok(self, response: Frame) -> bool:
        return response.status == OK

    def http_status(self, response: Frame) -> int:
        return _HTTP.get(response.status, 500)


def bench_frames(payload: bytes):
    """(request template with id 0, respond(frame) -> bytes) for bench/rpc_load.py."""
    codec = DubboCodec()
    argument = write_string(payload.decode("latin-1"))
    template = codec.request(0, "com.example.EchoService", "echo", [argument], descriptor="Ljava/lang/String;",
                             version="1.0.0", attachments={"group": "bench", "timeout": "3000"})

    def respond(frame: Frame) -> bytes:
        return codec.value_response(frame.request_id, argument)

    return template, respond
