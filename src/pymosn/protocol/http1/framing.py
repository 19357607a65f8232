"""The byte-stream side both HTTP/1.1 decoders share (decoder.py): where a message's head
ends, its body framed by length, by chunks or by the connection's close, trailers, and the
bytes held between reads only while a line is unfinished. What a head means is each decoder's."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from pymosn.api.errors import ProtocolError
from pymosn.protocol.http1.diagnosis import diagnose_head, diagnose_partial, malformed
from pymosn.protocol.http1.grammar import (
    INCOMPLETE,
    MALFORMED,
    MAX_CHUNK_LINE,
    Fields,
    chunk_line_may_continue,
    chunk_size_of,
    scan_fields,
    split_field_lines,
)
from pymosn.protocol.http1.head import BODY_CHUNKED, BODY_LENGTH, BODY_UNTIL_CLOSE

# where the decoder is in the byte stream
AT_HEAD: Final = 0  # before or inside a message head
IN_LENGTH: Final = 1  # inside a Content-Length body
AT_CHUNK_SIZE: Final = 2  # before a chunk-size line
IN_CHUNK_DATA: Final = 3  # inside a chunk's data
AT_CHUNK_END: Final = 4  # before the CRLF that ends a chunk's data
AT_TRAILERS: Final = 5  # after the last chunk: the trailer section or the blank line
UNTIL_CLOSE: Final = 6  # a response body that the connection's close ends
IN_TUNNEL: Final = 7  # after an upgrade: every byte is the new protocol's
STOPPED: Final = 8  # after a request over the field limit: nothing more is decoded


class MessageDecoder:
    """The byte-stream side both decoders share: heads found and checked, bodies framed by
    length or chunks, trailers, and bytes held between feeds only while a line is unfinished.

    A feed that holds whole messages (the usual case) is parsed where it lies, without a copy
    into a buffer; the sink is called with slices of it."""

    __slots__ = (
        "_sink",
        "_max_head_bytes",
        "_max_headers",
        "_state",
        "_remaining",
        "_pending",
        "_checked",
        "_first_line_checked",
        "_next_check",
        "_deliver_head",
        "_deliver_body",
        "_deliver_end",
        "_request",
        "upgraded",
        "in_message",
    )

    # the error's reason, status and %RESPONSE_CODE_DETAILS% ("" for the error's own)
    _TOO_LARGE: tuple[str, int, str] = ("header section too large", 431, "")
    # the sink's methods, bound once: a bound-method call costs less than a method lookup
    _deliver_head: Callable[[Any], None]
    _deliver_body: Callable[[bytes], None]
    _deliver_end: Callable[[Fields | None, bytes], None]

    def __init__(self, sink: Any, max_head_bytes: int, max_headers: int, request: bool) -> None:
        self._sink = sink
        self._max_head_bytes = max_head_bytes
        self._max_headers = max_headers
        self._request = request  # which grammar and which status an error answers with
        self._state = AT_HEAD
        self._remaining = 0  # bytes still to come of a Content-Length body or of a chunk
        self._pending = bytearray()  # an unfinished line and what came before it, if any
        self._checked = 0  # how much of _pending the partial-head diagnosis has looked at
        self._first_line_checked = False
        # the size of _pending at which its unfinished line is looked at again (see feed)
        self._next_check = 0
        self.upgraded = False
        self.in_message = False  # a message has begun and not ended: bytes of it are held

    # --- bytes in ----------------------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        # one method, not two: a call more per read costs the interpreted build more than the
        # rest of a small message's framing
        pending = self._pending
        if pending:
            state = self._state
            scan_from = len(pending) - 3
            pending += data
            if (state == AT_HEAD or state == AT_TRAILERS) and not pending.startswith(b"\r\n"):
                if pending.find(b"\r\n\r\n", scan_from if scan_from > 0 else 0) < 0:
                    # A head dribbled a byte per read must not cost a look at all it holds per
                    # read: lines are looked at once, when their LF comes, and the unfinished
                    # line each time the held bytes have doubled, so the work stays linear.
                    if 10 in data or len(pending) >= self._next_check:
                        self._check_unfinished(pending)
                    elif len(pending) > self._max_head_bytes:
                        raise ProtocolError(*self._TOO_LARGE)
                    return
            data = bytes(pending)
            pending.clear()
        buf = data
        pos = 0
        end = len(buf)
        while pos < end:
            state = self._state
            if state == AT_HEAD:
                pos = self._take_head(buf, pos)
            elif state == IN_LENGTH:
                remaining = self._remaining
                if end - pos < remaining:
                    self._remaining = remaining - (end - pos)
                    self._deliver_body(buf[pos:] if pos else buf)
                    return
                last = buf[pos : pos + remaining] if pos or remaining != end else buf
                pos += remaining
                self._end_message(None, last)
            elif state == AT_CHUNK_SIZE:
                pos = self._take_chunk_line(buf, pos)
            elif state == IN_CHUNK_DATA:
                remaining = self._remaining
                if end - pos <= remaining:
                    self._remaining = remaining - (end - pos)
                    if self._remaining == 0:
                        self._state = AT_CHUNK_END
                    self._deliver_body(buf[pos:] if pos else buf)
                    return
                self._state = AT_CHUNK_END
                self._deliver_body(buf[pos : pos + remaining])
                pos += remaining
            elif state == AT_CHUNK_END:
                if end - pos < 2:
                    if buf[pos] != 13:
                        raise self._framing_error("chunk data not followed by CRLF")
                    pos = self._hold(buf, pos)
                elif buf[pos] != 13 or buf[pos + 1] != 10:
                    raise self._framing_error("chunk data not followed by CRLF")
                else:
                    pos += 2
                    self._state = AT_CHUNK_SIZE
            elif state == AT_TRAILERS:
                pos = self._take_trailers(buf, pos)
            elif state == UNTIL_CLOSE:
                self._deliver_body(buf[pos:] if pos else buf)
                return
            elif state == IN_TUNNEL:
                self._sink.on_upgrade_data(buf[pos:] if pos else buf)
                return
            else:  # STOPPED
                return

    def _hold(self, buf: bytes, pos: int) -> int:
        """Keeps buf[pos:] for the next feed; returns the end of buf (nothing more to parse)."""
        self._pending += buf[pos:] if pos else buf
        return len(buf)

    def _take_head(self, buf: bytes, pos: int) -> int:
        end = len(buf)
        # RFC 9112 2.2: empty lines before a message (indexing, not startswith(): one call less
        # per message in the interpreted build)
        while buf[pos] == 13 and end - pos > 1 and buf[pos + 1] == 10:
            pos += 2
            if pos >= end:
                return end
        if end - pos == 1 and buf[pos] == 13:
            return self._hold(buf, pos)  # half of an empty line: no message has begun
        self.in_message = True
        blank = buf.find(b"\r\n\r\n", pos) if pos else buf.find(b"\r\n\r\n")
        if blank < 0 or blank + 4 - pos > self._max_head_bytes:
            if blank >= 0 or end - pos > self._max_head_bytes:
                raise ProtocolError(*self._TOO_LARGE)
            self._checked = 0
            self._first_line_checked = False
            self._hold(buf, pos)
            self._check_unfinished(self._pending)
            return end
        block = buf[pos:blank]
        lines = block.split(b"\r\n")
        headers: Fields = []
        lower_names: list[bytes] = []
        if not split_field_lines(lines, 1, self._max_headers, headers, lower_names):
            raise diagnose_head(block, self._request)
        self._head_taken(lines[0], headers, lower_names)
        return blank + 4

    def _check_unfinished(self, pending: bytearray) -> None:
        """A head (or trailer section) whose blank line has not come: refused now if it is
        already too large or already broken, else kept for the next feed."""
        if len(pending) > self._max_head_bytes:
            raise ProtocolError(*self._TOO_LARGE)
        checked = self._checked
        if self._state == AT_TRAILERS:
            error = diagnose_partial(pending, checked, True, self._request)
        else:
            error = diagnose_partial(pending, checked, self._first_line_checked, self._request)
        if error is not None:
            raise error
        last_line = pending.rfind(b"\r\n", checked)
        if last_line >= 0:
            self._checked = last_line + 2
            self._first_line_checked = True
        self._next_check = 2 * len(pending)

    def _take_chunk_line(self, buf: bytes, pos: int) -> int:
        line_end = buf.find(b"\r\n", pos)
        if line_end < 0:
            if len(buf) - pos > MAX_CHUNK_LINE:
                raise self._framing_error("chunk-size line too long")
            if not chunk_line_may_continue(buf, pos):
                raise self._framing_error("invalid chunk size")
            return self._hold(buf, pos)
        size = chunk_size_of(buf, pos, line_end)
        if size < 0:
            raise self._framing_error("invalid chunk size")
        if size == 0:
            self._state = AT_TRAILERS
        else:
            self._state = IN_CHUNK_DATA
            self._remaining = size
        return line_end + 2

    def _take_trailers(self, buf: bytes, pos: int) -> int:
        end = len(buf)
        limit = pos + self._max_head_bytes
        trailers: Fields = []
        lower_names: list[bytes] = []
        after = scan_fields(buf, pos, end if end < limit else limit, self._max_headers, trailers, lower_names)
        if after == INCOMPLETE:
            if end > limit:
                raise ProtocolError(*self._TOO_LARGE)
            self._checked = 0
            self._hold(buf, pos)
            self._check_unfinished(self._pending)
            return end
        if after == MALFORMED:
            error = diagnose_partial(buf, pos, True, self._request)
            raise error if error is not None else self._framing_error("malformed trailer section")
        self._end_message(trailers if trailers else None, b"")
        return after

    def _framing_error(self, what: str) -> ProtocolError:
        return malformed(what, 400 if self._request else 502)

    def _frame_body(self, kind: int, length: int) -> None:
        """After a head: where its body's bytes go. A body of none ends the message now."""
        if kind == BODY_LENGTH and length > 0:
            self._state = IN_LENGTH
            self._remaining = length
        elif kind == BODY_CHUNKED:
            self._state = AT_CHUNK_SIZE
        elif kind == BODY_UNTIL_CLOSE:
            self._state = UNTIL_CLOSE
        else:
            self._end_message(None, b"")

    # --- what each decoder does with a message -------------------------------------------------

    def _head_taken(self, start_line: bytes, headers: Fields, lower_names: list[bytes]) -> None:
        raise NotImplementedError

    def _end_message(self, trailers: Fields | None, last: bytes) -> None:
        raise NotImplementedError
