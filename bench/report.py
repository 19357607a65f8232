"""Summarising rounds and printing them as markdown; updating BENCHMARKS.md."""

from __future__ import annotations

import re
import statistics
from pathlib import Path

from procs import CLK_TCK

BEGIN = "<!-- bench/run.py:begin -->"
END = "<!-- bench/run.py:end -->"
# The L4 results have their own section, so a run of only one kind keeps the other's results.
L4_BEGIN = "<!-- bench/run.py:l4:begin -->"
L4_END = "<!-- bench/run.py:l4:end -->"


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


def _wrk_table(summaries: dict[str, dict], labels: dict[str, str]) -> list[str]:
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
    return lines


def markdown(summaries: dict[str, dict], labels: dict[str, str]) -> str:
    lines = _wrk_table(summaries, labels)
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
    pairs = [("pymosn", "pymosn-baseline", "pymosn / baseline build"),
             ("pymosn-baseline", "envoy", "baseline build / Envoy"),
             ("pymosn-chain", "pymosn-envoy", "pymosn chain / pymosn bare"),
             ("envoy-chain", "envoy", "Envoy chain / Envoy bare"),
             ("pymosn-envoy", "envoy", "pymosn bare / Envoy bare (same bootstrap)"),
             ("pymosn-chain", "envoy-chain", "pymosn chain / Envoy chain")]
    for a, b, label in pairs:
        if a in s and b in s:
            rows.append(
                f"| {label} | {_ratio(get(a, 'rps_median'), get(b, 'rps_median'))} "
                f"| {_ratio(get(a, 'cpu_us_per_req'), get(b, 'cpu_us_per_req'))} |"
            )
    if "routes10k" in s and "routes10" in s:
        rows.append(
            f"| pymosn 10k routes / 10 routes | {_ratio(get('routes10k', 'rps_median'), get('routes10', 'rps_median'))} "
            f"| {_ratio(get('routes10k', 'cpu_us_per_req'), get('routes10', 'cpu_us_per_req'))} |"
        )
    return rows


def summarise_bulk(rounds: list[dict]) -> dict:
    """iperf3 rounds: median Gbit/s, and the proxy's CPU % over all transfers together.

    CPU % is the proxy tree's utime+stime over the seconds iperf3 transferred (100% = one
    core); summed over the rounds for the same reason as CPU µs/req.
    """
    gbits = [r["iperf"]["gbits"] for r in rounds]
    seconds = sum(r["iperf"]["seconds"] for r in rounds)
    ticks = sum(r["cpu_ticks"] for r in rounds)
    retransmits = [r["iperf"]["retransmits"] for r in rounds if r["iperf"]["retransmits"] is not None]
    return {
        "rounds": len(rounds),
        "gbits_median": statistics.median(gbits),
        "gbits_min": min(gbits),
        "gbits_max": max(gbits),
        "cpu_pct": (ticks / CLK_TCK / seconds * 100) if seconds else None,
        "peak_rss_mib": max(r["peak_rss_kib"] for r in rounds) / 1024,
        "retransmits": sum(retransmits) if retransmits else None,
    }


BULK_TITLES = {
    "tcp-bulk": "L4 bulk throughput, client → server (iperf3, one stream)",
    "tcp-bulk-r": "L4 bulk throughput, server → client (iperf3 -R, one stream)",
}
# Targets of the tcp_proxy issue, against Envoy's tcp_proxy.
BULK_TARGET_RATIO = 1.3
BULK_TARGET_CPU_PCT = 70.0
RR_TARGET_RATIO = 1.0


def l4_markdown(l4: dict[str, dict[str, dict]], labels: dict[str, str]) -> str:
    """The L4 tables: one per bulk direction, the request/response one, ratios, targets."""
    lines: list[str] = []
    for test, title in BULK_TITLES.items():
        if test not in l4:
            continue
        lines += [
            f"**{title}**",
            "",
            "| proxy | Gbit/s (median) | Gbit/s range | proxy CPU % | peak RSS MiB | retransmits |",
            "| --- | ---: | ---: | ---: | ---: | ---: |",
        ]
        for name, s in l4[test].items():
            lines.append(
                f"| {labels.get(name, name)} | {_num(s['gbits_median'], 2)} "
                f"| {_num(s['gbits_min'], 2)}–{_num(s['gbits_max'], 2)} | {_num(s['cpu_pct'], 0)} "
                f"| {_num(s['peak_rss_mib'], 1)} | {'n/a' if s['retransmits'] is None else s['retransmits']} |"
            )
        lines.append("")
    if "tcp-rr" in l4:
        lines += ["**L4 small request/response (wrk, HTTP/1.1 through the TCP proxy)**", ""]
        lines += _wrk_table(l4["tcp-rr"], labels)
        lines.append("")
    ratios = _l4_ratios(l4, labels)
    if ratios:
        lines += ratios + [""]
    targets = _l4_targets(l4)
    if targets:
        lines += targets + [""]
    return "\n".join(lines).rstrip("\n")


