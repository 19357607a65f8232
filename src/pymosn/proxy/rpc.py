"""One X-Protocol (TCP RPC) request through the proxy: route on the frame's headers, pick a
host, send the frame on a pooled (usually multiplexed) upstream connection under an id of that
connection, and give the response back under the caller's own id.

    start -> route -> cluster/host -> pool -> send -> on_response | on_deadline | failure

Answers the proxy gives itself (no route, no host, overflow, timeout, upstream gone) are built
by the codec in the protocol's own terms. A caller that timed out has its id forgotten by the
upstream connection, so a late response is dropped there, never delivered to another caller.

A listener with stream filters serves its requests with `FilteredRpcRequest` (proxy/rpc_filters.py),
chosen once when the listener is built: a listener without any pays nothing for them."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from pymosn.api import flags
from pymosn.api.errors import ResetKind, StreamReset, UpstreamFailure
from pymosn.api.stream_info import StreamInfo
from pymosn.network.deadlines import deadlines_for
from pymosn.protocol.xprotocol.api import Frame, FrameKind, PoolMode, XCodec
from pymosn.proxy.filter_manager import FilterChainPlan, LocalReply
from pymosn.proxy.local_reply import FAILURE_REPLIES, REPLIES, VIA_UPSTREAM, render_rpc
from pymosn.proxy.snapshot import SnapshotRef
from pymosn.stream.xprotocol import KeepAlive, XClientConnection, XServerConnection
from pymosn.upstream.xpool import XPools


@dataclass(eq=False)
class RpcSettings:
    """Everything one listener's RPC proxy needs, fixed when the listener is built."""

    listener_name: str
    router_config_name: str
    snapshot_ref: SnapshotRef
    stats: Any  # metrics.ListenerStats
    protocol_stats: Any  # metrics.ProtocolStats of the codec
    codec: XCodec
    access_loggers: list = field(default_factory=list)
    default_timeout: float = 15.0  # when neither the route nor the request says
    keepalive: KeepAlive | None = field(default_factory=KeepAlive)
    # the listener's stream filters, prepared once per load; None = none (the fast path: plain
    # RpcRequest, no filter manager made per request)
    filter_plan: FilterChainPlan | None = None


def pools_of(cluster: Any, settings: RpcSettings) -> XPools:
    pools = cluster.xpools
    if pools is None:
        pools = cluster.xpools = XPools(cluster, settings.keepalive)
    return pools


