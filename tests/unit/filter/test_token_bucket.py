"""Token buckets on a fake clock: the per-process bucket, and the shared one as two workers see
it through one table (two views of the same memory, as two processes map it)."""

from __future__ import annotations

import pytest

from pymosn.filter.bucket_table import BucketTable
from pymosn.filter.token_bucket import (
    LocalTokenBucket,
    SharedTokenBucket,
    pack_state,
    process_bucket,
    share,
)


class Clock:
    def __init__(self, now: float = 500.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _take(bucket, now: float, n: int) -> int:
    return sum(bucket.consume(now) for _ in range(n))


def test_local_bucket_starts_full_and_refills_once_per_interval_up_to_its_maximum():
    bucket = LocalTokenBucket(5, 2, 1.0)
    assert _take(bucket, 10.0, 8) == 5
    assert _take(bucket, 10.99, 3) == 0
    assert bucket.reset_seconds(10.5) == 1
    assert _take(bucket, 11.0, 3) == 2  # one fill
    assert _take(bucket, 13.5, 9) == 4  # two fills
    assert _take(bucket, 100.0, 9) == 5  # many fills: capped at max_tokens
    assert bucket.remaining() == 0


def test_local_bucket_counts_ticks_from_its_first_request():
    bucket = LocalTokenBucket(1, 1, 10.0)
    assert bucket.consume(3.0)
    assert not bucket.consume(12.9)
    assert bucket.consume(13.0)


@pytest.fixture
def tables():
    clock = Clock()
    first = BucketTable.create(2, capacity=8, clock=clock)
    second = BucketTable(first.fd, 1, clock=clock)
    return clock, first, second


def test_two_workers_share_one_bucket(tables):
    clock, first, second = tables
    a = process_bucket(10, 4, 1.0, "$.rl", first)
    b = process_bucket(10, 4, 1.0, "$.rl", second)
    assert isinstance(a, SharedTokenBucket) and isinstance(b, SharedTokenBucket)
    now = clock.now
    assert _take(a, now, 6) == 6
    assert _take(b, now, 6) == 4  # what a took is gone for b
    assert a.remaining() == b.remaining() == 0
    assert _take(a, now + 1.0, 1) == 1  # a fills the new tick ...
    assert _take(b, now + 1.0, 9) == 3  # ... once: b sees the same four tokens, not four more
    assert _take(a, now + 1.5, 9) == 0


def test_a_shared_bucket_never_holds_more_than_max_tokens(tables):
    clock, first, second = tables
    a = process_bucket(3, 3, 1.0, "$.rl", first)
    b = process_bucket(3, 3, 1.0, "$.rl", second)
    assert _take(b, clock.now + 50, 2) == 2
    assert _take(a, clock.now + 50, 9) == 1


def test_a_worker_whose_clock_is_behind_does_not_fill_a_tick_again(tables):
    clock, first, second = tables
    a = process_bucket(2, 2, 1.0, "$.rl", first)
    b = process_bucket(2, 2, 1.0, "$.rl", second)
    assert _take(a, clock.now, 2) == 2
    assert _take(a, clock.now + 1.0, 2) == 2  # a's loop already reads the next tick
    assert _take(b, clock.now + 0.999, 2) == 0  # b's still the previous one: no fill for it


def test_slots_are_found_by_identity_and_parameters(tables):
    clock, first, second = tables
    a = process_bucket(2, 1, 1.0, "$.rl", first)
    assert isinstance(a, SharedTokenBucket)
    assert _take(a, clock.now, 2) == 2
    again = process_bucket(2, 1, 1.0, "$.rl", second)  # another worker, or a reload
    assert isinstance(again, SharedTokenBucket) and again._slot == a._slot
    assert _take(again, clock.now, 1) == 0  # the state carried over
    changed = process_bucket(3, 1, 1.0, "$.rl", second)  # new limits: a fresh, full bucket
    other = process_bucket(2, 1, 1.0, "$.other", second)
    assert isinstance(changed, SharedTokenBucket) and isinstance(other, SharedTokenBucket)
    assert len({a._slot, changed._slot, other._slot}) == 3
    assert _take(changed, clock.now, 5) == 3


def test_a_full_table_divides_the_bucket_among_the_workers():
    clock = Clock()
    first = BucketTable.create(3, capacity=1, clock=clock)
    views = [first, BucketTable(first.fd, 1, clock=clock), BucketTable(first.fd, 2, clock=clock)]
    process_bucket(1, 1, 1.0, "$.takes-the-only-slot", first)
    parts = [process_bucket(10, 4, 1.0, "$.rl", view) for view in views]
    assert all(isinstance(p, LocalTokenBucket) for p in parts)
    assert [p.max_tokens for p in parts] == [4, 3, 3]
    assert sum(p.tokens_per_fill for p in parts) == 4
    assert [share(2, 3, w) for w in range(3)] == [1, 1, 0]


def test_the_over_admission_of_in_flight_decisions_is_repaid_by_later_fills(tables):
    clock, first, second = tables
    a = process_bucket(4, 2, 1.0, "$.rl", first)
    b = process_bucket(4, 2, 1.0, "$.rl", second)
    assert isinstance(b, SharedTokenBucket)
    assert _take(a, clock.now, 4) == 4
    b._consumed[1] += 1  # b admitted on a view from just before a's last token: one over
    assert b.remaining() == 0 and _take(a, clock.now, 1) == 0
    assert _take(a, clock.now + 1.0, 9) == 1  # the fill of 2 pays the debt of 1 first


def test_a_state_word_holds_the_tick_and_the_issued_count():
    state = pack_state(7, 2**34 + 5)  # issued counts modulo 2**34
    assert state >> 34 == 7 and state & (2**34 - 1) == 5


def test_attaching_to_something_else_fails(tmp_path):
    with open(tmp_path / "junk", "wb") as f:
        f.write(b"\0" * 4096)
    with open(tmp_path / "junk", "r+b") as f, pytest.raises(ValueError):
        BucketTable(f.fileno(), 0)
