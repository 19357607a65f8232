"""The one place built-in extensions are registered. Unknown names fail config load."""

from __future__ import annotations

NETWORK_FILTERS = ("proxy",)
