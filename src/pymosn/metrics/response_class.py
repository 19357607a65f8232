"""Counting a response in its status class's counter (`downstream_rq_2xx`, `upstream_rq_5xx`).

Its own module so that the compiled build compiles it: the stats groups (stats.py) stay
interpreted, since their slots are made from their lists of names, and this was the last
interpreted call on a proxied request's path, twice per request."""

from __future__ import annotations


def count_response(stats: object, class_counters: tuple[str, ...], code: int) -> None:
    """Adds one to the counter of `code`'s class among `class_counters` (the 1xx..5xx names,
    in that order; empty for a group that keeps none)."""
    if class_counters and 100 <= code < 600:
        name = class_counters[code // 100 - 1]
        setattr(stats, name, getattr(stats, name) + 1)
