"""X-Request-Id values: random version-4 UUIDs, as the bytes of their text form.

Made 256 at a time from one os.urandom read: formatting one UUID on its own (an int formatted
as hex, then five slices joined with dashes) costs about 6k instructions, 5% of a proxied
request; in a batch, hexlify and one struct unpack do the work in C, and an id costs a pop.
The pool is emptied in a forked child, so that processes never hand out the same ids."""

from __future__ import annotations

import os
import struct
from binascii import hexlify

_BATCH = 256
# the five dash-separated groups of each UUID of the batch, from its 32 hex digits
_GROUPS = struct.Struct("8s4s4s4s12s" * _BATCH).unpack

_pool: list[bytes] = []


def _refill() -> None:
    raw = bytearray(os.urandom(16 * _BATCH))
    for i in range(0, 16 * _BATCH, 16):
        raw[i + 6] = (raw[i + 6] & 0x0F) | 0x40  # version 4
        raw[i + 8] = (raw[i + 8] & 0x3F) | 0x80  # the RFC 4122 variant
    groups = _GROUPS(hexlify(raw))
    join = b"-".join
    _pool[:] = [join(groups[i : i + 5]) for i in range(0, 5 * _BATCH, 5)]


def new_request_id() -> bytes:
    if not _pool:
        _refill()
    return _pool.pop()


os.register_at_fork(after_in_child=_pool.clear)
