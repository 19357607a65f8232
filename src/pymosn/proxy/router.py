"""The router of one request (Envoy's router filter): from its route to the upstream response.

Given the matched route, it answers direct responses and redirects, picks the cluster (room
checked against its circuit breakers) and a host, builds the upstream request head once, and
starts one `UpstreamRequest` per try; request body and trailers that arrive before a try's
stream is ready are held here (pausing the downstream past a bound) and replayed. It owns the
timeouts (the route's, from the end of the request; a gRPC call's grpc-timeout, from the
arrival of its headers) and the retries (connect failures, resets and 5xx as the route's retry policy allows,
plus one retry of a stale pooled connection), each a new try. The response head comes back
here for those decisions before it goes to the active stream; what it cannot answer it hands
the active stream as a local reply with a response flag."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from pymosn.api import flags
from pymosn.api.errors import ResetKind, StreamReset, UpstreamFailure
from pymosn.network.deadlines import Deadlines, deadlines_for
from pymosn.protocol.http1 import BODY_NONE, ResponseHead
from pymosn.protocol.http1.header_view import HeaderView
from pymosn.proxy.grpc import GrpcCall, http_to_grpc_status, status_in
from pymosn.proxy.header_plan import HeaderPlan, filter_response_headers, upstream_request_headers
from pymosn.proxy.local_reply import CLUSTER_NOT_FOUND, FAILURE_REPLIES, REPLIES, VIA_UPSTREAM
from pymosn.proxy.mirror import forward_data, forward_trailers, original_ended, start_shadows
from pymosn.proxy.pauses import HELD_FOR_UPSTREAM
from pymosn.proxy.upstream_request import UpstreamRequest

if TYPE_CHECKING:
    from pymosn.proxy.active_stream import ActiveStream
    from pymosn.router.entry import RouteEntry
    from pymosn.upstream.cluster import Cluster
    from pymosn.upstream.host import Host

_BODY_BUFFER_LIMIT = 1024 * 1024  # request bytes held while waiting for an upstream connection


class Router:
    __slots__ = (
        "stream",
        "settings",
        "route",
        "cluster",
        "plan",
        "method",
        "target",
        "upstream_headers",
        "upstream",
        "request_complete",
        "pending",
        "pending_bytes",
        "response_started",
        "timer",
        "deadlines",
        "tries",
        "tunnel",
        "counted_active",
        "stale_retry_used",
        "shadows",
        "upstream_pauses",
    )
    # set with the cluster (select_cluster) and the upstream head (forward)
    cluster: Cluster
    plan: HeaderPlan
    method: bytes
    target: bytes
    upstream_headers: list
    deadlines: Deadlines  # the loop's deadline wheel, set with the first timer

    def __init__(self, stream: ActiveStream, route: RouteEntry | None, request_complete: bool) -> None:
        self.stream = stream
        self.settings = stream.settings
        self.route = route  # None until a filtered stream's route is known
        self.upstream: UpstreamRequest | None = None  # the current try
        self.request_complete = request_complete  # the router has the whole request
        self.pending: list | None = None  # request events waiting for the upstream stream
        self.pending_bytes = 0
        self.response_started = False  # the upstream response began: no retry after that
        self.timer = 0  # the deadline wheel key while a deadline is registered
        self.tries = 0
        self.tunnel = False
        self.counted_active = False  # the cluster counts this request in upstream_rq_active
        self.stale_retry_used = False
        self.shadows: list | None = None  # mirror copies still taking the request (proxy/mirror.py)
        self.upstream_pauses = 0  # the causes (proxy/pauses.py) holding the response's reading

    def route_entry(self) -> RouteEntry:
        """The route, once it is known (a filtered stream learns it after its decoder filters)."""
        route = self.route
        assert route is not None  # set before anything routes
        return route

    # --- route to cluster -------------------------------------------------------------------

    def select_cluster(self, headers: Mapping[str, str]) -> bool:
        """The route's cluster, checked for room; False when the request was answered instead
        (a direct response or redirect, no such cluster, a full breaker)."""
        route = self.route_entry()
        stream = self.stream
        info = stream.info
        info.route_name = route.name or None
        kind = route.kind
        if kind == "direct_response":
            stream.direct_reply(route.direct_status, route.direct_body, None, self._plan())
            return False
        if kind == "redirect":
            location = route.redirect_location(self.settings.scheme.decode(), info.authority, info.path)
            stream.direct_reply(route.redirect_code, b"", [(b"location", location.encode("latin-1"))], self._plan())
            return False
        cluster_name = route.cluster_name or route.pick_cluster(headers)  # a fixed cluster: no call
        cluster = stream.snapshot.clusters.get(cluster_name) if cluster_name else None
        if cluster is None:
            stream.local_reply(flags.NO_HEALTHY_UPSTREAM, b"cluster not found\n", None, CLUSTER_NOT_FOUND)
            return False
        self.cluster = cluster
        info.upstream_cluster = cluster.name
        if not cluster.can_start_request():
            cluster.stats.upstream_rq_pending_overflow += 1
            stream.local_reply(flags.UPSTREAM_OVERFLOW)
            return False
        return True

    def _plan(self) -> HeaderPlan:
        plans = self.stream.snapshot.header_plans
        route = self.route_entry()
        plan = plans.get(id(route))
        if plan is None:
            plan = plans[id(route)] = HeaderPlan(route)
        return plan

    def choose_host(self) -> Host | None:
        """A host of the cluster for the first try, before AFTER_CHOOSE_HOST filters run; None
        after answering that there is none. (try_upstream picks the others' itself.)"""
        stream = self.stream
        host = self.cluster.choose_host(stream.connection, stream.info.request_headers)
        if host is None:
            stream.local_reply(flags.NO_HEALTHY_UPSTREAM)
            return None
        stream.info.upstream_host = host.address
        return host

    def forward(self, host: Host | None = None) -> None:
        """Prepare the upstream request and start its first try (on `host` when the
        AFTER_CHOOSE_HOST filters' phase picked it already)."""
        stream = self.stream
        route = self.route_entry()
        head = stream.head
        plans = stream.snapshot.header_plans
        plan = plans.get(id(route))
        if plan is None:
            plan = plans[id(route)] = HeaderPlan(route)
        self.plan = plan
        self.method = head.method
        if route.prefix_rewrite is None:
            self.target = head.target
        else:
            target = stream.info.path
            path = target.partition("?")[0]
            new_path = route.rewrite_path(path)
            self.target = head.target if new_path == path else (new_path + target[len(path):]).encode("latin-1")
        self.upstream_headers = upstream_request_headers(head, plan, stream.connection, self.settings, stream.info)
        grpc = stream.grpc
        if grpc is not None and grpc.timeout is not None and not grpc.deadline:
            self.start_grpc_deadline(grpc)
        if head.expect_continue:
            stream.server.send_continue()
        self.try_upstream(host)
        if route.mirror_policies and self.settings.mirror_copies and not stream.done and not head.upgrade:
            self.shadows = start_shadows(route, self.settings, stream.snapshot.clusters, stream.connection,
                                         stream.info.request_headers or {}, self.method, self.target,
                                         self.upstream_headers, head.body_kind, self.request_complete)

    # --- the request body ---------------------------------------------------------------------

    def on_request_data(self, data: bytes, end_stream: bool) -> None:
        if self.shadows is not None:
            forward_data(self.shadows, data, end_stream)
        upstream = self.upstream
        if upstream is not None and upstream.client is not None:
            upstream.client.send_data(data, end_stream)
        else:
            self._hold(("data", data, end_stream), len(data))
        if end_stream:
            self.request_complete = True
            self.start_timer()  # the route timeout runs from the end of the request (Envoy)

    def on_request_trailers(self, trailers: list) -> None:
        if self.shadows is not None:
            forward_trailers(self.shadows, trailers)
        upstream = self.upstream
        if upstream is not None and upstream.client is not None:
            upstream.client.send_trailers(trailers)
        else:
            self._hold(("trailers", trailers, True), 0)
        self.request_complete = True
        self.start_timer()

    def on_upgrade_data(self, data: bytes) -> None:
        upstream = self.upstream
        if upstream is not None and upstream.client is not None and self.tunnel:
            upstream.client.send_raw(data)
        else:
            self._hold(("raw", data, False), len(data))

    def _hold(self, event: tuple, size: int) -> None:
        if self.pending is None:
            self.pending = []
        self.pending.append(event)
        self.pending_bytes += size
        if self.pending_bytes > _BODY_BUFFER_LIMIT:
            self.stream.pause_downstream(HELD_FOR_UPSTREAM)

    # --- tries --------------------------------------------------------------------------------

    def try_upstream(self, host: Host | None = None) -> None:
        self.tries += 1
        if host is None:
            stream = self.stream
            host = self.cluster.choose_host(stream.connection, stream.info.request_headers)
            if host is None:
                stream.local_reply(flags.NO_HEALTHY_UPSTREAM)
                return
            stream.info.upstream_host = host.address
        cluster = self.cluster
        if not self.counted_active:
            self.counted_active = True
            cluster.active_requests += 1
            cluster.stats.upstream_rq_active += 1
        if self.request_complete:
            # Waiting for a pooled connection or an HTTP/2 stream counts against the route
            # timeout (as in Envoy): a full HTTP/2 pool has no connect timeout to end the wait.
            self.start_timer()
        upstream = self.upstream = UpstreamRequest(self, host)
        pool = upstream.pool = cluster.pool_for(host, self.settings.upstream_protocol)
        client = pool.acquire(upstream)
        if client is not None:
            upstream.on_pool_ready(client)

    def on_pool_failure(self, failure: UpstreamFailure) -> None:
        self.stream.info.upstream_transport_failure_reason = failure.detail
        if failure.retryable and self._retry():
            return
        flag, status = FAILURE_REPLIES[failure.kind]
        body = REPLIES[flag][1].rstrip(b"\n") + b": " + failure.detail.encode() + b"\n"
        self.stream.local_reply(flag, body, status)

    def _retry(self, stale: bool = False) -> bool:
        """Retries only requests whose whole body we still hold (none, here): connect failures
        and resets as the retry policy allows, plus one retry after a stale pooled connection."""
        if self.response_started or self.stream.head.body_kind != BODY_NONE:
            return False
        if not stale and self.tries > self._max_retries():
            return False
        cluster = self.cluster
        if not cluster.can_retry():
            return False
        cluster.stats.upstream_rq_retry += 1
        self.try_upstream()
        return True

    def _max_retries(self) -> int:
        policy = self.route_entry().retry_policy
        if policy is None or not policy.retry_on:
            return 0
        return policy.num_retries

    def _retry_on_status(self, upstream: UpstreamRequest, status: int) -> bool:
        policy = self.route_entry().retry_policy
        if policy is None or not policy.retry_on:
            return False
        codes = policy.status_codes
        if codes and status not in codes:
            return False
        if (self.tries > policy.num_retries or self.stream.head.body_kind != BODY_NONE
                or not self.cluster.can_retry()):
            return False
        upstream.abandon()
        upstream.release_host(error=True)
        self.cluster.stats.upstream_rq_retry += 1
        self.try_upstream()
        return True

    def abandon(self) -> None:
        """The request was answered or the downstream went away: the current try ends."""
        upstream = self.upstream
        if upstream is not None:
            upstream.abandon()

    # --- timeouts -----------------------------------------------------------------------------

    def start_timer(self) -> None:
        grpc = self.stream.grpc
        if grpc is not None and grpc.deadline_running:
            self._start_route_timer_under_grpc(grpc)
        elif not self.timer and not self.tunnel:
            timeout = self.route_entry().timeout
            if timeout is None:
                timeout = self.settings.default_timeout
            if timeout:
                deadlines = self.deadlines = deadlines_for(self.stream.connection.loop)
                self.timer = deadlines.add(timeout, self)

    def start_grpc_deadline(self, grpc: GrpcCall) -> None:
        """grpc-timeout counts from the request headers' arrival, as Envoy's max_stream_duration
        (grpc_timeout_header_max) counts from the stream's start: a client-streaming call's
        deadline runs while its request is still being sent, and so does it while stream
        filters hold the request (a fault delay), unlike the route timeout. A listener with
        filters starts it before they run (FilteredStream.on_headers), one without, here."""
        loop = self.stream.connection.loop
        timeout = grpc.timeout
        assert timeout is not None  # the callers start it for a call with a grpc-timeout
        grpc.deadline = self.stream.info.start_monotonic + timeout
        grpc.deadline_running = True
        deadlines = self.deadlines = deadlines_for(loop)
        self.timer = deadlines.add(max(grpc.deadline - loop.time(), 0.0), self)

    def _start_route_timer_under_grpc(self, grpc: GrpcCall) -> None:
        """The request has ended while grpc-timeout runs: the route timeout replaces it only
        if it would expire first."""
        if grpc.route_timer_set or self.tunnel:
            return
        grpc.route_timer_set = True
        timeout = self.route_entry().timeout
        if timeout is None:
            timeout = self.settings.default_timeout
        loop = self.stream.connection.loop
        if not timeout or loop.time() + timeout >= grpc.deadline:
            return
        deadlines = self.deadlines
        deadlines.cancel(self.timer, self)
        grpc.deadline_running = False
        self.timer = deadlines.add(timeout, self)

    def on_deadline(self) -> None:
        self.timer = 0
        stream = self.stream
        if stream.done or self.tunnel:
            return
        upstream = self.upstream
        grpc = stream.grpc
        if grpc is not None and grpc.deadline_running:
            grpc.deadline_running = False
            self.settings.stats.downstream_rq_max_duration_reached += 1
            self._fail_try(upstream)
            stream.local_reply(flags.DURATION_TIMEOUT)
            return
        self.cluster.stats.upstream_rq_timeout += 1
        if upstream is not None and upstream.host_active:
            upstream.host.stats.rq_timeout += 1
        self._fail_try(upstream)
        stream.local_reply(flags.UPSTREAM_REQUEST_TIMEOUT)

    @staticmethod
    def _fail_try(upstream: UpstreamRequest | None) -> None:
        if upstream is not None:
            upstream.release_host(error=True)
            upstream.abandon()

    # --- the response -------------------------------------------------------------------------

    def on_upstream_head(self, upstream: UpstreamRequest, head: ResponseHead, end_stream: bool) -> None:
        stream = self.stream
        info = stream.info
        info.first_upstream_byte_monotonic = stream.connection.loop.time()
        status = head.status
        if status >= 500 and self._retry_on_status(upstream, status):
            return
        if status == 101 and not stream.head.upgrade:
            info.upstream_transport_failure_reason = "101 Switching Protocols to a request that asked for no upgrade"
            self._fail_try(upstream)
            stream.local_reply(flags.UPSTREAM_PROTOCOL_ERROR)
            return
        info.response_code = status
        info.response_code_details = VIA_UPSTREAM
        info.response_headers = HeaderView(head.headers, head.lower_names)
        self.response_started = True
        grpc = stream.grpc
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
        stream.encode_headers(head, headers, end_stream)

    def on_upstream_trailers(self, trailers: list) -> None:
        stream = self.stream
        grpc = stream.grpc
        if grpc is not None and grpc.status is None:
            grpc.status = status_in(trailers)
            if grpc.status is None:
                grpc.status = 2  # UNKNOWN: what a gRPC client reports for trailers without one
        stream.encode_trailers(trailers)

    def on_upstream_reset(self, upstream: UpstreamRequest, reset: StreamReset) -> None:
        stream = self.stream
        if self.tunnel:
            stream.tunnel_closed()
            return
        stream.info.upstream_transport_failure_reason = reset.detail
        upstream.release_host(error=True)
        if not self.response_started:
            # A pooled keep-alive connection the upstream closed just as we reused it is a
            # race, not an upstream failure: retry once on a fresh connection.
            client = upstream.client
            stale = client is not None and client.reused and not self.stale_retry_used
            if stale:
                self.stale_retry_used = True
            if self._retry(stale):
                return
        if reset.kind is ResetKind.PROTOCOL_ERROR:
            stream.local_reply(flags.UPSTREAM_PROTOCOL_ERROR)
        else:
            stream.local_reply(flags.UPSTREAM_CONNECTION_TERMINATION)

    def pause_upstream(self, cause: int) -> None:
        """Stop reading the response for `cause` (proxy/pauses.py) until it resumes."""
        paused = self.upstream_pauses
        self.upstream_pauses = paused | cause
        upstream = self.upstream
        if not paused and upstream is not None:
            upstream.pause_reading()

    def resume_upstream(self, cause: int) -> None:
        paused = self.upstream_pauses
        if paused & cause:
            paused = self.upstream_pauses = paused & ~cause
            upstream = self.upstream
            if not paused and upstream is not None:
                upstream.resume_reading()

    # --- the end ------------------------------------------------------------------------------

    def on_stream_end(self, code: int, host_code: int, failed: bool) -> None:
        """The active stream ended (`failed`: with a response flag): the timer, the cluster's and
        the host's counters."""
        stream = self.stream
        if self.timer:
            self.deadlines.cancel(self.timer, self)
            self.timer = 0
        if self.shadows is not None:
            original_ended(self.shadows)
        upstream = self.upstream
        if upstream is not None:
            self.upstream = None  # the try points back at the router: no cycle left to collect
            if upstream.live:
                if upstream.client is None:
                    upstream.abandon()  # still waiting for the pool
                else:
                    upstream.live = False  # a response the downstream no longer takes runs out unheard
        if not self.counted_active:
            return
        cluster = self.cluster
        cluster.active_requests -= 1
        stats = cluster.stats
        stats.upstream_rq_active -= 1
        if upstream is None:
            return
        if upstream.host_active and code and not failed:
            stats.count_response(code)
            info = stream.info
            stats.upstream_rq_time.record((info.end_monotonic - info.start_monotonic) * 1000.0)
        upstream.release_host(host_code >= 500 or failed)
