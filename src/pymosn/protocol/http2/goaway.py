"""Takes GOAWAY frames out of the byte stream an HTTP/2 peer sends, passing every other frame
through untouched.

Why: h2 moves its whole connection to CLOSED when it receives GOAWAY and then rejects the
DATA and HEADERS that still arrive for streams the peer promised to finish (those up to
last_stream_id). A graceful GOAWAY must drain those streams, so the connection owner handles
GOAWAY itself and h2 never sees it."""

from __future__ import annotations

from typing import NamedTuple

_GOAWAY = 0x7
_HEADER = 9


class GoAway(NamedTuple):
    last_stream_id: int
    error_code: int
    debug_data: bytes


class GoAwaySplitter:
    """feed(data) -> byte runs (for h2) and GoAway events, in wire order."""

    __slots__ = ("_held", "_left", "_goaway")

    def __init__(self) -> None:
        self._held = b""  # the start of a frame header split across reads
        self._left = 0  # payload bytes of the current frame still to come
        self._goaway: bytearray | None = None  # payload of the GOAWAY being collected

    def feed(self, data: bytes) -> list:
        out: list = []
        run: list[bytes] = []  # bytes passed through since the last GOAWAY
        n = len(data)
        pos = 0
        while pos < n:
            left = self._left
            if left:
                take = min(left, n - pos)
                piece = data[pos : pos + take]
                pos += take
                self._left = left - take
                goaway = self._goaway
                if goaway is None:
                    run.append(piece)
                    continue
                goaway += piece
                if not self._left:
                    self._goaway = None
                    if run:
                        out.append(b"".join(run))
                        run = []
                    payload = bytes(goaway)
                    out.append(GoAway(int.from_bytes(payload[:4], "big") & 0x7FFFFFFF,
                                      int.from_bytes(payload[4:8], "big"), payload[8:]))
                continue
            chunk = data[pos : pos + _HEADER - len(self._held)]
            pos += len(chunk)
            header = self._held + chunk if self._held else chunk
            if len(header) < _HEADER:
                self._held = header
                break
            self._held = b""
            length = int.from_bytes(header[:3], "big")
            if header[3] == _GOAWAY and length >= 8:
                self._goaway = bytearray()
            else:
                run.append(header)  # a malformed GOAWAY too: h2 answers it as the error it is
            self._left = length
        if run:
            out.append(run[0] if len(run) == 1 else b"".join(run))
        return out
