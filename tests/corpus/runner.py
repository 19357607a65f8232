"""Validates many configs in a few long-lived worker processes (worker.py), each file under a
timeout, and classifies what `pymosn validate` did with each."""

from __future__ import annotations

import contextlib
import enum
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import pymosn

WORKER = Path(__file__).with_name("worker.py")
PER_FILE_TIMEOUT_S = 30.0  # a file takes milliseconds; this only has to catch a hang on a loaded machine


class Kind(enum.StrEnum):
    LOADS = "loads"
    WARNINGS = "loads with warnings"
    REFUSED = "refused"
    TRACEBACK = "traceback"  # an uncaught exception, a dead worker or an unexpected exit status
    HANG = "hang"


@dataclass(frozen=True)
class Outcome:
    kind: Kind
    reason: str = ""  # refused: the first error's message; traceback/hang: what happened
    first_error: str = ""  # refused: the first error line as printed, path included
    output: str = ""  # everything validate printed


def classify(rc: int | None, stdout: str, stderr: str, trace: str | None) -> Outcome:
    output = stdout + stderr
    if trace is not None or "Traceback (most recent call last)" in output:
        text = trace or output
        return Outcome(Kind.TRACEBACK, text.strip().splitlines()[-1], output=text)
    lines = stderr.splitlines()
    if rc == 0:
        warned = any(line.startswith("warning: ") for line in lines)
        return Outcome(Kind.WARNINGS if warned else Kind.LOADS, output=output)
    errors = [line.removeprefix("error: ") for line in lines if line.startswith("error: ")]
    if rc == 1 and errors:
        return Outcome(Kind.REFUSED, split_issue(errors[0])[1], errors[0], output)
    return Outcome(Kind.TRACEBACK, f"exit status {rc} with {len(errors)} error lines", output=output)


def split_issue(issue: str) -> tuple[str, str]:
    """`$.a.b[0]: message` -> (`$.a.b[0]`, `message`): a ConfigIssue as printed."""
    path, sep, message = issue.partition(": ")
    return (path, message) if sep and path.startswith("$") else ("", issue)


def validate_all(
    paths: list[Path],
    cwd: Path,
    workers: int = 2,
    timeout: float = PER_FILE_TIMEOUT_S,
    command: tuple[str, ...] = (sys.executable, "-P", str(WORKER)),
) -> dict[Path, Outcome]:
    """Every path's outcome, validated with `cwd` as the working directory by `workers`
    processes running `command` (worker.py's protocol); a worker that hangs or dies is replaced."""
    todo: queue.SimpleQueue[Path] = queue.SimpleQueue()
    for path in paths:
        todo.put(path)
    results: dict[Path, Outcome] = {}
    drivers = [
        threading.Thread(target=_drive, args=(todo, results, cwd, timeout, command), daemon=True)
        for _ in range(max(1, min(workers, len(paths))))
    ]
    for driver in drivers:
        driver.start()
    for driver in drivers:
        driver.join()
    for path in paths:
        results.setdefault(path, Outcome(Kind.TRACEBACK, "not validated: the worker pool failed"))
    return results


def _drive(todo: queue.SimpleQueue, results: dict[Path, Outcome], cwd: Path, timeout: float, command) -> None:
    worker: _Worker | None = None
    try:
        while True:
            try:
                path = todo.get_nowait()
            except queue.Empty:
                return
            try:
                worker = worker or _Worker(cwd, command)
            except OSError as error:
                results[path] = Outcome(Kind.TRACEBACK, f"cannot start a worker: {error}")
                return
            results[path] = worker.validate(path, timeout)
            if not worker.alive:
                worker = None
    finally:
        if worker is not None:
            worker.close()


class _Worker:
    def __init__(self, cwd: Path, command: tuple[str, ...]) -> None:
        env = dict(os.environ)
        source = str(Path(pymosn.__file__).resolve().parents[1])  # the pymosn this test process imports
        env["PYTHONPATH"] = os.pathsep.join(p for p in (source, env.get("PYTHONPATH")) if p)
        self._stderr = tempfile.TemporaryFile(mode="w+")
        self._process = subprocess.Popen(
            command,
            cwd=cwd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr, text=True,
        )
        self._answers: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        threading.Thread(target=self._read, daemon=True).start()
        self.alive = True

    def _read(self) -> None:
        for line in self._process.stdout:
            self._answers.put(line)
        self._answers.put(None)

    def validate(self, path: Path, timeout: float) -> Outcome:
        try:
            self._process.stdin.write(f"{path}\n")
            self._process.stdin.flush()
            line = self._answers.get(timeout=timeout)
        except queue.Empty:
            self.close(kill=True)
            return Outcome(Kind.HANG, f"no answer within {timeout:.0f} s")
        except OSError:
            line = None
        if line is None:
            tail = self._stderr_tail()
            self.close()
            return Outcome(Kind.TRACEBACK, f"the worker died (exit status {self._process.returncode})", output=tail)
        try:
            answer = json.loads(line)
            return classify(answer["rc"], answer["stdout"], answer["stderr"], answer["traceback"])
        except (ValueError, KeyError, TypeError):
            self.close(kill=True)
            return Outcome(Kind.TRACEBACK, f"the worker answered something else: {line[:200]!r}")

    def _stderr_tail(self) -> str:
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._process.wait(timeout=5)  # its output is complete once it has exited
        self._stderr.seek(0)
        return self._stderr.read()[-4000:]

    def close(self, kill: bool = False) -> None:
        self.alive = False
        if kill:
            self._process.kill()
        with contextlib.suppress(OSError):
            self._process.stdin.close()  # the worker's end of input: it exits
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._stderr.close()
