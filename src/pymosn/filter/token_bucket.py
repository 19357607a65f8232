"""Token buckets for the rate-limit filters, per process or shared by every worker process.

A bucket is Envoy's TokenBucket: it starts with `max_tokens`; at each `fill_interval` boundary
it gains `tokens_per_fill`, never holding more than `max_tokens`; each admitted request takes
one token. Boundaries are counted in ticks from an epoch, and a refill is computed when the
first request of a new tick arrives (from the clock the caller passes, the loop's): there is no
timer, and a tick nobody asks in costs nothing.

`LocalTokenBucket` is one process's (a per-connection bucket, a process without workers).
`SharedTokenBucket` is one bucket of the whole proxy, in a BucketTable every worker maps
(bucket_table.py). Its state is one word, `(tick << 34) | (tokens issued mod 2**34)`, plus one
counter per worker of the tokens that worker took, written by that worker alone:

    available = issued - sum(consumed)     admit if > 0, then add 1 to our own counter

so the request path reads a few words and writes one, with no lock and no system call. A
refill (once per tick per worker at most) rewrites the state word from the sum it reads:
`issued = min(issued + ticks * tokens_per_fill, sum(consumed) + max_tokens)`; two workers
refilling the same tick compute from the same state and either write is right, and the tick
in the same word keeps a tick from being filled twice.

The bound (docs/design/local-rate-limit.md): a worker decides from counters it read a moment
before it writes its own, so each of the N workers can have at most one token in flight that
the others have not seen. Over any interval of length L the whole proxy admits at most
    max_tokens + tokens_per_fill * (floor(L / fill_interval) + 1) + (N - 1)
and a bucket never holds more than max_tokens (what was over-admitted is owed to later fills).
A process without a table (no workers) has the whole bucket to itself. When the table is
full the bucket is divided instead: each worker a bucket of its share of max_tokens and
tokens_per_fill (the shares add up to the configured values), which never admits more than the
configured total and may admit less when traffic reaches the workers unevenly."""

from __future__ import annotations

import math
from typing import Final

from pymosn.filter.bucket_table import BucketTable, installed

# (Final: constants of the compiled build, not module lookups)
TOKENS_BITS: Final = 34
TOKENS_MASK: Final = (1 << TOKENS_BITS) - 1
NEGATIVE: Final = 1 << (TOKENS_BITS - 1)  # a masked token count at or above this is negative
TICK_MASK: Final = (1 << 30) - 1  # 2**30 ticks: 1.7 years at the shortest fill interval (50 ms)
_TICK_AHEAD: Final = 1 << 29  # a stored tick "after" ours: a worker whose clock reads later filled it

MAX_TOKENS: Final = (1 << 32) - 1  # Envoy's uint32 (the state has room for it and N workers in debt)


class TokenBucket:
    """What the filters call on either kind of bucket. A class, not a Protocol: in the compiled
    build (build.py) a request calls these through the native classes' own method tables."""

    __slots__ = ("max_tokens",)
    max_tokens: int

    def consume(self, now: float) -> bool:
        """Take one token if there is one (True: admitted)."""
        raise NotImplementedError

    def remaining(self) -> int:
        """Tokens left (as of the last consume)."""
        raise NotImplementedError

    def reset_seconds(self, now: float) -> int:
        """Whole seconds until the next fill."""
        raise NotImplementedError


