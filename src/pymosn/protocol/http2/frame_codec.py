"""What both ends of an HTTP/2 connection do alike, sans-IO, written for the proxy's hot path:
frames parsed straight out of the received bytes, flow control both ways, SETTINGS, PING,
RST_STREAM, header blocks over CONTINUATION. The sending half (every frame we write appended
to one output buffer the connection takes once per loop turn) is frame_writer.py; the wire
format, frames.py.

Why not h2 (or jh2): for every frame h2 builds a hyperframe object, runs it through a
connection state machine and a stream state machine (dict lookups, enum transitions), and
wraps the result in event objects; for a small request and response that is ~87 µs of
Python, where the HPACK work it wraps is ~6 µs of compiled code. Header blocks are decoded by
jh2's compiled decoder (the `hpack` package's when jh2 is missing) and encoded by our own
(hpack_encoder.py, which says why).

The two ends differ in who opens streams and what a header block means: `fast_server.
FastServerCodec` takes requests, `fast_client.FastClientCodec` sends them. Each subclass
says which streams are idle (`_closed_or_idle`), what a decoded header block is
(`_header_block`), and what a peer's SETTINGS change for it (`_settings_received`).

Handler calls shared by both: on_stream_reset(sid, code), on_window_updated(sid) (0: the
connection's window, or SETTINGS changed the streams'), on_ping_ack(data), and
on_header_block_started() / on_header_block_ended() around a header block split over
CONTINUATION frames, and on_goaway(last_stream_id, code). DATA goes to the sink the
subclass names (`data_sink`: sid, data, flow-controlled length, end_stream). A connection
error queues GOAWAY and raises Http2ConnectionError; a stream error is RST_STREAM, told to
the handler as on_stream_reset when the stream had reached it.

Floods (protocol/http2/flood.py): more consecutive DATA, HEADERS and CONTINUATION frames with
an empty payload and no END_STREAM than allowed, or a header block of more CONTINUATION
frames, is a connection error ENHANCE_YOUR_CALM naming its Flood."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final, NoReturn

from pymosn.protocol.http2.flood import Flood
from pymosn.protocol.http2.frame_writer import _RESET_MEMORY, FrameWriter, Http2ConnectionError
from pymosn.protocol.http2.frames import (
    ACK,
    COMPRESSION_ERROR,
    CONTINUATION,
    DATA,
    END_HEADERS,
    END_STREAM,
    ENHANCE_YOUR_CALM,
    FLOW_CONTROL_ERROR,
    FRAME,
    FRAME_SIZE_ERROR,
    FRAME_U32,
    HEADERS,
    MAX_WINDOW,
    PADDED,
    PING,
    PRIORITY_FLAG,
    PROTOCOL_ERROR,
    RST_STREAM,
    SETTING,
    SETTINGS,
    STREAM_CLOSED,
    U32,
    WINDOW_UPDATE,
    U32x2,
    frame_header,
)

try:
    from jh2._hazmat import Decoder, OversizedHeaderListError
except ImportError:  # pragma: no cover - depends on what is installed
    from hpack import Decoder
    from hpack.exceptions import OversizedHeaderListError


_MAX_REMEMBERED: Final = 64  # decoded blocks remembered per connection
_MAX_REMEMBERED_BLOCK: Final = 512  # bytes


def _keeps_table(block: bytes) -> bool:
    """Whether decoding `block` leaves the HPACK dynamic table as it was (RFC 7541 6): every
    representation is an indexed field or a literal without or never indexed, none a literal
    with incremental indexing (6.2.1) or a table size update (6.3). False for a block that
    ends inside a representation (the decoder has refused it by then)."""
    pos = 0
    size = len(block)
    while pos < size:
        first = block[pos]
        if first & 0x80:  # indexed (6.1)
            pos = _after_integer(block, pos, 0x7F)
        elif first & 0x60:  # with incremental indexing, or a size update
            return False
        else:  # without (0000) or never (0001) indexed: a name index or a literal name, a value
            name_literal = not first & 0x0F
            pos = _after_integer(block, pos, 0x0F)
            if name_literal and pos >= 0:
                pos = _after_string(block, pos)
            if pos >= 0:
                pos = _after_string(block, pos)
        if pos < 0:
            return False
    return True


def _after_integer(block: bytes, pos: int, mask: int) -> int:
    """Where the integer (5.1) of `mask`'s prefix at `pos` ends; -1 past the block's end."""
    end, _ = _integer_at(block, pos, mask)
    return end


def _integer_at(block: bytes, pos: int, mask: int) -> tuple[int, int]:
    """(where it ends, its value) of the integer at `pos`; (-1, 0) when it runs past the end
    or past 2^28 (no field is that long)."""
    value = block[pos] & mask
    pos += 1
    if value < mask:
        return pos, value
    shift = 0
    size = len(block)
    while pos < size and shift <= 21:
        byte = block[pos]
        pos += 1
        value += (byte & 0x7F) << shift
        if not byte & 0x80:
            return pos, value
        shift += 7
    return -1, 0


def _after_string(block: bytes, pos: int) -> int:
    """Where the string literal (5.2) at `pos` ends; -1 past the block's end."""
    if pos >= len(block):
        return -1
    end, length = _integer_at(block, pos, 0x7F)  # (the Huffman flag is the prefix's top bit)
    if end < 0 or end + length > len(block):
        return -1
    return end + length


