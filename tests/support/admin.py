"""The one way integration tests read a running pymosn: its admin /stats as numbers, a
polling wait, the process's resident memory, and its access-log lines."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import httpx


def stats(admin_port: int) -> dict[str, int]:
    """Every integer-valued line of /stats (histogram summaries are left out)."""
    text = httpx.get(f"http://127.0.0.1:{admin_port}/stats", timeout=10).text
    out: dict[str, int] = {}
    for line in text.splitlines():
        name, _, value = line.partition(": ")
        value = value.strip()
        if value.lstrip("-").isdigit():
            out[name.strip()] = int(value)
    return out


def wait_for(predicate: Callable[[], object], timeout: float = 10.0, what: str = "condition") -> None:
    """Polls until predicate() is true; the failure names what was awaited."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout} s")
        time.sleep(0.02)


def wait_stats(admin_port: int, expected: dict[str, int], timeout: float = 10.0) -> dict[str, int]:
    """Waits until every named stat has its expected value (a missing stat counts as 0);
    returns the last reading. The failure shows each stat that differs."""
    deadline = time.monotonic() + timeout
    while True:
        current = stats(admin_port)
        wrong = {k: current.get(k, 0) for k, v in expected.items() if current.get(k, 0) != v}
        if not wrong:
            return current
        if time.monotonic() > deadline:
            raise AssertionError(f"stats differ after {timeout} s: got {wrong}, expected "
                                 f"{ {k: expected[k] for k in wrong} }")
        time.sleep(0.05)


def hosts_rq_active(admin_port: int) -> dict[str, int]:
    """Each upstream host's rq_active, by "cluster::host:port", from /clusters."""
    text = httpx.get(f"http://127.0.0.1:{admin_port}/clusters", timeout=10).text
    return {line.rpartition("::rq_active::")[0]: int(line.rpartition("::")[2])
            for line in text.splitlines() if "::rq_active::" in line}


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError(f"no VmRSS for pid {pid}")


def log_lines(path: Path, count: int, timeout: float = 10.0) -> list[str]:
    """Waits until the access log at `path` holds at least `count` lines, returns them all
    (the access log is flushed on a timer, so a line appears shortly after its stream ends)."""
    lines: list[str] = []

    def enough() -> bool:
        nonlocal lines
        lines = path.read_text().splitlines() if path.exists() else []
        return len(lines) >= count

    wait_for(enough, timeout, f"{count} access-log lines in {path}")
    return lines
