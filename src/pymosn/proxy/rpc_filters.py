"""An X-Protocol request on a listener with stream filters: the same pipeline as HTTP's.

MOSN runs its stream filters on an RPC frame's header map; so does pymosn. The request is given
to the decoder filters as its header map (`RpcHeaderMap`, over the dict routing reads) and its
body as one data item that ends the stream; once it has passed them it is routed (on the headers
as the filters left them) and sent, its bytes re-encoded first if a filter changed a header. The
response frame goes through the encoder filters the same way before it is written to the caller.
A local reply, a filter's or the proxy's own, runs through the encoder filters as an HTTP status
and is then rendered in the codec's status (proxy/local_reply.py `render_rpc`).

    start -> decoder filters -> route -> cluster/host -> send -> response -> encoder filters -> caller

Nothing of the response is written until it has passed every encoder filter, so a local reply
arriving while the response is inside the chain still answers the caller (where an HTTP stream
would be reset). A frame arrives whole, bounded by its codec: nothing more of a stream is ever
read, so held items need no back-pressure and the chain's buffer limit is no tighter than a frame.
"""

from __future__ import annotations

import logging
from typing import Any

from pymosn.api import flags
from pymosn.api.errors import ProtocolError
from pymosn.api.headers import HeaderMap, RequestHeaderMap
from pymosn.api.stream_filter import Route
from pymosn.network.deadlines import deadlines_for
from pymosn.protocol.xprotocol.api import Frame
from pymosn.protocol.xprotocol.header_map import RpcHeaderMap
from pymosn.proxy.filter_manager import FilterManager, LocalReply
from pymosn.proxy.local_reply import REPLIES
from pymosn.proxy.rpc import RpcRequest

log = logging.getLogger("pymosn.proxy")

# a frame is never bigger than its codec allows (16 MiB for the built-ins); held whole already
WHOLE_FRAME_LIMIT = 1 << 31
NOT_ENCODABLE = "rpc_headers_not_encodable"  # %RESPONSE_CODE_DETAILS% of a change the codec refused


