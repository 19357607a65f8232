"""--concurrency N: a master, N worker processes on the same listeners, restarts, totals."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time

import httpx

from tests.integration.test_http1_proxy import read_response
from tests.support.proxy import Pymosn, free_port, simple_config


def children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def stat(admin: int, name: str) -> int:
    for line in httpx.get(f"http://127.0.0.1:{admin}/stats").text.splitlines():
        key, _, value = line.partition(": ")
        if key == name:
            return int(value)
    raise KeyError(name)


def wait_for(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def test_workers_share_listeners_restart_and_sum_stats(origin, tmp_path):
    port, admin = free_port(), free_port()
    with Pymosn(simple_config(port, [origin.port], admin_port=admin), tmp_path, port, ["--concurrency", "2"]) as p:
        assert wait_for(lambda: len(children(p.proc.pid)) == 2)
        workers = children(p.proc.pid)
        # persistent connections, spread over both workers by the kernel
        conns = []
        for _ in range(12):
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.sendall(b"GET /echo HTTP/1.1\r\nHost: x\r\n\r\n")
            assert read_response(s)[0].startswith(b"HTTP/1.1 200")
            conns.append(s)
        assert wait_for(lambda: stat(admin, "http.ingress.downstream_rq_total") == 12)
        assert stat(admin, "server.concurrency") == 2

        os.kill(workers[0], signal.SIGKILL)
        assert wait_for(lambda: stat(admin, "server.workers_restarted") == 1)
        assert wait_for(lambda: len(children(p.proc.pid)) == 2 and workers[0] not in children(p.proc.pid))
        # connections held by the surviving worker carry on; the dead worker's were closed
        survivors = 0
        for s in conns:
            try:
                s.sendall(b"GET /echo HTTP/1.1\r\nHost: x\r\n\r\n")
                head, _ = read_response(s)
                assert head.startswith(b"HTTP/1.1 200")
                survivors += 1
            except (OSError, AssertionError):
                pass
            s.close()
        assert survivors >= 1
        # new connections work, and totals never went backwards (the dead worker's counters stay)
        for _ in range(5):
            assert httpx.get(f"http://127.0.0.1:{port}/echo").status_code == 200
        assert wait_for(lambda: stat(admin, "http.ingress.downstream_rq_total") == 12 + survivors + 5)

        p.proc.terminate()
        assert p.proc.wait(15) == 0
        assert not any(os.path.exists(f"/proc/{w}") and open(f"/proc/{w}/stat").read().split()[2] != "Z" for w in workers[1:])
