"""One direction of a stream's filter chain: the iteration, stops, held items and buffering.

The decoder chain and the encoder chain of a stream are each a `Chain`; `FilterManager`
(filter_manager.py) owns both, the callbacks and local replies. Items travelling a chain are
(kind, payload, end_stream) tuples. Each filter position (`Slot`) that stopped keeps what it
holds in order, with a flag saying whether its filter has seen the item already: on release,
seen items go on to the next position, unseen ones to the filter itself first.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from pymosn.api.headers import HeaderMap, RequestHeaderMap
from pymosn.api.stream_filter import (
    CONTINUE,
    STOP,
    STOP_AND_BUFFER,
    DecoderFilter,
    EncoderFilter,
    FilterPhase,
    FilterStatus,
)

if TYPE_CHECKING:
    from pymosn.proxy.filter_manager import FilterCallbacksImpl

HEADERS, DATA, TRAILERS = 0, 1, 2
Payload = HeaderMap | bytes
Item = tuple[int, Payload, bool]

# What a stopped position does with items reaching it.
RUNNING, HOLDING, BUFFERING = 0, 1, 2
# Work done once before a decoder position's first headers call: the phase boundaries.
NO_HOOK, ROUTE_HOOK, HOST_HOOK, ROUTE_AND_HOST_HOOK = 0, 1, 2, 3


class Slot:
    __slots__ = ("filter", "callbacks", "phase", "hook", "state", "held", "body", "trailers", "in_call",
                 "continue_pending")

    def __init__(self, filter: DecoderFilter | EncoderFilter, callbacks: FilterCallbacksImpl,
                 phase: FilterPhase = FilterPhase.BEFORE_ROUTE) -> None:
        self.filter = filter
        self.callbacks = callbacks
        self.phase = phase
        self.hook = NO_HOOK
        self.state = RUNNING
        self.held: list[tuple[Item, bool]] = []
        self.body: bytearray | None = None  # the body gathered for a STOP_AND_BUFFER
        self.trailers: HeaderMap | None = None
        self.in_call = False
        self.continue_pending = False  # continue was called from inside the filter's own call


class Chain:
    """Runs items through `slots` in order, then hands them to the `sink_*` callables."""

    __slots__ = ("slots", "decoder", "limit", "buffered", "paused", "aborted", "headers_entered",
                 "headers_sent", "status", "sink_headers", "sink_data", "sink_trailers", "pause", "resume",
                 "run_hook", "too_large", "raised")

    def __init__(
        self,
        slots: list[Slot],
        decoder: bool,
        limit: int,
        sinks: tuple[Callable[[HeaderMap, bool], None], Callable[[bytes, bool], None], Callable[[HeaderMap], None]],
        pause: Callable[[], None],
        resume: Callable[[], None],
        run_hook: Callable[[int], None],
        too_large: Callable[[], None],
        raised: Callable[[Slot, Exception], None],
    ) -> None:
        self.slots = slots
        self.decoder = decoder
        self.limit = limit
        self.buffered = 0  # body bytes held or gathered anywhere in this chain
        self.paused = False
        self.aborted = False
        self.headers_entered = False
        self.headers_sent = False  # the headers passed every filter (reached the sink)
        self.status = 0  # the response status (encoder chain)
        self.sink_headers, self.sink_data, self.sink_trailers = sinks
        self.pause = pause
        self.resume = resume
        self.run_hook = run_hook
        self.too_large = too_large
        self.raised = raised

    # --- entry ------------------------------------------------------------------------------

    def headers(self, headers: HeaderMap, end_stream: bool) -> None:
        self.headers_entered = True
        self.deliver(0, (HEADERS, headers, end_stream))

    def data(self, data: bytes, end_stream: bool) -> None:
        self.deliver(0, (DATA, data, end_stream))

    def trailers(self, trailers: HeaderMap) -> None:
        self.deliver(0, (TRAILERS, trailers, True))

    def abort(self) -> None:
        """Drop everything held: a local reply or a reset ended this direction."""
        self.aborted = True
        for slot in self.slots:
            slot.held = []
            slot.body = None
            slot.trailers = None
            slot.state = RUNNING
        self.buffered = 0
        if self.paused:
            self.paused = False
            self.resume()

    # --- iteration --------------------------------------------------------------------------

    def deliver(self, index: int, item: Item) -> None:
        slots = self.slots
        count = len(slots)
        while not self.aborted:
            if index == count:
                self._sink(item)
                return
            slot = slots[index]
            if slot.state != RUNNING:
                self._hold(slot, item)
                return
            if slot.hook and item[0] == HEADERS:
                hook, slot.hook = slot.hook, NO_HOOK
                self.run_hook(hook)
                if self.aborted:
                    return
            status = self._call(slot, item)
            if status is None or self.aborted:
                return
            if status == CONTINUE:
                index += 1
                continue
            self._stop(slot, item, status)
            return

    def _call(self, slot: Slot, item: Item) -> FilterStatus | None:
        kind, payload, end_stream = item
        slot.in_call = True
        try:
            if self.decoder:
                decoder = slot.filter
                assert isinstance(decoder, DecoderFilter)
                if kind == HEADERS:
                    assert isinstance(payload, RequestHeaderMap)
                    status = decoder.decode_headers(payload, end_stream)
                elif kind == DATA:
                    assert isinstance(payload, bytes)
                    status = decoder.decode_data(payload, end_stream)
                else:
                    assert isinstance(payload, HeaderMap)
                    status = decoder.decode_trailers(payload)
            else:
                encoder = slot.filter
                assert isinstance(encoder, EncoderFilter)
                if kind == HEADERS:
                    assert isinstance(payload, HeaderMap)
                    status = encoder.encode_headers(self.status, payload, end_stream)
                elif kind == DATA:
                    assert isinstance(payload, bytes)
                    status = encoder.encode_data(payload, end_stream)
                else:
                    assert isinstance(payload, HeaderMap)
                    status = encoder.encode_trailers(payload)
        except Exception as error:  # a filter's bug must not take the worker down
            slot.in_call = slot.continue_pending = False
            self.raised(slot, error)
            return None
        slot.in_call = False
        if slot.continue_pending:
            slot.continue_pending = False
            if status == STOP:
                return CONTINUE  # the filter resumed itself before returning
        return status

    def _stop(self, slot: Slot, item: Item, status: FilterStatus) -> None:
        kind, payload, end_stream = item
        if status == STOP_AND_BUFFER and kind != TRAILERS and not end_stream:
            slot.state = BUFFERING
            if kind == HEADERS:
                slot.held.append((item, True))
                slot.body = bytearray()
            else:
                assert isinstance(payload, bytes)
                slot.body = bytearray(payload)
                self._add(len(payload), True)
            return
        slot.state = HOLDING
        slot.held.append((item, True))
        if kind == DATA:
            assert isinstance(payload, bytes)
            self._add(len(payload), False)

    def _hold(self, slot: Slot, item: Item) -> None:
        kind, payload, end_stream = item
        if slot.state == HOLDING:
            slot.held.append((item, False))
            if kind == DATA:
                assert isinstance(payload, bytes)
                self._add(len(payload), False)
            return
        body = slot.body
        assert body is not None
        if kind == DATA:
            assert isinstance(payload, bytes)
            body += payload
            if not self._add(len(payload), True) or not end_stream:
                return
        else:
            assert isinstance(payload, HeaderMap)
            slot.trailers = payload
        self.release(slot, False)

    def release(self, slot: Slot, by_continue: bool) -> None:
        """Let `slot` go on: its filter called continue (`by_continue`), or the body it
        buffers is complete and the filter is now to see it whole."""
        if slot.state == BUFFERING and slot.body is not None:
            body, trailers = bytes(slot.body), slot.trailers
            slot.body = slot.trailers = None
            # gathered bytes were counted; they now count as the held item below
            slot.held.append(((DATA, body, not by_continue and trailers is None), False))
            if trailers is not None:
                slot.held.append(((TRAILERS, trailers, True), False))
        slot.state = RUNNING
        pending, slot.held = slot.held, []
        for item, _ in pending:
            if item[0] == DATA:
                self.buffered -= len(item[1])
        index = self.slots.index(slot)
        # continue passes what the filter stopped on; after a completed buffer the filter first
        # decides on the body, and what it stopped on waits for that decision
        ready: list[Item] = []
        tentative: list[Item] = []
        # with the end of stream already held, there is no more body to buffer for
        ended = any(item[2] for item, _ in pending)
        for position, (item, seen) in enumerate(pending):
            if seen:
                (ready if by_continue else tentative).append(item)
                continue
            status = self._call(slot, item)
            if status is None or self.aborted:
                return
            if status == STOP_AND_BUFFER and ended:
                status = STOP
            if status == CONTINUE:
                ready += tentative
                tentative = []
                ready.append(item)
                continue
            for kept in tentative:
                slot.held.append((kept, True))
                if kept[0] == DATA:
                    self.buffered += len(kept[1])
            self._stop(slot, item, status)
            for later, _ in pending[position + 1:]:
                self._hold(slot, later)
            break
        else:
            for kept in tentative:
                slot.held.append((kept, True))
                if kept[0] == DATA:
                    self.buffered += len(kept[1])
            if tentative:
                slot.state = HOLDING
        for item in ready:
            if self.aborted:
                return
            self.deliver(index + 1, item)
        if self.paused and self.buffered <= self.limit:
            self.paused = False
            self.resume()

    def _sink(self, item: Item) -> None:
        kind, payload, end_stream = item
        if kind == HEADERS:
            assert isinstance(payload, HeaderMap)
            self.headers_sent = True
            self.sink_headers(payload, end_stream)
        elif kind == DATA:
            assert isinstance(payload, bytes)
            self.sink_data(payload, end_stream)
        else:
            assert isinstance(payload, HeaderMap)
            self.sink_trailers(payload)

    # --- buffer accounting ------------------------------------------------------------------

    def _add(self, size: int, whole_body: bool) -> bool:
        """Count `size` more held bytes; False when that failed the stream (too large)."""
        self.buffered += size
        if self.buffered <= self.limit:
            return True
        if whole_body:
            self.too_large()
            return False
        if not self.paused:
            self.paused = True
            self.pause()
        return True
