"""X-Protocol requests through the stream-filter pipeline, driven with fake frames, fake
upstreams (tests/support/rpc_fakes.py) and scripted filters: what filters see, header changes in
the exact bytes sent, local replies in the codec's status, and every request ending once."""

from __future__ import annotations

from typing import Any

from pymosn.api import flags
from pymosn.api.errors import DOWNSTREAM_CLOSED
from pymosn.api.stream_filter import (
    CONTINUE,
    STOP,
    STOP_AND_BUFFER,
    FilterCallbacks,
    FilterPhase,
    FilterStatus,
)
from pymosn.config.issues import IssueLog
from pymosn.filter.http import fault, flow_control, header_mutation, payload_limit, rbac
from pymosn.metrics.store import StatsStore
from pymosn.protocol.xprotocol import bolt, dubbo
from pymosn.protocol.xprotocol.api import FrameKind, LocalStatus
from pymosn.protocol.xprotocol.dubbo import DubboCodec
from pymosn.protocol.xprotocol.hessian2 import write_string
from pymosn.proxy.filter_manager import LocalReply
from pymosn.proxy.local_reply import render_rpc
from pymosn.proxy.rpc import RpcRequest
from pymosn.proxy.rpc_filters import FilteredRpcRequest
from tests.support.rpc_fakes import RpcKit, plan_of
from tests.support.scripted_filter import Scripted, reply, scripted

V1, V2 = bolt.BoltCodec(), bolt.BoltV2Codec()
CLASS = bolt.SOFA_REQUEST_CLASS
HEADERS = {"service": "svc.a", "sofa_head_method_name": "echo", "rpc_trace_context.sofaTraceId": "t1"}


def _ok(codec: bolt.BoltCodec = V1, headers: dict[str, str] | None = None, body: bytes = b"RESULT", **extra: Any):
    return lambda request_id: codec.response(request_id, bolt.SUCCESS, headers, body,
                                             class_name=bolt.SOFA_RESPONSE_CLASS, **extra)


def _made(rpc: RpcKit, name: str) -> Scripted:
    made = rpc.settings.filter_plan.made[name]  # type: ignore[union-attr]
    assert len(made) == 1
    return made[0]  # type: ignore[return-value]


def _destroyed_once(rpc: RpcKit, *names: str) -> bool:
    plan = rpc.settings.filter_plan
    return all(getattr(f, "destroyed", 0) == 1 for name in names for f in plan.made[name])  # type: ignore[union-attr]


class _Counting(Scripted):
    destroyed = 0

    def on_destroy(self) -> None:
        self.destroyed += 1


def counting(**script: Any):
    return lambda callbacks: _Counting(callbacks, **script)


def test_a_listener_without_filters_serves_plain_requests():
    rpc = RpcKit(V1)
    request = rpc.request(V1.request(5, HEADERS, b"BODY", class_name=CLASS))
    assert type(request) is RpcRequest and rpc.request_type is RpcRequest
    rpc.respond("a", _ok())
    assert rpc.caller.answers[0].request_id == 5 and rpc.ended()


def test_filters_see_the_frame_headers_and_body_and_the_bytes_go_through_untouched():
    rpc = RpcKit(V1, plan_of(("look", counting())))
    raw = V1.request(5, HEADERS, b"BODY", class_name=CLASS)
    request = rpc.request(raw)
    assert type(request) is FilteredRpcRequest
    seen = _made(rpc, "look").seen
    assert [call for call, _ in seen] == ["decode_headers", "decode_data"]
    headers = seen[0][1]
    assert headers.get(b"service") == b"svc.a" and headers.get(b"class_name") == CLASS.encode()
    assert headers.get(b":authority") == b"svc.a" and headers.get(b":method") == b"echo"
    assert headers.get(b"rpc_trace_context.sofatraceid") == b"t1"
    assert seen[1][1] == b"BODY"
    upstream_id, sent, _ = rpc.upstreams["a"].sent[0]
    assert sent == V1.request(upstream_id, HEADERS, b"BODY", class_name=CLASS)  # the same bytes, its id
    rpc.respond("a", _ok(headers={"k": "v"}))
    assert [call for call, _ in seen[2:]] == ["encode_headers", "encode_data"]
    assert seen[3][1] == b"RESULT"
    assert rpc.caller.written == [_ok(headers={"k": "v"})(5)]
    assert rpc.ended() and _destroyed_once(rpc, "look")
    assert rpc.protocol_stats.status_codes == {bolt.SUCCESS: 1}


