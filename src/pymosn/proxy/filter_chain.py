"""One direction of a stream's filter chain: the iteration, stops, held items and buffering.

The decoder chain and the encoder chain of a stream are each a `Chain`; `FilterManager`
(filter_manager.py) owns both, the callbacks and local replies. Items travelling a chain are
(kind, payload, end_stream) tuples. A position whose filter stopped gets a `Stop` record
keeping what it holds in order, each item with a flag saying whether the filter has seen it
already: on release, seen items go on to the next position, unseen ones to the filter first.

Per stream this is made for every stream of a listener with filters, so it is lean: state a
stream rarely changes is a class-level default (written to the instance only when it changes),
and positions that never stop have no per-position object at all.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pymosn.api.stream_filter import CONTINUE, STOP, STOP_AND_BUFFER, FilterStatus

if TYPE_CHECKING:
    from pymosn.proxy.filter_manager import FilterManager, FilterManagerOwner

HEADERS, DATA, TRAILERS = 0, 1, 2
Item = tuple[int, Any, bool]  # (kind, HeaderMap | bytes, end_stream)

# What a stopped position does with items reaching it.
HOLDING, BUFFERING = 1, 2
# Work done once before a decoder position's first headers call: the phase boundaries.
NO_HOOK, ROUTE_HOOK, HOST_HOOK, ROUTE_AND_HOST_HOOK = 0, 1, 2, 3


class Stop:
    __slots__ = ("state", "held", "body", "trailers")

    def __init__(self, state: int) -> None:
        self.state = state
        self.held: list[tuple[Item, bool]] = []
        self.body: bytearray | None = None  # the body gathered for a STOP_AND_BUFFER
        self.trailers: Any = None


class Chain:
    """Runs items through `filters` in order, then hands them to the owner."""

    # per-stream state with its usual value; an instance gets its own only once it changes
    buffered = 0  # body bytes held or gathered anywhere in this chain
    paused = False
    aborted = False
    headers_entered = False
    headers_sent = False  # the headers passed every filter (reached the owner)
    status = 0  # the response status (encoder chain)
    stops: dict[int, Stop] | None = None
    calling = -1  # the position whose filter is being called
    continue_pending = False  # that filter called continue from inside its own call

    def __init__(self, manager: FilterManager, filters: list[Any], names: list[str], hooks: list[int] | None,
                 decoder: bool, limit: int) -> None:
        self.manager = manager
        self.owner: FilterManagerOwner = manager.owner
        self.filters = filters  # DecoderFilter or EncoderFilter instances (Any: called untyped, fast)
        self.names = names
        self.hooks = hooks  # per position, None when no filter is past BEFORE_ROUTE
        self.decoder = decoder
        self.limit = limit

    # --- entry ------------------------------------------------------------------------------

    def headers(self, headers: Any, end_stream: bool) -> None:
        self.headers_entered = True
        self.deliver(0, (HEADERS, headers, end_stream))

    def data(self, data: bytes, end_stream: bool) -> None:
        self.deliver(0, (DATA, data, end_stream))

    def trailers(self, trailers: Any) -> None:
        self.deliver(0, (TRAILERS, trailers, True))

    def abort(self) -> None:
        """Drop everything held: a local reply or a reset ended this direction."""
        self.aborted = True
        self.stops = None
        self.buffered = 0
        if self.paused:
            self.paused = False
            self._resume()

    def stopped(self, index: int) -> bool:
        stops = self.stops
        return stops is not None and index in stops

    # --- iteration --------------------------------------------------------------------------

    def deliver(self, index: int, item: Item) -> None:
        count = len(self.filters)
        hooks = self.hooks
        while not self.aborted:
            if index == count:
                self._sink(item)
                return
            stops = self.stops
            if stops is not None and index in stops:
                self._hold(index, item)
                return
            if hooks is not None and hooks[index] and item[0] == HEADERS:
                hook, hooks[index] = hooks[index], NO_HOOK
                self.manager.run_hook(hook)
                if self.aborted:
                    return
            status = self._call(index, item)
            if status is None or self.aborted:
                return
            if status == CONTINUE:
                index += 1
                continue
            self._stop(index, item, status)
            return

    def _call(self, index: int, item: Item) -> FilterStatus | None:
        kind, payload, end_stream = item
        filter = self.filters[index]
        self.calling = index
        try:
            if self.decoder:
                if kind == HEADERS:
                    status = filter.decode_headers(payload, end_stream)
                elif kind == DATA:
                    status = filter.decode_data(payload, end_stream)
                else:
                    status = filter.decode_trailers(payload)
            elif kind == HEADERS:
                status = filter.encode_headers(self.status, payload, end_stream)
            elif kind == DATA:
                status = filter.encode_data(payload, end_stream)
            else:
                status = filter.encode_trailers(payload)
        except Exception as error:  # a filter's bug must not take the worker down
            self.calling = -1
            self.continue_pending = False
            self.manager.filter_raised(self.names[index], error)
            return None
        self.calling = -1
        if self.continue_pending:
            self.continue_pending = False
            if status == STOP:
                return CONTINUE  # the filter resumed itself before returning
        result: FilterStatus = status
        return result

    def _stop(self, index: int, item: Item, status: FilterStatus) -> None:
        kind, payload, end_stream = item
        stops = self.stops
        if stops is None:
            stops = self.stops = {}
        stop = stops.get(index)  # there is one already when seen items were kept (release)
        if stop is None:
            stop = stops[index] = Stop(HOLDING)
        if status == STOP_AND_BUFFER and kind != TRAILERS and not end_stream:
            stop.state = BUFFERING
            if kind == HEADERS:
                stop.held.append((item, True))
                stop.body = bytearray()
            else:
                stop.body = bytearray(payload)
                self._add(len(payload), True)
            return
        stop.state = HOLDING
        stop.held.append((item, True))
        if kind == DATA:
            self._add(len(payload), False)

    def _hold(self, index: int, item: Item) -> None:
        assert self.stops is not None
        stop = self.stops[index]
        kind, payload, end_stream = item
        if stop.state == HOLDING:
            stop.held.append((item, False))
            if kind == DATA:
                self._add(len(payload), False)
            return
        body = stop.body
        assert body is not None
        if kind == DATA:
            body += payload
            if not self._add(len(payload), True) or not end_stream:
                return
        else:
            stop.trailers = payload
        self.release(index, False)

    def release(self, index: int, by_continue: bool) -> None:
        """Let position `index` go on: its filter called continue (`by_continue`), or the body it
        buffers is complete and the filter is now to see it whole."""
        stops = self.stops
        if stops is None or index not in stops:
            return
        stop = stops.pop(index)
        pending = stop.held
        if stop.state == BUFFERING and stop.body is not None:
            trailers = stop.trailers
            # gathered bytes were counted; they now count as the held item below
            pending.append(((DATA, bytes(stop.body), not by_continue and trailers is None), False))
            if trailers is not None:
                pending.append(((TRAILERS, trailers, True), False))
        for item, _ in pending:
            if item[0] == DATA:
                self.buffered -= len(item[1])
        # with the end of stream already held, there is no more body to buffer for
        ended = any(item[2] for item, _ in pending)
        # continue passes what the filter stopped on; after a completed buffer the filter first
        # decides on the body, and what it stopped on waits for that decision
        ready: list[Item] = []
        tentative: list[Item] = []
        for position, (item, seen) in enumerate(pending):
            if seen:
                (ready if by_continue else tentative).append(item)
                continue
            status = self._call(index, item)
            if status is None or self.aborted:
                return
            if status == STOP_AND_BUFFER and ended:
                status = STOP
            if status == CONTINUE:
                ready += tentative
                tentative = []
                ready.append(item)
                continue
            self._keep(index, tentative)
            self._stop(index, item, status)
            for later, _ in pending[position + 1:]:
                if self.aborted:  # the buffer went over the limit: the stream was answered
                    return
                self._hold(index, later)
            break
        else:
            self._keep(index, tentative)
        for item in ready:
            if self.aborted:
                return
            self.deliver(index + 1, item)
        if self.paused and self.buffered <= self.limit:
            self.paused = False
            self._resume()

    def _keep(self, index: int, items: list[Item]) -> None:
        """Hold items the filter has seen but not let go, at the front of its position."""
        if not items:
            return
        stops = self.stops
        if stops is None:
            stops = self.stops = {}
        stop = stops.get(index)
        if stop is None:
            stop = stops[index] = Stop(HOLDING)
        stop.held[:0] = [(item, True) for item in items]
        for item in items:
            if item[0] == DATA:
                self.buffered += len(item[1])

    def _sink(self, item: Item) -> None:
        kind, payload, end_stream = item
        owner = self.owner
        if self.decoder:
            if kind == HEADERS:
                owner.on_decoded_headers(payload, end_stream)
            elif kind == DATA:
                owner.on_decoded_data(payload, end_stream)
            else:
                owner.on_decoded_trailers(payload)
        elif kind == HEADERS:
            self.headers_sent = True
            owner.on_encoded_headers(self.status, payload, end_stream)
        elif kind == DATA:
            owner.on_encoded_data(payload, end_stream)
        else:
            owner.on_encoded_trailers(payload)

    # --- buffer accounting ------------------------------------------------------------------

    def _add(self, size: int, whole_body: bool) -> bool:
        """Count `size` more held bytes; False when that failed the stream (too large)."""
        self.buffered += size
        if self.buffered <= self.limit:
            return True
        if whole_body:
            self.manager.too_large(self.decoder)
            return False
        if not self.paused:
            self.paused = True
            if self.decoder:
                self.owner.pause_reading()
            else:
                self.owner.pause_upstream()
        return True

    def _resume(self) -> None:
        if self.decoder:
            self.owner.resume_reading()
        else:
            self.owner.resume_upstream()
