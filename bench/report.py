"""Summarising rounds and printing them as markdown; updating BENCHMARKS.md."""

from __future__ import annotations

import re
import statistics
from pathlib import Path

from procs import CLK_TCK

BEGIN = "<!-- bench/run.py:begin -->"
END = "<!-- bench/run.py:end -->"


def summarise(rounds: list[dict]) -> dict:
    """Medians over rounds for rate and latency; CPU per request over all rounds together.

    CPU time is read in clock ticks (10 ms each), so one round's figure is coarse; dividing the
    summed ticks by the summed requests is the most precise figure the data allows.
    """
    requests = sum(r["wrk"]["requests"] for r in rounds)
    ticks = sum(r["cpu_ticks"] for r in rounds)
    p50s = [r["wrk"]["p50_ms"] for r in rounds if r["wrk"]["p50_ms"] is not None]
    p99s = [r["wrk"]["p99_ms"] for r in rounds if r["wrk"]["p99_ms"] is not None]
    return {
        "rounds": len(rounds),
        "rps_median": statistics.median(r["wrk"]["rps"] for r in rounds),
        "rps_min": min(r["wrk"]["rps"] for r in rounds),
        "rps_max": max(r["wrk"]["rps"] for r in rounds),
        "p50_ms": statistics.median(p50s) if p50s else None,
        "p99_ms": statistics.median(p99s) if p99s else None,
        "cpu_us_per_req": (ticks / CLK_TCK * 1e6 / requests) if requests else None,
        "peak_rss_mib": max(r["peak_rss_kib"] for r in rounds) / 1024,
        "socket_errors": sum(r["wrk"]["socket_errors"] for r in rounds),
        "non_2xx_3xx": sum(r["wrk"]["non_2xx_3xx"] for r in rounds),
        "requests": requests,
    }


def _num(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "n/a"
    return f"{value:,.{digits}f}"


def _ratio(a: float | None, b: float | None) -> str:
    if not a or not b:
        return "n/a"
    return f"{a / b:.2f}"


def markdown(summaries: dict[str, dict], labels: dict[str, str]) -> str:
    lines = [
        "| proxy | req/s (median) | req/s range | p50 ms | p99 ms | CPU µs/req | peak RSS MiB | socket errors | non-2xx/3xx |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, s in summaries.items():
        lines.append(
            f"| {labels.get(name, name)} | {_num(s['rps_median'])} | {_num(s['rps_min'])}–{_num(s['rps_max'])} "
            f"| {_num(s['p50_ms'], 2)} | {_num(s['p99_ms'], 2)} | {_num(s['cpu_us_per_req'], 1)} "
            f"| {_num(s['peak_rss_mib'], 1)} | {s['socket_errors']} | {s['non_2xx_3xx']} |"
        )
    ratios = _ratios(summaries)
    if ratios:
        lines += ["", "| ratio | req/s | CPU µs/req |", "| --- | ---: | ---: |", *ratios]
    return "\n".join(lines)


def _ratios(s: dict[str, dict]) -> list[str]:
    rows = []

    def get(name: str, key: str):
        return s[name][key] if name in s else None

    for other in ("envoy", "nginx"):
        if "pymosn" in s and other in s:
            rows.append(
                f"| pymosn / {other} | {_ratio(get('pymosn', 'rps_median'), get(other, 'rps_median'))} "
                f"| {_ratio(get('pymosn', 'cpu_us_per_req'), get(other, 'cpu_us_per_req'))} |"
            )
    if "routes10k" in s and "routes10" in s:
        rows.append(
            f"| pymosn 10k routes / 10 routes | {_ratio(get('routes10k', 'rps_median'), get('routes10', 'rps_median'))} "
            f"| {_ratio(get('routes10k', 'cpu_us_per_req'), get('routes10', 'cpu_us_per_req'))} |"
        )
    return rows


def section(table: str, date: str, command: str, info: dict, settings: str) -> str:
    machine = "\n".join(f"- {key}: {value}" for key, value in info.items())
    return f"""{BEGIN}
## Proxy benchmark (bench/run.py)

Run on {date} with:

```
{command}
```

{settings}

{table}

Machine:

{machine}

Columns are explained in [bench/README.md](bench/README.md).
{END}
"""


def write_benchmarks_md(path: Path, text: str) -> None:
    """Replaces this harness's section in BENCHMARKS.md (or appends it), leaving the rest alone."""
    old = path.read_text() if path.exists() else "# Benchmarks\n"
    pattern = re.compile(re.escape(BEGIN) + r".*?" + re.escape(END) + r"\n?", re.S)
    if pattern.search(old):
        new = pattern.sub(lambda _m: text, old, count=1)
    else:
        new = old.rstrip("\n") + "\n\n" + text
    path.write_text(new)
