"""The server side of an HTTP/2 connection, sans-IO, written for the proxy's hot path.

Why not h2 (or jh2): for every frame h2 builds a hyperframe object, runs it through a
connection state machine and a stream state machine (dict lookups, enum transitions), and
wraps the result in event objects; for a small request and response that is ~87 µs of
Python, where the HPACK work it wraps is ~6 µs of compiled code. Here frames are parsed
straight out of the received bytes with one struct call, stream state is five fields of a
slots object, events are direct calls on a handler, and every frame we write is appended to
one output buffer the connection takes once per loop turn. HPACK stays compiled (jh2's
encoder and decoder; the `hpack` package when jh2 is missing).

The method names that send (`send_headers`, `send_data`, `reset_stream`,
`acknowledge_received_data`, ...) are h2's, so the stream layer drives either codec; the
h2-based codec (`h2_server.py`) is kept as the oracle of tests/unit/protocol/
test_http2_fast_vs_h2.py.

The handler receives on_request(sid, fields, end_stream) (fields are (name, value,
never-indexed) tuples), on_request_data(sid, data,
flow_controlled_length, end_stream), on_request_trailers(sid, fields), on_stream_reset(sid, code),
on_window_updated(sid) (0: the connection's window, or SETTINGS changed the streams'),
on_ping_ack(data), on_goaway(code), and on_header_block_started() / on_header_block_ended()
around a header block split over CONTINUATION frames (the handler bounds its time). A
connection error queues GOAWAY and raises Http2ConnectionError; a stream error is RST_STREAM,
told to the handler as on_stream_reset when the stream had reached it.

Floods (protocol/http2/flood.py): more consecutive DATA, HEADERS and CONTINUATION frames
with an empty payload and no END_STREAM than the settings allow, or a header block of more
CONTINUATION frames, is a connection error ENHANCE_YOUR_CALM naming its Flood."""

from __future__ import annotations

import struct
from typing import ClassVar, NoReturn

from pymosn.protocol.http2.flood import Flood
from pymosn.protocol.http2.settings import Http2Settings

try:
    from jh2._hazmat import Decoder, Encoder, HPACKError, OversizedHeaderListError

    _COMPILED_HPACK = True
except ImportError:  # pragma: no cover - depends on what is installed
    from hpack import Decoder, Encoder
    from hpack.exceptions import HPACKError, OversizedHeaderListError

    _COMPILED_HPACK = False

NO_ERROR = 0x0
PROTOCOL_ERROR = 0x1
FLOW_CONTROL_ERROR = 0x3
STREAM_CLOSED = 0x5
FRAME_SIZE_ERROR = 0x6
COMPRESSION_ERROR = 0x9
ENHANCE_YOUR_CALM = 0xB

_DATA, _HEADERS, _PRIORITY, _RST_STREAM, _SETTINGS = 0x0, 0x1, 0x2, 0x3, 0x4
_PUSH_PROMISE, _PING, _GOAWAY, _WINDOW_UPDATE, _CONTINUATION = 0x5, 0x6, 0x7, 0x8, 0x9
_END_STREAM = _ACK = 0x1
_END_HEADERS = 0x4
_PADDED = 0x8
_PRIORITY_FLAG = 0x20

_MAX_WINDOW = 2**31 - 1
_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
_FRAME = struct.Struct(">BHBBL")  # 24-bit length as (8 high bits, 16 low bits), type, flags, stream
_U32 = struct.Struct(">L")
_U32x2 = struct.Struct(">LL")
_SETTING = struct.Struct(">HL")
_RESET_MEMORY = 4096  # streams we reset whose late frames are ignored, not answered


class Http2ConnectionError(Exception):
    """A connection error (RFC 9113 5.4.1); its GOAWAY is queued in the codec's output.
    `flood` names the flood bound it is, if it is one."""

    def __init__(self, code: int, reason: str, flood: Flood | None = None) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason
        self.flood = flood


class SendError(Exception):
    """A frame for a stream that is closed on our side, or beyond its windows."""


class _Stream:
    __slots__ = ("send", "recv", "pending", "remote_open", "local_open")

    def __init__(self, send: int, recv: int, remote_open: bool) -> None:
        self.send = send  # what the client's windows let us send on it (stream part)
        self.recv = recv  # what the client may still send on it
        self.pending = 0  # received and consumed, not yet credited back
        self.remote_open = remote_open
        self.local_open = True


