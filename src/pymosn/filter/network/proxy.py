"""The `proxy` network filter: MOSN's connection manager. Decodes the downstream protocol and
runs each request through the proxy layer."""

from __future__ import annotations

from collections.abc import Callable

from pymosn.api.errors import ProtocolError
from pymosn.api.filter import FilterStatus, ReadFilter
from pymosn.network.connection import Connection
from pymosn.protocol.http1.decoder import MOSN_HTTP10
from pymosn.protocol.http2 import Http2Settings
from pymosn.proxy.active_stream import ActiveStream
from pymosn.proxy.filtered_stream import FilteredStream
from pymosn.proxy.settings import ProxySettings
from pymosn.stream.http1 import ServerStreamConnection
from pymosn.stream.http2.server import Http2ServerConnection


def _protocol_error_counter(settings: ProxySettings) -> Callable[[ProtocolError], None]:
    stats = settings.stats

    def on_protocol_error(error: ProtocolError) -> None:
        if error.status == 431:
            stats.downstream_rq_header_too_large += 1
        else:
            stats.downstream_rq_protocol_error += 1

    return on_protocol_error


def proxy_filter_factory(settings: ProxySettings):
    """Returns the per-connection builder of the filter."""
    on_protocol_error = _protocol_error_counter(settings)
    http10 = settings.http10 or MOSN_HTTP10

    def new_stream(server: ServerStreamConnection, head) -> ActiveStream:
        return (ActiveStream if settings.filter_plan is None else FilteredStream)(server, settings)

    def build(conn: Connection) -> ServerStreamConnection:
        return ServerStreamConnection(
            conn,
            new_stream,
            max_head_bytes=settings.max_head_bytes,
            max_headers=settings.max_headers_count,
            http10=http10,
            on_protocol_error=on_protocol_error,
        )

    return build


def http2_filter_factory(settings: ProxySettings, http2: Http2Settings):
    """The builder of the filter for HTTP/2 connections: each stream is an ActiveStream."""
    on_protocol_error = _protocol_error_counter(settings)

    def new_stream(stream, head) -> ActiveStream:
        return (ActiveStream if settings.filter_plan is None else FilteredStream)(stream, settings)

    def build(conn: Connection) -> Http2ServerConnection:
        return Http2ServerConnection(conn, new_stream, http2, settings.stats, on_protocol_error)

    return build


Builder = Callable[[Connection], ReadFilter]


def alpn_select(by_protocol: dict[str, Builder], default: Builder) -> Builder:
    """For TLS connections: the filter chosen by the protocol ALPN negotiated ("h2",
    "http/1.1"), else `default`. The choice waits for the handshake, so the builder returns a
    placeholder that becomes the chosen filter when the connection is made."""

    def build(conn: Connection) -> _AlpnSelect:
        return _AlpnSelect(conn, by_protocol, default)

    return build


class _AlpnSelect:
    """Read filter that replaces itself on its first event."""

    def __init__(self, conn: Connection, by_protocol: dict[str, Builder], default: Builder) -> None:
        self.conn = conn
        self.by_protocol = by_protocol
        self.default = default

    def on_new_connection(self) -> FilterStatus:
        conn = self.conn
        chosen = self.by_protocol.get(conn.info.alpn or "", self.default)(conn)
        filters = conn.read_filters
        index = filters.index(self) if self in filters else 0
        conn.read_filters = [*filters[:index], chosen, *filters[index + 1 :]]
        return chosen.on_new_connection()

    def on_data(self, data: bytes) -> FilterStatus:  # only before on_new_connection: never
        return FilterStatus.STOP
