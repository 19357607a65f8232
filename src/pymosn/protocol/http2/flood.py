"""What one HTTP/2 peer may make us queue or hold: the frames its frames make us send while it
does not read them (PING and SETTINGS floods, CVE-2019-9512 and -9515), and the header block
it may keep open (CONTINUATION floods, CVE-2024-27316).

Envoy counts the frames in its outbound buffer until each is written to the socket. Here the
bytes the connection writes go to the transport, which only says when its buffer crosses a
watermark, so the bound is on the frames queued while the transport's buffer is above its high
watermark: below it nothing is counted (an int compare per write, none per frame); above it
each write's frames are counted from their headers, and the count starts again once the buffer
drains below the low watermark. What a peer can make us hold is thus the high watermark plus
the bound's frames (plus one read's worth, the check being once per write)."""

from __future__ import annotations

import enum

_RST_STREAM, _SETTINGS, _PING = 0x3, 0x4, 0x6
_ACK = 0x1


class Flood(enum.Enum):
    """A bound a peer went past; the value is the counter's attribute in ListenerStats and
    ClusterStats (rendered as `http2.<rest>`)."""

    OUTBOUND = "http2_outbound_flood"
    OUTBOUND_CONTROL = "http2_outbound_control_flood"
    INBOUND_EMPTY_FRAMES = "http2_inbound_empty_frames_flood"
    HEADER_BLOCK_FRAMES = "http2_header_block_flood"
    HEADER_BLOCK_TIMEOUT = "http2_header_block_timeout"


def count_frames(data: bytes | bytearray) -> tuple[int, int]:
    """(frames, control frames) in `data`, whole frames as a codec writes them. Control frames
    are Envoy's: PING and SETTINGS acknowledgements, and RST_STREAM."""
    frames = control = 0
    pos = 0
    size = len(data)
    while pos + 9 <= size:
        kind = data[pos + 3]
        if kind == _RST_STREAM or (kind == _PING or kind == _SETTINGS) and data[pos + 4] & _ACK:
            control += 1
        frames += 1
        pos += 9 + (data[pos] << 16 | data[pos + 1] << 8 | data[pos + 2])
    return frames, control


class OutboundQueue:
    """The frames one connection wrote while its transport was above the high watermark."""

    __slots__ = ("frames", "control", "max_frames", "max_control")

    def __init__(self, max_frames: int, max_control: int) -> None:
        self.frames = 0
        self.control = 0
        self.max_frames = max_frames
        self.max_control = max_control

    def queue(self, data: bytes | bytearray) -> Flood | None:
        """Counts the frames of `data`, about to be queued; the bound it passes, if any."""
        frames, control = count_frames(data)
        self.frames += frames
        self.control += control
        # checked per write, not per frame: of two bounds passed in one write, the control
        # one is the likelier to have been passed first
        if self.control > self.max_control:
            return Flood.OUTBOUND_CONTROL
        if self.frames > self.max_frames:
            return Flood.OUTBOUND
        return None

    def drained(self) -> None:
        """The transport's buffer fell below its low watermark."""
        self.frames = self.control = 0
