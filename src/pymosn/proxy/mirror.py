"""Request mirroring (Envoy's request_mirror_policies, MOSN's `mirror` stream filter): a copy
of a sampled share of a route's requests, body and trailers included, sent fire-and-forget to
another cluster over that cluster's own pooled connections.

A copy never touches its original: it gets the request as the original is forwarded (headers
as sent upstream, the Host with the policy's suffix, Envoy's "-shadow"), its response is read
and dropped, and nothing it does (slowness, errors, resets, a mirror that is down) reaches the
original's response, its latency or its reading. A copy that cannot keep up is dropped, never
buffered without bound nor allowed to slow the original: over the cluster's circuit breakers,
without a healthy host, without a connection, or with more than BUFFER_LIMIT bytes of body
waiting for its connection or behind its connection's full write buffer. It has its own
deadline, the route timeout (Envoy's default 15 s when the route disables it, so no copy can
outlive its welcome), and ends exactly once: the mirror cluster's and host's rq_active fall
back. A copy whose original ends before its request did (a client reset, a local reply) is
dropped there, as Envoy cancels its streaming shadows; one whose request was whole runs on.

Counted on the mirror cluster like any request (upstream_rq_total, _active, _Nxx, _time,
_timeout, _pending_overflow), plus pymosn's `upstream_rq_shadow_dropped` and
`upstream_rq_shadow_failed` (sent, but no whole response: reset or timeout). A copy writes no
access-log line and counts in no listener stat: the original's line is the request's one."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pymosn.api.errors import StreamReset, UpstreamFailure
from pymosn.api.streams import ClientStream, Headers
from pymosn.network.deadlines import deadlines_for
from pymosn.proxy.settings import ProxySettings
from pymosn.router.entry import RouteEntry

FALLBACK_TIMEOUT = 15.0  # a copy's deadline on a route without one (Envoy's default route timeout)
# Request bytes a copy may queue, waiting for its connection or on top of its connection's full
# write buffer, before it is dropped: Envoy's per-request shadow buffer limit by default (the
# listener's 1 MiB connection buffer limit).
BUFFER_LIMIT = 1024 * 1024

_COMPLETE, _DROPPED, _FAILED = range(3)


def start_shadows(route: RouteEntry, settings: ProxySettings, clusters: Any, conn: Any, routed: Mapping[str, str],
                  method: bytes, target: bytes, headers: Headers, body_kind: int,
                  end_stream: bool) -> list[ShadowRequest] | None:
    """Copies of the request for each of the route's policies that samples it, as many each as
    the listener's mirror_copies (MOSN's amplification; 1 for Envoy). `headers` are the
    original's as forwarded, `routed` what routing read (a cluster_header policy's header).
    Returns the copies still waiting for request body or trailers, None if none is."""
    timeout = route.timeout if route.timeout is not None else settings.default_timeout
    waiting = None
    for policy in route.mirror_policies:
        if not policy.sampled():
            continue
        name = policy.cluster_for(routed)
        cluster = clusters.get(name) if name else None
        if cluster is None:
            continue  # as Envoy's shadow writer: a cluster that is gone gets no copy
        for _ in range(settings.mirror_copies):
            shadow = ShadowRequest(cluster, conn.loop, timeout or FALLBACK_TIMEOUT)
            shadow.start(conn, routed, settings.upstream_protocol, method, target,
                         _with_host_suffix(headers, policy.host_suffix), body_kind, end_stream)
            if not shadow.request_done and not shadow.ended:
                if waiting is None:
                    waiting = []
                waiting.append(shadow)
    return waiting


def forward_data(shadows: list[ShadowRequest], data: bytes, end_stream: bool) -> None:
    for shadow in shadows:
        shadow.send_data(data, end_stream)


def forward_trailers(shadows: list[ShadowRequest], trailers: Headers) -> None:
    for shadow in shadows:
        shadow.send_trailers(trailers)


def original_ended(shadows: list[ShadowRequest]) -> None:
    """The original stream is over: copies still waiting for its request are dropped."""
    for shadow in shadows:
        if not shadow.request_done:
            shadow.drop()


def _with_host_suffix(headers: Headers, suffix: bytes) -> Headers:
    if not suffix:
        return list(headers)
    return [(name, shadow_host(value, suffix)) if name.lower() == b"host" else (name, value) for name, value in headers]


def shadow_host(host: bytes, suffix: bytes) -> bytes:
    """`host` with `suffix` after its name, before any port ("a:80" -> "a-shadow:80"), as Envoy's
    shadow writer does; an IPv6 literal keeps its brackets whole ("[::1]-shadow:80")."""
    if host.startswith(b"["):
        end = host.find(b"]") + 1
        name, port = (host[:end], host[end:]) if end else (host, b"")
    elif host.count(b":") == 1:
        at = host.index(b":")
        name, port = host[:at], host[at:]
    else:
        name, port = host, b""
    return name + suffix + port


class ShadowRequest:
    """One copy: the requester of a pooled connection to the mirror cluster and the receiver
    of its response, which it discards."""

    __slots__ = (
        "cluster",
        "loop",
        "timeout",
        "host",
        "pool",
        "client",
        "method",
        "target",
        "headers",
        "body_kind",
        "held",
        "held_bytes",
        "backlog",
        "request_done",
        "ended",
        "timer",
        "started",
        "status",
        "host_active",
    )

    def __init__(self, cluster: Any, loop: Any, timeout: float) -> None:
        self.cluster = cluster
        self.loop = loop
        self.timeout = timeout
        self.host: Any = None
        self.pool: Any = None  # while waiting for a connection
        self.client: ClientStream | None = None
        self.method = self.target = b""
        self.headers: Headers = []
        self.body_kind = 0
        self.started = 0.0
        self.held: list[tuple[bool, Any, bool]] | None = None  # (is trailers, payload, end) until connected
        self.held_bytes = 0
        self.backlog = 0  # bytes written since the connection's write buffer went over its high watermark
        self.request_done = False  # the original's request has ended: nothing more will come
        self.ended = False
        self.timer = 0
        self.status = 0
        self.host_active = False

    def start(self, conn: Any, routed: Mapping[str, str], protocol: str, method: bytes, target: bytes,
              headers: Headers, body_kind: int, end_stream: bool) -> None:
        cluster = self.cluster
        stats = cluster.stats
        self.request_done = end_stream
        if not cluster.can_start_request():
            stats.upstream_rq_pending_overflow += 1
            self._give_up()
            return
        host = self.host = cluster.choose_host(conn, routed)
        if host is None:
            self._give_up()
            return
        cluster.active_requests += 1
        stats.upstream_rq_active += 1
        self.started = self.loop.time()
        self.timer = deadlines_for(self.loop).add(self.timeout, self)
        if not any(name.lower() == b"host" for name, _ in headers):
            # an HTTP/1.0 request without Host: the copy names its host, as the original does
            headers.insert(0, (b"host", host.address.encode()))
        self.method, self.target, self.headers, self.body_kind = method, target, headers, body_kind
        pool = self.pool = cluster.pool_for(host, protocol)
        client = pool.acquire(self)
        if client is not None:
            self.on_pool_ready(client)

    # --- the original's request, as it arrives -----------------------------------------------

    def send_data(self, data: bytes, end_stream: bool) -> None:
        if self.ended:
            return
        if end_stream:
            self.request_done = True
        client = self.client
        if client is None:
            self._hold(False, data, end_stream, len(data))
            return
        if client.write_paused:
            self.backlog += len(data)
            if self.backlog > BUFFER_LIMIT:
                self.drop()  # the mirror does not keep up: the copy goes, the original never waits
                return
        else:
            self.backlog = 0
        client.send_data(data, end_stream)

    def send_trailers(self, trailers: Headers) -> None:
        if self.ended:
            return
        self.request_done = True
        client = self.client
        if client is None:
            self._hold(True, trailers, True, 0)
        else:
            client.send_trailers(trailers)

    def _hold(self, trailers: bool, payload: Any, end: bool, size: int) -> None:
        if self.held is None:
            self.held = []
        self.held.append((trailers, payload, end))
        self.held_bytes += size
        if self.held_bytes > BUFFER_LIMIT:
            self.drop()

    # --- the connection ----------------------------------------------------------------------

    def on_pool_ready(self, client: ClientStream) -> None:
        if self.ended:
            client.on_idle(client)
            return
        self.pool = None
        self.client = client
        self.cluster.stats.upstream_rq_total += 1
        host_stats = self.host.stats
        host_stats.rq_total += 1
        host_stats.rq_active += 1
        self.host_active = True
        # a pooled connection may still tell its last request's downstream of write back-up
        client.set_watermark_listener(None)
        held = self.held
        self.held = None
        client.send_headers(self, self.method, self.target, self.headers, self.body_kind,
                            self.request_done and not held)
        for trailers, payload, end in held or ():
            if self.ended:
                return
            if trailers:
                client.send_trailers(payload)
            else:
                client.send_data(payload, end)

    def on_pool_failure(self, failure: UpstreamFailure) -> None:
        if not self.ended:
            self.pool = None
            self._end(_DROPPED)

    # --- the mirror's response, read and dropped ---------------------------------------------

    def on_response_head(self, head: Any, end_stream: bool) -> None:
        if not self.ended:
            self.status = head.status
            if end_stream:
                self._complete()

    def on_response_data(self, data: bytes, end_stream: bool) -> None:
        if end_stream and not self.ended:
            self._complete()

    def on_response_trailers(self, trailers: Headers) -> None:
        if not self.ended:
            self._complete()

    def on_response_raw(self, data: bytes) -> None:
        """Never called: requests that upgrade are not mirrored."""

    def on_upstream_reset(self, reset: StreamReset) -> None:
        if not self.ended:
            self.client = None
            self._end(_FAILED)

    def on_deadline(self) -> None:
        self.timer = 0
        if self.ended:
            return
        self.cluster.stats.upstream_rq_timeout += 1
        if self.host_active:
            self.host.stats.rq_timeout += 1
        self._abandon()
        self._end(_FAILED)

    # --- endings -----------------------------------------------------------------------------

    def drop(self) -> None:
        if not self.ended:
            self._abandon()
            self._end(_DROPPED)

    def _complete(self) -> None:
        client = self.client
        self.client = None
        if client is not None and not self.request_done:
            client.reset()  # answered before the original's request ended: the rest is not sent
        self._end(_COMPLETE)

    def _abandon(self) -> None:
        client = self.client
        if client is not None:
            self.client = None
            client.reset()
        elif self.pool is not None:
            self.pool.cancel(self)
            self.pool = None

    def _give_up(self) -> None:
        """No copy could start: counted, with nothing raised to fall."""
        self.ended = True
        self.cluster.stats.upstream_rq_shadow_dropped += 1

    def _end(self, outcome: int) -> None:
        self.ended = True
        self.held = None
        if self.timer:
            deadlines_for(self.loop).cancel(self.timer, self)
            self.timer = 0
        cluster = self.cluster
        cluster.active_requests -= 1
        stats = cluster.stats
        stats.upstream_rq_active -= 1
        failed = outcome == _FAILED or self.status >= 500
        if outcome == _COMPLETE:
            stats.count_response(self.status)
            stats.upstream_rq_time.record((self.loop.time() - self.started) * 1000.0)
        elif outcome == _DROPPED:
            stats.upstream_rq_shadow_dropped += 1
        else:
            stats.upstream_rq_shadow_failed += 1
        if self.host_active:
            self.host_active = False
            host_stats = self.host.stats
            host_stats.rq_active -= 1
            if failed:
                host_stats.rq_error += 1
            elif outcome == _COMPLETE:
                host_stats.rq_success += 1
