"""A counter whose full name a config decides (re-exported by stats.py, which holds the
process's registry of them). Its own module so that the compiled build (build.py) makes it a
native class: the filters' `counter.value += 1` is then a field write, not two attribute
lookups by name."""

from __future__ import annotations


class NamedCounter:
    """One counter whose full name a config decides (a filter's `http.<listener>.rbac.allowed`):
    the data path holds the object and writes `counter.value += 1`. `family` and `labels` are
    its Prometheus name and labels."""

    __slots__ = ("name", "family", "labels", "value")

    def __init__(self, name: str, family: str, labels: tuple[tuple[str, str], ...] = ()) -> None:
        self.name = name
        self.family = family
        self.labels = labels
        self.value = 0