def _set_headers(callbacks: FilterCallbacks, headers: Any, end_stream: bool) -> FilterStatus:
    headers.set(b"x-caller", b"app")
    headers.remove(b"sofa_head_method_name")
    return CONTINUE


def test_a_header_change_on_bolt_changes_the_bytes_sent():
    for codec, extra in ((V1, {}), (V2, {"crc": True})):
        rpc = RpcKit(codec, plan_of(("mutate", scripted(decode_headers=_set_headers))))
        rpc.request(codec.request(5, HEADERS, b"BODY", class_name=CLASS, **extra))
        upstream_id, sent, _ = rpc.upstreams["a"].sent[0]
        changed = {"service": "svc.a", "rpc_trace_context.sofaTraceId": "t1", "x-caller": "app"}
        assert sent == codec.request(upstream_id, changed, b"BODY", class_name=CLASS, **extra)
        assert rpc.logger.lines == [] and rpc.started[0].info.request_headers["x-caller"] == "app"
        rpc.respond("a", _ok(codec, **extra))
        assert rpc.ended()


def test_a_response_header_change_changes_the_bytes_answered():
    def stamp(callbacks: FilterCallbacks, status: int, headers: Any, end_stream: bool) -> FilterStatus:
        assert status == 200 and headers.get(b"sofa_head_response") == b"ok"
        headers.set(b"x-served-by", b"mesh")
        return CONTINUE

    rpc = RpcKit(V2, plan_of(("stamp", scripted(encode_headers=stamp))))
    rpc.request(V2.request(8, HEADERS, b"BODY", class_name=CLASS, crc=True))
    rpc.respond("a", _ok(V2, headers={"sofa_head_response": "ok"}, crc=True))
    assert rpc.caller.written == [_ok(V2, headers={"sofa_head_response": "ok", "x-served-by": "mesh"}, crc=True)(8)]
    assert rpc.ended()


def test_routing_reads_the_headers_as_the_filters_left_them():
    def reroute(callbacks: FilterCallbacks, headers: Any, end_stream: bool) -> FilterStatus:
        headers.set(b"service", b"svc.b")
        return CONTINUE

    rpc = RpcKit(V1, plan_of(("reroute", scripted(decode_headers=reroute))))
    rpc.request(V1.request(5, HEADERS, b"", class_name=CLASS))
    assert rpc.upstreams["a"].sent == [] and len(rpc.upstreams["b"].sent) == 1
    rpc.respond("b", _ok())
    assert rpc.ended() and rpc.logger.lines[0].upstream_cluster == "b"


def test_a_filters_local_reply_is_the_codecs_status_and_nothing_goes_upstream():
    rpc = RpcKit(V2, plan_of(("deny", counting(decode_headers=reply(403, details="rbac_access_denied"))),
                             ("watch", counting())))
    rpc.request(V2.request(21, HEADERS, b"BODY", class_name=CLASS, crc=True))
    assert rpc.upstreams["a"].sent == []
    assert rpc.caller.written == [V2.response(21, bolt.SERVER_EXCEPTION, crc=True)]
    # the reply ran through the encoder filters as an HTTP status alone: the codec renders the rest
    watch = _made(rpc, "watch").seen
    assert [call for call, _ in watch] == ["encode_headers"] and watch[0][1] == 403
    info = rpc.logger.lines[0]
    assert info.response_code == 403 and rpc.protocol_stats.downstream_rq_local_reply == 1
    assert rpc.ended() and _destroyed_once(rpc, "deny", "watch")


def test_a_one_way_request_answered_by_a_filter_gets_no_answer():
    rpc = RpcKit(V1, plan_of(("deny", counting(decode_headers=reply(403)))))
    rpc.request(V1.request(3, HEADERS, b"", class_name=CLASS, oneway=True))
    assert rpc.caller.written == [] and rpc.upstreams["a"].sent == [] and rpc.ended()


