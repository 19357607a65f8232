"""Counting a response in its status class's counter (`downstream_rq_2xx`, `upstream_rq_5xx`).

By name, for any group: the compiled request path's groups (metrics/groups.py) count their
own, typed, and the interpreted ones (stats.py) come here through StatsGroup.count_response."""

from __future__ import annotations


def count_response(stats: object, class_counters: tuple[str, ...], code: int) -> None:
    """Adds one to the counter of `code`'s class among `class_counters` (the 1xx..5xx names,
    in that order; empty for a group that keeps none)."""
    if class_counters and 100 <= code < 600:
        name = class_counters[code // 100 - 1]
        setattr(stats, name, getattr(stats, name) + 1)
