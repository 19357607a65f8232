"""The `proxy` network filter: MOSN's connection manager. Decodes the downstream protocol and
runs each request through the proxy layer."""

from __future__ import annotations

from pymosn.api.errors import ProtocolError
from pymosn.network.connection import Connection
from pymosn.proxy.downstream import DownstreamStream
from pymosn.proxy.snapshot import ProxySettings
from pymosn.stream.http1 import ServerStreamConnection


def proxy_filter_factory(settings: ProxySettings):
    """Returns the per-connection builder of the filter."""
    stats = settings.stats

    def new_stream(server: ServerStreamConnection, head) -> DownstreamStream:
        return DownstreamStream(server, settings)

    def on_protocol_error(error: ProtocolError) -> None:
        if error.status == 431:
            stats.downstream_rq_header_too_large += 1
        else:
            stats.downstream_rq_protocol_error += 1

    def build(conn: Connection) -> ServerStreamConnection:
        return ServerStreamConnection(
            conn, new_stream, max_head_bytes=settings.max_head_bytes, on_protocol_error=on_protocol_error
        )

    return build