class RpcRequest:
    __slots__ = (
        "server",
        "frame",
        "settings",
        "snapshot",
        "info",
        "caller_id",
        "route",
        "cluster",
        "host",
        "pool",
        "client",
        "upstream_id",
        "timer",
        "tries",
        "done",
        "counted",
    )

    def __init__(self, server: XServerConnection, frame: Frame, settings: RpcSettings) -> None:
        self.server = server
        self.frame = frame
        self.settings = settings
        self.snapshot = settings.snapshot_ref.current
        self.caller_id = frame.request_id
        self.route: Any = None
        self.cluster: Any = None
        self.host: Any = None
        self.pool: Any = None
        self.client: XClientConnection | None = None
        self.upstream_id = 0
        self.timer = 0
        self.tries = 0
        self.done = False
        self.counted = False

    def start(self) -> None:
        headers = self._begin()
        if self._select_cluster(self._match_route(headers), headers):
            self._send()

    def _begin(self) -> dict[str, str]:
        """Opens the request's stream info and counts it; returns the headers routing reads."""
        frame, settings, server = self.frame, self.settings, self.server
        conn = server.conn
        info = self.info = StreamInfo(settings.listener_name, conn.id)
        info.start_time = time.time()
        info.start_monotonic = conn.loop.time()
        info.protocol = settings.codec.name
        headers = {k.lower(): v for k, v in frame.headers.items()}
        if frame.class_name:  # Bolt's request class: routable like a header
            headers.setdefault("class_name", frame.class_name)
        info.request_headers = headers
        info.method = headers.get("method") or headers.get("sofa_head_method_name") or ""
        info.path = info.authority = headers.get("service") or frame.class_name
        info.request_id = str(frame.request_id)
        info.bytes_received = len(frame.raw)
        info.downstream_remote_address = conn.remote_address
        info.downstream_local_address = conn.local_address
        info.downstream_peer_uri_san = conn.peer_uri_san
        stats, pstats = settings.stats, settings.protocol_stats
        stats.downstream_rq_total += 1
        stats.downstream_rq_active += 1
        pstats.downstream_rq_total += 1
        pstats.downstream_rq_active += 1
        if frame.kind == FrameKind.ONEWAY:
            pstats.downstream_rq_oneway += 1
        return headers

    def _match_route(self, headers: dict[str, str]) -> Any:
        table = self.snapshot.routers.get(self.settings.router_config_name)
        if table is None:
            return None
        authority = headers.get("service") or self.frame.class_name
        return table.match(authority, "", "", headers, self.server.conn.peer_uri_san)

    def _select_cluster(self, route: Any, headers: dict[str, str]) -> bool:
        """The route's cluster, with the request counted in it; False: answered locally."""
        if route is None or route.kind != "cluster":
            self._local_reply(flags.NO_ROUTE, "no route for this request")
            return False
        self.route = route
        info = self.info
        info.route_name = route.name or None
        cluster_name = route.pick_cluster(headers)
        cluster = self.snapshot.clusters.get(cluster_name) if cluster_name else None
        if cluster is None:
            self._local_reply(flags.NO_HEALTHY_UPSTREAM, f"cluster {cluster_name!r} not found")
            return False
        self.cluster = cluster
        info.upstream_cluster = cluster.name
        if not cluster.can_start_request():
            cluster.stats.upstream_rq_pending_overflow += 1
            self._local_reply(flags.UPSTREAM_OVERFLOW, "too many requests in flight")
            return False
        self.counted = True
        cluster.active_requests += 1
        cluster.stats.upstream_rq_active += 1
        return True

    def _send(self) -> None:
        """Starts the deadline and the first try upstream."""
        frame = self.frame
        timeout = self.route.timeout
        if timeout is None:
            timeout = frame.timeout_ms / 1000.0 if frame.timeout_ms > 0 else self.settings.default_timeout
        if timeout and frame.kind == FrameKind.REQUEST:
            self.timer = deadlines_for(self.server.conn.loop).add(timeout, self)
        self._try_upstream()
        if not self.done:
            self.server.requests.add(self)  # to be told if the caller goes away first

    # --- upstream ------------------------------------------------------------------------------

    def _try_upstream(self) -> None:
        self.tries += 1
        host = self.cluster.choose_host(self.server.conn, self.info.request_headers)
        if host is None:
            self._local_reply(flags.NO_HEALTHY_UPSTREAM, "no healthy upstream")
            return
        self._acquire(host)

    def _acquire(self, host: Any) -> None:
        self.host = host
        cluster = self.cluster
        self.info.upstream_host = host.address
        settings = self.settings
        pstats = settings.protocol_stats

        def late() -> None:
            pstats.upstream_late_response_dropped += 1

        self.pool = pool = pools_of(cluster, settings).get(host, settings.codec, late)
        client = pool.acquire(self, self.server.conn)
        if client is not None:
            self.on_pool_ready(client)

    def on_pool_ready(self, client: XClientConnection) -> None:
        if self.done:
            self.pool.release(client)
            return
        self.client = client
        cluster, host = self.cluster, self.host
        cluster.stats.upstream_rq_total += 1
        host.stats.rq_total += 1
        info = self.info
        info.upstream_local_address = client.conn.local_address
        info.upstream_connection_id = client.conn.id
        self.upstream_id = client.send(self.frame, self)
        if self.frame.kind == FrameKind.ONEWAY:
            self.pool.release(client)
            self._finish(0, success=True)

    def on_pool_failure(self, failure: UpstreamFailure) -> None:
        if self.done:
            return
        self.info.upstream_transport_failure_reason = failure.detail
        if failure.retryable and self._may_retry():
            self.cluster.stats.upstream_rq_retry += 1
            self._try_upstream()
            return
        self._local_reply(FAILURE_REPLIES[failure.kind][0], failure.detail)

    def _may_retry(self) -> bool:
        policy = self.route.retry_policy
        limit = policy.num_retries if policy is not None and policy.retry_on else 0
        return self.tries <= limit and self.cluster.can_retry()

    def on_response(self, response: Frame) -> None:
        """The upstream answered (on the id we gave the request)."""
        if self.done:
            return
        self.pool.release(self.client)
        codec = self.settings.codec
        codec.set_request_id(response, self.caller_id)
        info = self.info
        info.response_code = codec.http_status(response)
        info.response_code_details = VIA_UPSTREAM  # as HTTP's: the upstream answered
        self._respond(response)

    def _respond(self, response: Frame) -> None:
        """Gives the caller the upstream's answer (its id already the caller's)."""
        self.info.bytes_sent = len(response.raw)
        self.settings.protocol_stats.count_status(response.status)
        self.server.send_response(response.raw)
        self._finish(response.status, success=self.settings.codec.response_ok(response))

    def on_upstream_failure(self, reset: StreamReset) -> None:
        """The upstream connection failed or closed with our request in flight."""
        if self.done:
            return
        self.info.upstream_transport_failure_reason = reset.detail
        if reset.kind is ResetKind.PROTOCOL_ERROR:
            self._local_reply(flags.UPSTREAM_PROTOCOL_ERROR, reset.detail)
        else:
            self._local_reply(flags.UPSTREAM_CONNECTION_TERMINATION, reset.detail)

    def on_reset(self, reset: StreamReset) -> None:
        """The caller's connection closed (or broke the protocol) with this request in
        flight: nobody is left to answer, so the upstream request is given up."""
        if self.done:
            return
        self._abandon_upstream()
        protocol_error = reset.kind is ResetKind.PROTOCOL_ERROR
        self.info.response_flags.append(
            flags.DOWNSTREAM_PROTOCOL_ERROR if protocol_error else flags.DOWNSTREAM_CONNECTION_TERMINATION
        )
        if not protocol_error:
            self.settings.stats.downstream_rq_rx_reset += 1
        self._finish(-1, success=False)

    def _abandon_upstream(self) -> None:
        client = self.client
        if client is not None:
            client.cancel(self.upstream_id)  # a late answer is dropped, never misdelivered
            if self.pool.mode == PoolMode.PINGPONG:
                client.close()  # its next answer would be this request's
        elif self.pool is not None:
            self.pool.cancel(self)

    def on_deadline(self) -> None:
        self.timer = 0
        if self.done:
            return
        self.cluster.stats.upstream_rq_timeout += 1
        self.settings.protocol_stats.downstream_rq_timeout += 1
        if self.host is not None:
            self.host.stats.rq_timeout += 1
        self._abandon_upstream()
        self._local_reply(flags.UPSTREAM_REQUEST_TIMEOUT, "request timed out")

    # --- endings -------------------------------------------------------------------------------

    def _local_reply(self, flag: str, message: str) -> None:
        """The proxy answers itself (no route, no host, overflow, timeout, upstream failure)."""
        if self.done:
            return
        reply = LocalReply(REPLIES[flag][0], message.encode(), flag)
        self._record_local(reply)
        self._send_local(reply)

    def _record_local(self, reply: LocalReply) -> None:
        info = self.info
        if reply.flag is not None:
            info.response_flags.append(reply.flag)
        if reply.details:
            info.response_code_details = reply.details
        info.response_code = reply.status
        self.settings.protocol_stats.downstream_rq_local_reply += 1

    def _send_local(self, reply: LocalReply) -> None:
        """Answers the caller in the codec's own terms (one-way callers get nothing) and ends."""
        frame = self.frame
        if frame.kind == FrameKind.REQUEST:
            codec = self.settings.codec
            if frame.request_id != self.caller_id:  # it went upstream under another id
                codec.set_request_id(frame, self.caller_id)
            answer = render_rpc(reply, codec, frame)
            self.info.bytes_sent = len(answer)
            self.server.send_response(answer)
        self._finish(-1, success=False)

    def _finish(self, status: int, success: bool) -> None:
        self.done = True
        self.server.requests.discard(self)
        settings = self.settings
        info = self.info
        loop = self.server.conn.loop
        info.end_monotonic = loop.time()
        if self.timer:
            deadlines_for(loop).cancel(self.timer, self)
            self.timer = 0
        stats, pstats = settings.stats, settings.protocol_stats
        stats.downstream_rq_active -= 1
        pstats.downstream_rq_active -= 1
        if info.response_code:
            stats.count_response(info.response_code)
        elapsed_ms = (info.end_monotonic - info.start_monotonic) * 1000.0
        if success:
            pstats.downstream_rq_success += 1
        else:
            pstats.downstream_rq_error += 1
        pstats.downstream_rq_time.record(elapsed_ms)
        cluster = self.cluster
        if cluster is not None and self.counted:
            cluster.active_requests -= 1
            cs = cluster.stats
            cs.upstream_rq_active -= 1
            if self.client is not None and not info.response_flags:
                cs.count_response(info.response_code or 200)
                cs.upstream_rq_time.record(elapsed_ms)
                host_stats = self.host.stats
                if success:
                    host_stats.rq_success += 1
                else:
                    host_stats.rq_error += 1
        for logger in settings.access_loggers:
            logger.log(info)


def request_type_for(settings: RpcSettings) -> type[RpcRequest]:
    """What serves a listener's requests: chosen once, so a listener without stream filters
    never tests for them per request."""
    if settings.filter_plan is None:
        return RpcRequest
    from pymosn.proxy.rpc_filters import FilteredRpcRequest  # it builds on this module

    return FilteredRpcRequest


def rpc_filter_factory(settings: RpcSettings):
    """Returns the per-connection builder of the RPC proxy read filter."""
    pstats = settings.protocol_stats
    request_type = request_type_for(settings)

    def on_request(server: XServerConnection, frame: Frame) -> None:
        request_type(server, frame, settings).start()

    def on_protocol_error(error) -> None:
        pstats.protocol_error += 1
        settings.stats.downstream_rq_protocol_error += 1

    def on_heartbeat() -> None:
        pstats.downstream_heartbeat += 1

    def build(conn) -> XServerConnection:
        return XServerConnection(
            conn, settings.codec, on_request, on_protocol_error=on_protocol_error, on_heartbeat=on_heartbeat
        )

    return build
