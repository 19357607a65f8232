"""X-Request-Id values: version-4 UUIDs in their text form, unique, and not shared across fork."""

from __future__ import annotations

import os
import uuid

from pymosn.api import request_id
from pymosn.api.request_id import new_request_id


def test_ids_are_version_4_uuids_in_canonical_text() -> None:
    ids = [new_request_id() for _ in range(1000)]  # several batches
    assert len(set(ids)) == len(ids)
    for raw in ids:
        parsed = uuid.UUID(raw.decode("ascii"))
        assert (parsed.version, parsed.variant) == (4, uuid.RFC_4122)
        assert str(parsed).encode() == raw  # lowercase, dashes where UUIDs have them


def test_a_forked_child_does_not_reuse_the_parents_pool() -> None:
    new_request_id()  # a batch in the pool
    assert request_id._pool
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its first id, then its pool's size after that id's batch
        os.close(reader)
        os.write(writer, new_request_id() + b" %d" % len(request_id._pool))
        os._exit(0)
    os.close(writer)
    with os.fdopen(reader, "rb") as pipe:
        child_id, remaining = pipe.read().split(b" ")
    os.waitpid(pid, 0)
    assert int(remaining) == request_id._BATCH - 1  # it made its own batch
    assert child_id not in request_id._pool and child_id != new_request_id()
