"""Timestamp and duration text for access-log lines, cheap enough to run once per request.

strftime is the expensive part, so the seconds part is cached per distinct second and only the
milliseconds are formatted per line."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

_FRACTION = re.compile(r"%([1-9]?)f")


class SecondCache:
    """strftime of whole seconds, memoized for the most recent second."""

    __slots__ = ("fmt", "convert", "second", "text")

    def __init__(self, fmt: str, convert: Callable[[float], time.struct_time]) -> None:
        self.fmt = fmt
        self.convert = convert
        self.second = -1
        self.text = ""

    def __call__(self, t: float) -> str:
        second = int(t)
        if second != self.second:
            self.second = second
            self.text = time.strftime(self.fmt, self.convert(second))
        return self.text


class MillisClock:
    """`<strftime of the second>.<mmm><suffix>`: the second part is cached and the millisecond
    part is a table lookup, so a line pays a multiply, a divmod and a tuple index."""

    __slots__ = ("fmt", "convert", "second", "text", "millis")

    def __init__(self, fmt: str, convert: Callable[[float], time.struct_time], suffix: str = "") -> None:
        self.fmt = fmt
        self.convert = convert
        self.second = -1
        self.text = ""
        self.millis = tuple(f".{i:03d}{suffix}" for i in range(1000))

    def __call__(self, t: float) -> str:
        # +0.0005 ms: an epoch like .25 stored as .2499999 still prints 250.
        ms = int(t * 1000.0 + 0.0005)
        second, frac = divmod(ms, 1000)
        if second != self.second:
            self.second = second
            self.text = time.strftime(self.fmt, self.convert(second))
        return self.text + self.millis[frac]


def envoy_start_time(fmt: str | None = None) -> Callable[[float], str]:
    """Envoy's %START_TIME%: RFC 3339 UTC with milliseconds by default; with an argument, a
    strftime format where %f / %1f..%9f are fractional seconds (Envoy's extension)."""
    if fmt is None:
        return MillisClock("%Y-%m-%dT%H:%M:%S", time.gmtime, "Z")
    if not _FRACTION.search(fmt):
        return SecondCache(fmt, time.gmtime)

    def render(t: float) -> str:
        # A float epoch is good to about a microsecond; round there, then pad to nanoseconds.
        nanos = f"{min(round(t % 1 * 1e6), 999_999):06d}000"
        text = _FRACTION.sub(lambda m: nanos[: int(m.group(1) or 9)], fmt)
        return time.strftime(text, time.gmtime(int(t)))

    return render


def mosn_start_time() -> Callable[[float], str]:
    """MOSN's %start_time%: local time, `2006/01/02 15:04:05.000`."""
    return MillisClock("%Y/%m/%d %H:%M:%S", time.localtime)


def go_duration(seconds: float) -> str:
    """A duration the way Go's time.Duration.String prints it (MOSN's duration variables):
    `1.503292ms`, `2.5s`, `750µs`, `0s`."""
    nanos = int(round(seconds * 1e9))
    if nanos == 0:
        return "0s"
    if nanos < 1_000:
        return f"{nanos}ns"
    if nanos < 1_000_000:
        return _trim(nanos / 1e3) + "µs"
    if nanos < 1_000_000_000:
        return _trim(nanos / 1e6) + "ms"
    return _trim(nanos / 1e9) + "s"


def _trim(value: float) -> str:
    return f"{value:.9f}".rstrip("0").rstrip(".")
