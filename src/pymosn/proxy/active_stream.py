"""One downstream HTTP request through the proxy (Envoy's ActiveStream): what the client sent,
what it is answered, and the one ending.

The server stream connection hands the request here (`StreamReceiver`); this records its
StreamInfo, enforces the codec's limits (header count, max_request_bytes), matches the route
and gives the request to its `Router` (proxy/router.py), which sends it upstream one
`UpstreamRequest` per try and brings the response back through `encode_headers` /
`encode_data` / `encode_trailers`. Whatever cannot be forwarded becomes a local reply with an
Envoy response flag, here in one place (before the response started; a reset after).
Whatever happens, the stream ends through `_finish` exactly once: the counters it raised fall
(the router's with them) and one access-log line is written. Why a stream ended early arrives
as a typed `StreamReset`, never as text to match.

This class is the listener without stream filters: it makes no filter manager and tests for
none. A listener with filters runs `FilteredStream` (proxy/filtered_stream.py), the same
stream with the filter chain between it and the router."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Final

from pymosn.api import flags
from pymosn.api.connection import ConnectionInfo
from pymosn.api.errors import ResetKind, StreamReset
from pymosn.api.stream_info import StreamInfo
from pymosn.api.streams import ServerStream, StreamReceiver
from pymosn.protocol.http1 import BODY_LENGTH, BODY_NONE, RequestHead, ResponseHead
from pymosn.protocol.http1.decoder import TOO_MANY_HEADERS as HTTP1_TOO_MANY_HEADERS
from pymosn.protocol.http1.header_view import HeaderView
from pymosn.protocol.http2.headers import TOO_MANY_HEADERS as HTTP2_TOO_MANY_HEADERS
from pymosn.proxy.filter_manager import LocalReply
from pymosn.proxy.grpc import GrpcCall, grpc_to_http_status, split_path
from pymosn.proxy.grpc import detect as detect_grpc
from pymosn.proxy.header_plan import HeaderPlan, apply_adds
from pymosn.proxy.local_reply import (
    DIRECT_RESPONSE,
    LATE_DETAILS,
    DirectReply,
    render,
    render_http,
    reply_for,
)
from pymosn.proxy.pauses import DOWNSTREAM_BUFFER_FULL
from pymosn.proxy.route_headers import for_routing
from pymosn.proxy.router import Router
from pymosn.proxy.settings import ProxySettings

_wall_clock: Final = time.time  # Final: a C static, not a module attribute lookup per request
_PROTOCOLS: Final = {b"1.1": "HTTP/1.1", b"2": "HTTP/2", b"1.0": "HTTP/1.0"}


class ActiveStream:
    __slots__ = (
        "server",
        "connection",
        "settings",
        "snapshot",
        "head",
        "info",
        "router",
        "grpc",
        "request_complete",
        "request_bytes",
        "response_started",
        "done",
        "read_pauses",
    )
    head: RequestHead  # unset on a stream whose request was too malformed to parse (on_bad_request)
    info: StreamInfo

    def __init__(self, server: ServerStream, settings: ProxySettings) -> None:
        self.server = server
        # the connection's record, read once: several reads per request go through it
        self.connection: ConnectionInfo = server.connection
        self.settings = settings
        self.snapshot = settings.snapshot_ref.current
        self.router: Router | None = None
        self.grpc: GrpcCall | None = None  # for a gRPC request
        self.request_complete = False  # the downstream sent the whole request
        self.request_bytes = 0
        self.response_started = False
        self.done = False
        self.read_pauses = 0  # the causes (proxy/pauses.py) holding the downstream's reading

    # --- downstream request ------------------------------------------------------------------

    def on_headers(self, head: RequestHead, end_stream: bool) -> None:
        headers = self._begin(head, end_stream)
        if headers is None:
            return
        table = self.snapshot.routers.get(self.settings.router_config_name)
        route = None
        if table is not None:
            conn = self.connection
            if table.routes_on_proxy_made:
                headers = for_routing(headers, table, head, self.settings, conn)
            info = self.info
            path, _, query = info.path.partition("?")
            route = table.match(info.authority, path, query, headers, conn.peer_uri_san)
        if route is None:
            self.local_reply(flags.NO_ROUTE)
            return
        router = self.router = Router(self, route, end_stream)
        if router.select_cluster(headers):
            router.forward()

    def _begin(self, head: RequestHead, end_stream: bool) -> Mapping[str, str] | None:
        """The stream's record and the codec's limits; returns the headers routing reads (None:
        the request was answered already)."""
        self.head = head
        settings = self.settings
        conn = self.connection
        info = self.info = StreamInfo(settings.listener_name, conn.id)
        info.start_time = _wall_clock()
        info.start_monotonic = conn.loop.time()
        info.method = head.method.decode("latin-1")
        info.path = head.target.decode("latin-1")
        info.protocol = _PROTOCOLS.get(head.version, "HTTP/1.0")
        info.downstream_remote_address = conn.remote_address
        info.downstream_local_address = conn.local_address
        info.downstream_peer_uri_san = conn.peer_uri_san
        stats = settings.stats
        stats.downstream_rq_total += 1
        stats.downstream_rq_active += 1
        self.request_complete = end_stream
        self.grpc = detect_grpc(head)
        info.request_headers = headers = HeaderView(head.headers, head.lower_names)
        info.authority = head.host.decode("latin-1")
        if head.too_many_headers:
            self._over_header_limit()
            return None
        if settings.max_body_bytes and head.body_kind == BODY_LENGTH and head.content_length > settings.max_body_bytes:
            self.local_reply(flags.REQUEST_ENTITY_TOO_LARGE)
            return None
        return headers

    def _over_body_limit(self, data: bytes) -> bool:
        self.request_bytes += len(data)
        limit = self.settings.max_body_bytes
        if limit and self.request_bytes > limit:
            self.settings.stats.downstream_rq_too_large += 1
            self._abandon_upstream()
            self.local_reply(flags.REQUEST_ENTITY_TOO_LARGE)
            return True
        return False

    def on_data(self, data: bytes, end_stream: bool) -> None:
        if self.done or (data and self._over_body_limit(data)):
            return
        if end_stream:
            self.request_complete = True
        router = self.router
        assert router is not None  # made with the headers, or the stream was answered (done)
        router.on_request_data(data, end_stream)

    def on_trailers(self, trailers: list) -> None:
        if self.done:
            return
        self.request_complete = True
        if len(trailers) > self.settings.max_headers_count:
            self._over_header_limit()
            return
        router = self.router
        assert router is not None
        router.on_request_trailers(trailers)

    def on_upgrade_data(self, data: bytes) -> None:
        router = self.router
        if not self.done and router is not None:
            router.on_upgrade_data(data)

    def on_reset(self, reset: StreamReset) -> None:
        """The downstream went away, reset the stream, or broke the protocol mid-request (the
        server stream connection has counted the protocol error)."""
        if self.done:
            return
        self._abandon_upstream()
        if reset.kind is ResetKind.PROTOCOL_ERROR:
            self._protocol_error_reply(reset)
            return
        # Envoy's flags: a stream the client reset is DR; a connection that went away, DC; its
        # details replace the upstream's, even once the response started (as Envoy's)
        info = self.info
        info.response_flags.append(
            flags.DOWNSTREAM_REMOTE_RESET if reset.kind is ResetKind.RESET else flags.DOWNSTREAM_CONNECTION_TERMINATION)
        if reset.details:
            info.response_code_details = reset.details
        self.settings.stats.downstream_rq_rx_reset += 1
        self._finish()

    def on_bad_request(self, head: RequestHead | None, reset: StreamReset) -> None:
        """A request that broke the protocol before it could start (a malformed head, or a
        queued request whose body broke): one stream all the same, answered with the error."""
        conn = self.connection
        info = self.info = StreamInfo(self.settings.listener_name, conn.id)
        info.start_time = _wall_clock()
        info.start_monotonic = conn.loop.time()
        info.downstream_remote_address = conn.remote_address
        info.downstream_local_address = conn.local_address
        if head is None:
            info.protocol = self.server.protocol
        else:
            self.head = head
            info.method = head.method.decode("latin-1")
            info.path = head.target.decode("latin-1")
            info.authority = head.host.decode("latin-1")
            info.request_headers = HeaderView(head.headers, head.lower_names)
            info.protocol = _PROTOCOLS.get(head.version, "HTTP/1.0")
        stats = self.settings.stats
        stats.downstream_rq_total += 1
        stats.downstream_rq_active += 1
        self._protocol_error_reply(reset)

    def _abandon_upstream(self) -> None:
        router = self.router
        if router is not None:
            router.abandon()

    # --- the response, from the router ---------------------------------------------------------

    def encode_headers(self, head: ResponseHead, headers: list, end_stream: bool) -> None:
        self.response_started = True
        status = head.status
        if status == 101:
            self.server.send_headers(101, headers, BODY_NONE, False, head.reason)
            return
        if self.head.upgrade:
            self.server.close_after_response()  # the client expected a tunnel; its bytes are not HTTP
        self.server.send_headers(status, headers, head.body_kind, end_stream, head.reason)
        if end_stream:
            self._finish()

    def encode_data(self, data: bytes, end_stream: bool) -> None:
        self.info.bytes_sent += len(data)
        self.server.send_data(data, end_stream)
        if end_stream:
            self._finish()

    def encode_trailers(self, trailers: list) -> None:
        self.server.send_trailers(trailers)
        self._finish()

    def tunnel_closed(self) -> None:
        """The upstream side of a tunnel (after a 101) went away: so does the downstream's."""
        self._finish()
        self.server.close()

    # watermark callbacks of the downstream connection: a slow client pauses the upstream
    def on_above_write_high_watermark(self) -> None:
        if self.router is not None:
            self.router.pause_upstream(DOWNSTREAM_BUFFER_FULL)

    def on_below_write_low_watermark(self) -> None:
        if self.router is not None:
            self.router.resume_upstream(DOWNSTREAM_BUFFER_FULL)

    # --- reading the request ---------------------------------------------------------------------

    def pause_downstream(self, cause: int) -> None:
        """Stop reading the request for `cause` (proxy/pauses.py) until it resumes."""
        paused = self.read_pauses
        if self.done:
            return  # an ended stream's connection may be another request's by now
        self.read_pauses = paused | cause
        if not paused:
            self.server.pause_reading()

    def resume_downstream(self, cause: int) -> None:
        """`cause` no longer holds the request: reading resumes if no other cause does."""
        paused = self.read_pauses
        if paused & cause:
            paused = self.read_pauses = paused & ~cause
            if not paused and not self.done:
                self.server.resume_reading()

    # --- local replies ---------------------------------------------------------------------------

    def local_reply(self, flag: str, body: bytes | None = None, status: int | None = None,
                    details: str | None = None) -> None:
        """Answer the request here with the reply for `flag` (proxy/local_reply.py: its default
        status, body and details unless given); reset the stream instead once the response
        has started."""
        if self.done:
            return  # (an ended stream's access-log line is written: nothing may change it)
        info = self.info
        info.response_flags.append(flag)
        if self.response_started:
            info.response_code_details = LATE_DETAILS[flag] if details is None else details
            self.server.reset()
            self._finish()
            return
        reply = reply_for(flag, body, status, details)
        info.response_code_details = reply.details
        self._send_local(*render(reply, self.grpc, self.head.version != b"2"))

    def direct_reply(self, status: int, body: bytes, extra: list | None, plan: HeaderPlan) -> None:
        """A route's direct response or redirect: no response flag (Envoy logs "-")."""
        self.info.response_code_details = DIRECT_RESPONSE
        self._send_local(*render_http(self._direct(status, body, extra, plan)))

    @staticmethod
    def _direct(status: int, body: bytes, extra: list | None, plan: HeaderPlan) -> DirectReply:
        added = list(extra or ())
        if plan.response_add:
            apply_adds(added, plan.response_add)
        return DirectReply(status, body, None, DIRECT_RESPONSE, None, tuple(added))

    def _over_header_limit(self) -> None:
        """More header fields (or trailers) than max_request_headers_count. As Envoy: 431 on
        HTTP/1.1, after which the connection closes (its decoder has stopped reading), and a
        reset (INTERNAL_ERROR) on HTTP/2; either way never forwarded."""
        self.settings.stats.downstream_rq_header_too_large += 1
        self._abandon_upstream()
        if self.head.version == b"2":
            self.info.response_flags.append(flags.DOWNSTREAM_PROTOCOL_ERROR)
            self.info.response_code_details = HTTP2_TOO_MANY_HEADERS
            self.server.reset()
            self._finish()
            return
        self.server.close_after_response()
        self.local_reply(flags.DOWNSTREAM_PROTOCOL_ERROR, b"too many header fields\n", 431, HTTP1_TOO_MANY_HEADERS)

    def _protocol_error_reply(self, reset: StreamReset) -> None:
        """Answers the error if the server still can (Envoy's codec-error 400, flag DPE);
        otherwise the stream is reset, or was already (HTTP/2 RST_STREAM)."""
        info = self.info
        info.response_flags.append(flags.DOWNSTREAM_PROTOCOL_ERROR)
        info.response_code_details = reset.details
        if reset.status and not self.response_started:
            self._send_local(*render_http(LocalReply(reset.status, reset.detail.encode() + b"\n")))
            return
        if self.response_started:
            self.server.reset()
        self._finish()

    def _send_local(self, status: int, headers: list, body: bytes) -> None:
        if self.done:
            return
        self.info.response_code = status
        self.response_started = True
        if not self.request_complete:
            self.server.close_after_response()  # the rest of the request body will not be read
        self.info.bytes_sent += len(body)
        self._abandon_upstream()
        if body:
            self.server.send_headers(status, headers, BODY_LENGTH, False)
            self._finish()  # accounted before the server may start the next pipelined request
            self.server.send_data(body, True)
        else:
            self._finish()
            self.server.send_headers(status, headers, BODY_NONE, True)

    # --- the end -----------------------------------------------------------------------------

    def _finish(self) -> None:
        if self.done:
            return
        self.done = True
        info = self.info
        info.end_monotonic = self.connection.loop.time()
        info.bytes_received = self.request_bytes
        self.server.clear_watermark_listener(self)
        stats = self.settings.stats
        stats.downstream_rq_active -= 1
        code = info.response_code
        if code:
            stats.count_response(code)
        host_code = code
        grpc = self.grpc
        if grpc is not None and grpc.status is not None:
            host_code = self._count_grpc(grpc, grpc.status, code)
        router = self.router
        if router is not None:
            router.on_stream_end(code, host_code, bool(info.response_flags))
            # The stream and its router point at each other (and the router at its try): left
            # so, every request would be garbage only the cycle collector frees, a cost of
            # microseconds per request plus its pauses. The router keeps its own reference back.
            self.router = None
        for logger in self.settings.access_loggers:
            logger.log(info)

    def _count_grpc(self, grpc: GrpcCall, status: int, code: int) -> int:
        """Counts the call by grpc-status; returns the HTTP status it stands for, so a host
        answering errors in 200 responses counts as failing (as Envoy's rq_error does)."""
        self.info.grpc_status = status
        self.settings.stats.grpc.count(status)
        router = self.router
        cluster = getattr(router, "cluster", None)  # unset: no cluster was picked
        if router is not None and cluster is not None:
            cluster.stats.grpc.count(status, split_path(grpc.path) if router.upstream is not None else None)
        return grpc_to_http_status(status) if code == 200 else code


if TYPE_CHECKING:  # mypy checks that the class keeps the contract

    def _receives_requests(stream: ActiveStream) -> StreamReceiver:
        return stream
