"""`downstream_protocol: Auto`: the proxy filter holds a connection's first bytes until one
protocol claims them (HTTP/1.1 request line, HTTP/2 preface, an X-Protocol codec's magic), then
becomes that protocol's filter and replays the bytes to it.

Bytes no protocol claims are counted and the connection is closed, or, with MOSN's
`fallback_for_unknown_protocol`, handed to the next filters of the chain (e.g. tcp_proxy)."""

from __future__ import annotations

from collections.abc import Callable

from pymosn.api.filter import FilterStatus
from pymosn.network.connection import Connection
from pymosn.protocol.detect import Match

_SNIFF_LIMIT = 1024  # a protocol that cannot tell from this many bytes is not one we know

Candidate = tuple[str, Callable[[bytes], Match], Callable[[Connection], object] | None]


class AutoDetect:
    """Read filter. `candidates`: (name, match, builder) in the order they are tried; a None
    builder means "recognised, not served" (closed with `on_unsupported(name)`). `last_resort`,
    tried when every candidate said no, claims bytes the next filters (a fallback) should not
    get: an HTTP/1 request with a method no candidate knows goes to the HTTP/1 codec, which
    answers it."""

    def __init__(
        self,
        conn: Connection,
        candidates: list[Candidate],
        *,
        fallback: bool,
        on_unknown: Callable[[], None],
        on_unsupported: Callable[[str], None],
        last_resort: Candidate | None = None,
    ) -> None:
        self.conn = conn
        self.candidates = candidates
        self.last_resort = last_resort
        self.fallback = fallback
        self.on_unknown = on_unknown
        self.on_unsupported = on_unsupported
        self.buffer = b""

    def on_new_connection(self) -> FilterStatus:
        return FilterStatus.STOP  # the filters after us wait for the verdict

    def on_data(self, data: bytes) -> FilterStatus:
        self.buffer += data
        buffer = self.buffer
        undecided = False
        for name, match, builder in self.candidates:
            verdict = match(buffer)
            if verdict == Match.YES:
                self._become(name, builder)
                return FilterStatus.STOP
            if verdict == Match.AGAIN:
                undecided = True
        if not undecided and self.last_resort is not None and not self.fallback:
            name, match, builder = self.last_resort
            verdict = match(buffer)
            if verdict == Match.YES:
                self._become(name, builder)
                return FilterStatus.STOP
            undecided = verdict == Match.AGAIN
        if not undecided or len(buffer) > _SNIFF_LIMIT:
            self._unknown()
        return FilterStatus.STOP

    def on_eof(self) -> bool:
        return False

    def _become(self, name: str, builder) -> None:
        conn = self.conn
        if builder is None:
            self.on_unsupported(name)
            conn.close()
            return
        chosen = builder(conn)
        conn.read_filters = [chosen]
        if chosen.on_new_connection() != FilterStatus.STOP:
            chosen.on_data(self.buffer)

    def _unknown(self) -> None:
        conn = self.conn
        rest = conn.read_filters[conn.read_filters.index(self) + 1 :] if self in conn.read_filters else []
        if not (self.fallback and rest):
            self.on_unknown()
            conn.close()
            return
        conn.read_filters = rest
        for f in rest:
            if f.on_new_connection() == FilterStatus.STOP:
                break
        # the fallback filter may still be connecting upstream; it buffers what it gets
        for f in rest:
            if f.on_data(self.buffer) == FilterStatus.STOP:
                break
