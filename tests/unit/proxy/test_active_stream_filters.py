"""The stream filters on the proxy's data path, driven by fake streams (no sockets): what the
decoder chain passes reaches the upstream request, what the encoder chain passes reaches the
downstream, local replies and failures end the stream once, with their flags and details."""

from __future__ import annotations

from pymosn.api import flags
from pymosn.api.errors import ResetKind, ResetSource, StreamReset
from pymosn.api.stream_filter import CONTINUE, STOP, STOP_AND_BUFFER, FilterPhase
from pymosn.proxy.active_stream import ActiveStream
from pymosn.proxy.grpc import PERMISSION_DENIED, UNAVAILABLE
from tests.support.proxy_core import ProxyCore
from tests.support.scripted_filter import Scripted, reply, scripted


class Counting(Scripted):
    destroyed = 0

    def on_destroy(self) -> None:
        Counting.destroyed += 1


def counting(**script):
    return lambda callbacks: Counting(callbacks, **script)


def setup_function() -> None:
    Counting.destroyed = 0


def test_a_pass_through_chain_forwards_request_and_response_unchanged():
    core = ProxyCore(filters=(("a", counting()), ("b", counting())))
    stream, server = core.request(b"POST", b"/x", body=b"hello")
    upstream = core.upstream()
    assert upstream.target == b"/x" and upstream.body == b"hello" and upstream.ended
    upstream.respond(201, [(b"x-up", b"1")], body=b"made")
    assert server.status == 201 and server.header(b"x-up") == b"1" and server.body == b"made" and server.ended
    assert core.ended_once() and Counting.destroyed == 2
    assert core.logger.lines[0].response_code == 201


def test_no_filter_plan_makes_no_manager():
    core = ProxyCore()
    stream, server = core.request(b"GET", b"/")
    assert type(stream) is ActiveStream  # not the FilteredStream: no manager, no filter code
    core.upstream().respond(200, body=b"ok")
    assert server.body == b"ok" and core.ended_once()


def test_a_header_a_decoder_filter_sets_goes_upstream_and_one_an_encoder_sets_downstream():
    def add_request(callbacks, headers, end_stream):
        headers.set(b"x-added", b"req")
        return CONTINUE

    def add_response(callbacks, status, headers, end_stream):
        headers.set(b"x-resp", b"yes")
        return CONTINUE

    core = ProxyCore(filters=(("m", scripted(decode_headers=add_request, encode_headers=add_response)),))
    _, server = core.request(b"GET", b"/h")
    upstream = core.upstream()
    assert upstream.header(b"x-added") == b"req"
    upstream.respond(200, body=b"")
    assert server.header(b"x-resp") == b"yes" and core.ended_once()


def test_a_changed_path_routes_again_after_clear_route_cache():
    routes = [{"match": {"prefix": "/b"}, "route": {"cluster_name": "b"}},
              {"match": {"prefix": "/"}, "route": {"cluster_name": "origin"}}]
    clusters = [{"name": n, "type": "SIMPLE", "lb_type": "LB_ROUNDROBIN", "hosts": [{"address": a}]}
                for n, a in (("origin", "10.0.1.1:80"), ("b", "10.0.2.1:80"))]

    def reroute(callbacks, headers, end_stream):
        assert callbacks.route.cluster_name == "origin"
        headers.set(b":path", b"/b/moved")
        callbacks.clear_route_cache()
        return CONTINUE

    core = ProxyCore(routes=routes, clusters=clusters, filters=(("r", scripted(decode_headers=reroute)),))
    stream, server = core.request(b"GET", b"/a")
    upstream = core.upstream("10.0.2.1:80")
    assert upstream.target == b"/b/moved"
    assert stream.info.path == "/b/moved" and stream.info.upstream_cluster == "b"
    upstream.respond(204)
    assert server.status == 204 and core.ended_once()


def test_a_filter_local_reply_is_logged_with_its_flag_and_details_and_never_goes_upstream():
    core = ProxyCore(filters=(("deny", counting(decode_headers=reply(403, flags.RATE_LIMITED, "denied[x]"))),))
    stream, server = core.request(b"GET", b"/x")
    assert core.pool().streams == [] and core.pool().waiters == []
    assert server.status == 403 and server.body == b"denied" and server.ended
    info = core.logger.lines[0]
    assert info.response_flags == [flags.RATE_LIMITED] and info.response_code_details == "denied[x]"
    assert core.ended_once() and Counting.destroyed == 1


def test_a_filter_that_raises_gets_a_500_with_flag_ff_and_a_counter():
    def boom(callbacks, headers, end_stream):
        raise RuntimeError("bug")

    core = ProxyCore(filters=(("bad", counting(decode_headers=boom)), ("next", counting())))
    _, server = core.request(b"GET", b"/x")
    assert server.status == 500 and core.stats.downstream_rq_filter_error == 1
    info = core.logger.lines[0]
    assert info.response_flags == [flags.FILTER_FAILED] and info.response_code_details == "filter_raised[bad]"
    assert core.pool().streams == [] and core.ended_once() and Counting.destroyed == 2


