"""Starting, probing, measuring and stopping the servers under test.

Each server runs in its own session (process group), so stopping it also stops every worker it
forked, and only processes this harness started are ever signalled.
"""

from __future__ import annotations

import atexit
import os
import signal
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")


class BenchError(RuntimeError):
    """A failure the user should read as one clear line, not a traceback."""


def free_port() -> int:
    # Asking the kernel for an unused port avoids clashing with whatever else runs on the box;
    # the tiny race until the server binds it is acceptable for a benchmark.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # comm (field 2) may contain spaces and parentheses; everything after the last ")" is safe.
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    return children


def process_tree(pid: int) -> list[int]:
    """pid and all its live descendants (nginx's workers, any pymosn worker processes)."""
    children = _children_map()
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, []))
    return tree


def tree_cpu_ticks(pid: int) -> int:
    """utime+stime of every live process in the tree, plus cutime+cstime of reaped children."""
    total = 0
    for member in process_tree(pid):
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # After the comm field: state=0, ..., utime=11, stime=12, cutime=13, cstime=14.
        total += sum(int(value) for value in fields[11:15])
    return total


def tree_rss_kib(pid: int) -> int:
    """Current resident memory of the whole tree (VmRSS summed), in KiB."""
    total = 0
    for member in process_tree(pid):
        try:
            for line in Path(f"/proc/{member}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
                    break
        except OSError:
            continue
    return total


def wait_for_port(port: int, timeout: float, proc: subprocess.Popen | None = None, name: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise BenchError(f"{name} exited with code {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise BenchError(
        f"{name or 'server'} did not accept connections on 127.0.0.1:{port} within {timeout:.0f}s"
    )


def http_get(url: str, timeout: float = 3.0) -> tuple[int, bytes]:
    # A plain opener: the benchmark targets 127.0.0.1 only, so no proxy environment applies.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def wait_for_http(url: str, timeout: float, name: str, want_body: bytes | None = None) -> None:
    """Waits until `url` answers 200 (and, if given, with `want_body`); else a clear error."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            status, body = http_get(url)
            if status == 200 and (want_body is None or body == want_body):
                return
            last = f"status {status}, body {body[:80]!r}"
        except OSError as error:
            last = str(error)
        time.sleep(0.1)
    raise BenchError(f"{name}: GET {url} did not return the origin's 200 within {timeout:.0f}s ({last})")


@dataclass
class Server:
    """One running server: its command, CPU pinning, log file and process."""

    name: str
    argv: list[str]
    cpu: int
    port: int
    log: Path
    env: dict[str, str] | None = None  # extra environment variables on top of ours
    proc: subprocess.Popen | None = field(default=None, repr=False)

    def start(self) -> None:
        # taskset pins the server and everything it forks; exec keeps the pid we hold the
        # server's own (taskset execs the command), so /proc/<pid> is the server.
        argv = ["taskset", "-c", str(self.cpu), *self.argv]
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=dict(os.environ, **self.env) if self.env else None,
            )
        _RUNNING.append(self)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait_listening(self, timeout: float) -> None:
        try:
            wait_for_port(self.port, timeout, self.proc, self.name)
        except BenchError as error:
            raise BenchError(f"{error}\n--- {self.log} (tail) ---\n{self.log_tail()}") from None

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, grace: float = 8.0) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            _signal_group(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                pass
        # The leader may be gone while workers linger (nginx workers finishing a request).
        _signal_group(self.proc.pid, signal.SIGKILL)
        try:
            self.proc.wait(2)
        except subprocess.TimeoutExpired:
            pass
        if self in _RUNNING:
            _RUNNING.remove(self)


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


_RUNNING: list[Server] = []


def stop_all() -> None:
    for server in reversed(list(_RUNNING)):
        server.stop(grace=3.0)


def _on_signal(signum, _frame):
    # Turn SIGTERM/SIGHUP into an exception so the `finally` blocks and atexit run.
    raise KeyboardInterrupt(f"signal {signum}")


def install_cleanup() -> None:
    atexit.register(stop_all)
    # SIGINT explicitly too: a harness started in the background inherits it ignored.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _on_signal)