def test_a_held_request_whose_caller_goes_away_ends_once():
    rpc = RpcKit(V1, plan_of(("hold", counting(decode_headers=STOP))))
    rpc.request(V1.request(5, HEADERS, b"BODY", class_name=CLASS))
    assert rpc.caller.requests and rpc.stats.downstream_rq_active == 1
    rpc.caller.hang_up(DOWNSTREAM_CLOSED)
    assert rpc.upstreams["a"].sent == [] and rpc.caller.written == []
    assert rpc.logger.lines[0].response_flags == [flags.DOWNSTREAM_CONNECTION_TERMINATION]
    assert rpc.ended() and _destroyed_once(rpc, "hold")


def test_a_filter_continuing_later_sends_the_whole_frame_then():
    def later(callbacks: FilterCallbacks, *_: Any) -> FilterStatus:
        callbacks.connection.loop.call_later(0.5, callbacks.continue_decoding)
        return STOP

    rpc = RpcKit(V1, plan_of(("later", counting(decode_headers=later)), ("buffer", counting(decode_headers=STOP_AND_BUFFER))))
    rpc.request(V1.request(5, HEADERS, b"BODY", class_name=CLASS))
    assert rpc.upstreams["a"].sent == []
    rpc.loop.advance(1)
    assert [seen for seen in _made(rpc, "buffer").seen if seen[0] == "decode_data"] == [("decode_data", b"BODY")]
    upstream_id, sent, _ = rpc.upstreams["a"].sent[0]
    assert sent == V1.request(upstream_id, HEADERS, b"BODY", class_name=CLASS)
    rpc.respond("a", _ok())
    assert rpc.ended() and _destroyed_once(rpc, "later", "buffer")


def test_an_encoder_filters_reply_replaces_the_response_without_touching_the_upstream():
    rpc = RpcKit(V1, plan_of(("limit", counting(encode_headers=reply(429, flags.RATE_LIMITED)))))
    rpc.request(V1.request(5, HEADERS, b"", class_name=CLASS))
    rpc.respond("a", _ok())
    # Envoy's 429 is MOSN's LimitExceededCode (509), UNKNOWN in its bolt mapping
    assert rpc.caller.written == [V1.response(5, bolt.UNKNOWN)]
    upstream = rpc.upstreams["a"]
    assert upstream.cancelled == [] and not upstream.closed and rpc.clusters["a"].xpools.pool.released == 1
    assert rpc.logger.lines[0].response_flags == [flags.RATE_LIMITED] and rpc.ended()


def test_a_reply_after_the_response_passed_some_encoder_filters_still_answers():
    def deny_body(callbacks: FilterCallbacks, data: bytes, end_stream: bool) -> FilterStatus:
        callbacks.send_local_reply(503, b"", None, "late")
        return STOP

    rpc = RpcKit(V1, plan_of(("inner", counting(encode_data=deny_body))))
    rpc.request(V1.request(5, HEADERS, b"", class_name=CLASS))
    rpc.respond("a", _ok())
    assert rpc.caller.written == [V1.response(5, bolt.SERVER_THREADPOOL_BUSY)] and rpc.ended()


def test_the_deadline_with_filters_is_the_codecs_timeout_through_the_encoder_filters():
    rpc = RpcKit(V1, plan_of(("watch", counting())), timeout=1.0)
    rpc.request(V1.request(5, HEADERS, b"", class_name=CLASS))
    rpc.loop.advance(2)
    assert rpc.caller.written == [V1.response(5, bolt.TIMEOUT)]
    watch = _made(rpc, "watch").seen
    assert ("encode_headers", 504) in watch
    assert rpc.upstreams["a"].cancelled == [rpc.upstreams["a"].sent[0][0]] and rpc.ended()


