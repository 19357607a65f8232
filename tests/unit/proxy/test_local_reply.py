"""The one local-reply mapper: each cause as HTTP and as a gRPC trailers-only status."""

from __future__ import annotations

import pytest

from pymosn.api import flags
from pymosn.proxy import grpc
from pymosn.proxy.filter_manager import LocalReply
from pymosn.proxy.grpc import GrpcCall
from pymosn.proxy.local_reply import REPLIES, DirectReply, render, render_grpc, render_http, reply_for


@pytest.mark.parametrize("flag", sorted(REPLIES))
def test_every_cause_has_a_status_a_text_body_and_renders_as_http(flag):
    reply = reply_for(flag)
    status, headers, body = render_http(reply)
    assert 400 <= status < 600 and body.endswith(b"\n") and reply.flag == flag
    assert dict(headers) == {b"content-type": b"text/plain", b"content-length": b"%d" % len(body)}


def test_a_cause_takes_a_given_body_status_and_details():
    reply = reply_for(flags.UPSTREAM_CONNECTION_FAILURE, b"upstream connect error: refused\n", 503, "x")
    assert (reply.status, reply.body, reply.details) == (503, b"upstream connect error: refused\n", "x")
    assert reply_for(flags.NO_ROUTE).details == "route_not_found"


@pytest.mark.parametrize(
    ("flag", "status"),
    [
        (flags.NO_ROUTE, grpc.UNIMPLEMENTED),
        (flags.NO_HEALTHY_UPSTREAM, grpc.UNAVAILABLE),
        (flags.UPSTREAM_OVERFLOW, grpc.UNAVAILABLE),
        (flags.UPSTREAM_CONNECTION_FAILURE, grpc.UNAVAILABLE),
        (flags.UPSTREAM_CONNECTION_TERMINATION, grpc.UNAVAILABLE),
        (flags.UPSTREAM_REQUEST_TIMEOUT, grpc.DEADLINE_EXCEEDED),
        (flags.DURATION_TIMEOUT, grpc.DEADLINE_EXCEEDED),
        (flags.REQUEST_ENTITY_TOO_LARGE, grpc.RESOURCE_EXHAUSTED),
    ],
)
def test_the_proxys_own_causes_have_a_grpc_status_each(flag, status):
    got, (http_status, headers, body) = render_grpc(reply_for(flag), http1=False)
    h = dict(headers)
    assert got == status and http_status == 200 and body == b""
    assert h[b"grpc-status"] == b"%d" % status and h[b"content-type"] == b"application/grpc"
    assert b"content-length" not in h  # trailers-only over HTTP/2: END_STREAM says it


def test_over_http1_a_grpc_reply_has_a_length_and_the_detail_percent_encoded():
    reply = reply_for(flags.UPSTREAM_CONNECTION_FAILURE, b"upstream connect error: refused 100%\n")
    status, (_, headers, _) = render_grpc(reply, http1=True)
    h = dict(headers)
    assert status == grpc.UNAVAILABLE and h[b"content-length"] == b"0"
    assert h[b"grpc-message"] == b"upstream connect error: refused 100%25"


@pytest.mark.parametrize(("http", "status"), [(403, grpc.PERMISSION_DENIED), (429, grpc.UNAVAILABLE),
                                              (401, grpc.UNAUTHENTICATED), (500, grpc.UNKNOWN)])
def test_a_filters_reply_maps_its_http_status_as_envoy_does(http, status):
    reply = LocalReply(http, b"rbac: access denied", flags.RATE_LIMITED if http == 429 else None, "x",
                       {b"x-ratelimit-limit": b"10"})
    got, (_, headers, _) = render_grpc(reply, http1=False)
    h = dict(headers)
    assert got == status and h[b"grpc-message"] == b"rbac: access denied"
    assert h[b"x-ratelimit-limit"] == b"10"  # the filter's headers go along


def test_a_grpc_status_the_reply_names_wins():
    reply = LocalReply(200, b"", flags.FAULT_INJECTED, "fault_filter_abort",
                       {b"grpc-status": b"14", b"grpc-message": b"fault filter abort"})
    got, (_, headers, _) = render_grpc(reply, http1=False)
    assert got == 14 and headers.count((b"grpc-status", b"14")) == 1
    assert dict(headers)[b"grpc-message"] == b"fault filter abort"


def test_render_picks_grpc_for_a_grpc_call_but_never_for_a_direct_response():
    call = GrpcCall(b"/pkg.Svc/M", None)
    assert render(LocalReply(403, b"no"), call, False)[0] == 200 and call.status == grpc.PERMISSION_DENIED
    direct = DirectReply(302, b"", None, "direct_response", None, ((b"location", b"/x"),))
    status, headers, _ = render(direct, GrpcCall(b"/", None), False)
    assert status == 302 and (b"location", b"/x") in headers
    assert render(LocalReply(403, b"no"), None, False)[0] == 403
