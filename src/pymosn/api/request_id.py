"""X-Request-Id values: random version-4 UUIDs, as the bytes of their text form.

Made 256 at a time from one os.urandom read, by C-level whole-batch operations: formatting one
UUID on its own (an int formatted as hex, five slices joined with dashes) costs about 6k
instructions, 5% of a proxied request; here the version and variant bits are set by two
translations, hexlify makes the digits, and 32 strided copies put each digit position of every
id in place around the dashes, so that an id costs one slice and a pop. The pool is emptied in a
forked child, so that processes never hand out the same ids."""

from __future__ import annotations

import os
from binascii import hexlify
from typing import Final

_BATCH = 256
_TEXT = 36  # 8-4-4-4-12 hex digits and four dashes
_VERSION_4 = bytes((b & 0x0F) | 0x40 for b in range(256))  # the high nibble of byte 6
_VARIANT_RFC_4122 = bytes((b & 0x3F) | 0x80 for b in range(256))  # the top two bits of byte 8
# where hex digit j of an id goes in its text
_DIGIT_AT = tuple(j + (j >= 8) + (j >= 12) + (j >= 16) + (j >= 20) for j in range(32))

_pool: Final[list[bytes]] = []


def _refill() -> None:
    raw = bytearray(os.urandom(16 * _BATCH))
    raw[6::16] = raw[6::16].translate(_VERSION_4)
    raw[8::16] = raw[8::16].translate(_VARIANT_RFC_4122)
    digits = hexlify(raw)
    text = bytearray(b"-" * (_TEXT * _BATCH))
    for j in range(32):
        text[_DIGIT_AT[j] :: _TEXT] = digits[j::32]
    ids = bytes(text)
    _pool[:] = [ids[i : i + _TEXT] for i in range(0, _TEXT * _BATCH, _TEXT)]


def new_request_id() -> bytes:
    if not _pool:
        _refill()
    return _pool.pop()


os.register_at_fork(after_in_child=_pool.clear)
