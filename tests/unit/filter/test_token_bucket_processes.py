"""Two real processes taking tokens from one shared bucket as fast as they can: together they
never admit more than the documented bound (docs/design/local-rate-limit.md), and the fills
happen once per tick for both, not once per process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from pymosn.filter.bucket_table import BucketTable
from pymosn.filter.token_bucket import process_bucket

MAX_TOKENS, TOKENS_PER_FILL, FILL_INTERVAL, WINDOW = 1000, 100, 0.1, 1.0

_CHILD = """
import json, sys, time
from pymosn.filter.bucket_table import BucketTable
from pymosn.filter.token_bucket import process_bucket
fd, worker, max_tokens, per_fill, interval = (int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]),
                                              int(sys.argv[4]), float(sys.argv[5]))
bucket = process_bucket(max_tokens, per_fill, interval, "$.shared", BucketTable.attach(fd, worker))
print("ready", flush=True)
start, end = json.loads(sys.stdin.readline())
while time.monotonic() < start:
    pass
admitted = refused = 0
consume, clock = bucket.consume, time.monotonic
while (now := clock()) < end:
    if consume(now):
        admitted += 1
    else:
        refused += 1
print(json.dumps([admitted, refused]), flush=True)
"""


def test_two_processes_together_stay_within_the_bound():
    table = BucketTable.create(2, capacity=4)
    process_bucket(MAX_TOKENS, TOKENS_PER_FILL, FILL_INTERVAL, "$.shared", table)  # the slot, full
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    children = [
        subprocess.Popen([sys.executable, "-c", _CHILD, str(table.fd), str(worker), str(MAX_TOKENS),
                          str(TOKENS_PER_FILL), str(FILL_INTERVAL)],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, pass_fds=(table.fd,), env=env)
        for worker in range(2)
    ]
    try:
        for child in children:
            assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        start = time.monotonic() + 0.2
        for child in children:
            assert child.stdin is not None
            child.stdin.write(json.dumps([start, start + WINDOW]) + "\n")
            child.stdin.flush()
        results = [json.loads(child.communicate(timeout=60)[0].strip().splitlines()[-1]) for child in children]
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
    admitted = sum(r[0] for r in results)
    ticks = round(WINDOW / FILL_INTERVAL) + 1  # fill boundaries an interval of WINDOW can hold
    bound = MAX_TOKENS + TOKENS_PER_FILL * ticks + (2 - 1)
    assert MAX_TOKENS <= admitted <= bound, results
    assert all(r[1] > 0 for r in results)  # both ran dry: neither had a bucket of its own