def test_a_filter_that_raises_is_contained_to_its_request():
    def boom(callbacks: FilterCallbacks, *_: Any) -> FilterStatus:
        raise RuntimeError("bug")

    rpc = RpcKit(V1, plan_of(("boom", counting(decode_headers=boom))))
    rpc.request(V1.request(5, HEADERS, b"", class_name=CLASS))
    assert rpc.caller.written == [V1.response(5, bolt.UNKNOWN)]
    assert rpc.logger.lines[0].response_flags == [flags.FILTER_FAILED]
    assert rpc.protocol_stats.downstream_rq_filter_error == rpc.stats.downstream_rq_filter_error == 1
    assert rpc.logger.lines[0].response_code_details == "filter_raised[boom]" and rpc.ended()
    rpc.request(V1.request(6, HEADERS, b"", class_name=CLASS))  # the next request is served
    assert rpc.caller.written[-1] == V1.response(6, bolt.UNKNOWN) and rpc.ended()


def test_a_header_change_the_codec_cannot_carry_is_refused_not_dropped():
    def huge(callbacks: FilterCallbacks, headers: Any, end_stream: bool) -> FilterStatus:
        headers.set(b"x-big", b"v" * 70000)
        return CONTINUE

    rpc = RpcKit(V1, plan_of(("huge", counting(decode_headers=huge))))
    rpc.request(V1.request(5, HEADERS, b"", class_name=CLASS))
    assert rpc.upstreams["a"].sent == [] and rpc.caller.written == [V1.response(5, bolt.UNKNOWN)]
    assert rpc.logger.lines[0].response_flags == [flags.FILTER_FAILED] and rpc.ended()


def test_an_after_choose_host_filter_sees_the_host_the_request_then_goes_to():
    hosts: list[str | None] = []

    def look(callbacks: FilterCallbacks, *_: Any) -> FilterStatus:
        hosts.append(callbacks.stream_info.upstream_host)
        return CONTINUE

    rpc = RpcKit(V1, plan_of(("host", counting(decode_headers=look), FilterPhase.AFTER_CHOOSE_HOST)))
    rpc.request(V1.request(5, HEADERS, b"", class_name=CLASS))
    cluster = rpc.clusters["a"]
    assert hosts == [cluster.hosts[0].address] and cluster.choices == 1 and len(rpc.upstreams["a"].sent) == 1
    rpc.respond("a", _ok())
    assert rpc.ended()


def test_no_route_with_filters_is_the_codecs_no_processor():
    rpc = RpcKit(V1, plan_of(("watch", counting())))
    rpc.request(V1.request(5, {"service": "nowhere"}, b"", class_name=CLASS))
    assert rpc.caller.written == [V1.response(5, bolt.NO_PROCESSOR)]
    assert rpc.logger.lines[0].response_flags == [flags.NO_ROUTE] and rpc.ended()


def test_per_route_filter_config_comes_from_the_route():
    found: list[object] = []

    def look(callbacks: FilterCallbacks, *_: Any) -> FilterStatus:
        found.append(callbacks.per_filter_config())
        return CONTINUE

    rpc = RpcKit(V1, plan_of(("cfg", counting(decode_headers=look))))
    rpc.table.routes["svc.a"].filter_configs["cfg"] = {"tuned": True}
    rpc.request(V1.request(5, HEADERS, b"", class_name=CLASS))
    assert found == [{"tuned": True}]
    rpc.respond("a", _ok())
    assert rpc.ended()


# --- the built-in filters on RPC --------------------------------------------------------------


def _mosn(module: Any, raw: dict[str, Any]) -> Any:
    log = IssueLog()
    decoded = module.decode_mosn(raw, "$.config", log)
    assert log.errors == [] and decoded is not None
    return module.FACTORY.create_config(decoded)


def test_fault_abort_answers_the_bolt_status_not_http():
    config = _mosn(fault, {"abort": {"status": 503, "percentage": 100}})
    rpc = RpcKit(V1, plan_of(("fault", config, FilterPhase.AFTER_ROUTE)))
    rpc.request(V1.request(5, HEADERS, b"", class_name=CLASS))
    assert rpc.caller.written == [V1.response(5, bolt.SERVER_THREADPOOL_BUSY)]
    info = rpc.logger.lines[0]
    assert info.response_flags == [flags.FAULT_INJECTED] and info.response_code_details == "fault_filter_abort"
    assert rpc.ended()


