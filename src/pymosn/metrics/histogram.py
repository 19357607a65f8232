"""A fixed-bucket latency histogram with Envoy's default bucket bounds.

Recording is a bucket search and three additions; quantiles are estimated from the buckets only at
render time, so the data path never sorts or keeps samples."""

from __future__ import annotations

# Envoy's default histogram bucket upper bounds, in milliseconds.
DEFAULT_BUCKETS: tuple[float, ...] = (
    0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000,
    30000, 60000, 300000, 600000, 1800000, 3600000,
)  # fmt: skip

# The quantiles Envoy prints in its /stats text output.
TEXT_QUANTILES: tuple[float, ...] = (0, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.995, 0.999, 1)


class Histogram:
    """Counts per bucket, where bucket i holds values v with bounds[i-1] < v <= bounds[i]
    (Prometheus `le` semantics); the last slot holds values above the largest bound."""

    __slots__ = ("bounds", "counts", "sum", "count", "max")

    def __init__(self, bounds: tuple[float, ...] = DEFAULT_BUCKETS) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.sum = 0.0
        self.count = 0
        # The largest value seen lets the overflow bucket and P100 report something real.
        self.max = 0.0

    def record(self, value_ms: float) -> None:
        # bisect_left by a scan: proxied latencies fall in the first buckets, and compiled, the
        # scan is a few comparisons where bisect is a call through the interpreter
        bounds = self.bounds
        i = 0
        n = len(bounds)
        while i < n and bounds[i] < value_ms:
            i += 1
        self.counts[i] += 1
        self.sum += value_ms
        self.count += 1
        if value_ms > self.max:
            self.max = value_ms

    def cumulative(self) -> list[int]:
        """Cumulative count per bound (the Prometheus `_bucket` values), without +Inf."""
        out = []
        total = 0
        for c in self.counts[:-1]:
            total += c
            out.append(total)
        return out

    def quantile(self, q: float) -> float | None:
        """An estimate by linear interpolation inside the bucket holding rank q*count.
        None when nothing was recorded."""
        if not self.count:
            return None
        rank = q * self.count
        seen = 0
        lower = 0.0
        bounds = self.bounds
        for i, c in enumerate(self.counts):
            upper = bounds[i] if i < len(bounds) else self.max
            upper = min(upper, self.max)  # never report beyond the largest value recorded
            if c and seen + c >= rank:
                return lower + (upper - lower) * max(0.0, rank - seen) / c
            seen += c
            if i < len(bounds):
                lower = min(bounds[i], self.max)
        return self.max

    def snapshot(self) -> dict:
        return {"counts": list(self.counts), "sum": self.sum, "count": self.count, "max": self.max}

    def merge(self, snap: dict) -> None:
        counts = snap["counts"]
        if len(counts) != len(self.counts):
            raise ValueError("histogram snapshots with different buckets cannot be merged")
        for i, c in enumerate(counts):
            self.counts[i] += c
        self.sum += snap["sum"]
        self.count += snap["count"]
        self.max = max(self.max, snap.get("max", 0.0))

    def reset(self) -> None:
        self.counts = [0] * (len(self.bounds) + 1)
        self.sum = 0.0
        self.count = 0
        self.max = 0.0
