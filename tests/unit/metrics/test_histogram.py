import pytest

from pymosn.metrics import DEFAULT_BUCKETS, Histogram


def test_default_buckets_are_envoys():
    assert DEFAULT_BUCKETS[:4] == (0.5, 1, 5, 10)
    assert DEFAULT_BUCKETS[-1] == 3600000
    assert len(DEFAULT_BUCKETS) == 19


@pytest.mark.parametrize(
    ("value", "bucket"),
    [(0, 0), (0.5, 0), (0.51, 1), (1, 1), (4.9, 2), (5, 2), (3600000, 18), (3600000.1, 19), (1e9, 19)],
)
def test_bucket_bounds_are_inclusive_upper(value, bucket):
    h = Histogram()
    h.record(value)
    assert h.counts[bucket] == 1
    assert h.count == 1
    assert h.sum == value


def test_cumulative_counts_for_prometheus():
    h = Histogram()
    for v in (0.2, 0.7, 3, 3, 12, 7200000):
        h.record(v)
    cum = h.cumulative()
    assert cum[:5] == [1, 2, 4, 4, 5]
    assert cum[-1] == 5  # the 2 h sample is only in +Inf
    assert h.count == 6


def test_quantiles_interpolate_within_buckets():
    h = Histogram()
    assert h.quantile(0.5) is None
    for _ in range(100):
        h.record(7)  # all in (5, 10]
    assert 5 <= h.quantile(0.5) <= 7
    assert h.quantile(1) == 7  # never beyond the largest value seen
    h2 = Histogram()
    for v in range(1, 101):
        h2.record(v)
    assert h2.quantile(0.5) == pytest.approx(50, abs=1)
    assert 90 <= h2.quantile(0.99) <= 100


def test_quantile_is_monotonic():
    h = Histogram()
    for v in (1, 2, 3, 40, 41, 900, 70000):
        h.record(v)
    qs = [h.quantile(q / 100) for q in range(0, 101, 5)]
    assert qs == sorted(qs)


def test_snapshot_merge_roundtrip():
    a, b = Histogram(), Histogram()
    a.record(3)
    b.record(3)
    b.record(300)
    a.merge(b.snapshot())
    assert a.count == 3
    assert a.sum == 306
    assert a.max == 300
    assert a.counts[2] == 2


def test_merge_rejects_other_buckets():
    with pytest.raises(ValueError):
        Histogram().merge(Histogram((1, 2)).snapshot())


def test_recording_picks_the_bucket_bisect_would():
    import bisect

    from hypothesis import given
    from hypothesis import strategies as st

    @given(st.floats(min_value=0, max_value=1e8, allow_nan=False))
    def check(value):
        h = Histogram()
        h.record(value)
        assert h.counts.index(1) == bisect.bisect_left(h.bounds, value)

    check()