class FrameCodec(FrameWriter):
    """One connection's HTTP/2 frames, either end: bytes in, handler calls and bytes out."""

    def __init__(self, handler: Any, data_sink: Callable[[int, bytes, int, bool], None], *, stream_window: int, connection_window: int, max_frame_size: int,
                 max_header_list_size: int, max_continuation_frames: int, max_empty_frames: int,
                 max_enable_push: int) -> None:
        super().__init__(stream_window=stream_window, connection_window=connection_window)
        self.handler = handler
        decoder = self.decoder = Decoder()
        # Blocks that keep the dynamic table as it was, by their bytes, with what they decoded
        # to: the same bytes decode to the same fields until a block changes the table. A
        # peer that indexes what it repeats sends most blocks as indexes only (a gRPC call's
        # three blocks, after the first call); jh2 would build new tuples and bytes for each,
        # which every check and lookup downstream then hashes again.
        self._decoded: dict[bytes, list] = {}
        # Twice what we advertise: a block between the two is refused on its stream (by the
        # stream layer); only beyond is it a HPACK bomb worth the connection.
        self._decoder_limit = decoder.max_header_list_size = 2 * max_header_list_size
        self._max_frame = max_frame_size
        self._max_enable_push = max_enable_push  # 1 from a client; a server must say 0 (6.5.2)
        self._reset_by_peer: set[int] = set()
        self._held = bytearray()  # an incomplete frame (or preface), waiting for the rest
        self._preface = False  # a client preface is still expected (the server sets it)
        self._block: list | None = None  # [sid, flags, fragments, size] of a block awaiting CONTINUATION
        self._max_block_frames = 1 + max_continuation_frames  # HEADERS and its CONTINUATIONs
        self._empty_frames = 0  # consecutive DATA/HEADERS/CONTINUATION without payload or end
        self._max_empty_frames = max_empty_frames
        self._data_sink = data_sink  # (sid, data, flow-controlled length, end_stream)
        self._handlers = (
            self._on_data, self._on_headers, self._on_priority, self._on_rst_stream, self._on_settings,
            self._on_push_promise, self._on_ping, self._on_goaway, self._on_window_update, self._on_continuation,
        )

    def stop(self) -> None:
        """The connection is closing: the rest of what was received is not read."""
        self._failed = True

    # --- input -------------------------------------------------------------------------------

    def _expect_preface(self, data: bytes) -> int:
        """Where the frames start in `data` (the server checks the client preface); -1: held."""
        return 0

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
            pos = self._expect_preface(data)
            if pos < 0:
                return
        size = len(data)
        unpack = FRAME.unpack_from
        handlers = self._handlers
        max_frame = self._max_frame
        # declared: compiled, the fields are machine integers, not boxed objects per operation
        high: int
        low: int
        kind: int
        flags: int
        sid: int
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
            if self._block is not None and kind != CONTINUATION:
                self._fail(PROTOCOL_ERROR, "frame other than CONTINUATION inside a header block")
            # the frequent kinds by direct calls (compiled: no boxing, no argument parsing)
            if kind == DATA:
                self._on_data(flags, sid & MAX_WINDOW, data, start, end)
            elif kind == HEADERS:
                self._on_headers(flags, sid & MAX_WINDOW, data, start, end)
            elif kind == WINDOW_UPDATE:
                self._on_window_update(flags, sid & MAX_WINDOW, data, start, end)
            elif kind < 10:
                handlers[kind](flags, sid & MAX_WINDOW, data, start, end)
            if self._failed:
                return
        if pos < size:
            self._held += memoryview(data)[pos:]

    def _fail(self, code: int, reason: str, flood: Flood | None = None) -> NoReturn:
        self._failed = True
        self._block = None
        self.goaway(code, reason.encode())
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
            self._out.append(FRAME_U32.pack(0, 4, RST_STREAM, 0, sid, code))
            return
        self._write_reset(sid, code)
        self.handler.on_stream_reset(sid, code)

    def _closed_or_idle(self, sid: int, what: str) -> bool:
        """For a frame on a stream not open: idle is a connection error (5.1); closed, True."""
        raise NotImplementedError

    def _unpad(self, data: bytes, start: int, end: int) -> tuple[int, int]:
        if start >= end:
            self._fail(FRAME_SIZE_ERROR, "padded frame without a pad length")
        pad = data[start]
        start += 1
        if pad > end - start:
            self._fail(PROTOCOL_ERROR, "padding longer than the frame")
        return start, end - pad

    def _decode(self, block: bytes) -> list:
        """The fields of a header block; the same list (of the same objects) for a block
        decoded before, while the dynamic table has not changed since: callers read it and
        never change it."""
        decoded: list | None = self._decoded.get(block)
        if decoded is not None:
            return decoded
        decoded = self._hpack_decode(block)
        if not _keeps_table(block):
            self._decoded.clear()  # what the remembered blocks referred to may have moved
        elif len(block) <= _MAX_REMEMBERED_BLOCK:
            if len(self._decoded) >= _MAX_REMEMBERED:
                self._decoded.clear()
            self._decoded[block] = decoded
        return decoded

    def _hpack_decode(self, block: bytes) -> list:
        try:
            return self.decoder.decode(block, True)  # raw: bytes, not str (positional: cheaper to pass)
        except OversizedHeaderListError:
            self._fail(ENHANCE_YOUR_CALM, "header list over the decoder's limit")
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException:  # noqa: BLE001
            # HPACKError for most bad blocks; but jh2 5's Rust decoder panics on a block that
            # ends inside a multi-byte integer, and pyo3 raises that as PanicException, a
            # BaseException. Whatever the decoder raises, the block cannot be decoded.
            self._fail(COMPRESSION_ERROR, "header block HPACK cannot decode")

    def _header_block(self, sid: int, flags: int, block: bytes) -> None:
        raise NotImplementedError

    def _settings_received(self, window_changed: bool) -> None:
        raise NotImplementedError

    def _on_max_concurrent_streams(self, value: int) -> None:
        """The peer's SETTINGS_MAX_CONCURRENT_STREAMS (a client heeds it)."""

    # --- frames ------------------------------------------------------------------------------

    def _on_data(self, flags: int, sid: int, data: bytes, start: int, end: int) -> None:
        if sid == 0:
            self._fail(PROTOCOL_ERROR, "DATA on stream 0")
        size = end - start  # padding included: it counts against the windows
        if size > self._recv_window:
            self._fail(FLOW_CONTROL_ERROR, "DATA beyond the connection window")
        self._recv_window -= size
        if flags & PADDED:
            start, end = self._unpad(data, start, end)
        if start == end and not flags & END_STREAM:
            self._empty_frame()
        elif self._empty_frames:
            self._empty_frames = 0
        stream = self.streams.get(sid)
        if stream is None or not stream.remote_open or not stream.head_seen:
            if stream is None:
                self._closed_or_idle(sid, "DATA")
            if size:
                self.acknowledge_received_data(size, 0)  # the connection's share comes back
            if stream is not None and stream.remote_open:  # DATA before the response's HEADERS
                self._stream_error(sid, PROTOCOL_ERROR)
            elif sid not in self._reset_by_us:
                self._stream_error(sid, STREAM_CLOSED)
            return
        if size > stream.recv:
            self._fail(FLOW_CONTROL_ERROR, f"DATA beyond the window of stream {sid}")
        stream.recv -= size
        end_stream = flags & END_STREAM
        if end_stream:
            self._end_remote(sid, stream)
        self._data_sink(sid, data[start:end], size, bool(end_stream))

    def _on_headers(self, flags: int, sid: int, data: bytes, start: int, end: int) -> None:
        if sid == 0:
            self._fail(PROTOCOL_ERROR, "HEADERS on stream 0")
        if flags & PADDED:
            start, end = self._unpad(data, start, end)
        if flags & PRIORITY_FLAG:
            if end - start < 5:
                self._fail(FRAME_SIZE_ERROR, "HEADERS too short for its priority")
            if U32.unpack_from(data, start)[0] & MAX_WINDOW == sid:
                self._fail(PROTOCOL_ERROR, f"stream {sid} depends on itself")
            start += 5
        if start == end and not flags & END_STREAM:
            self._empty_frame()
        elif self._empty_frames:
            self._empty_frames = 0
        if flags & END_HEADERS:
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
        if flags & END_HEADERS:
            self._block = None
            self.handler.on_header_block_ended()
            self._header_block(sid, block[1], b"".join(fragments))

    def _on_priority(self, flags: int, sid: int, data: bytes, start: int, end: int) -> None:
        if sid == 0:
            self._fail(PROTOCOL_ERROR, "PRIORITY on stream 0")
        if end - start != 5:
            self._fail(FRAME_SIZE_ERROR, "PRIORITY of a length other than 5")
        if U32.unpack_from(data, start)[0] & MAX_WINDOW == sid:
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
        self.handler.on_stream_reset(sid, U32.unpack_from(data, start)[0])

    def _on_settings(self, flags: int, sid: int, data: bytes, start: int, end: int) -> None:
        if sid:
            self._fail(PROTOCOL_ERROR, "SETTINGS on a stream")
        if flags & ACK:
            if end != start:
                self._fail(FRAME_SIZE_ERROR, "SETTINGS ACK with a payload")
            return
        if (end - start) % 6:
            self._fail(FRAME_SIZE_ERROR, "SETTINGS length not a multiple of 6")
        window_changed = False
        for pos in range(start, end, 6):
            ident, value = SETTING.unpack_from(data, pos)
            if ident == 0x1:
                self.encoder.header_table_size = value
            elif ident == 0x2:
                if value > self._max_enable_push:
                    self._fail(PROTOCOL_ERROR, f"SETTINGS_ENABLE_PUSH of {value}")
            elif ident == 0x3:
                self._on_max_concurrent_streams(value)
            elif ident == 0x4:
                if value > MAX_WINDOW:
                    self._fail(FLOW_CONTROL_ERROR, "SETTINGS_INITIAL_WINDOW_SIZE over 2^31-1")
                delta = value - self._peer_initial_window
                self._peer_initial_window = value
                if delta:
                    window_changed = True
                    for stream in self.streams.values():
                        stream.send += delta
                        if stream.send > MAX_WINDOW:
                            self._fail(FLOW_CONTROL_ERROR, "SETTINGS_INITIAL_WINDOW_SIZE overflows a stream window")
            elif ident == 0x5:
                if not 16_384 <= value <= 16_777_215:
                    self._fail(PROTOCOL_ERROR, "SETTINGS_MAX_FRAME_SIZE out of range")
                self.max_outbound_frame_size = value
        self._out.append(frame_header(0, SETTINGS, ACK, 0))
        self._settings_received(window_changed)

    def _on_push_promise(self, flags: int, sid: int, data: bytes, start: int, end: int) -> None:
        # push is off at both ends: a client never may, and we tell servers so (ENABLE_PUSH 0)
        self._fail(PROTOCOL_ERROR, "PUSH_PROMISE with push disabled")

    def _on_ping(self, flags: int, sid: int, data: bytes, start: int, end: int) -> None:
        if sid:
            self._fail(PROTOCOL_ERROR, "PING on a stream")
        if end - start != 8:
            self._fail(FRAME_SIZE_ERROR, "PING of a length other than 8")
        if flags & ACK:
            self.handler.on_ping_ack(data[start:end])
            return
        self._out.append(frame_header(8, PING, ACK, 0) + data[start:end])

    def _on_goaway(self, flags: int, sid: int, data: bytes, start: int, end: int) -> None:
        if sid:
            self._fail(PROTOCOL_ERROR, "GOAWAY on a stream")
        if end - start < 8:
            self._fail(FRAME_SIZE_ERROR, "GOAWAY shorter than 8 bytes")
        last, code = U32x2.unpack_from(data, start)
        self._goaway_received(last & MAX_WINDOW, code)

    def _goaway_received(self, last_stream_id: int, code: int) -> None:
        self.handler.on_goaway(last_stream_id, code)

    def _on_window_update(self, flags: int, sid: int, data: bytes, start: int, end: int) -> None:
        if end - start != 4:
            self._fail(FRAME_SIZE_ERROR, "WINDOW_UPDATE of a length other than 4")
        field: int = U32.unpack_from(data, start)[0]  # (typed: the arithmetic below is native)
        increment = field & MAX_WINDOW
        if sid == 0:
            if not increment:
                self._fail(PROTOCOL_ERROR, "WINDOW_UPDATE of 0 on the connection")
            window = self.outbound_flow_control_window + increment
            if window > MAX_WINDOW:
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
        if window > MAX_WINDOW:
            self._stream_error(sid, FLOW_CONTROL_ERROR)
            return
        stream.send = window
        self.handler.on_window_updated(sid)
