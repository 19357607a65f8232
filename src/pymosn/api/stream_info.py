"""What the proxy records about one request, for the access log and stats.

Filled in by the proxy as the request progresses; read by access-log formatters at the end.
Plain slotted attributes: the hot path sets them without any call overhead."""

from __future__ import annotations

from collections.abc import Mapping


class StreamInfo:
    __slots__ = (
        "start_time",  # wall clock, time.time() at first request byte
        "start_monotonic",  # loop.time() at first request byte
        "end_monotonic",  # loop.time() when the response was fully sent (or the stream reset)
        "first_upstream_byte_monotonic",  # loop.time() at the first response byte from upstream
        "protocol",  # "HTTP/1.1", "HTTP/1.0"
        "method",  # str
        "path",  # str, the original request target (path + query)
        "authority",  # str, Host header
        "request_headers",  # dict[str, str], lowercased names (None until parsed)
        "response_headers",  # dict[str, str] | None
        "response_code",  # int, 0 if no response was sent
        "response_flags",  # list[str] of pymosn.api.flags codes
        "bytes_received",  # request body bytes
        "bytes_sent",  # response body bytes
        "downstream_remote_address",  # "ip:port"
        "downstream_local_address",  # "ip:port"
        "downstream_peer_uri_san",  # the TLS client's URI SAN (SPIFFE ID) or None
        "upstream_host",  # "ip:port" or None
        "upstream_local_address",  # "ip:port" or None
        "upstream_cluster",  # str or None
        "upstream_transport_failure_reason",  # str or None
        "route_name",  # str or None
        "listener_name",  # str
        "request_id",  # str (x-request-id) or None
        "connection_id",  # int
        "upstream_connection_id",  # int or None
        "grpc_status",  # int: the grpc-status of a gRPC call, None for other requests
        "response_code_details",  # str: why the response is what it is (Envoy's), "" if nothing says
    )

    def __init__(self, listener_name: str = "", connection_id: int = 0) -> None:
        self.start_time = 0.0
        self.start_monotonic = 0.0
        self.end_monotonic = 0.0
        self.first_upstream_byte_monotonic = 0.0
        self.protocol = "HTTP/1.1"
        self.method = ""
        self.path = ""
        self.authority = ""
        self.request_headers: Mapping[str, str] | None = None
        self.response_headers: Mapping[str, str] | None = None
        self.response_code = 0
        self.response_flags: list[str] = []
        self.bytes_received = 0
        self.bytes_sent = 0
        self.downstream_remote_address = ""
        self.downstream_local_address = ""
        self.downstream_peer_uri_san: str | None = None
        self.upstream_host: str | None = None
        self.upstream_local_address: str | None = None
        self.upstream_cluster: str | None = None
        self.upstream_transport_failure_reason: str | None = None
        self.route_name: str | None = None
        self.listener_name = listener_name
        self.request_id: str | None = None
        self.connection_id = connection_id
        self.upstream_connection_id: int | None = None
        self.grpc_status: int | None = None
        self.response_code_details = ""

    @property
    def duration(self) -> float:
        """Seconds from first request byte to the end of the response."""
        return max(0.0, self.end_monotonic - self.start_monotonic)
