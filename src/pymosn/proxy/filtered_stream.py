"""The active stream of a listener with stream filters: the request goes through the decoder
filters to the router, the response through the encoder filters to the downstream, and every
local reply (the proxy's own and the filters') through the one filter manager path
(proxy/filter_manager.py; docs/design/stream-filters.md).

The stream is the manager's `FilterManagerOwner`. The route is matched lazily (when a filter
asks, or after the decoder filters) against the request as the filters left it, and again
after `clear_route_cache()`. A local reply is rendered here, before it enters the encoder
filters: HTTP, or a gRPC status for a gRPC request (proxy/local_reply.py). A filter that raises
is counted in `downstream_rq_filter_error` and logged; the manager answers it 500 FF."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

from pymosn.api import flags
from pymosn.api.headers import HeaderMap, RequestHeaderMap
from pymosn.api.streams import ServerStream
from pymosn.protocol.http1 import BODY_LENGTH, BODY_NONE, RequestHead, ResponseHead
from pymosn.protocol.http1.header_view import HeaderView
from pymosn.proxy.active_stream import ActiveStream
from pymosn.proxy.filter_manager import FilterManager, FilterManagerOwner, LocalReply
from pymosn.proxy.header_plan import HeaderPlan
from pymosn.proxy.local_reply import render, reply_for
from pymosn.proxy.pauses import DECODER_FILTERS_FULL, ENCODER_FILTERS_FULL
from pymosn.proxy.route_headers import downstream_scheme, for_routing
from pymosn.proxy.router import Router
from pymosn.proxy.settings import ProxySettings
from pymosn.router.entry import RouteEntry

log = logging.getLogger("pymosn.proxy")


class FilteredStream(ActiveStream):
    __slots__ = ("filters", "request_map", "response_head", "host")
    request_map: RequestHeaderMap

    def __init__(self, server: ServerStream, settings: ProxySettings) -> None:
        super().__init__(server, settings)
        self.filters: FilterManager | None = None  # made once the codec's limits passed
        self.response_head: ResponseHead | None = None  # the upstream's, in the encoder chain
        self.host: Any = None  # the host the AFTER_CHOOSE_HOST phase picked

    # --- downstream request, into the decoder filters ----------------------------------------

    def on_headers(self, head: RequestHead, end_stream: bool) -> None:
        if self._begin(head, end_stream) is None:
            return
        settings = self.settings
        plan = settings.filter_plan
        assert plan is not None
        router = self.router = Router(self, None, False)
        grpc = self.grpc
        if grpc is not None and grpc.timeout is not None:
            router.start_grpc_deadline(grpc)  # it runs while the filters hold the request
        filters = self.filters = FilterManager(self, plan, self.info, self.connection, settings.buffer_limit)
        request = self.request_map = RequestHeaderMap(head.headers, head.lower_names, head.method, head.target,
                                                      downstream_scheme(head, settings.scheme))
        filters.decode_headers(request, end_stream)

    def on_data(self, data: bytes, end_stream: bool) -> None:
        if self.done or (data and self._over_body_limit(data)):
            return
        if end_stream:
            self.request_complete = True
        assert self.filters is not None
        self.filters.decode_data(data, end_stream)

    def on_trailers(self, trailers: list) -> None:
        if self.done:
            return
        self.request_complete = True
        if len(trailers) > self.settings.max_headers_count:
            self._over_header_limit()
            return
        assert self.filters is not None
        self.filters.decode_trailers(HeaderMap.of(trailers))

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
        head.host = request.get(b"host") or b""
        info.method = request.method.decode("latin-1")
        info.path = request.path.decode("latin-1")
        info.authority = head.host.decode("latin-1")
        info.request_headers = HeaderView(head.headers, head.lower_names)

    def _routing_headers(self) -> Mapping[str, str]:
        headers = self.info.request_headers
        assert headers is not None
        table = self.snapshot.routers.get(self.settings.router_config_name)
        if table is not None and table.routes_on_proxy_made:
            return for_routing(headers, table, self.head, self.settings, self.connection,
                               self.request_map.scheme)
        return headers

    # --- FilterManagerOwner: what passed the decoder filters goes to the router --------------

    def resolve_route(self) -> Any:
        """The route for the request as the filters left it."""
        self._sync_head()
        table = self.snapshot.routers.get(self.settings.router_config_name)
        if table is None:
            return None
        info = self.info
        path, _, query = info.path.partition("?")
        return table.match(info.authority, path, query, self._routing_headers(), self.connection.peer_uri_san)

    def per_filter_config(self, route: Any, name: str) -> object | None:
        return None if route is None else route.filter_configs.get(name)

    def _routed(self) -> Router | None:
        """The router with the route and a cluster; None when the request was answered."""
        router = self.router
        assert router is not None and self.filters is not None
        if router.route is None:
            route = self.filters.take_route()
            if route is None:
                self.local_reply(flags.NO_ROUTE)
                return None
            router.route = cast(RouteEntry, route)  # the owner's resolve_route matched it
            if not router.select_cluster(self._routing_headers()):
                return None
        return router

    def choose_host(self) -> None:
        """Before the AFTER_CHOOSE_HOST filters: the cluster and host of the first try."""
        router = self._routed()
        if router is not None:
            self.host = router.choose_host()

    def on_decoded_headers(self, headers: RequestHeaderMap, end_stream: bool) -> None:
        self._sync_head()
        router = self._routed()
        if router is not None:
            router.request_complete = end_stream
            router.forward(self.host)

    def on_decoded_data(self, data: bytes, end_stream: bool) -> None:
        assert self.router is not None
        self.router.on_request_data(data, end_stream)

    def on_decoded_trailers(self, trailers: HeaderMap) -> None:
        assert self.router is not None
        self.router.on_request_trailers(trailers.pairs())

    # --- the response from the router, into the encoder filters ---------------------------------

    def encode_headers(self, head: ResponseHead, headers: list, end_stream: bool) -> None:
        self.response_started = True  # the router's errors now reset the stream
        self.response_head = head
        assert self.filters is not None
        self.filters.encode_headers(head.status, HeaderMap.of(headers), end_stream)

    def encode_data(self, data: bytes, end_stream: bool) -> None:
        assert self.filters is not None
        self.filters.encode_data(data, end_stream)

    def encode_trailers(self, trailers: list) -> None:
        assert self.filters is not None
        self.filters.encode_trailers(HeaderMap.of(trailers))

    # --- FilterManagerOwner: what passed the encoder filters goes to the downstream ----------

    def on_encoded_headers(self, status: int, headers: HeaderMap, end_stream: bool) -> None:
        if headers.changed:
            self.info.response_headers = HeaderView(headers.pairs(), headers.lower_names())
        head = self.response_head
        if head is None:  # a local reply
            self._send_local_head(status, headers.pairs(), end_stream)
            return
        ActiveStream.encode_headers(self, head, headers.pairs(), end_stream)

    def _send_local_head(self, status: int, pairs: list, end_stream: bool) -> None:
        self.info.response_code = status
        self.response_started = True
        if not self.request_complete:
            self.server.close_after_response()  # the rest of the request body will not be read
        if end_stream:
            self._finish()  # accounted before the server may start the next pipelined request
            self.server.send_headers(status, pairs, BODY_NONE, True)
        else:
            self.server.send_headers(status, pairs, BODY_LENGTH, False)

    def on_encoded_data(self, data: bytes, end_stream: bool) -> None:
        if self.response_head is None and end_stream:  # a local reply's body
            self.info.bytes_sent += len(data)
            self._finish()
            self.server.send_data(data, True)
            return
        ActiveStream.encode_data(self, data, end_stream)

    def on_encoded_trailers(self, trailers: HeaderMap) -> None:
        ActiveStream.encode_trailers(self, trailers.pairs())

    # --- local replies ---------------------------------------------------------------------------

    def local_reply(self, flag: str, body: bytes | None = None, status: int | None = None,
                    details: str | None = None) -> None:
        if self.done:
            return
        filters = self.filters
        if filters is None or self.response_started:
            ActiveStream.local_reply(self, flag, body, status, details)
            return
        filters.send_local_reply(reply_for(flag, body, status, details))

    def direct_reply(self, status: int, body: bytes, extra: list | None, plan: HeaderPlan) -> None:
        filters = self.filters
        assert filters is not None
        filters.send_local_reply(self._direct(status, body, extra, plan))

    def on_local_reply(self, reply: LocalReply) -> None:
        self._record(reply)
        self.response_head = None  # whatever the upstream sent is replaced
        self._abandon_upstream()

    def render_local_reply(self, reply: LocalReply) -> tuple[int, HeaderMap, bytes]:
        status, pairs, body = render(reply, self.grpc, self.head.version != b"2")
        return status, HeaderMap.of(pairs), body

    def reset_stream(self, reply: LocalReply) -> None:
        self._record(reply)
        self._abandon_upstream()
        self.server.reset()
        self._finish()

    def _record(self, reply: LocalReply) -> None:
        info = self.info
        if reply.flag is not None:
            info.response_flags.append(reply.flag)
        if reply.details:
            info.response_code_details = reply.details

    # --- FilterManagerOwner: back-pressure and failures -----------------------------------------

    def pause_reading(self) -> None:
        self.pause_downstream(DECODER_FILTERS_FULL)

    def resume_reading(self) -> None:
        self.resume_downstream(DECODER_FILTERS_FULL)

    # response bytes held by the encoder filters slow the upstream as a slow client does, each
    # pause its own (a client catching up does not resume what the filters hold back)
    def pause_upstream(self) -> None:
        if self.router is not None:
            self.router.pause_upstream(ENCODER_FILTERS_FULL)

    def resume_upstream(self) -> None:
        if self.router is not None:
            self.router.resume_upstream(ENCODER_FILTERS_FULL)

    def on_filter_error(self, name: str, error: Exception) -> None:
        self.settings.stats.downstream_rq_filter_error += 1
        log.error("stream filter %s raised on listener %s: %r", name, self.settings.listener_name, error,
                  exc_info=error)

    # --- the end ---------------------------------------------------------------------------------

    def _finish(self) -> None:
        if self.done:
            return
        filters = self.filters
        if filters is not None:
            filters.destroy()  # every filter's on_destroy, once
        ActiveStream._finish(self)
        self.filters = None  # the manager points back at the stream (see ActiveStream._finish)


if TYPE_CHECKING:  # mypy checks that the class keeps the contract

    def _owns_filters(stream: FilteredStream) -> FilterManagerOwner:
        return stream
