"""The flood bounds of one downstream HTTP/2 connection, where the codec cannot keep them: the
frames queued behind the transport's write watermark (protocol/http2/flood.py says how they
are counted) and the time a header block may stay open (the codec has no clock; it tells us
when a block split over CONTINUATION frames starts and ends, which is rare, so a timer is
armed only then). The codec's own bounds (empty frames, a block's frame count) arrive as
connection errors naming their Flood.

Past a bound the client gets GOAWAY ENHANCE_YOUR_CALM, nothing more is read from it, and the
connection closes once what is queued has gone out, or after _CLOSE_DELAY regardless: a client
that does not read would otherwise keep it (and its buffers) forever. Envoy's outbound flood
closes at once without a GOAWAY; its codec errors flush for up to delayed_close_timeout (1 s)."""

from __future__ import annotations

from typing import Any

from pymosn.protocol.http2.flood import Flood, OutboundQueue
from pymosn.protocol.http2.frames import goaway
from pymosn.protocol.http2.settings import Http2Settings

_ENHANCE_YOUR_CALM = 0xB
_CLOSE_DELAY = 1.0  # Envoy's delayed_close_timeout default


class FloodGuard:
    __slots__ = ("owner", "queue", "header_block_timeout", "_block_timer", "_abort_timer")

    def __init__(self, owner: Any, settings: Http2Settings) -> None:
        self.owner = owner  # the Http2ServerConnection
        self.queue = OutboundQueue(settings.max_outbound_frames, settings.max_outbound_control_frames)
        self.header_block_timeout = settings.header_block_timeout
        self._block_timer: Any = None
        self._abort_timer: Any = None

    def floods(self, data: bytes | bytearray) -> bool:
        """`data` is about to be queued above the transport's high watermark. True if that is
        past a bound: the connection is then closing and `data` is not to be written."""
        flood = self.queue.queue(data)
        if flood is None:
            return False
        self.close(flood, b"too many frames queued for a client that does not read them")
        return True

    def header_block_started(self) -> None:
        timeout = self.header_block_timeout
        if timeout > 0:
            self._block_timer = self.owner.conn.loop.call_later(timeout, self._header_block_expired)

    def header_block_ended(self) -> None:
        timer = self._block_timer
        if timer is not None:
            timer.cancel()
            self._block_timer = None

    def _header_block_expired(self) -> None:
        self._block_timer = None
        # The block cannot be dropped alone: HPACK's state would then differ from the client's.
        self.close(Flood.HEADER_BLOCK_TIMEOUT, b"header block not finished in time")

    def count(self, flood: Flood) -> None:
        stats = self.owner.stats
        if stats is not None:
            name = flood.value
            setattr(stats, name, getattr(stats, name) + 1)

    def close(self, flood: Flood, debug: bytes) -> None:
        """GOAWAY ENHANCE_YOUR_CALM, counted, and the connection closed (see the module)."""
        owner = self.owner
        if owner.closing:
            return
        self.count(flood)
        owner.conn.write(goaway(owner.codec.highest_inbound_stream_id, _ENHANCE_YOUR_CALM, debug))
        self.close_soon()

    def close_soon(self) -> None:
        """The codec queued its GOAWAY: close, flushing for at most _CLOSE_DELAY."""
        owner = self.owner
        if self._abort_timer is None:
            self._abort_timer = owner.conn.loop.call_later(_CLOSE_DELAY, owner.conn.abort)
        owner._close()

    def closed(self) -> None:
        """The connection is gone: no timer may outlive it."""
        for timer in (self._block_timer, self._abort_timer):
            if timer is not None:
                timer.cancel()
        self._block_timer = self._abort_timer = None