class LocalTokenBucket(TokenBucket):
    __slots__ = ("tokens_per_fill", "fill_interval", "tokens", "next_fill", "_epoch", "_tick")

    def __init__(self, max_tokens: int, tokens_per_fill: int, fill_interval: float) -> None:
        self.max_tokens = max_tokens
        self.tokens_per_fill = tokens_per_fill
        self.fill_interval = fill_interval
        self.tokens = max_tokens
        self.next_fill = -math.inf  # the first consume starts the ticks
        self._epoch: float | None = None
        self._tick = 0

    def consume(self, now: float) -> bool:
        if now >= self.next_fill:
            self._refill(now)
        if self.tokens > 0:
            self.tokens -= 1
            return True
        return False

    def _refill(self, now: float) -> None:
        epoch = self._epoch
        if epoch is None:
            epoch = self._epoch = now
        tick = int((now - epoch) // self.fill_interval)
        elapsed = tick - self._tick
        if elapsed > 0:
            self.tokens = min(self.max_tokens, self.tokens + elapsed * self.tokens_per_fill)
            self._tick = tick
        self.next_fill = epoch + (tick + 1) * self.fill_interval

    def remaining(self) -> int:
        return max(0, self.tokens)

    def reset_seconds(self, now: float) -> int:
        return max(0, math.ceil(self.next_fill - now))


class SharedTokenBucket(TokenBucket):
    __slots__ = ("tokens_per_fill", "fill_interval", "next_fill", "_states", "_slot", "_consumed",
                 "_worker", "_epoch")

    def __init__(self, table: BucketTable, slot: int, max_tokens: int, tokens_per_fill: int,
                 fill_interval: float) -> None:
        self.max_tokens = max_tokens
        self.tokens_per_fill = tokens_per_fill
        self.fill_interval = fill_interval
        self.next_fill = -math.inf
        self._states = table.states
        self._slot = slot
        self._consumed = table.consumed(slot)
        self._worker = table.worker
        self._epoch = table.epoch

    def consume(self, now: float) -> bool:
        if now >= self.next_fill:
            self._refill(now)
        consumed = self._consumed
        if 0 < ((self._states[self._slot] - sum(consumed)) & TOKENS_MASK) < NEGATIVE:
            consumed[self._worker] += 1
            return True
        return False

    def _refill(self, now: float) -> None:
        tick = int((now - self._epoch) // self.fill_interval)
        self.next_fill = self._epoch + (tick + 1) * self.fill_interval
        states, slot = self._states, self._slot
        state = states[slot]
        elapsed = (tick - (state >> TOKENS_BITS)) & TICK_MASK
        if elapsed == 0 or elapsed >= _TICK_AHEAD:
            return  # this tick is filled already
        total = sum(self._consumed)
        tokens = (state - total) & TOKENS_MASK
        if tokens >= NEGATIVE:
            tokens -= 1 << TOKENS_BITS
        tokens = min(self.max_tokens, tokens + elapsed * self.tokens_per_fill)
        if states[slot] == state:  # narrows the window in which a slower refill overwrites ours
            states[slot] = pack_state(tick, total + tokens)

    def remaining(self) -> int:
        tokens = (self._states[self._slot] - sum(self._consumed)) & TOKENS_MASK
        return 0 if tokens >= NEGATIVE else tokens

    def reset_seconds(self, now: float) -> int:
        return max(0, math.ceil(self.next_fill - now))


def pack_state(tick: int, issued: int) -> int:
    return ((tick & TICK_MASK) << TOKENS_BITS) | (issued & TOKENS_MASK)


def share(total: int, workers: int, worker: int) -> int:
    """Worker `worker`'s part of `total` divided among `workers` (the parts add up to it)."""
    return total // workers + (1 if worker < total % workers else 0)


def process_bucket(max_tokens: int, tokens_per_fill: int, fill_interval: float, identity: str,
                   table: BucketTable | None = None) -> TokenBucket:
    """The bucket named `identity` (a stable name: its config path) for the whole proxy: shared
    through the installed table when there is one (with room), else this process's share."""
    table = installed() if table is None else table
    if table is None:
        return LocalTokenBucket(max_tokens, tokens_per_fill, fill_interval)
    name = f"{identity}|{max_tokens}|{tokens_per_fill}|{fill_interval!r}"
    start_tick = int((table.clock() - table.epoch) // fill_interval)
    slot = table.slot(name, lambda consumed: pack_state(start_tick, consumed + max_tokens))
    if slot is None:
        workers, worker = table.workers, table.worker
        return LocalTokenBucket(share(max_tokens, workers, worker), share(tokens_per_fill, workers, worker),
                                fill_interval)
    return SharedTokenBucket(table, slot, max_tokens, tokens_per_fill, fill_interval)
