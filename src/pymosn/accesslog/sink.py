"""Where access-log lines go: buffered in memory and written in batches.

The data path only appends a string to a list. A loop timer flushes the batch every
`flush_interval` seconds (pilot-agent configures Envoy with 1 s; PYMOSN_FILE_FLUSH_INTERVAL_MSEC
sets another, as Envoy's --file-flush-interval-msec does), and a full buffer flushes at once so
memory stays bounded when no loop is running."""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Protocol, TextIO

from pymosn.config import model
from pymosn.config.registries import ACCESS_LOG_SINKS, FILE_SINK

MAX_BUFFERED_LINES = 4096
_INTERVAL_MS = os.environ.get("PYMOSN_FILE_FLUSH_INTERVAL_MSEC", "1000").strip() or "1000"
if not _INTERVAL_MS.isdigit() or int(_INTERVAL_MS) == 0:
    raise ValueError(f"PYMOSN_FILE_FLUSH_INTERVAL_MSEC={_INTERVAL_MS!r}: must be a whole number of milliseconds > 0")
FLUSH_INTERVAL = int(_INTERVAL_MS) / 1000.0


class AccessLogSink(Protocol):
    """Where an access logger's lines go; a plugin sink (entry point group
    `pymosn.access_log_sinks`) is a factory taking the model.AccessLog and returning one.
    `write` runs once per request: it must not block."""

    def write(self, line: str) -> None: ...

    def flush(self) -> None: ...

    def reopen(self) -> None: ...

    def close(self) -> None: ...


class BufferedSink:
    __slots__ = ("path", "flush_interval", "lines", "timer", "file", "closed")

    def __init__(self, path: str, flush_interval: float = FLUSH_INTERVAL) -> None:
        self.path = path
        self.flush_interval = flush_interval
        self.lines: list[str] = []
        self.timer: asyncio.TimerHandle | None = None
        self.closed = False
        # Open now so a bad path fails at config load, not at the first request.
        self.file: TextIO | None = None
        if path not in ("stdout", "stderr"):
            self.file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - lives as long as the sink

    def write(self, line: str) -> None:
        lines = self.lines
        lines.append(line)
        if self.timer is None:
            self._schedule()
        if len(lines) >= MAX_BUFFERED_LINES:
            self.flush()

    def _schedule(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop: lines wait for the buffer limit, flush() or close()
        self.timer = loop.call_later(self.flush_interval, self._on_timer)

    def _on_timer(self) -> None:
        self.timer = None
        self.flush()

    def flush(self) -> None:
        if not self.lines:
            return
        data = "".join(self.lines)
        self.lines = []
        stream = self._stream()
        if stream is None:
            return
        try:
            stream.write(data)
            stream.flush()
        except (OSError, ValueError):
            # A full disk or closed stdout must not take the proxy down; the lines are lost.
            pass

    def _stream(self) -> TextIO | None:
        if self.path == "stdout":
            return sys.stdout  # looked up each time so redirection (and test capture) works
        if self.path == "stderr":
            return sys.stderr
        return self.file

    def reopen(self) -> None:
        """Flush, then reopen the file at the same path (after log rotation moved it)."""
        self.flush()
        if self.file is not None:
            self.file.close()
            self.file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115

    def close(self) -> None:
        if self.closed:
            return
        self.flush()
        self.closed = True
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.file is not None:
            self.file.close()
            self.file = None


def _file_sink(log: model.AccessLog) -> BufferedSink:
    return BufferedSink(log.log_path)


ACCESS_LOG_SINKS.bind(FILE_SINK, _file_sink)
