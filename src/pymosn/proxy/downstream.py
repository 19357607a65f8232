"""One downstream HTTP request through the proxy: route, pick a host, forward, answer.

The object is at once the receiver of the downstream request (from the server stream
connection), the requester of a pooled upstream connection, and the receiver of the upstream
response. Each stage appears once, in order:

    on_headers -> route -> cluster/host -> pool -> send upstream -> on_response_* -> finish

Errors at any stage go to `_local_reply` (before the response started) or reset the downstream
(after), with an Envoy response flag recorded for the access log. Whatever happens, the stream
ends through `_finish` exactly once: the counters it raised fall and one access-log line is
written. Why a stream ended early arrives as a typed `StreamReset`, never as text to match."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pymosn.api import flags
from pymosn.api.errors import ResetKind, StreamReset, UpstreamFailure
from pymosn.api.headers import HeaderMap, RequestHeaderMap
from pymosn.api.request_id import new_request_id
from pymosn.api.stream_info import StreamInfo
from pymosn.api.streams import ClientStream, ResponseReceiver, ServerStream, StreamReceiver
from pymosn.network.deadlines import deadlines_for
from pymosn.protocol.http1 import BODY_LENGTH, BODY_NONE, RequestHead, ResponseHead
from pymosn.protocol.http1.header_view import HeaderView
from pymosn.proxy.client_cert import HEADER_NAME as XFCC
from pymosn.proxy.client_cert import as_routed
from pymosn.proxy.filter_manager import FilterChainPlan, FilterManager, LocalReply
from pymosn.proxy.grpc import detect as detect_grpc
from pymosn.proxy.grpc import grpc_to_http_status, http_to_grpc_status, split_path, status_in
from pymosn.proxy.grpc import local_reply_headers as grpc_reply_headers
from pymosn.proxy.header_plan import HeaderPlan, apply_adds, filter_response_headers
from pymosn.proxy.local_reply import (
    DIRECT_RESPONSE,
    FAILURE_REPLIES,
    REPLIES,
    DirectReply,
    local_reply_headers,
    render_grpc,
    render_http,
)
from pymosn.proxy.mirror import forward_data, forward_trailers, original_ended, start_shadows
from pymosn.proxy.snapshot import ProxySettings

log = logging.getLogger("pymosn.proxy")

_BODY_BUFFER_LIMIT = 1024 * 1024  # request bytes held while waiting for an upstream connection
_NOTED = frozenset({b"host", b"x-forwarded-for", b"x-forwarded-proto", b"x-request-id", b"x-forwarded-client-cert"})


class DownstreamStream:
    __slots__ = (
        "server",
        "settings",
        "snapshot",
        "head",
        "info",
        "route",
        "plan",
        "cluster",
        "host",
        "client",
        "method",
        "target",
        "upstream_headers",
        "request_complete",
        "request_bytes",
        "pending",
        "pending_bytes",
        "response_started",
        "timer",
        "done",
        "tries",
        "tunnel",
        "counted_active",
        "host_active",
        "stale_retry_used",
        "grpc",
        "filters",
        "request_map",
        "downstream_complete",
        "response_head",
        "shadows",
    )
    head: RequestHead  # unset on a stream whose request was too malformed to parse (on_bad_request)
    # with stream filters only: the request as filters see it, whether the downstream sent all of
    # it, and the upstream response head in the encoder chain (None: a local reply replaced it)
    request_map: RequestHeaderMap
    downstream_complete: bool
    response_head: ResponseHead | None

    def __init__(self, server: ServerStream, settings: ProxySettings) -> None:
        self.server = server
        self.settings = settings
        self.snapshot = settings.snapshot_ref.current
        self.route: Any = None
        self.plan: HeaderPlan | None = None
        self.cluster: Any = None
        self.host: Any = None
        self.client: ClientStream | None = None
        self.request_complete = False
        self.request_bytes = 0
        self.pending: list | None = None  # request events waiting for the upstream connection
        self.pending_bytes = 0
        self.response_started = False
        self.timer = 0  # the deadline wheel key while a deadline is registered
        self.done = False
        self.tries = 0
        self.tunnel = False
        self.counted_active = False
        self.host_active = False  # the current host counts this request in rq_active
        self.stale_retry_used = False
        self.grpc: Any = None  # proxy.grpc.GrpcCall for a gRPC request
        # the listener's stream filters for this request; None (no filters) is the fast path
        self.filters: FilterManager | None = None
        self.shadows: list | None = None  # mirror copies still taking the request (proxy/mirror.py)

    # --- downstream request ------------------------------------------------------------------

    def on_headers(self, head: RequestHead, end_stream: bool) -> None:
        self.head = head
        settings = self.settings
        conn = self.server.connection
        info = self.info = StreamInfo(settings.listener_name, conn.id)
        info.start_time = time.time()
        info.start_monotonic = conn.loop.time()
        info.method = head.method.decode("latin-1")
        info.path = head.target.decode("latin-1")
        version = head.version
        info.protocol = "HTTP/1.1" if version == b"1.1" else "HTTP/2" if version == b"2" else "HTTP/1.0"
        info.downstream_remote_address = conn.remote_address
        info.downstream_local_address = conn.local_address
        info.downstream_peer_uri_san = conn.peer_uri_san
        stats = settings.stats
        stats.downstream_rq_total += 1
        stats.downstream_rq_active += 1
        self.request_complete = end_stream
        self.grpc = detect_grpc(head)

        headers: Mapping[str, str]  # the request's, or as routed (XFCC rewritten) below
        info.request_headers = headers = HeaderView(head.headers, head.lower_names)
        info.authority = authority = head.host.decode("latin-1")
        target = info.path
        path, _, query = target.partition("?")

        if head.too_many_headers:
            self._over_header_limit()
            return
        if settings.max_body_bytes and head.body_kind == BODY_LENGTH and head.content_length > settings.max_body_bytes:
            self._local_reply(flags.REQUEST_ENTITY_TOO_LARGE)
            return

        plan = settings.filter_plan
        if plan is not None:
            self._decode_through_filters(plan, head, end_stream)
            return
        table = self.snapshot.routers.get(settings.router_config_name)
        if table is None:
            route = None
        else:
            if XFCC in table.condition_headers:
                headers = as_routed(headers, settings.client_cert, conn)
            route = table.match(authority, path, query, headers, conn.peer_uri_san)
        if self._select_cluster(route, headers):
            self._forward(None)

    def _select_cluster(self, route: Any, headers: Mapping[str, str]) -> bool:
        """The route's cluster, checked for room; False when the request was answered instead
        (no route, a direct response or redirect, no such cluster, a full breaker)."""
        if route is None:
            self._local_reply(flags.NO_ROUTE)
            return False
        self.route = route
        info = self.info
        info.route_name = route.name or None
        kind = route.kind
        if kind == "direct_response":
            self._direct_reply(route.direct_status, route.direct_body)
            return False
        if kind == "redirect":
            location = route.redirect_location(self.settings.scheme.decode(), info.authority, info.path)
            self._direct_reply(route.redirect_code, b"", [(b"location", location.encode("latin-1"))])
            return False
        cluster_name = route.pick_cluster(headers)
        cluster = self.snapshot.clusters.get(cluster_name) if cluster_name else None
        if cluster is None:
            self._local_reply(flags.NO_HEALTHY_UPSTREAM, b"cluster not found\n")
            return False
        self.cluster = cluster
        info.upstream_cluster = cluster.name
        if not cluster.can_start_request():
            cluster.stats.upstream_rq_pending_overflow += 1
            self._local_reply(flags.UPSTREAM_OVERFLOW)
            return False
        return True

    def _forward(self, host: Any) -> None:
        """Prepare the upstream request and start its first try (on `host` when the
        AFTER_CHOOSE_HOST filters' phase picked it already)."""
        route = self.route
        head = self.head
        plan = self.snapshot.header_plans.get(id(route))
        if plan is None:
            plan = self.snapshot.header_plans[id(route)] = HeaderPlan(route)
        self.plan = plan
        self.method = head.method
        target = self.info.path
        path = target.partition("?")[0]
        new_path = route.rewrite_path(path)
        self.target = head.target if new_path == path else (new_path + target[len(path):]).encode("latin-1")
        self.upstream_headers = self._upstream_headers(head, plan)
        grpc = self.grpc
        if grpc is not None and grpc.timeout is not None:
            self._start_grpc_deadline(grpc)
        if head.expect_continue:
            self.server.send_continue()
        self._try_upstream(host)
        if route.mirror_policies and self.settings.mirror_copies and not self.done and not head.upgrade:
            self.shadows = start_shadows(route, self.settings, self.snapshot.clusters, self.server.connection,
                                         self._routing_headers(), self.method, self.target, self.upstream_headers,
                                         head.body_kind, self.request_complete)

    # --- the stream filters (a listener with a filter plan) -----------------------------------

    def _decode_through_filters(self, plan: FilterChainPlan, head: RequestHead, end_stream: bool) -> None:
        settings = self.settings
        conn = self.server.connection
        self.downstream_complete = end_stream
        self.request_complete = False  # what the router got: set as the decoder filters pass it on
        filters = self.filters = FilterManager(self, plan, self.info, conn, settings.buffer_limit)
        request = self.request_map = RequestHeaderMap(head.headers, head.lower_names, head.method, head.target,
                                                      settings.scheme)
        filters.decode_headers(request, end_stream)

    def _sync_head(self) -> None:
        """Filters changed the request headers: what routing and the upstream request read
        (the codec's head, the access log's view) follows them."""
        request = self.request_map
        if not request.changed:
            return
        head = self.head
        info = self.info
        head.headers = request.pairs()
        head.lower_names = request.lower_names()
        head.method = request.method
        head.target = request.path
        host = request.get(b"host")
        head.host = host or b""
        info.method = request.method.decode("latin-1")
        info.path = request.path.decode("latin-1")
        info.authority = head.host.decode("latin-1")
        info.request_headers = HeaderView(head.headers, head.lower_names)

    def _routing_headers(self) -> Mapping[str, str]:
        headers = self.info.request_headers
        assert headers is not None
        table = self.snapshot.routers.get(self.settings.router_config_name)
        if table is not None and XFCC in table.condition_headers:
            return as_routed(headers, self.settings.client_cert, self.server.connection)
        return headers

    # FilterManagerOwner: what passed the decoder filters goes to the router

    def resolve_route(self) -> Any:
        self._sync_head()
        table = self.snapshot.routers.get(self.settings.router_config_name)
        if table is None:
            return None
        info = self.info
        path, _, query = info.path.partition("?")
        return table.match(info.authority, path, query, self._routing_headers(), self.server.connection.peer_uri_san)

    def per_filter_config(self, route: Any, name: str) -> object | None:
        return None if route is None else route.filter_configs.get(name)

    def choose_host(self) -> None:
        """Before the AFTER_CHOOSE_HOST filters: the cluster and host of the first try."""
        filters = self.filters
        assert filters is not None
        if self.cluster is None and not self._select_cluster(filters.route, self._routing_headers()):
            return
        host = self.cluster.choose_host(self.server.connection, self.info.request_headers)
        if host is None:
            self._local_reply(flags.NO_HEALTHY_UPSTREAM)
            return
        self.host = host
        self.info.upstream_host = host.address

    def on_decoded_headers(self, headers: RequestHeaderMap, end_stream: bool) -> None:
        self._sync_head()
        self.request_complete = end_stream
        if self.cluster is not None:  # the AFTER_CHOOSE_HOST phase picked the host
            self._forward(self.host)
            return
        filters = self.filters
        assert filters is not None
        if self._select_cluster(filters.route, self._routing_headers()):
            self._forward(None)

    def on_decoded_data(self, data: bytes, end_stream: bool) -> None:
        if end_stream:
            self.request_complete = True
        if self.shadows is not None:
            forward_data(self.shadows, data, end_stream)
        client = self.client
        if client is not None:
            client.send_data(data, end_stream)
            if end_stream:
                self._start_timer()
        else:
            self._hold(("data", data, end_stream), len(data))

    def on_decoded_trailers(self, trailers: HeaderMap) -> None:
        self.request_complete = True
        if self.shadows is not None:
            forward_trailers(self.shadows, trailers.pairs())
        client = self.client
        if client is not None:
            client.send_trailers(trailers.pairs())
            self._start_timer()
        else:
            self._hold(("trailers", trailers.pairs(), True), 0)

    # FilterManagerOwner: what passed the encoder filters goes to the downstream

    def on_encoded_headers(self, status: int, headers: HeaderMap, end_stream: bool) -> None:
        if headers.changed:
            self.info.response_headers = HeaderView(headers.pairs(), headers.lower_names())
        head = self.response_head
        if head is None:  # a local reply
            self._send_local_head(status, headers.pairs(), end_stream)
            return
        if status == 101:
            self.server.send_headers(101, headers.pairs(), BODY_NONE, False, head.reason)
            return
        if self.head.upgrade:
            self.server.close_after_response()
        self.server.send_headers(status, headers.pairs(), head.body_kind, end_stream, head.reason)
        if end_stream:
            self._finish()

    def _send_local_head(self, status: int, pairs: list, end_stream: bool) -> None:
        self.info.response_code = status
        self.response_started = True
        if not self.downstream_complete:
            self.server.close_after_response()  # the rest of the request body will not be read
        if end_stream:
            self._finish_before_send()
            self.server.send_headers(status, pairs, BODY_NONE, True)
        else:
            self.server.send_headers(status, pairs, BODY_LENGTH, False)

    def on_encoded_data(self, data: bytes, end_stream: bool) -> None:
        self.info.bytes_sent += len(data)
        if self.response_head is None and end_stream:  # a local reply's body
            self._finish_before_send()
            self.server.send_data(data, True)
            return
        self.server.send_data(data, end_stream)
        if end_stream:
            self._finish()

    def on_encoded_trailers(self, trailers: HeaderMap) -> None:
        self.server.send_trailers(trailers.pairs())
        self._finish()

    def on_local_reply(self, reply: LocalReply) -> None:
        info = self.info
        if reply.flag is not None:
            info.response_flags.append(reply.flag)
        if reply.details:
            info.response_code_details = reply.details
        self.response_head = None  # whatever the upstream sent is replaced
        self._abandon_upstream()

    def render_local_reply(self, reply: LocalReply) -> tuple[int, HeaderMap, bytes]:
        grpc = self.grpc
        if grpc is not None and not isinstance(reply, DirectReply):
            grpc.status, rendered = render_grpc(reply, self.head.version != b"2")
            return rendered
        return render_http(reply)

    def reset_stream(self, reply: LocalReply) -> None:
        if reply.flag is not None:
            self.info.response_flags.append(reply.flag)
        if reply.details:
            self.info.response_code_details = reply.details
        self._abandon_upstream()
        self.server.reset()
        self._finish()

    def pause_reading(self) -> None:
        self.server.pause_reading()

    def resume_reading(self) -> None:
        self.server.resume_reading()

    def pause_upstream(self) -> None:
        if self.client is not None:
            self.client.pause_reading()

    def resume_upstream(self) -> None:
        if self.client is not None:
            self.client.resume_reading()

    def on_filter_error(self, name: str, error: Exception) -> None:
        self.settings.stats.downstream_rq_filter_error += 1
        log.error("stream filter %s raised on listener %s: %r", name, self.settings.listener_name, error,
                  exc_info=error)

    def _upstream_headers(self, head: RequestHead, plan: HeaderPlan) -> list:
        """One pass over the request headers: drop hop-by-hop and removed ones, rewrite Host,
        note the forwarding headers we extend; then add ours and the route's."""
        drop = plan.request_drop
        out = []
        conn_tokens = None
        xff = xfp = request_id = upgrade = xfcc = None
        for lname, header in zip(head.lower_names, head.headers):
            if lname in drop:
                if lname == b"connection":
                    conn_tokens = {t.strip().lower() for t in header[1].split(b",")}
                elif lname == b"upgrade":
                    upgrade = header[1]
                continue
            if lname in _NOTED:
                if lname == b"host":
                    if plan.host_rewrite is not None:
                        header = (header[0], plan.host_rewrite)
                elif lname == b"x-forwarded-for":
                    xff = header[1] if xff is None else xff + b", " + header[1]
                    continue
                elif lname == b"x-request-id":
                    request_id = header[1]
                elif lname == b"x-forwarded-client-cert":
                    # never passed on as received: client_cert decides (SANITIZE drops it)
                    xfcc = header[1] if xfcc is None else xfcc + b"," + header[1]
                    continue
                else:
                    xfp = header[1]
            out.append(header)
        if conn_tokens:
            conn_tokens.discard(b"upgrade")
            out = [h for h in out if h[0].lower() not in conn_tokens]
        remote_ip = self.server.connection.remote[0].encode()
        out.append((b"x-forwarded-for", remote_ip if xff is None else xff + b", " + remote_ip))
        if xfp is None:
            out.append((b"x-forwarded-proto", self.settings.scheme))
        client_cert = self.settings.client_cert
        if client_cert is not None:
            xfcc = client_cert.header_value(xfcc, self.server.connection)
            if xfcc is not None:
                out.append((b"x-forwarded-client-cert", xfcc))
        if request_id is None:
            rid = new_request_id()
            out.append((b"x-request-id", rid.encode()))
            self.info.request_id = rid
        else:
            self.info.request_id = request_id.decode("latin-1")
        if head.upgrade:
            out.append((b"connection", b"upgrade"))
            out.append((b"upgrade", upgrade or b""))
        if plan.request_add:
            apply_adds(out, plan.request_add)
        return out

    def on_data(self, data: bytes, end_stream: bool) -> None:
        if self.done:
            return
        if data:
            self.request_bytes += len(data)
            limit = self.settings.max_body_bytes
            if limit and self.request_bytes > limit:
                self.settings.stats.downstream_rq_too_large += 1
                self._abandon_upstream()
                self._local_reply(flags.REQUEST_ENTITY_TOO_LARGE)
                return
        filters = self.filters
        if filters is not None:
            if end_stream:
                self.downstream_complete = True
            filters.decode_data(data, end_stream)
            return
        if end_stream:
            self.request_complete = True
        if self.shadows is not None:
            forward_data(self.shadows, data, end_stream)
        client = self.client
        if client is not None:
            client.send_data(data, end_stream)
            if end_stream:
                self._start_timer()
        else:
            self._hold(("data", data, end_stream), len(data))

    def on_trailers(self, trailers: list) -> None:
        if self.done:
            return
        filters = self.filters
        if filters is not None:
            self.downstream_complete = True
        else:
            self.request_complete = True
        if len(trailers) > self.settings.max_headers_count:
            self._over_header_limit()
            return
        if filters is not None:
            filters.decode_trailers(HeaderMap.of(trailers))
            return
        if self.shadows is not None:
            forward_trailers(self.shadows, trailers)
        if self.client is not None:
            self.client.send_trailers(trailers)
            self._start_timer()
        else:
            self._hold(("trailers", trailers, True), 0)

    def on_upgrade_data(self, data: bytes) -> None:
        if self.done:
            return
        if self.client is not None and self.tunnel:
            self.client.send_raw(data)
        else:
            self._hold(("raw", data, False), len(data))

    def _hold(self, event: tuple, size: int) -> None:
        if self.pending is None:
            self.pending = []
        self.pending.append(event)
        self.pending_bytes += size
        if self.pending_bytes > _BODY_BUFFER_LIMIT:
            self.server.pause_reading()

    def on_reset(self, reset: StreamReset) -> None:
        """The downstream went away, reset the stream, or broke the protocol mid-request (the
        server stream connection has counted the protocol error)."""
        if self.done:
            return
        self._abandon_upstream()
        if reset.kind is ResetKind.PROTOCOL_ERROR:
            self._protocol_error_reply(reset)
            return
        # Envoy's flags: a stream the client reset is DR; a connection that went away, DC
        self.info.response_flags.append(
            flags.DOWNSTREAM_REMOTE_RESET if reset.kind is ResetKind.RESET else flags.DOWNSTREAM_CONNECTION_TERMINATION)
        self.settings.stats.downstream_rq_rx_reset += 1
        self._finish()

    def on_bad_request(self, head: RequestHead | None, reset: StreamReset) -> None:
        """A request that broke the protocol before it could start (a malformed head, or a
        queued request whose body broke): one stream all the same, answered with the error."""
        conn = self.server.connection
        info = self.info = StreamInfo(self.settings.listener_name, conn.id)
        info.start_time = time.time()
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
            version = head.version
            info.protocol = "HTTP/1.1" if version == b"1.1" else "HTTP/2" if version == b"2" else "HTTP/1.0"
        stats = self.settings.stats
        stats.downstream_rq_total += 1
        stats.downstream_rq_active += 1
        self._protocol_error_reply(reset)

    def _protocol_error_reply(self, reset: StreamReset) -> None:
        """Answers the error if the server still can (Envoy's codec-error 400, flag DPE);
        otherwise the stream is reset, or was already (HTTP/2 RST_STREAM)."""
        self.info.response_flags.append(flags.DOWNSTREAM_PROTOCOL_ERROR)
        if reset.status and not self.response_started:
            body = reset.detail.encode() + b"\n"
            self._send_local(reset.status, local_reply_headers(body), body)
            return
        if self.response_started:
            self.server.reset()
        self._finish()

    # --- upstream connection -----------------------------------------------------------------

    def _try_upstream(self, host: Any = None) -> None:
        self.tries += 1
        if host is None:
            host = self.cluster.choose_host(self.server.connection, self.info.request_headers)
            if host is None:
                self._local_reply(flags.NO_HEALTHY_UPSTREAM)
                return
            self.host = host
            self.info.upstream_host = host.address
        if not self.counted_active:
            self.counted_active = True
            self.cluster.active_requests += 1
            self.cluster.stats.upstream_rq_active += 1
        if self.request_complete:
            # Waiting for a pooled connection or an HTTP/2 stream counts against the route
            # timeout (as in Envoy): a full HTTP/2 pool has no connect timeout to end the wait.
            self._start_timer()
        client = self.cluster.pool_for(host, self.settings.upstream_protocol).acquire(self)
        if client is not None:
            self.on_pool_ready(client)

    def on_pool_ready(self, client: ClientStream) -> None:
        if self.done:
            client.on_idle(client)
            return
        self.client = client
        info = self.info
        upstream = client.connection
        info.upstream_local_address = upstream.local_address
        info.upstream_connection_id = upstream.id
        cluster = self.cluster
        cluster.stats.upstream_rq_total += 1
        host_stats = self.host.stats
        host_stats.rq_total += 1
        host_stats.rq_active += 1
        self.host_active = True
        self.server.set_watermark_listener(self)
        head = self.head
        pending = self.pending
        end_stream = self.request_complete and not pending and not head.upgrade
        body_kind = head.body_kind
        headers = list(self.upstream_headers)
        if not head.host:
            # HTTP/1.0 without Host: the upstream request names its host, as MOSN's does (and
            # an HTTP/1.1 request must carry one); a route's host rewrite takes its place
            plan = self.plan
            assert plan is not None  # set with the route, before any upstream request
            rewrite = plan.host_rewrite
            headers.insert(0, (b"host", rewrite if rewrite is not None else self.host.address.encode()))
        if self.route.auto_host_rewrite:
            host = self.host
            value = (host.hostname or host.address).encode()
            headers = [(n, value) if n.lower() == b"host" else (n, v) for n, v in headers]
        client.send_headers(self, self.method, self.target, headers, body_kind, end_stream)
        if body_kind != BODY_NONE:
            client.set_watermark_listener(_UpstreamWatermarks(self.server))
        if pending:
            self.pending = None
            self.pending_bytes = 0
            for kind, payload, end in pending:
                if kind == "data":
                    client.send_data(payload, end)
                elif kind == "trailers":
                    client.send_trailers(payload)
                else:
                    client.send_raw(payload)
            # The replayed body may itself have filled the upstream's buffer: then the
            # upstream's low watermark resumes the client, not us.
            if self.server.reading_paused and not client.write_paused:
                self.server.resume_reading()
        if self.request_complete:
            self._start_timer()

    def on_pool_failure(self, failure: UpstreamFailure) -> None:
        if self.done:
            return
        self.info.upstream_transport_failure_reason = failure.detail
        if failure.retryable and self._retry():
            return
        flag, status = FAILURE_REPLIES[failure.kind]
        body = REPLIES[flag][1].rstrip(b"\n") + b": " + failure.detail.encode() + b"\n"
        self._local_reply(flag, body, status)

    def _retry(self, stale: bool = False) -> bool:
        """Retries only requests whose whole body we still hold (none, here): connect failures
        and resets as the retry policy allows, plus one retry after a stale pooled connection."""
        if self.response_started or self.head.body_kind != BODY_NONE:
            return False
        if not stale and self.tries > self._max_retries():
            return False
        cluster = self.cluster
        if not cluster.can_retry():
            return False
        cluster.stats.upstream_rq_retry += 1
        self.client = None
        self._try_upstream()
        return True

    def _max_retries(self) -> int:
        policy = self.route.retry_policy
        if policy is None or not policy.retry_on:
            return 0
        return policy.num_retries

    def _start_timer(self) -> None:
        grpc = self.grpc
        if grpc is not None and grpc.deadline_running:
            self._start_route_timer_under_grpc(grpc)
        elif not self.timer and not self.tunnel:
            timeout = self.route.timeout
            if timeout is None:
                timeout = self.settings.default_timeout
            if timeout:
                self.timer = deadlines_for(self.server.connection.loop).add(timeout, self)

    def _start_grpc_deadline(self, grpc) -> None:
        """grpc-timeout counts from the request headers: a client-streaming call's deadline
        runs while its request is still being sent, unlike the route timeout."""
        loop = self.server.connection.loop
        grpc.deadline = loop.time() + grpc.timeout
        grpc.deadline_running = True
        self.timer = deadlines_for(loop).add(grpc.timeout, self)

    def _start_route_timer_under_grpc(self, grpc) -> None:
        """The request has ended while grpc-timeout runs: the route timeout replaces it only
        if it would expire first."""
        if grpc.route_timer_set or self.tunnel:
            return
        grpc.route_timer_set = True
        timeout = self.route.timeout
        if timeout is None:
            timeout = self.settings.default_timeout
        loop = self.server.connection.loop
        if not timeout or loop.time() + timeout >= grpc.deadline:
            return
        deadlines = deadlines_for(loop)
        deadlines.cancel(self.timer, self)
        grpc.deadline_running = False
        self.timer = deadlines.add(timeout, self)

    def on_deadline(self) -> None:
        self.timer = 0
        if self.done or self.tunnel:
            return
        grpc = self.grpc
        if grpc is not None and grpc.deadline_running:
            grpc.deadline_running = False
            self.settings.stats.downstream_rq_max_duration_reached += 1
            self._release_host(error=True)
            self._abandon_upstream()
            self._local_reply(flags.DURATION_TIMEOUT)
            return
        self.cluster.stats.upstream_rq_timeout += 1
        if self.host_active:
            self.host.stats.rq_timeout += 1
        self._release_host(error=True)
        self._abandon_upstream()
        self._local_reply(flags.UPSTREAM_REQUEST_TIMEOUT)

    def _abandon_upstream(self) -> None:
        client = self.client
        if client is not None:
            self.client = None
            client.reset()
        elif self.host is not None and self.cluster is not None:
            self.cluster.pool_for(self.host, self.settings.upstream_protocol).cancel(self)

    # --- upstream response -------------------------------------------------------------------

    def on_response_head(self, head: ResponseHead, end_stream: bool) -> None:
        if self.done:
            return
        info = self.info
        info.first_upstream_byte_monotonic = self.server.connection.loop.time()
        status = head.status
        if status >= 500 and self._retry_on_status(status):
            return
        if status == 101 and not self.head.upgrade:
            self._upstream_protocol_error("101 Switching Protocols to a request that asked for no upgrade")
            return
        info.response_code = status
        info.response_headers = HeaderView(head.headers, head.lower_names)
        self.response_started = True
        grpc = self.grpc
        if grpc is not None and status >= 200 and (end_stream or status != 200):
            # a trailers-only head carries the status; a 200 with a body leaves it to trailers
            found = status_in(head.headers)
            grpc.status = http_to_grpc_status(status) if found is None else found
        headers = filter_response_headers(head, self.plan)
        if status == 101:
            self.tunnel = True  # tunnels have no request deadline
            for lname, header in zip(head.lower_names, head.headers):
                if lname == b"upgrade" or lname == b"connection":
                    headers.append(header)
        filters = self.filters
        if filters is not None:
            self.response_head = head
            if end_stream:
                self.client = None  # the upstream stream is done (and may serve another request)
            filters.encode_headers(status, HeaderMap.of(headers), end_stream)
            return
        if status == 101:
            self.server.send_headers(101, headers, BODY_NONE, False, head.reason)
            return
        if self.head.upgrade:
            self.server.close_after_response()  # the client expected a tunnel; its bytes are not HTTP
        self.server.send_headers(status, headers, head.body_kind, end_stream, head.reason)
        if end_stream:
            self._finish()

    def _upstream_protocol_error(self, detail: str) -> None:
        self.info.upstream_transport_failure_reason = detail
        self._release_host(error=True)
        self._abandon_upstream()
        self._local_reply(flags.UPSTREAM_PROTOCOL_ERROR)

    def _retry_on_status(self, status: int) -> bool:
        policy = self.route.retry_policy
        if policy is None or not policy.retry_on:
            return False
        codes = policy.status_codes
        if codes and status not in codes:
            return False
        client = self.client
        if self.tries > policy.num_retries or self.head.body_kind != BODY_NONE or not self.cluster.can_retry():
            return False
        self.client = None
        if client is not None:
            client.reset()
        self._release_host(error=True)
        self.cluster.stats.upstream_rq_retry += 1
        self._try_upstream()
        return True

    def on_response_data(self, data: bytes, end_stream: bool) -> None:
        if self.done:
            return
        filters = self.filters
        if filters is not None:
            if end_stream:
                self.client = None
            filters.encode_data(data, end_stream)
            return
        self.info.bytes_sent += len(data)
        self.server.send_data(data, end_stream)
        if end_stream:
            self._finish()

    def on_response_raw(self, data: bytes) -> None:
        if not self.done:
            self.server.send_raw(data)

    def on_response_trailers(self, trailers: list) -> None:
        if self.done:
            return
        grpc = self.grpc
        if grpc is not None and grpc.status is None:
            grpc.status = status_in(trailers)
            if grpc.status is None:
                grpc.status = 2  # UNKNOWN: what a gRPC client reports for trailers without one
        filters = self.filters
        if filters is not None:
            self.client = None
            filters.encode_trailers(HeaderMap.of(trailers))
            return
        self.server.send_trailers(trailers)
        self._finish()

    def on_upstream_reset(self, reset: StreamReset) -> None:
        if self.done:
            return
        client = self.client
        self.client = None
        if self.tunnel:
            self._finish()
            self.server.close()
            return
        self.info.upstream_transport_failure_reason = reset.detail
        self._release_host(error=True)
        if not self.response_started:
            # A pooled keep-alive connection the upstream closed just as we reused it is a
            # race, not an upstream failure: retry once on a fresh connection.
            stale = client is not None and client.reused and not self.stale_retry_used
            if stale:
                self.stale_retry_used = True
            if self._retry(stale):
                return
        if reset.kind is ResetKind.PROTOCOL_ERROR:
            self._local_reply(flags.UPSTREAM_PROTOCOL_ERROR)
        else:
            self._local_reply(flags.UPSTREAM_CONNECTION_TERMINATION)

    def _release_host(self, error: bool) -> None:
        if self.host_active:
            self.host_active = False
            hs = self.host.stats
            hs.rq_active -= 1
            if error:
                hs.rq_error += 1
            else:
                hs.rq_success += 1

    # watermark callbacks of the downstream connection: a slow client pauses the upstream
    def on_above_write_high_watermark(self) -> None:
        if self.client is not None:
            self.client.pause_reading()

    def on_below_write_low_watermark(self) -> None:
        if self.client is not None:
            self.client.resume_reading()

    # --- endings -----------------------------------------------------------------------------

    def _over_header_limit(self) -> None:
        """More header fields (or trailers) than max_request_headers_count. As Envoy: 431 on
        HTTP/1.1, after which the connection closes (its decoder has stopped reading), and a
        reset (INTERNAL_ERROR) on HTTP/2; either way never forwarded."""
        self.settings.stats.downstream_rq_header_too_large += 1
        self._abandon_upstream()
        if self.head.version == b"2":
            self.info.response_flags.append(flags.DOWNSTREAM_PROTOCOL_ERROR)
            self.server.reset()
            self._finish()
            return
        self.server.close_after_response()
        self._local_reply(flags.DOWNSTREAM_PROTOCOL_ERROR, b"too many header fields\n", 431)

    def _direct_reply(self, status: int, body: bytes, extra: list | None = None) -> None:
        # no response flag: Envoy logs "-" for direct responses and redirects
        if self.plan is None and self.route is not None:
            self.plan = self.snapshot.header_plans.get(id(self.route)) or HeaderPlan(self.route)
        filters = self.filters
        if filters is not None:
            added = list(extra or ())
            if self.plan is not None and self.plan.response_add:
                apply_adds(added, self.plan.response_add)
            filters.send_local_reply(DirectReply(status, body, None, DIRECT_RESPONSE, dict(added) or None))
            return
        headers = local_reply_headers(body) if body or status >= 200 else []
        if extra:
            headers += extra
        if self.plan is not None and self.plan.response_add:
            apply_adds(headers, self.plan.response_add)
        self._send_local(status, headers, body)

    def _local_reply(self, flag: str, body: bytes | None = None, status: int | None = None) -> None:
        default_status, default_body = REPLIES[flag]
        if status is None:
            status = default_status
        if body is None:
            body = default_body
        if self.response_started:
            self.info.response_flags.append(flag)
            self.server.reset()
            self._finish()
            return
        filters = self.filters
        if filters is not None:
            filters.send_local_reply(LocalReply(status, body, flag))
            return
        self.info.response_flags.append(flag)
        grpc = self.grpc
        if grpc is not None:
            message = body.decode("utf-8", "replace").strip() if body is not None else None
            http1 = self.head.version in (b"1.1", b"1.0")
            grpc.status, headers = grpc_reply_headers(flag, message, http1)
            self._send_local(200, headers, b"")
            return
        self._send_local(status, local_reply_headers(body), body)

    def _send_local(self, status: int, headers: list, body: bytes) -> None:
        if self.done:
            return
        self.info.response_code = status
        self.response_started = True
        if not self.request_complete:
            self.server.close_after_response()  # the rest of the request body will not be read
        self.info.bytes_sent += len(body)
        if body:
            self.server.send_headers(status, headers, BODY_LENGTH, False)
            self._finish_before_send()
            self.server.send_data(body, True)
        else:
            self._finish_before_send()
            self.server.send_headers(status, headers, BODY_NONE, True)

    def _finish_before_send(self) -> None:
        # Account the stream before the server may start the next pipelined request.
        self._finish()

    def _finish(self) -> None:
        if self.done:
            return
        self.done = True
        filters = self.filters
        if filters is not None:
            filters.destroy()
        if self.shadows is not None:
            original_ended(self.shadows)
        info = self.info
        loop = self.server.connection.loop
        info.end_monotonic = loop.time()
        info.bytes_received = self.request_bytes
        if self.timer:
            deadlines_for(loop).cancel(self.timer, self)
            self.timer = 0
        self.server.clear_watermark_listener(self)
        stats = self.settings.stats
        stats.downstream_rq_active -= 1
        code = info.response_code
        if code:
            stats.count_response(code)
        cluster = self.cluster
        host_code = code
        grpc = self.grpc
        if grpc is not None and grpc.status is not None:
            host_code = self._count_grpc(grpc, code)
        if cluster is not None and self.counted_active:
            cluster.active_requests -= 1
            cs = cluster.stats
            cs.upstream_rq_active -= 1
            if self.host_active and code and not info.response_flags:
                cs.count_response(code)
                cs.upstream_rq_time.record((info.end_monotonic - info.start_monotonic) * 1000.0)
            self._release_host(error=host_code >= 500 or bool(info.response_flags))
        for logger in self.settings.access_loggers:
            logger.log(info)

    def _count_grpc(self, grpc, code: int) -> int:
        """Counts the call by grpc-status; returns the HTTP status it stands for, so a host
        answering errors in 200 responses counts as failing (as Envoy's rq_error does)."""
        status = self.info.grpc_status = grpc.status
        self.settings.stats.grpc.count(status)
        if self.cluster is not None:
            self.cluster.stats.grpc.count(status, split_path(grpc.path) if self.host is not None else None)
        return grpc_to_http_status(status) if code == 200 else code


class _UpstreamWatermarks:
    """A slow upstream (request body upload) pauses reading from the downstream."""

    __slots__ = ("downstream",)

    def __init__(self, downstream) -> None:
        self.downstream = downstream

    def on_above_write_high_watermark(self) -> None:
        self.downstream.pause_reading()

    def on_below_write_low_watermark(self) -> None:
        self.downstream.resume_reading()


if TYPE_CHECKING:  # mypy checks that the class keeps both contracts

    def _receives_requests(stream: DownstreamStream) -> StreamReceiver:
        return stream

    def _receives_responses(stream: DownstreamStream) -> ResponseReceiver:
        return stream