def test_an_encoder_filter_that_raises_on_the_response_replaces_it_with_a_500():
    def boom(callbacks, status, headers, end_stream):
        raise ValueError("bug")

    core = ProxyCore(filters=(("bad", scripted(encode_headers=boom)),))
    _, server = core.request(b"GET", b"/x")
    upstream = core.upstream()
    upstream.respond(200, body=b"never seen")
    assert server.status == 500 and server.body == b"" and core.ended_once()
    assert core.stats.downstream_rq_filter_error == 1


def test_a_stopped_request_waits_then_continues_to_the_upstream_with_its_body():
    core = ProxyCore(filters=(("wait", scripted(decode_headers=STOP)),))
    stream, server = core.request(b"POST", b"/x", body=b"abc")
    assert core.pool().streams == []
    stream.filters.filters[0].callbacks.continue_decoding()
    upstream = core.upstream()
    assert upstream.body == b"abc" and upstream.ended
    upstream.respond(200, body=b"ok")
    assert server.body == b"ok" and core.ended_once()


def test_a_buffering_filter_sees_the_whole_body_before_the_upstream_does():
    seen = []

    def whole(callbacks, data, end_stream):
        seen.append((data, end_stream))
        return CONTINUE

    core = ProxyCore(filters=(("buf", scripted(decode_headers=STOP_AND_BUFFER, decode_data=whole)),))
    stream, _ = core.request(b"POST", b"/x", chunked=True)
    stream.on_data(b"ab", False)
    stream.on_data(b"cd", False)
    assert core.pool().streams == []
    stream.on_data(b"", True)
    assert seen == [(b"abcd", True)]
    assert core.upstream().body == b"abcd"


def test_a_request_body_over_the_buffer_limit_is_answered_413_rt():
    core = ProxyCore(filters=(("buf", scripted(decode_headers=STOP_AND_BUFFER)),), buffer_limit=4)
    stream, server = core.request(b"POST", b"/x", chunked=True)
    stream.on_data(b"12345", False)
    assert server.status == 413 and core.logger.lines[0].response_flags == [flags.REQUEST_ENTITY_TOO_LARGE]
    assert server.closes_after_response == 1  # the rest of the body is not read
    assert core.ended_once()


def test_held_request_bytes_over_the_limit_pause_the_downstream_until_they_move_on():
    core = ProxyCore(filters=(("wait", scripted(decode_headers=STOP)),), buffer_limit=4)
    stream, server = core.request(b"POST", b"/x", chunked=True)
    stream.on_data(b"12345", False)
    assert server.reading_paused
    stream.filters.filters[0].callbacks.continue_decoding()
    assert not server.reading_paused and core.upstream().body == b"12345"


def test_held_response_bytes_over_the_limit_pause_the_upstream():
    core = ProxyCore(filters=(("wait", scripted(encode_headers=STOP)),), buffer_limit=4)
    stream, server = core.request(b"GET", b"/x")
    upstream = core.upstream()
    upstream.respond(200, streaming=True)
    upstream.respond_data(b"12345")
    assert upstream.reading_paused and server.sent == []
    stream.filters.filters[0].callbacks.continue_encoding()
    assert not upstream.reading_paused and server.body == b"12345"
    upstream.respond_data(b"", True)
    assert core.ended_once()


def test_an_upstream_that_finished_while_an_encoder_holds_the_response_is_not_reset_by_a_later_reply():
    def later(callbacks, status, headers, end_stream):
        return STOP

    core = ProxyCore(filters=(("hold", scripted(encode_headers=later)),))
    stream, server = core.request(b"GET", b"/x")
    upstream = core.upstream()
    upstream.respond(200, body=b"done")
    stream.filters.filters[0].callbacks.send_local_reply(503, b"no", flags.FAULT_INJECTED)
    assert upstream.resets == 0  # the finished upstream stream may serve another request now
    assert server.status == 503 and core.ended_once()


def test_a_downstream_reset_while_a_filter_holds_the_request_ends_the_stream_once():
    core = ProxyCore(filters=(("wait", counting(decode_headers=STOP)),))
    stream, _ = core.request(b"POST", b"/x", chunked=True)
    stream.on_reset(StreamReset(ResetSource.DOWNSTREAM, ResetKind.CONNECTION_CLOSED))
    assert core.ended_once() and Counting.destroyed == 1
    assert core.logger.lines[0].response_flags == [flags.DOWNSTREAM_CONNECTION_TERMINATION]


def test_router_local_replies_go_through_the_encoder_filters():
    def tag(callbacks, status, headers, end_stream):
        headers.set(b"x-seen", b"%d" % status)
        return CONTINUE

    core = ProxyCore(routes=[{"match": {"prefix": "/only"}, "route": {"cluster_name": "origin"}}],
                     filters=(("tag", scripted(encode_headers=tag)),))
    _, server = core.request(b"GET", b"/elsewhere")
    assert server.status == 404 and server.header(b"x-seen") == b"404"
    assert core.logger.lines[0].response_flags == [flags.NO_ROUTE] and core.ended_once()


