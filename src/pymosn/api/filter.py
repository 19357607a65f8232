"""Filter status values and the network read-filter interface.

A filter chain stops at the first filter that returns STOP; the filter then owns the data
(it may buffer it, answer locally or close the connection)."""

from __future__ import annotations

from enum import IntEnum
from typing import Protocol


class FilterStatus(IntEnum):
    CONTINUE = 0
    STOP = 1


class ReadFilter(Protocol):
    """A network (L4) read filter. `on_data` may be handed a bytes object or a bytearray."""

    def on_new_connection(self) -> FilterStatus: ...

    def on_data(self, data: bytes) -> FilterStatus: ...
