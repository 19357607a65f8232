"""The memory every worker process shares its rate-limit buckets through.

The master makes one table before it starts workers (`BucketTable.create`): an anonymous shared
file (memfd) mapped into memory, passed to each worker as a descriptor (`--bucket-fd`), which
maps it too (`BucketTable.attach`) and installs it (`install`) before building its listeners.
A process without a table (one process, no master; the tests) gets per-process buckets.

Layout, in 64-bit unsigned words (every access is one aligned 8-byte load or store, which
x86-64 and arm64 perform whole: a reader sees the old value or the new, never a mix):

    header    magic, layout version, workers, capacity, epoch (ns), buckets allocated
    keys      capacity words: the 64-bit hash of each allocated bucket's identity
    states    capacity words: per bucket, (tick << 34) | (tokens issued mod 2**34)
    consumed  capacity x workers words: per bucket, each worker's count of tokens taken

A bucket's slot is found by its identity (the config path of its token bucket plus the bucket's
parameters): every worker builds the same config, so it finds the same slot, and a reload that
keeps a bucket keeps its slot and its state. Allocation takes a POSIX record lock on the file
(once per bucket per config load); nothing on the request path locks or makes a system call.
Slots are never freed: a table that is full makes the later buckets per-worker shares (see
token_bucket.py), logged once per bucket."""

from __future__ import annotations

import fcntl
import hashlib
import logging
import mmap
import os
import time
from collections.abc import Callable

log = logging.getLogger("pymosn.ratelimit")

MAGIC = 0x70796D6F736E7274  # "pymosnrt"
VERSION = 1
DEFAULT_CAPACITY = 4096
_HEADER_WORDS = 8
_H_MAGIC, _H_VERSION, _H_WORKERS, _H_CAPACITY, _H_EPOCH, _H_ALLOCATED = range(6)


def _words_needed(workers: int, capacity: int) -> int:
    return _HEADER_WORDS + capacity * (2 + workers)


def identity_hash(identity: str) -> int:
    """A nonzero 64-bit hash (zero marks a free key slot)."""
    return int.from_bytes(hashlib.blake2b(identity.encode(), digest_size=8).digest(), "little") | 1


class BucketTable:
    """One process's view of the shared table; `worker` is the index of this process's
    consumed counters (the master's own view, which takes no tokens, uses 0)."""

    def __init__(self, fd: int, worker: int, clock: Callable[[], float] = time.monotonic) -> None:
        size = os.fstat(fd).st_size
        self.fd = fd
        self.clock = clock
        self._map = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        words = memoryview(self._map).cast("Q")
        self.words = words
        if words[_H_MAGIC] != MAGIC or words[_H_VERSION] != VERSION:
            raise ValueError("not a pymosn bucket table (or one of another version)")
        self.workers = int(words[_H_WORKERS])
        self.capacity = int(words[_H_CAPACITY])
        if not 0 <= worker < self.workers:
            raise ValueError(f"worker {worker} is outside the table's {self.workers} workers")
        self.worker = worker
        self.epoch = words[_H_EPOCH] / 1e9
        keys = _HEADER_WORDS
        self.keys = words[keys:keys + self.capacity]
        self.states = words[keys + self.capacity:keys + 2 * self.capacity]
        self._consumed_base = keys + 2 * self.capacity
        self._full_logged: set[str] = set()

    @classmethod
    def create(cls, workers: int, capacity: int = DEFAULT_CAPACITY,
               clock: Callable[[], float] = time.monotonic) -> BucketTable:
        """A new table for `workers` processes; its descriptor is inheritable by them."""
        if workers < 1 or capacity < 1:
            raise ValueError("a bucket table needs at least one worker and one slot")
        fd = os.memfd_create("pymosn-buckets", 0) if hasattr(os, "memfd_create") else _temp_fd()
        os.ftruncate(fd, 8 * _words_needed(workers, capacity))
        with mmap.mmap(fd, 8 * _HEADER_WORDS, mmap.MAP_SHARED) as header:
            words = memoryview(header).cast("Q")
            words[_H_VERSION] = VERSION
            words[_H_WORKERS] = workers
            words[_H_CAPACITY] = capacity
            words[_H_EPOCH] = int(clock() * 1e9)
            words[_H_MAGIC] = MAGIC
            words.release()
        return cls(fd, 0, clock)

    @classmethod
    def attach(cls, fd: int, worker: int) -> BucketTable:
        return cls(fd, worker)

    def consumed(self, slot: int) -> memoryview:
        """The bucket's per-worker consumed counters (`workers` words)."""
        start = self._consumed_base + slot * self.workers
        return self.words[start:start + self.workers]

    def slot(self, identity: str, initial_state: Callable[[int], int]) -> int | None:
        """The slot of the bucket named `identity`, allocating it (its state set by
        `initial_state(total consumed)`) if no process has; None when the table is full."""
        key = identity_hash(identity)
        fcntl.lockf(self.fd, fcntl.LOCK_EX)
        try:
            words = self.words
            allocated = int(words[_H_ALLOCATED])
            keys = self.keys
            for index in range(allocated):
                if keys[index] == key:
                    return index
            if allocated >= self.capacity:
                if identity not in self._full_logged:
                    self._full_logged.add(identity)
                    log.error("rate limit bucket table full (%d buckets): %s is limited per worker", self.capacity,
                              identity)
                return None
            self.states[allocated] = initial_state(sum(self.consumed(allocated)))
            keys[allocated] = key
            words[_H_ALLOCATED] = allocated + 1
            return allocated
        finally:
            fcntl.lockf(self.fd, fcntl.LOCK_UN)


def _temp_fd() -> int:
    """An unlinked temporary file where memfd_create is missing."""
    import tempfile

    fd, path = tempfile.mkstemp(prefix="pymosn-buckets-")
    os.unlink(path)
    return fd


_installed: BucketTable | None = None


def install(table: BucketTable | None) -> None:
    """Make `table` the one this process's rate-limit buckets share (None: per-process)."""
    global _installed
    _installed = table


def installed() -> BucketTable | None:
    return _installed
