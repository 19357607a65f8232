"""One direction of a stream's filter chain: the iteration, stops, held items and buffering.

The decoder chain and the encoder chain of a stream are each a `Chain` (`DecoderChain`,
`EncoderChain` in filter_sides.py); `FilterManager` (filter_manager.py) owns both, the
callbacks and local replies. A position whose filter stopped gets a `Stop` record keeping what
it holds in order, as (kind, payload, end_stream) items, each with a flag saying whether the
filter has seen it already: on release, seen items go on to the next position, unseen ones to
the filter first.

This is made for every stream of a listener with filters, so it is lean. What only depends on
the filters' classes is the plan's `ChainShape` (filter_plan.py): which entry sits at each
position and which positions' classes override `*_data` / `*_trailers` (the defaults only
continue, so the others are not called at all). State a stream rarely changes is a class-level
default (written to the instance only when it changes), and positions that never stop have no
per-position object. An item nobody stops runs a side's straight loop over the positions that
take it, with no tuple made for it; the first status other than CONTINUE, a stop already in
place, or a phase hook, hands over to the general iteration here (`deliver`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Final

from pymosn.api.stream_filter import CONTINUE, STOP, STOP_AND_BUFFER, FilterStatus

if TYPE_CHECKING:
    from pymosn.proxy.filter_manager import FilterManager, FilterManagerOwner
    from pymosn.proxy.filter_plan import ChainShape

# (Final: constants of the compiled build, not module lookups on every item)
HEADERS: Final = 0
DATA: Final = 1
TRAILERS: Final = 2
Item = tuple[int, Any, bool]  # (kind, HeaderMap | bytes, end_stream)

# What a stopped position does with items reaching it.
HOLDING: Final = 1
BUFFERING: Final = 2
# Work done once before a decoder position's first headers call: the phase boundaries.
NO_HOOK: Final = 0
ROUTE_HOOK: Final = 1
HOST_HOOK: Final = 2
ROUTE_AND_HOST_HOOK: Final = 3
# `Chain.calling` while no filter is being called, and once the one being called continued itself.
IDLE: Final = -1
CONTINUED: Final = -2
_CONTINUE: Final = CONTINUE  # (a C static: the statuses come from an interpreted module)
_STOP: Final = STOP
_STOP_AND_BUFFER: Final = STOP_AND_BUFFER

DEFAULT_BUFFER_LIMIT: Final = 1 << 20  # Envoy's per-stream default (per_connection_buffer_limit_bytes)


class Stop:
    __slots__ = ("state", "held", "body", "trailers")

    def __init__(self, state: int) -> None:
        self.state = state
        self.held: list[tuple[Item, bool]] = []
        self.body: bytearray | None = None  # the body gathered for a STOP_AND_BUFFER
        self.trailers: Any = None


class Chain:
    """Runs items through the filters at its positions in order, then hands them to the owner."""

    decoder: ClassVar[bool]
    # per-stream state with its usual value; an instance gets its own only once it changes
    buffered = 0  # body bytes held or gathered anywhere in this chain
    paused = False
    aborted = False
    headers_entered = False  # (kept by the encoder chain: a local reply reads it)
    headers_sent = False  # the headers passed every filter (reached the owner)
    status = 0  # the response status (encoder chain)
    stops: dict[int, Stop] | None = None
    calling = IDLE  # the position whose filter is being called, or CONTINUED
    limit = DEFAULT_BUFFER_LIMIT

    # Set by the manager right after `DecoderChain()` / `EncoderChain()` (a class without
    # `__init__` is made for half the cost), with `aborted` and `stops`, which every item reads
    # (an instance value is read faster than a class-level default). `manager` becomes None when
    # the stream is destroyed (see FilterManager.destroy); `filters` is the manager's list of
    # the stream's filters, which every item reads.
    manager: FilterManager | None
    filters: list[Any]
    owner: FilterManagerOwner
    shape: ChainShape

    # --- entry: the straight loop while nothing stops ---------------------------------------

    def headers(self, headers: Any, end_stream: bool) -> None:
        raise NotImplementedError

    def data(self, data: bytes, end_stream: bool) -> None:
        raise NotImplementedError

    def trailers(self, trailers: Any) -> None:
        raise NotImplementedError

    def _raised(self, position: int, error: Exception) -> None:
        self.calling = IDLE
        name = self.shape.names[position]
        if self.manager is None:  # the stream was destroyed during the call: only report it
            self.owner.on_filter_error(name, error)
        else:
            self.manager.filter_raised(name, error)

    def _returned(self, position: int, item: Item, status: FilterStatus | None) -> None:
        """The straight loop ends at `position`: its filter returned `status`, or the chain was
        aborted during the call. Goes on as the general iteration would."""
        continued = self.calling == CONTINUED
        self.calling = IDLE
        if status is None or self.aborted:
            return
        if continued and status == _STOP:
            status = _CONTINUE  # the filter resumed itself before returning
        if status == _CONTINUE:
            self.deliver(position + 1, item)
        else:
            self._stop(position, item, status)

    def abort(self) -> None:
        """Drop everything held: a local reply or a reset ended this direction."""
        self.aborted = True
        if self.stops is not None:
            self.stops = None
        if self.buffered:
            self.buffered = 0
        if self.paused:
            self.paused = False
            self._resume()

    def stopped(self, index: int) -> bool:
        stops = self.stops
        return stops is not None and index in stops

    # --- iteration --------------------------------------------------------------------------

    def deliver(self, index: int, item: Item) -> None:
        count = len(self.shape.entries)
        hooks = self.shape.hooks
        while not self.aborted:
            if index == count:
                self._sink(item)
                return
            stops = self.stops
            if stops is not None and index in stops:
                self._hold(index, item)
                return
            if hooks is not None and hooks[index] and item[0] == HEADERS:
                # headers reach a position once, so its hook runs once
                manager = self.manager
                assert manager is not None  # (destroy() aborted the chain before it let go)
                manager.run_hook(hooks[index])
                if self.aborted:
                    return
            status = self._call(index, item)
            if status is None or self.aborted:
                return
            if status == _CONTINUE:
                index += 1
                continue
            self._stop(index, item, status)
            return

    def _call(self, index: int, item: Item) -> FilterStatus | None:
        kind, payload, end_stream = item
        shape = self.shape
        if kind == DATA:
            if not shape.takes_data[index]:
                return _CONTINUE  # the class keeps the default, which continues
        elif kind == TRAILERS and not shape.takes_trailers[index]:
            return _CONTINUE
        filter = self.filters[shape.entries[index]]
        self.calling = index
        try:
            status = self._invoke(filter, kind, payload, end_stream)
        except Exception as error:  # a filter's bug must not take the worker down
            self._raised(index, error)
            return None
        continued = self.calling == CONTINUED
        self.calling = IDLE
        if continued and status == _STOP:
            return _CONTINUE  # the filter resumed itself before returning
        result: FilterStatus = status
        return result

    def _invoke(self, filter: Any, kind: int, payload: Any, end_stream: bool) -> Any:
        raise NotImplementedError

    def _sink(self, item: Item) -> None:
        raise NotImplementedError

    def _stop(self, index: int, item: Item, status: FilterStatus) -> None:
        kind, payload, end_stream = item
        stops = self.stops
        if stops is None:
            stops = self.stops = {}
        stop = stops.get(index)  # there is one already when seen items were kept (release)
        if stop is None:
            stop = stops[index] = Stop(HOLDING)
        if status == _STOP_AND_BUFFER and kind != TRAILERS and not end_stream:
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
            if status == _STOP_AND_BUFFER and ended:
                status = _STOP
            if status == _CONTINUE:
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

    # --- buffer accounting ------------------------------------------------------------------

    def _add(self, size: int, whole_body: bool) -> bool:
        """Count `size` more held bytes; False when that failed the stream (too large)."""
        self.buffered += size
        if self.buffered <= self.limit:
            return True
        if whole_body:
            manager = self.manager
            assert manager is not None  # (only a chain that is not aborted holds bytes)
            manager.too_large(self.decoder)
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
