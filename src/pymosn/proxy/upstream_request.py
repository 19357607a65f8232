"""One try of a request on one upstream host (Envoy's UpstreamRequest).

The router makes one per try: a retry (or, later, a mirror) is a new object, never state reset
in place. The router asks the host's pool for a stream for it; it sends the request on it when the
pool is ready (the head, then what the router held meanwhile), counts itself on the host
(rq_total, rq_active, then rq_success or rq_error), and passes the response on: the head and
resets to the router, which decides on retries and errors; body and trailers straight to the
active stream, the hot path. A try the router gave up is `abandon`ed: its stream reset, or its
place in the pool's queue given back; it hears nothing more."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pymosn.api.errors import StreamReset, UpstreamFailure
from pymosn.api.streams import ClientStream, ResponseReceiver
from pymosn.protocol.http1 import BODY_NONE, ResponseHead
from pymosn.proxy.pauses import HELD_FOR_UPSTREAM, UPSTREAM_BUFFER_FULL

if TYPE_CHECKING:
    from pymosn.proxy.router import Router
    from pymosn.upstream.host import Host


class UpstreamRequest:
    __slots__ = ("router", "host", "pool", "client", "host_active", "live")
    pool: Any  # the host's pool, set by the router as it asks it for a stream

    def __init__(self, router: Router, host: Host) -> None:
        self.router = router
        self.host = host
        self.client: ClientStream | None = None
        self.host_active = False  # the host counts this try in rq_active
        self.live = True  # False once abandoned or finished: events for it are ignored

    # --- the pool's requester -------------------------------------------------------------------

    def on_pool_ready(self, client: ClientStream) -> None:
        if not self.live:
            client.on_idle(client)
            return
        self.client = client
        router = self.router
        stream = router.stream
        info = stream.info
        upstream = client.connection
        info.upstream_local_address = upstream.local_address
        info.upstream_connection_id = upstream.id
        router.cluster.stats.upstream_rq_total += 1
        host = self.host
        host_stats = host.stats
        host_stats.rq_total += 1
        host_stats.rq_active += 1
        self.host_active = True
        server = stream.server
        server.set_watermark_listener(stream)
        head = stream.head
        pending = router.pending
        end_stream = router.request_complete and not pending and not head.upgrade
        body_kind = head.body_kind
        headers = list(router.upstream_headers)
        if not head.host:
            # HTTP/1.0 without Host: the upstream request names its host, as MOSN's does (and
            # an HTTP/1.1 request must carry one); a route's host rewrite takes its place
            plan = router.plan
            assert plan is not None  # set with the route, before any upstream request
            rewrite = plan.host_rewrite
            headers.insert(0, (b"host", rewrite if rewrite is not None else host.address.encode()))
        if router.route_entry().auto_host_rewrite:
            value = (host.hostname or host.address).encode()
            headers = [(n, value) if n.lower() == b"host" else (n, v) for n, v in headers]
        if body_kind != BODY_NONE or head.upgrade:
            # only what sends bytes after the head can fill the upstream's buffer (a pooled
            # stream forgets its last exchange's listener when that exchange ends)
            client.set_watermark_listener(self)
        client.send_headers(self, router.method, router.target, headers, body_kind, end_stream)
        if pending:
            router.pending = None
            router.pending_bytes = 0
            for kind, payload, end in pending:
                if kind == "data":
                    client.send_data(payload, end)
                elif kind == "trailers":
                    client.send_trailers(payload)
                else:
                    client.send_raw(payload)
            # The replayed body may itself have filled the upstream's buffer: then its
            # pause (UPSTREAM_BUFFER_FULL) holds on until the upstream's low watermark.
            stream.resume_downstream(HELD_FOR_UPSTREAM)

    def on_pool_failure(self, failure: UpstreamFailure) -> None:
        if self.live:
            self.live = False
            self.router.on_pool_failure(failure)

    # --- the response -------------------------------------------------------------------------

    def on_response_head(self, head: ResponseHead, end_stream: bool) -> None:
        if self.live:
            if end_stream:
                self.live = False  # the stream is done (and may serve another request now)
            self.router.on_upstream_head(self, head, end_stream)

    def on_response_data(self, data: bytes, end_stream: bool) -> None:
        if self.live:
            if end_stream:
                self.live = False
            self.router.stream.encode_data(data, end_stream)

    def on_response_trailers(self, trailers: list) -> None:
        if self.live:
            self.live = False
            self.router.on_upstream_trailers(trailers)

    def on_response_raw(self, data: bytes) -> None:
        if self.live:
            self.router.stream.server.send_raw(data)

    def on_upstream_reset(self, reset: StreamReset) -> None:
        if self.live:
            self.live = False
            self.router.on_upstream_reset(self, reset)

    # --- the router's side ----------------------------------------------------------------------

    def send_data(self, data: bytes, end_stream: bool) -> None:
        client = self.client
        assert client is not None
        client.send_data(data, end_stream)

    def abandon(self) -> None:
        """Give the try up: reset its stream, or leave the pool's queue."""
        if not self.live:
            return
        self.live = False
        client = self.client
        if client is not None:
            self.client = None
            client.reset()
        else:
            self.pool.cancel(self)

    def release_host(self, error: bool) -> None:
        """The try's outcome on its host's counters, once."""
        if self.host_active:
            self.host_active = False
            stats = self.host.stats
            stats.rq_active -= 1
            if error:
                stats.rq_error += 1
            else:
                stats.rq_success += 1

    def pause_reading(self) -> None:
        if self.live and self.client is not None:
            self.client.pause_reading()

    def resume_reading(self) -> None:
        if self.live and self.client is not None:
            self.client.resume_reading()

    # the upstream connection's watermarks: a slow upstream (request body upload) pauses reading
    # from the downstream
    def on_above_write_high_watermark(self) -> None:
        if self.live:  # an ended try's client is not this connection's to slow down
            self.router.stream.pause_downstream(UPSTREAM_BUFFER_FULL)

    def on_below_write_low_watermark(self) -> None:
        self.router.stream.resume_downstream(UPSTREAM_BUFFER_FULL)


if TYPE_CHECKING:  # mypy checks that the class keeps the contract

    def _receives_responses(request: UpstreamRequest) -> ResponseReceiver:
        return request
