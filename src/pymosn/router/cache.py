"""A bounded, LRU-ish cache for routing decisions.

Two generations instead of a real LRU: a full young dict becomes the old one and a fresh dict
starts; a hit in the old generation is promoted. Entries in use survive a rotation, the cost of a
hit stays one dict lookup, and memory is bounded by twice the limit even when a client sends an
endless stream of distinct hosts or paths (a plain dict used as a FIFO degrades, and clearing
everything at once makes every hot key miss at the same moment)."""

from __future__ import annotations

from typing import Any, Final

MISS: Final[Any] = object()


class TwoGenerationCache:
    __slots__ = ("young", "old", "limit")

    def __init__(self, limit: int) -> None:
        # Hot path reads `young.get(key, MISS)` directly; `lookup` is only for a young miss.
        self.young: dict = {}
        self.old: dict = {}
        self.limit = max(1, limit)

    def lookup(self, key: Any) -> Any:
        """The old generation's value (promoted), or MISS."""
        value = self.old.get(key, MISS)
        if value is not MISS:
            self.put(key, value)
        return value

    def put(self, key: Any, value: Any) -> None:
        young = self.young
        if len(young) >= self.limit:
            self.old = young
            self.young = young = {}
        young[key] = value

    def __len__(self) -> int:
        return len(self.young) + len(self.old)