def test_fault_delay_holds_the_request_on_the_loop():
    config = _mosn(fault, {"delay": {"fixed_delay": "2s", "percentage": 100}})
    rpc = RpcKit(V1, plan_of(("fault", config, FilterPhase.AFTER_ROUTE)))
    rpc.request(V1.request(5, HEADERS, b"", class_name=CLASS))
    assert rpc.upstreams["a"].sent == []
    rpc.loop.advance(2.5)
    assert len(rpc.upstreams["a"].sent) == 1
    rpc.respond("a", _ok())
    assert rpc.caller.answers[0].status == bolt.SUCCESS
    assert rpc.logger.lines[0].response_flags == [flags.DELAY_INJECTED] and rpc.ended()


def test_header_mutation_on_dubbo_rewrites_the_attachments_sent():
    config = header_mutation.FACTORY.create_config(header_mutation.decode_envoy({
        "@type": header_mutation.TYPE_URL,
        "mutations": {"request_mutations": [{"append": {"header": {"key": "x-caller", "value": "mesh"},
                                                        "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"}}]}},
        "$.typed_config", IssueLog()))
    codec = DubboCodec()
    rpc = RpcKit(codec, plan_of(("hm", config)))
    rpc.request(codec.request(5, "svc.a", "echo", attachments={"group": "g"}))
    upstream_id, sent, _ = rpc.upstreams["a"].sent[0]
    assert sent == codec.request(upstream_id, "svc.a", "echo", attachments={"group": "g", "x-caller": "mesh"})
    rpc.respond("a", lambda request_id: codec.value_response(request_id, b"N"))
    assert rpc.ended()


def test_a_user_filter_changing_a_dubbo_responses_headers_gets_500_ff_not_the_unchanged_answer():
    """The backstop behind the load-time refusal (config/rpc_filter_rules.py) for filters that do
    not declare their header changes: a Dubbo response has no header map to carry them."""
    def stamp(callbacks: FilterCallbacks, status: int, headers: Any, end_stream: bool) -> FilterStatus:
        headers.set(b"x-served-by", b"mesh")
        return CONTINUE

    codec = DubboCodec()
    rpc = RpcKit(codec, plan_of(("stamp", counting(encode_headers=stamp))))
    rpc.request(codec.request(5, "svc.a", "echo"))
    rpc.respond("a", lambda request_id: codec.value_response(request_id, write_string("ok")))
    assert rpc.caller.written == [codec.response(5, dubbo.SERVICE_ERROR, write_string("500|internal error"))]
    line = rpc.logger.lines[0]
    assert (line.response_code, line.response_flags) == (500, [flags.FILTER_FAILED])
    assert line.response_code_details == "rpc_headers_not_encodable" and rpc.ended()


def test_payload_limit_answers_in_the_rpc_status():
    config = _mosn(payload_limit, {"max_entity_size": 4})
    codec = DubboCodec()
    rpc = RpcKit(codec, plan_of(("limit", config)))
    request = codec.request(5, "svc.a", "echo", attachments={"group": "g"})
    rpc.request(request)
    assert rpc.upstreams["a"].sent == []
    answer = rpc.caller.answers[0]
    assert answer.kind == FrameKind.RESPONSE and answer.request_id == 5 and answer.status == 70  # SERVICE_ERROR
    assert rpc.logger.lines[0].response_code == 413 and rpc.ended()


def test_a_response_whose_header_map_is_garbage_is_an_upstream_protocol_error():
    rpc = RpcKit(V1, plan_of(("watch", counting())))
    rpc.request(V1.request(5, HEADERS, b"", class_name=CLASS))

    def garbage(request_id: int) -> bytes:
        header_map = b"\x00\x00\x00\x09key"  # a key longer than the map
        head = bolt._V1_RESP.pack(1, bolt.TYPE_RESPONSE, bolt.CMD_RESPONSE, 1, request_id, bolt.HESSIAN2,
                                  bolt.SUCCESS, 0, len(header_map), 0)
        return head + header_map

    rpc.respond("a", garbage)
    assert rpc.caller.written == [V1.response(5, bolt.CONNECTION_CLOSED)]
    assert rpc.logger.lines[0].response_flags == [flags.UPSTREAM_PROTOCOL_ERROR] and rpc.ended()