def test_direct_responses_pass_the_encoder_filters_and_stay_http_for_grpc():
    def tag(callbacks, status, headers, end_stream):
        headers.set(b"x-seen", b"1")
        return CONTINUE

    routes = [{"match": {"prefix": "/"}, "direct_response": {"status": 200, "body": "direct"}}]
    core = ProxyCore(routes=routes, filters=(("tag", scripted(encode_headers=tag)),))
    _, server = core.request(b"POST", b"/svc/M", [(b"content-type", b"application/grpc")])
    assert server.status == 200 and server.body == b"direct" and server.header(b"x-seen") == b"1"
    assert core.ended_once()


def test_a_filter_local_reply_to_a_grpc_request_is_a_trailers_only_status():
    core = ProxyCore(filters=(("deny", scripted(decode_headers=reply(403, None, "rbac_access_denied"))),))
    _, server = core.request(b"POST", b"/svc/M", [(b"content-type", b"application/grpc")], body=b"")
    assert server.status == 200 and server.header(b"grpc-status") == b"%d" % PERMISSION_DENIED
    assert server.header(b"grpc-message") == b"denied" and server.body == b"" and server.ended
    assert core.logger.lines[0].grpc_status == PERMISSION_DENIED and core.ended_once()


def test_a_429_to_a_grpc_request_is_unavailable():
    core = ProxyCore(filters=(("rl", scripted(decode_headers=reply(429, flags.RATE_LIMITED))),))
    _, server = core.request(b"POST", b"/svc/M", [(b"content-type", b"application/grpc")], body=b"")
    assert server.header(b"grpc-status") == b"%d" % UNAVAILABLE


def test_route_and_host_are_resolved_before_the_filters_of_later_phases():
    order = []

    def note(what):
        def step(callbacks, headers, end_stream):
            order.append((what, callbacks.stream_info.upstream_host))
            return CONTINUE
        return step

    core = ProxyCore(filters=(("route", scripted(decode_headers=note("route")), FilterPhase.AFTER_ROUTE),
                              ("host", scripted(decode_headers=note("host")), FilterPhase.AFTER_CHOOSE_HOST),
                              ("first", scripted(decode_headers=note("first")))))
    core.request(b"GET", b"/x")
    assert order == [("first", None), ("route", None), ("host", "10.0.1.1:80")]
    upstream = core.upstream()
    upstream.respond(200)
    assert core.ended_once()


def test_per_filter_config_reads_the_routes_filter_configs():
    seen = []

    def read(callbacks, headers, end_stream):
        seen.append(callbacks.per_filter_config())
        return CONTINUE

    core = ProxyCore(filters=(("mine", scripted(decode_headers=read)),))
    core.request(b"GET", b"/x")
    assert seen == [None]  # the route has no per-filter configs


def test_the_routers_replay_does_not_resume_what_the_decoder_filters_hold_back():
    """Two causes pause the downstream: the router holding a body for a pool, and a filter
    holding bytes past the buffer limit. The first ending must leave the second's pause."""
    core = ProxyCore(filters=(("wait", scripted(decode_data=[CONTINUE, STOP])),), buffer_limit=4)
    core.pool().hold = True
    stream, server = core.request(b"POST", b"/x", chunked=True)
    big = b"a" * (1024 * 1024 + 1)  # past the router's hold bound
    stream.on_data(big, False)
    assert server.reading_paused
    stream.on_data(b"12345", False)  # the filter holds these, past its limit
    upstream = core.pool().serve()
    assert upstream.body == big and server.reading_paused  # the filter's pause stands
    stream.filters.filters[0].callbacks.continue_decoding()
    assert not server.reading_paused and upstream.body == big + b"12345"


def test_a_client_catching_up_does_not_resume_what_the_encoder_filters_hold_back():
    core = ProxyCore(filters=(("wait", scripted(encode_data=[STOP, CONTINUE])),), buffer_limit=4)
    stream, server = core.request(b"GET", b"/x")
    upstream = core.upstream()
    upstream.respond(200, streaming=True)
    stream.on_above_write_high_watermark()  # a slow client
    upstream.respond_data(b"12345")  # held by the filter, past its limit
    stream.on_below_write_low_watermark()  # the client caught up
    assert upstream.reading_paused
    stream.filters.filters[0].callbacks.continue_encoding()
    assert not upstream.reading_paused and server.body == b"12345"
    upstream.respond_data(b"", True)
    assert core.ended_once()


def test_an_ended_stream_pauses_and_resumes_nobody():
    core = ProxyCore()
    stream, server = core.request(b"GET", b"/x")
    core.upstream().respond(200, body=b"ok")
    assert stream.done
    stream.pause_downstream(1)
    assert not server.reading_paused