class FilteredRpcRequest(RpcRequest):
    """RpcRequest as a FilterManagerOwner (proxy/filter_manager.py)."""

    __slots__ = ("filters", "request_headers", "response", "response_headers", "local", "chosen_host",
                 "upstream_over")

    def start(self) -> None:
        fields = self._begin()
        frame, settings, info = self.frame, self.settings, self.info
        codec = settings.codec
        self.response: Frame | None = None
        self.response_headers: RpcHeaderMap | None = None
        self.local: LocalReply | None = None
        self.chosen_host: Any = None
        self.upstream_over = False
        self.server.requests.add(self)  # a filter may hold the request: the caller may go first
        assert settings.filter_plan is not None
        self.filters = filters = FilterManager(self, settings.filter_plan, info, self.server.conn.info,
                                               WHOLE_FRAME_LIMIT)
        self.request_headers = headers = RpcHeaderMap(
            fields, frame.headers, codec.fixed_headers, info.method.encode(), info.path.encode(), codec.name.encode())
        body = codec.body_of(frame)
        filters.decode_headers(headers, not body)
        if body and not self.done:
            filters.decode_data(body, True)

    # --- the request passed the decoder filters ------------------------------------------------

    def on_decoded_headers(self, headers: RequestHeaderMap, end_stream: bool) -> None:
        if end_stream:
            self._forward()

    def on_decoded_data(self, data: bytes, end_stream: bool) -> None:
        if end_stream:
            self._forward()

    def on_decoded_trailers(self, trailers: HeaderMap) -> None:
        self._forward()

    def _forward(self) -> None:
        headers = self.request_headers
        if headers.changed:
            try:
                self.settings.codec.rewrite_headers(self.frame, headers.frame_headers())
            except ProtocolError as error:
                self.on_filter_error("rewrite_headers", error)
                self.filters.send_local_reply(LocalReply(500, b"", flags.FILTER_FAILED, NOT_ENCODABLE))
                return
        if self._routed():
            self._send()

    def _routed(self) -> bool:
        """Route (the filters' cached route) and cluster, once."""
        # the headers as the filters left them, for the router, the load balancer and the log
        fields = self.info.request_headers = self.request_headers.fields
        if self.cluster is not None:
            return True
        return self._select_cluster(self.filters.take_route(), fields)

    def _try_upstream(self) -> None:
        host = self.chosen_host
        if host is None:
            super()._try_upstream()
            return
        self.chosen_host = None  # an AFTER_CHOOSE_HOST filter saw it; a retry picks again
        self.tries += 1
        self._acquire(host)

    # --- the response through the encoder filters -----------------------------------------------

    def _respond(self, response: Frame) -> None:
        self.response = response
        self.upstream_over = True
        self._cancel_deadline()  # the upstream's part is over, whatever the filters take
        codec = self.settings.codec
        try:
            received = codec.headers_of(response)
        except ProtocolError as error:  # its framing was sound, its header map is not
            detail = f"upstream protocol error: {error.reason}"
            self.info.upstream_transport_failure_reason = detail
            self._local_reply(flags.UPSTREAM_PROTOCOL_ERROR, detail)
            return
        self.response_headers = headers = RpcHeaderMap({k.lower(): v for k, v in received.items()}, received)
        body = codec.body_of(response)
        filters = self.filters
        filters.encode_headers(self.info.response_code, headers, not body)
        if body and not self.done:
            filters.encode_data(body, True)

    def on_encoded_headers(self, status: int, headers: HeaderMap, end_stream: bool) -> None:
        if end_stream:
            self._answer()

    def on_encoded_data(self, data: bytes, end_stream: bool) -> None:
        if end_stream:
            self._answer()

    def on_encoded_trailers(self, trailers: HeaderMap) -> None:
        self._answer()

    def _answer(self) -> None:
        """The answer passed every encoder filter: write it to the caller."""
        if self.done:
            return
        reply = self.local
        if reply is not None:
            self._send_local(reply)
            return
        response, headers = self.response, self.response_headers
        assert response is not None and headers is not None
        if headers.changed:
            try:
                self.settings.codec.rewrite_headers(response, headers.frame_headers())
            except ProtocolError as error:
                self.on_filter_error("rewrite_headers", error)
                failed = LocalReply(500, b"", flags.FILTER_FAILED, NOT_ENCODABLE)
                self._record_local(failed)
                self._send_local(failed)
                return
        RpcRequest._respond(self, response)

    # --- local replies ----------------------------------------------------------------------------

    def _local_reply(self, flag: str, message: str) -> None:
        """The proxy's own answers go through the encoder filters too, as HTTP's do."""
        if self.done:
            return
        filters = self.filters
        if filters.destroyed:
            super()._local_reply(flag, message)
            return
        filters.send_local_reply(LocalReply(REPLIES[flag][0], message.encode(), flag))

    def on_local_reply(self, reply: LocalReply) -> None:
        self.local = reply
        self._record_local(reply)
        self._abandon_upstream()

    def render_local_reply(self, reply: LocalReply) -> tuple[int, HeaderMap, bytes]:
        """What the encoder filters see of a local reply: its status; the codec renders the
        rest (`_answer`), as RPC replies carry no header map or body of the proxy's."""
        return reply.status, HeaderMap.of([]), b""

    def reset_stream(self, reply: LocalReply) -> None:
        # nothing of the response was written yet (see the module docstring): answer instead
        if self.done:
            return
        self.local = reply
        self._record_local(reply)
        self._abandon_upstream()
        self._send_local(reply)

    def _abandon_upstream(self) -> None:
        if not self.upstream_over:
            self.upstream_over = True
            super()._abandon_upstream()

    def _cancel_deadline(self) -> None:
        if self.timer:
            deadlines_for(self.server.conn.loop).cancel(self.timer, self)
            self.timer = 0

    # --- what the filter manager asks ---------------------------------------------------------

    def resolve_route(self) -> Route | None:
        route: Route | None = self._match_route(self.request_headers.fields)
        return route

    def per_filter_config(self, route: Route | None, name: str) -> object | None:
        configs = getattr(route, "filter_configs", None)
        return None if configs is None else configs.get(name)

    def choose_host(self) -> None:
        """Before the first AFTER_CHOOSE_HOST filter: route, cluster and host, kept for the send."""
        if not self._routed():
            return
        host = self.cluster.choose_host(self.server.conn, self.info.request_headers)
        if host is None:
            self._local_reply(flags.NO_HEALTHY_UPSTREAM, "no healthy upstream")
            return
        self.chosen_host = host
        self.info.upstream_host = host.address

    def pause_reading(self) -> None:
        return None  # the frame is whole: nothing more of this stream is read

    def resume_reading(self) -> None:
        return None

    def pause_upstream(self) -> None:
        return None  # the response frame is whole, and its connection carries other callers'

    def resume_upstream(self) -> None:
        return None

    def on_filter_error(self, name: str, error: Exception) -> None:
        settings = self.settings
        settings.stats.downstream_rq_filter_error += 1  # the listener's, as HTTP's
        settings.protocol_stats.downstream_rq_filter_error += 1
        log.error("stream filter %s raised on %s listener %s: %r", name, settings.codec.name, settings.listener_name,
                  error, exc_info=error)

    # --- end ----------------------------------------------------------------------------------

    def _finish(self, status: int, success: bool) -> None:
        self.filters.destroy()  # every filter's on_destroy, once, before the access log is written
        self.info.request_headers = self.request_headers.fields  # as the filters left them
        super()._finish(status, success)
