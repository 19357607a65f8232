"""Compile an access-log format string once into a str.format template plus a tuple of bound
getters, so a line is one list comprehension and one format call."""

from __future__ import annotations

import re

from pymosn.accesslog.variables import FormatError, Getter, envoy_getter, mosn_getter
from pymosn.api.stream_info import StreamInfo

# Envoy's default access log format (docs: configuration/observability/access_log/usage).
ENVOY_DEFAULT_FORMAT = (
    '[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" '
    "%RESPONSE_CODE% %RESPONSE_FLAGS% %BYTES_RECEIVED% %BYTES_SENT% %DURATION% "
    '%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" '
    '"%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%"\n'
)

# The fields of MOSN's DefaultAccessLogFormat, in its order, as MOSN variables.
MOSN_DEFAULT_FORMAT = (
    "%start_time% %request_received_duration% %response_received_duration% %bytes_sent% "
    "%bytes_received% %protocol% %response_code% %duration% %response_flag% %response_code% "
    "%upstream_local_address% %downstream_local_address% %downstream_remote_address% %upstream_host%"
)

DEFAULT_FORMAT = ENVOY_DEFAULT_FORMAT

# At a `%`: an Envoy operator `%NAME%`, `%NAME(ARG)%`, optionally `:N` (truncate to N chars)...
_ENVOY = re.compile(r"%([A-Z][A-Z0-9_]*)(?:\(([^)]*)\))?(?::(\d+))?%")
# ...or a MOSN variable `%name%` (header names after the prefix keep their case and dashes).
_MOSN = re.compile(r"%([a-z][A-Za-z0-9_.:-]*)%")


class Formatter:
    __slots__ = ("source", "template", "getters")

    def __init__(self, source: str, template: str, getters: tuple[Getter, ...]) -> None:
        self.source = source
        self.template = template
        self.getters = getters

    def format(self, info: StreamInfo) -> str:
        return self.template.format(*[g(info) for g in self.getters])

    def __repr__(self) -> str:
        return f"Formatter({self.source!r})"


def compile_format(source: str) -> Formatter:
    """Raises FormatError naming the first bad variable and its offset."""
    template: list[str] = []
    getters: list[Getter] = []
    pos = 0
    while True:
        start = source.find("%", pos)
        if start < 0:
            template.append(_literal(source[pos:]))
            break
        template.append(_literal(source[pos:start]))
        getter, pos = _variable(source, start)
        template.append("{}")
        getters.append(getter)
    return Formatter(source, "".join(template), tuple(getters))


def _variable(source: str, start: int) -> tuple[Getter, int]:
    m = _ENVOY.match(source, start)
    if m:
        operator, arg, limit = m.groups()
        try:
            getter = envoy_getter(operator, arg)
        except FormatError as e:
            raise FormatError(f"{e} (at offset {start})") from None
        if limit is not None:
            getter = _truncate(getter, int(limit))
        return getter, m.end()
    m = _MOSN.match(source, start)
    if m:
        try:
            return mosn_getter(m.group(1)), m.end()
        except FormatError as e:
            raise FormatError(f"{e} (at offset {start})") from None
    if source.startswith("%%", start):
        raise FormatError(f"empty variable '%%' at offset {start}: '%' only delimits variables")
    snippet = source[start : start + 24]
    raise FormatError(f"malformed or unterminated variable at offset {start}: {snippet!r}")


def _truncate(getter: Getter, limit: int) -> Getter:
    return lambda info: getter(info)[:limit]


def _literal(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")
