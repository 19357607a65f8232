"""Exposition of a StatsStore at request time: Envoy's /stats text and JSON, and Prometheus.

Everything here runs on the admin path, never on the data path."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

from pymosn.metrics.histogram import TEXT_QUANTILES, Histogram
from pymosn.metrics.store import COUNTER, GAUGE, HISTOGRAM, Sample, StatsStore

PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_INVALID_NAME_CHARS = re.compile(r"[^a-zA-Z0-9_:]")


def select(
    store: StatsStore, filter: str | re.Pattern | None = None, used_only: bool = False
) -> list[Sample]:
    """Samples sorted by text name, optionally filtered by a regex searched in the text name
    (Envoy's `?filter=`) and to non-zero values (our reading of `?usedonly`).
    Raises re.error for a bad pattern."""
    pattern = re.compile(filter) if isinstance(filter, str) else filter
    out = []
    for s in store.samples():
        if pattern is not None and not pattern.search(s.name):
            continue
        if used_only and not (s.value.count if s.kind == HISTOGRAM else s.value):
            continue
        out.append(s)
    out.sort(key=lambda s: s.name)
    return out


# --- Envoy text ---------------------------------------------------------------------------------
def render_text(store: StatsStore, filter: str | None = None, used_only: bool = False) -> str:
    """`name: value` lines, counters and gauges first then histograms, each sorted, as Envoy."""
    samples = select(store, filter, used_only)
    lines = [f"{s.name}: {s.value}" for s in samples if s.kind != HISTOGRAM]
    lines += [f"{s.name}: {_quantile_text(s.value)}" for s in samples if s.kind == HISTOGRAM]
    return "\n".join(lines) + "\n" if lines else ""


def _quantile_text(h: Histogram) -> str:
    if not h.count:
        return "No recorded values"
    # Envoy prints (interval, cumulative); we keep no interval histograms, so the interval
    # side is `nan`, which is what Envoy itself prints for an interval with no samples.
    return " ".join(f"P{_num(q * 100)}(nan,{_num(h.quantile(q))})" for q in TEXT_QUANTILES)


def _num(v: float) -> str:
    return f"{v:.6g}"


# --- Envoy JSON ---------------------------------------------------------------------------------
def render_json(store: StatsStore, filter: str | None = None, used_only: bool = False) -> str:
    samples = select(store, filter, used_only)
    stats: list[dict] = [{"name": s.name, "value": s.value} for s in samples if s.kind != HISTOGRAM]
    histograms = [s for s in samples if s.kind == HISTOGRAM]
    if histograms:
        stats.append(
            {
                "histograms": {
                    "supported_quantiles": [q * 100 for q in TEXT_QUANTILES],
                    "computed_quantiles": [
                        {
                            "name": s.name,
                            "values": [
                                {"interval": None, "cumulative": s.value.quantile(q)} for q in TEXT_QUANTILES
                            ],
                        }
                        for s in histograms
                    ],
                }
            }
        )
    return json.dumps({"stats": stats}, indent=1)


# --- Prometheus ---------------------------------------------------------------------------------
def render_prometheus(store: StatsStore, filter: str | None = None, used_only: bool = False) -> str:
    """Prometheus text exposition 0.0.4: one `# TYPE` per family, families sorted, samples of a
    family contiguous (the format requires it)."""
    families: dict[str, list[Sample]] = {}
    for s in select(store, filter, used_only):
        families.setdefault(_metric_name(s.family), []).append(s)
    out: list[str] = []
    for family in sorted(families):
        samples = sorted(families[family], key=lambda s: s.labels)
        kind = samples[0].kind
        out.append(f"# TYPE {family} {kind}")
        if kind == HISTOGRAM:
            for s in samples:
                _histogram_lines(out, family, s.labels, s.value)
        else:
            for s in samples:
                out.append(f"{family}{_labels(s.labels)} {s.value}")
    return "\n".join(out) + "\n" if out else ""


def _histogram_lines(out: list[str], family: str, labels, h: Histogram) -> None:
    for bound, count in zip(h.bounds, h.cumulative(), strict=True):
        out.append(f"{family}_bucket{_labels((*labels, ('le', _le(bound))))} {count}")
    out.append(f"{family}_bucket{_labels((*labels, ('le', '+Inf')))} {h.count}")
    out.append(f"{family}_sum{_labels(labels)} {float(h.sum)!r}")
    out.append(f"{family}_count{_labels(labels)} {h.count}")


def _le(bound: float) -> str:
    return str(int(bound)) if float(bound).is_integer() else repr(float(bound))


def _metric_name(name: str) -> str:
    return _INVALID_NAME_CHARS.sub("_", name)


def _labels(labels: Iterable[tuple[str, str]]) -> str:
    body = ",".join(f'{_metric_name(k)}="{_escape(v)}"' for k, v in labels)
    return "{" + body + "}" if body else ""


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


__all__ = [
    "COUNTER",
    "GAUGE",
    "HISTOGRAM",
    "PROMETHEUS_CONTENT_TYPE",
    "render_json",
    "render_prometheus",
    "render_text",
    "select",
]
