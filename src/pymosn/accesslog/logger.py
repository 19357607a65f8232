"""An access logger: one compiled format, one buffered sink."""

from __future__ import annotations

from pymosn.accesslog.format import DEFAULT_FORMAT, compile_format
from pymosn.accesslog.sink import FLUSH_INTERVAL, AccessLogSink, BufferedSink
from pymosn.api.stream_info import StreamInfo


class AccessLogger:
    __slots__ = ("formatter", "sink", "_render", "_newline")

    def __init__(self, path: str, format: str = "", *, flush_interval: float = FLUSH_INTERVAL,
                 sink: AccessLogSink | None = None) -> None:
        """`path` is "stdout", "stderr" or a file, unless a registered `sink` takes the lines;
        an empty `format` means DEFAULT_FORMAT. Raises FormatError for a bad format and OSError
        for a path that cannot be opened."""
        source = format or DEFAULT_FORMAT
        self.formatter = compile_format(source)
        self.sink: AccessLogSink = sink if sink is not None else BufferedSink(path, flush_interval)
        self._render = self.formatter.format
        # Envoy formats carry their own newline; MOSN formats never do. Add one only if missing.
        self._newline = "" if source.endswith("\n") else "\n"

    def log(self, info: StreamInfo) -> None:
        self.sink.write(self._render(info) + self._newline)

    def flush(self) -> None:
        self.sink.flush()

    def reopen(self) -> None:
        self.sink.reopen()

    def close(self) -> None:
        self.sink.close()
