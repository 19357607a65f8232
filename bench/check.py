"""`bench/run.py --check`: a regression guard that takes minutes, run by hand, not in CI.

It runs a short interleaved pymosn-vs-Envoy HTTP/1.1 round (3 x 5 s unless told otherwise)
and compares pymosn's CPU per request, as a ratio to Envoy's in the same run, with the ratio
recorded in BENCHMARKS.md on a marker line:

    <!-- bench-check: pymosn/Envoy HTTP/1.1 CPU per request 1.42 (2026-12-03, 2ae5703) -->

A ratio more than 10% above the recorded one fails the check (exit status 1). Ratios, not
absolute microseconds, because this machine's speed moves by tens of percent between runs;
Envoy in the same rounds absorbs most of that. `--record-check` writes the measured ratio as
the new reference (after a deliberate, quiet full run)."""

from __future__ import annotations

import re
from pathlib import Path

TOLERANCE = 0.10
CHECK_ROUNDS, CHECK_DURATION, CHECK_WARMUP = 3, 5.0, 2.0
_MARKER = re.compile(r"<!-- bench-check: pymosn/Envoy HTTP/1\.1 CPU per request ([0-9.]+) \(([^)]*)\) -->\n?")


def recorded(path: Path) -> tuple[float, str] | None:
    """The reference ratio and what it was measured on, or None when none is recorded."""
    found = _MARKER.search(path.read_text()) if path.exists() else None
    return (float(found.group(1)), found.group(2)) if found else None


def cpu_ratio(summaries: dict[str, dict]) -> float:
    mine, envoy = summaries["pymosn"]["cpu_us_per_req"], summaries["envoy"]["cpu_us_per_req"]
    if not mine or not envoy:
        raise ValueError("no CPU per request measured for pymosn or Envoy")
    return mine / envoy


def verdict(measured: float, reference: float | None) -> tuple[bool, str]:
    if reference is None:
        return False, (f"pymosn/Envoy CPU per request {measured:.2f}; BENCHMARKS.md records no reference "
                       "(bench/run.py --check --record-check writes one)")
    limit = reference * (1 + TOLERANCE)
    worse = measured / reference - 1
    text = (f"pymosn/Envoy CPU per request {measured:.2f} against the recorded {reference:.2f} "
            f"({worse:+.0%}; the limit is {limit:.2f}, +{TOLERANCE:.0%})")
    return measured <= limit, text


def record(path: Path, ratio: float, label: str) -> None:
    """Writes (or replaces) the marker line, at the top of the file after its title."""
    line = f"<!-- bench-check: pymosn/Envoy HTTP/1.1 CPU per request {ratio:.2f} ({label}) -->\n"
    old = path.read_text() if path.exists() else "# Benchmarks\n"
    if _MARKER.search(old):
        new = _MARKER.sub(lambda _m: line, old, count=1)
    else:
        title, _, rest = old.partition("\n")
        new = f"{title}\n{line}{rest}"
    path.write_text(new)