def _header(length: int, kind: int, flags: int, sid: int) -> bytes:
    return _FRAME.pack(length >> 16, length & 0xFFFF, kind, flags, sid)


class FastServerCodec:
    """One downstream connection's HTTP/2 state: frames in, handler calls and frames out."""

    send_errors: ClassVar[tuple[type[Exception], ...]] = (SendError,)

    def __init__(self, settings: Http2Settings, handler) -> None:
        self.handler = handler
        self.settings = settings
        self.encoder = Encoder()
        decoder = self.decoder = Decoder()
        # Twice what we advertise: a block between the two is answered 431 on its stream
        # (by the stream layer); only beyond is it a HPACK bomb worth the connection.
        self._decoder_limit = decoder.max_header_list_size = 2 * settings.max_header_list_size
        self.streams: dict[int, _Stream] = {}
        self.highest_inbound_stream_id = 0
        self.max_outbound_frame_size = 16_384
        self.outbound_flow_control_window = 65_535  # the connection part of our send window
        self._peer_initial_window = 65_535
        self._stream_window = settings.initial_stream_window_size
        self._stream_threshold = settings.initial_stream_window_size // 2
        self._recv_window = 65_535  # what the client may still send on the connection
        self._conn_window = max(65_535, settings.initial_connection_window_size)
        self._recv_pending = 0
        self._max_frame = settings.max_frame_size
        # a client ignoring REFUSED_STREAM must still not open streams without bound
        self._stream_cap = 2 * settings.max_concurrent_streams + 100
        self._reset_by_us: set[int] = set()
        self._reset_by_peer: set[int] = set()
        self._out = bytearray()
        self._held = bytearray()  # an incomplete frame (or preface), waiting for the rest
        self._preface = True  # the client preface is still expected
        self._block: list | None = None  # [sid, flags, fragments, size] of a block awaiting CONTINUATION
        self._max_block_frames = 1 + settings.max_continuation_frames  # HEADERS and its CONTINUATIONs
        self._empty_frames = 0  # consecutive DATA/HEADERS/CONTINUATION without payload or end
        self._max_empty_frames = settings.max_consecutive_inbound_frames_with_empty_payload
        self._failed = False
        self._handlers = (
            self._on_data, self._on_headers, self._on_priority, self._on_rst_stream, self._on_settings,
            self._on_push_promise, self._on_ping, self._on_goaway, self._on_window_update, self._on_continuation,
        )

    # --- output ------------------------------------------------------------------------------

    def start(self) -> None:
        """Our SETTINGS, and the connection window beyond the default."""
        payload = b"".join(_SETTING.pack(k, v) for k, v in self.settings.local_settings().items())
        out = self._out
        out += _header(len(payload), _SETTINGS, 0, 0)
        out += payload
        extra = self._conn_window - 65_535
        if extra > 0:
            out += _header(4, _WINDOW_UPDATE, 0, 0)
            out += _U32.pack(extra)
            self._recv_window += extra

    def stop(self) -> None:
        """The connection is closing: the rest of what was received is not read."""
        self._failed = True

    def data_to_send(self) -> bytes | bytearray:
        out = self._out
        if not out:
            return b""
        self._out = bytearray()
        return out  # never touched again: the connection may keep it queued

    def send_headers(self, stream_id: int, headers: list[tuple[bytes, bytes]], end_stream: bool = False) -> None:
        stream = self.streams.get(stream_id)
        if stream is None or not stream.local_open:
            raise SendError(f"stream {stream_id} is closed")
        if _COMPILED_HPACK:
            block = self.encoder.encode([(n, v, False) for n, v in headers])
        else:  # pragma: no cover
            block = self.encoder.encode(headers)
        flags = _END_STREAM if end_stream else 0
        size = len(block)
        out = self._out
        limit = self.max_outbound_frame_size
        if size <= limit:
            out += _header(size, _HEADERS, flags | _END_HEADERS, stream_id)
            out += block
        else:
            kind = _HEADERS
            for pos in range(0, size, limit):
                piece = block[pos : pos + limit]
                last = _END_HEADERS if pos + limit >= size else 0
                out += _header(len(piece), kind, flags | last, stream_id)
                out += piece
                kind, flags = _CONTINUATION, 0
        if end_stream:
            self._end_local(stream_id, stream)

    def send_data(self, stream_id: int, data: bytes, end_stream: bool = False) -> None:
        stream = self.streams.get(stream_id)
        if stream is None or not stream.local_open:
            raise SendError(f"stream {stream_id} is closed")
        size = len(data)
        if size > stream.send or size > self.outbound_flow_control_window or size > self.max_outbound_frame_size:
            raise SendError(f"{size} bytes are beyond the windows of stream {stream_id}")
        stream.send -= size
        self.outbound_flow_control_window -= size
        out = self._out
        out += _FRAME.pack(size >> 16, size & 0xFFFF, _DATA, _END_STREAM if end_stream else 0, stream_id)
        out += data
        if end_stream:
            self._end_local(stream_id, stream)

    def local_flow_control_window(self, stream_id: int) -> int:
        stream = self.streams.get(stream_id)
        if stream is None or not stream.local_open:
            raise SendError(f"stream {stream_id} is closed")
        window = self.outbound_flow_control_window
        return stream.send if stream.send < window else window

    def reset_stream(self, stream_id: int, error_code: int = 0) -> None:
        if self.streams.pop(stream_id, None) is None:
            raise SendError(f"stream {stream_id} is closed")
        self._write_reset(stream_id, error_code)

    def acknowledge_received_data(self, size: int, stream_id: int) -> None:
        """The stream layer consumed `size` bytes: both windows get them back, once enough
        have gathered that a WINDOW_UPDATE is worth its frame (half a window)."""
        pending = self._recv_pending + size
        if pending >= self._conn_window >> 1:
            self._recv_pending = 0
            self._recv_window += pending
            out = self._out
            out += _header(4, _WINDOW_UPDATE, 0, 0)
            out += _U32.pack(pending)
        else:
            self._recv_pending = pending
        stream = self.streams.get(stream_id)
        if stream is not None and stream.remote_open:
            pending = stream.pending + size
            if pending >= self._stream_threshold:
                stream.pending = 0
                stream.recv += pending
                out = self._out
                out += _header(4, _WINDOW_UPDATE, 0, stream_id)
                out += _U32.pack(pending)
            else:
                stream.pending = pending

    def increment_flow_control_window(self, increment: int, stream_id: int | None = None) -> None:
        """Credit now, on the connection (no stream_id) or one stream only."""
        if stream_id:
            stream = self.streams.get(stream_id)
            if stream is None:
                raise SendError(f"stream {stream_id} is closed")
            if not stream.remote_open:
                return
            stream.recv += increment
        else:
            stream_id = 0
            self._recv_window += increment
        out = self._out
        out += _header(4, _WINDOW_UPDATE, 0, stream_id)
        out += _U32.pack(increment)

    def ping(self, opaque_data: bytes) -> None:
        out = self._out
        out += _header(8, _PING, 0, 0)
        out += opaque_data

    def _end_local(self, sid: int, stream: _Stream) -> None:
        stream.local_open = False
        if not stream.remote_open:
            del self.streams[sid]

    def _write_reset(self, sid: int, code: int) -> None:
        reset = self._reset_by_us
        if len(reset) >= _RESET_MEMORY:
            reset.clear()
        reset.add(sid)
        out = self._out
        out += _header(4, _RST_STREAM, 0, sid)
        out += _U32.pack(code)

    # --- input -------------------------------------------------------------------------------

    def receive(self, data: bytes) -> None:
        if self._failed:
            return
        held = self._held
        if held:
            # Gathered until the frame is whole: a large frame arriving in many reads is
            # copied once, not once per read.
            held += data
            have = len(held)
            if have < 9 or self._preface and have < 24:
                return
            if not self._preface:
                length = held[0] << 16 | held[1] << 8 | held[2]
                if have < 9 + length and length <= self._max_frame:
                    return
            data = bytes(held)
            self._held = bytearray()
        pos = 0
        if self._preface:
            if len(data) < 24:
                if not _PREFACE.startswith(data):
                    self._fail(PROTOCOL_ERROR, "invalid HTTP/2 preface")
                self._held += data
                return
            if data[:24] != _PREFACE:
                self._fail(PROTOCOL_ERROR, "invalid HTTP/2 preface")
            self._preface = False
            pos = 24
        size = len(data)
        unpack = _FRAME.unpack_from
        handlers = self._handlers
        max_frame = self._max_frame
        while size - pos >= 9:
            high, low, kind, flags, sid = unpack(data, pos)
            length = high << 16 | low
            if length > max_frame:
                self._fail(FRAME_SIZE_ERROR, f"frame of {length} bytes is over the maximum frame size")
            end = pos + 9 + length
            if end > size:
                break
            start = pos + 9
            pos = end
            if self._block is not None and kind != _CONTINUATION:
                self._fail(PROTOCOL_ERROR, "frame other than CONTINUATION inside a header block")
            if kind < 10:
                handlers[kind](flags, sid & _MAX_WINDOW, data, start, end)
            if self._failed:
                return
        if pos < size:
            self._held += memoryview(data)[pos:]

    def _fail(self, code: int, reason: str, flood: Flood | None = None) -> NoReturn:
        self._failed = True
        self._block = None
        payload = _U32x2.pack(self.highest_inbound_stream_id, code) + reason.encode()
        out = self._out
        out += _header(len(payload), _GOAWAY, 0, 0)
        out += payload
        raise Http2ConnectionError(code, reason, flood)

    def _empty_frame(self) -> None:
        """A DATA, HEADERS or CONTINUATION frame with no payload and no END_STREAM: useless,
        so more than a few in a row are a flood (Envoy's empty-frame rule)."""
        count = self._empty_frames = self._empty_frames + 1
        if count > self._max_empty_frames:
            self._fail(ENHANCE_YOUR_CALM, "too many frames with an empty payload", Flood.INBOUND_EMPTY_FRAMES)

    def _stream_error(self, sid: int, code: int) -> None:
        """RST_STREAM; a stream the handler knows hears of it."""
        stream = self.streams.pop(sid, None)
        if stream is None:  # closed already: its later frames are errors too, not ignored
            out = self._out
            out += _header(4, _RST_STREAM, 0, sid)
            out += _U32.pack(code)
            return
        self._write_reset(sid, code)
        self.handler.on_stream_reset(sid, code)

    def _closed_or_idle(self, sid: int, what: str) -> bool:
        """For a frame on a stream not open: idle is a connection error (5.1); closed, True."""
        if sid > self.highest_inbound_stream_id or not sid & 1:
            self._fail(PROTOCOL_ERROR, f"{what} on idle stream {sid}")
        return True

    def _unpad(self, data: bytes, start: int, end: int) -> tuple[int, int]:
        if start >= end:
            self._fail(FRAME_SIZE_ERROR, "padded frame without a pad length")
        pad = data[start]
        start += 1
        if pad > end - start:
            self._fail(PROTOCOL_ERROR, "padding longer than the frame")
        return start, end - pad

    # --- frames ------------------------------------------------------------------------------

    def _on_data(self, flags: int, sid: int, data: bytes, start: int, end: int) -> None:
        if sid == 0:
            self._fail(PROTOCOL_ERROR, "DATA on stream 0")
        size = end - start  # padding included: it counts against the windows
        if size > self._recv_window:
            self._fail(FLOW_CONTROL_ERROR, "DATA beyond the connection window")
        self._recv_window -= size
        if flags & _PADDED:
            start, end = self._unpad(data, start, end)
        if start == end and not flags & _END_STREAM:
            self._empty_frame()
        elif self._empty_frames:
            self._empty_frames = 0
        stream = self.streams.get(sid)
        if stream is None or not stream.remote_open:
            if stream is None:
                self._closed_or_idle(sid, "DATA")
            if size:
                self.acknowledge_received_data(size, 0)  # the connection's share comes back
            if sid not in self._reset_by_us:
                self._stream_error(sid, STREAM_CLOSED)
            return
        if size > stream.recv:
            self._fail(FLOW_CONTROL_ERROR, f"DATA beyond the window of stream {sid}")
        stream.recv -= size
        end_stream = flags & _END_STREAM
        if end_stream:
            stream.remote_open = False
            if not stream.local_open:
                del self.streams[sid]
        self.handler.on_request_data(sid, data[start:end], size, bool(end_stream))

    def _on_headers(self, flags: int, sid: int, data: bytes, start: int, end: int) -> None:
        if sid == 0:
            self._fail(PROTOCOL_ERROR, "HEADERS on stream 0")
        if flags & _PADDED:
            start, end = self._unpad(data, start, end)
        if flags & _PRIORITY_FLAG:
            if end - start < 5:
                self._fail(FRAME_SIZE_ERROR, "HEADERS too short for its priority")
            if _U32.unpack_from(data, start)[0] & _MAX_WINDOW == sid:
                self._fail(PROTOCOL_ERROR, f"stream {sid} depends on itself")
            start += 5
        if start == end and not flags & _END_STREAM:
            self._empty_frame()
        elif self._empty_frames:
            self._empty_frames = 0
        if flags & _END_HEADERS:
            self._header_block(sid, flags, data[start:end])
        else:
            self._block = [sid, flags, [data[start:end]], end - start]
            self.handler.on_header_block_started()

    def _on_continuation(self, flags: int, sid: int, data: bytes, start: int, end: int) -> None:
        block = self._block
        if block is None or block[0] != sid:
            self._fail(PROTOCOL_ERROR, "CONTINUATION without its HEADERS")
        if start == end:
            self._empty_frame()
        elif self._empty_frames:
            self._empty_frames = 0
        fragments = block[2]
        fragments.append(data[start:end])
        block[3] += end - start
        if block[3] > self._decoder_limit + self._max_frame:
            self._fail(ENHANCE_YOUR_CALM, "header block over the header list limit")
        if len(fragments) > self._max_block_frames:
            self._fail(ENHANCE_YOUR_CALM, "header block of too many CONTINUATION frames", Flood.HEADER_BLOCK_FRAMES)
        if flags & _END_HEADERS:
            self._block = None
            self.handler.on_header_block_ended()
            self._header_block(sid, block[1], b"".join(fragments))

    def _header_block(self, sid: int, flags: int, block: bytes) -> None:
        try:
            decoded = self.decoder.decode(block, raw=True)
        except OversizedHeaderListError:
            self._fail(ENHANCE_YOUR_CALM, "header list over the decoder's limit")
        except (HPACKError, ValueError, IndexError, TypeError):
            self._fail(COMPRESSION_ERROR, "header block HPACK cannot decode")
        end_stream = bool(flags & _END_STREAM)
        stream = self.streams.get(sid)
        if stream is None:
            if not sid & 1:
                self._fail(PROTOCOL_ERROR, f"HEADERS on even stream {sid}")
            if sid <= self.highest_inbound_stream_id:
                if sid in self._reset_by_us:
                    return
                if sid in self._reset_by_peer:  # a stream error then (5.1), not the connection's
                    self._stream_error(sid, STREAM_CLOSED)
                    return
                self._fail(STREAM_CLOSED, f"HEADERS on closed stream {sid}")
            self.highest_inbound_stream_id = sid
            if len(self.streams) >= self._stream_cap:
                self._fail(PROTOCOL_ERROR, "too many streams open")
            self.streams[sid] = _Stream(self._peer_initial_window, self._stream_window, not end_stream)
            # (name, value, never-indexed) as decoded: request_head reads the first two
            self.handler.on_request(sid, decoded, end_stream)
            return
        if not stream.remote_open:
            self._stream_error(sid, STREAM_CLOSED)
        elif not end_stream:
            self._stream_error(sid, PROTOCOL_ERROR)  # trailers end the stream (8.1)
        else:
            stream.remote_open = False
            if not stream.local_open:
                del self.streams[sid]
            self.handler.on_request_trailers(sid, [(f[0], f[1]) for f in decoded])

    def _on_priority(self, flags: int, sid: int, data: bytes, start: int, end: int) -> None:
        if sid == 0:
            self._fail(PROTOCOL_ERROR, "PRIORITY on stream 0")
        if end - start != 5:
            self._fail(FRAME_SIZE_ERROR, "PRIORITY of a length other than 5")
        if _U32.unpack_from(data, start)[0] & _MAX_WINDOW == sid:
            # a stream error by RFC 9113 5.3.1; h2 (and so our oracle) ends the connection
            self._fail(PROTOCOL_ERROR, f"stream {sid} depends on itself")
        # priorities are otherwise ignored: responses leave as their upstreams answer

    def _on_rst_stream(self, flags: int, sid: int, data: bytes, start: int, end: int) -> None:
        if sid == 0:
            self._fail(PROTOCOL_ERROR, "RST_STREAM on stream 0")
        if end - start != 4:
            self._fail(FRAME_SIZE_ERROR, "RST_STREAM of a length other than 4")
        if self.streams.pop(sid, None) is None:
            self._closed_or_idle(sid, "RST_STREAM")
            return
        reset = self._reset_by_peer
        if len(reset) >= _RESET_MEMORY:
            reset.clear()
        reset.add(sid)
        self.handler.on_stream_reset(sid, _U32.unpack_from(data, start)[0])

    def _on_settings(self, flags: int, sid: int, data: bytes, start: int, end: int) -> None:
        if sid:
            self._fail(PROTOCOL_ERROR, "SETTINGS on a stream")
        if flags & _ACK:
            if end != start:
                self._fail(FRAME_SIZE_ERROR, "SETTINGS ACK with a payload")
            return
        if (end - start) % 6:
            self._fail(FRAME_SIZE_ERROR, "SETTINGS length not a multiple of 6")
        window_changed = False
        for pos in range(start, end, 6):
            ident, value = _SETTING.unpack_from(data, pos)
            if ident == 0x1:
                self.encoder.header_table_size = value
            elif ident == 0x2:
                if value > 1:
                    self._fail(PROTOCOL_ERROR, "SETTINGS_ENABLE_PUSH other than 0 or 1")
            elif ident == 0x4:
                if value > _MAX_WINDOW:
                    self._fail(FLOW_CONTROL_ERROR, "SETTINGS_INITIAL_WINDOW_SIZE over 2^31-1")
                delta = value - self._peer_initial_window
                self._peer_initial_window = value
                if delta:
                    window_changed = True
                    for stream in self.streams.values():
                        stream.send += delta
                        if stream.send > _MAX_WINDOW:
                            self._fail(FLOW_CONTROL_ERROR, "SETTINGS_INITIAL_WINDOW_SIZE overflows a stream window")
            elif ident == 0x5:
                if not 16_384 <= value <= 16_777_215:
                    self._fail(PROTOCOL_ERROR, "SETTINGS_MAX_FRAME_SIZE out of range")
                self.max_outbound_frame_size = value
        self._out += _header(0, _SETTINGS, _ACK, 0)
        if window_changed:
            self.handler.on_window_updated(0)

    def _on_push_promise(self, flags: int, sid: int, data: bytes, start: int, end: int) -> None:
        self._fail(PROTOCOL_ERROR, "PUSH_PROMISE from a client")

    def _on_ping(self, flags: int, sid: int, data: bytes, start: int, end: int) -> None:
        if sid:
            self._fail(PROTOCOL_ERROR, "PING on a stream")
        if end - start != 8:
            self._fail(FRAME_SIZE_ERROR, "PING of a length other than 8")
        if flags & _ACK:
            self.handler.on_ping_ack(data[start:end])
            return
        out = self._out
        out += _header(8, _PING, _ACK, 0)
        out += data[start:end]

    def _on_goaway(self, flags: int, sid: int, data: bytes, start: int, end: int) -> None:
        if sid:
            self._fail(PROTOCOL_ERROR, "GOAWAY on a stream")
        if end - start < 8:
            self._fail(FRAME_SIZE_ERROR, "GOAWAY shorter than 8 bytes")
        self.handler.on_goaway(_U32.unpack_from(data, start + 4)[0])

    def _on_window_update(self, flags: int, sid: int, data: bytes, start: int, end: int) -> None:
        if end - start != 4:
            self._fail(FRAME_SIZE_ERROR, "WINDOW_UPDATE of a length other than 4")
        increment = _U32.unpack_from(data, start)[0] & _MAX_WINDOW
        if sid == 0:
            if not increment:
                self._fail(PROTOCOL_ERROR, "WINDOW_UPDATE of 0 on the connection")
            window = self.outbound_flow_control_window + increment
            if window > _MAX_WINDOW:
                self._fail(FLOW_CONTROL_ERROR, "WINDOW_UPDATE overflows the connection window")
            self.outbound_flow_control_window = window
            self.handler.on_window_updated(0)
            return
        stream = self.streams.get(sid)
        if stream is None:
            self._closed_or_idle(sid, "WINDOW_UPDATE")
            return
        if not increment:
            self._stream_error(sid, PROTOCOL_ERROR)
            return
        window = stream.send + increment
        if window > _MAX_WINDOW:
            self._stream_error(sid, FLOW_CONTROL_ERROR)
            return
        stream.send = window
        self.handler.on_window_updated(sid)