def _l4_ratios(l4: dict[str, dict[str, dict]], labels: dict[str, str]) -> list[str]:
    columns = []  # (header, test, key)
    for test, arrow in (("tcp-bulk", "→"), ("tcp-bulk-r", "←")):
        if test in l4:
            columns += [(f"Gbit/s {arrow}", test, "gbits_median"), (f"CPU % {arrow}", test, "cpu_pct")]
    if "tcp-rr" in l4:
        columns += [("rr req/s", "tcp-rr", "rps_median"), ("rr CPU µs/req", "tcp-rr", "cpu_us_per_req")]
    present = set().union(*(set(by_proxy) for by_proxy in l4.values()))
    rows = []
    for mine in ("pymosn", "pymosn-nosplice"):
        for other in ("envoy", "nginx"):
            if mine in present and other in present:
                cells = [
                    _ratio(l4[test].get(mine, {}).get(key), l4[test].get(other, {}).get(key))
                    for _h, test, key in columns
                ]
                rows.append(f"| {mine} / {other} | " + " | ".join(cells) + " |")
    if not rows:
        return []
    header = "| ratio | " + " | ".join(h for h, _t, _k in columns) + " |"
    return [
        "**L4 ratios** (→ client to server, ← server to client; Gbit/s and req/s: higher is better "
        "for pymosn, CPU: lower is better)",
        "",
        header,
        "| --- |" + " ---: |" * len(columns),
        *rows,
    ]


def _l4_targets(l4: dict[str, dict[str, dict]]) -> list[str]:
    def get(test: str, name: str, key: str):
        return l4.get(test, {}).get(name, {}).get(key)

    rows = []
    for test, arrow in (("tcp-bulk", "client → server"), ("tcp-bulk-r", "server → client")):
        mine, envoy = get(test, "pymosn", "gbits_median"), get(test, "envoy", "gbits_median")
        cpu = get(test, "pymosn", "cpu_pct")
        if mine and envoy:
            ratio = mine / envoy
            rows.append(
                f"| L4 bulk {arrow} ≥ {BULK_TARGET_RATIO}x Envoy's tcp_proxy | {ratio:.2f}x "
                f"({mine:.1f} vs {envoy:.1f} Gbit/s) | {'met' if ratio >= BULK_TARGET_RATIO else '**missed**'} |"
            )
        if mine and cpu is not None:
            rows.append(
                f"| pymosn CPU < {BULK_TARGET_CPU_PCT:.0f}% at that rate ({arrow}) | {cpu:.0f}% "
                f"| {'met' if cpu < BULK_TARGET_CPU_PCT else '**missed**'} |"
            )
    mine, envoy = get("tcp-rr", "pymosn", "rps_median"), get("tcp-rr", "envoy", "rps_median")
    if mine and envoy:
        ratio = mine / envoy
        rows.append(
            f"| L4 small request/response req/s ≥ {RR_TARGET_RATIO}x Envoy | {ratio:.2f}x "
            f"({mine:,.0f} vs {envoy:,.0f}) | {'met' if ratio >= RR_TARGET_RATIO else '**missed**'} |"
        )
    if not rows:
        return []
    return [
        "**L4 targets** (pymosn with splice vs Envoy)",
        "",
        "| target | measured | status |",
        "| --- | --- | --- |",
        *rows,
    ]


def l4_section(table: str, date: str, command: str, info: dict, settings: str, notes: list[str]) -> str:
    machine = "\n".join(f"- {key}: {value}" for key, value in info.items())
    note_text = "".join(f"{note}\n\n" for note in notes)
    return f"""{L4_BEGIN}
## L4 (tcp_proxy) benchmark (bench/run.py)

Run on {date} with:

```
{command}
```

{settings}

{table}

{note_text}Machine:

{machine}

Columns are explained in [bench/README.md](bench/README.md).
{L4_END}
"""


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
    """Replaces the section `text` is (HTTP or L4, told by its begin marker) in BENCHMARKS.md, or
    appends it, leaving everything else, including the other section, alone."""
    old = path.read_text() if path.exists() else "# Benchmarks\n"
    begin, end = (L4_BEGIN, L4_END) if text.startswith(L4_BEGIN) else (BEGIN, END)
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end) + r"\n?", re.S)
    if pattern.search(old):
        new = pattern.sub(lambda _m: text, old, count=1)
    else:
        new = old.rstrip("\n") + "\n\n" + text
    path.write_text(new)