def test_render_rpc_gives_a_rate_limits_429_as_mosns_limit_exceeded_and_keeps_a_configured_status():
    codec = DubboCodec()
    request = codec.decode(bytearray(codec.request(4, "svc.a", "echo")))
    assert request is not None
    limited = render_rpc(LocalReply(429, b"", flags.RATE_LIMITED, "local_rate_limited"), codec, request)
    assert limited == codec.response(4, dubbo.BAD_REQUEST, write_string("509|limit exceeded"))
    configured = render_rpc(LocalReply(503, b"", flags.RATE_LIMITED, "flow_control"), codec, request)
    assert configured == codec.response(4, dubbo.BAD_REQUEST, write_string("503|upstream overflow"))
    # the proxy's own causes keep the codec's reason for them, the text body as the message
    no_route = render_rpc(LocalReply(404, b"no route for this request", flags.NO_ROUTE), codec, request)
    assert no_route == codec.local_reply(request, LocalStatus.NO_ROUTE, "no route for this request")


def test_mosns_flow_control_limits_rpc_calls_by_service_as_limit_exceeded():
    config = _mosn(flow_control, {"global_switch": True, "limit_key_type": "URI",
                                  "rules": [{"resource": "svc.a", "threshold": 1}]})
    codec = DubboCodec()
    rpc = RpcKit(codec, plan_of(("flowControlFilter", config, FilterPhase.AFTER_ROUTE)))
    rpc.request(codec.request(1, "svc.a", "echo"))
    rpc.respond("a", lambda request_id: codec.value_response(request_id, b"N"))
    rpc.request(codec.request(2, "svc.a", "echo"))  # over the threshold in this interval
    assert len(rpc.upstreams["a"].sent) == 1
    assert rpc.caller.written[-1] == codec.response(2, dubbo.BAD_REQUEST, write_string("509|limit exceeded"))
    assert rpc.logger.lines[-1].response_flags == [flags.RATE_LIMITED] and rpc.ended()


def test_rbac_denies_an_rpc_call_by_service_and_header_as_the_codecs_permission_status():
    log = IssueLog()
    decoded = rbac.decode_envoy({"rules": {"action": "ALLOW", "policies": {"tenant a calls svc.a": {
        "permissions": [{"url_path": {"path": {"exact": "svc.a"}}}],
        "principals": [{"header": {"name": "x-tenant", "string_match": {"exact": "a"}}}]}}}}, "$.typed_config", log)
    assert log.errors == [] and decoded is not None
    config = rbac.FACTORY.create_config(decoded)
    store = StatsStore()
    config.bind_stats(lambda scope, cls: store.filter("rpc", scope, cls))
    for codec, denied in ((V1, V1.response(6, bolt.SERVER_EXCEPTION)),
                          (DubboCodec(), DubboCodec().response(6, dubbo.SERVER_ERROR,
                                                               write_string("403|permission denied")))):
        rpc = RpcKit(codec, plan_of(("rbac", config)))
        if isinstance(codec, DubboCodec):
            allowed, refused = (codec.request(5, "svc.a", "echo", attachments={"x-tenant": "a"}),
                                codec.request(6, "svc.a", "echo", attachments={"x-tenant": "b"}))
        else:
            allowed = V1.request(5, {"service": "svc.a", "x-tenant": "a"}, b"", class_name=CLASS)
            refused = V1.request(6, {"service": "svc.a", "x-tenant": "b"}, b"", class_name=CLASS)
        rpc.request(allowed)
        assert len(rpc.upstreams["a"].sent) == 1
        rpc.request(refused)
        assert len(rpc.upstreams["a"].sent) == 1 and rpc.caller.written[-1] == denied
        info = rpc.logger.lines[-1]
        assert info.response_code == 403
        assert info.response_code_details == "rbac_access_denied_matched_policy[none]"
