"""Stream filters configured on a real Bolt listener (MOSN's stream_filters and per-route
per_filter_config), between a real Bolt client and a real Bolt upstream: header mutation changes
the header maps on the wire both ways, a fault abort answers the Bolt status (not HTTP), and a
fault delay holds the request, even when its caller hangs up. Each request ends once: gauges back
at zero and one access-log line."""

from __future__ import annotations

import socket

import pytest

from pymosn.protocol.xprotocol import bolt
from pymosn.protocol.xprotocol.api import FrameKind
from tests.integration.test_xprotocol import rpc_config
from tests.support.admin import log_lines, stats, wait_stats
from tests.support.endings import hang_up
from tests.support.proxy import Pymosn, free_port
from tests.support.xexample_peer import BOLT_V2, XExampleClient, XExampleServer

LOG_FORMAT = "%RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS% %REQ(SERVICE)% %REQ(X-CALLER)%\n"
IDLE = {"http.rpc.downstream_rq_active": 0, "cluster.a.upstream_rq_active": 0, "rpc.boltv2.downstream_rq_active": 0}
HEADER_MUTATION = {"mutations": {
    "request_mutations": [{"append": {"header": {"key": "x-caller", "value": "mesh"},
                                      "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"}},
                          {"remove": "x-secret"}],
    "response_mutations": [{"append": {"header": {"key": "x-served-by", "value": "pymosn"}}}],
}}
SERVICE = {"name": "service", "value": "com.acme.Echo:1.0"}
ROUTES = [
    {"match": {"headers": [SERVICE, {"name": "x-fault", "value": "abort"}]}, "route": {"cluster_name": "a"},
     "per_filter_config": {"fault": {"abort": {"status": 503, "percentage": 100}}}},
    {"match": {"headers": [SERVICE, {"name": "x-fault", "value": "delay"}]}, "route": {"cluster_name": "a"},
     "per_filter_config": {"fault": {"delay": {"fixed_delay": "1s", "percentage": 100}}}},
    {"match": {"headers": [SERVICE]}, "route": {"cluster_name": "a"}},
]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("rpc_filters")
    with pytest.MonkeyPatch.context() as patch, XExampleServer("a", dialect=BOLT_V2) as upstream:
        patch.setenv("PYMOSN_FILE_FLUSH_INTERVAL_MSEC", "50")
        port, admin = free_port(), free_port()
        log = tmp / "access.log"
        config = rpc_config(port, admin, {"a": [upstream.port]}, protocol="boltv2", routes=ROUTES)
        # MOSN's shape: the listener's stream_filters, a route's per_filter_config
        config["servers"][0]["listeners"][0].update(
            access_logs=[{"log_path": str(log), "log_format": LOG_FORMAT}],
            stream_filters=[{"type": "header_mutation", "config": HEADER_MUTATION},
                            {"type": "fault", "config": {}}])  # no fault but where a route has its own
        with Pymosn(config, tmp, port) as proxy:
            proxy.admin_port = admin
            yield proxy, upstream, log


def _lines(env) -> int:
    return len(env[2].read_text().splitlines()) if env[2].exists() else 0


def test_header_mutation_changes_the_bolt_header_maps_both_ways(env):
    proxy, upstream, log = env
    before, served = _lines(env), len(upstream.requests)
    client = XExampleClient(proxy.port, dialect=BOLT_V2)
    answer = client.call({"service": "com.acme.Echo:1.0", "x-secret": "s", "rpc_trace_context.sofaTraceId": "t"},
                         b"hello")
    client.close()
    assert answer.status == bolt.SUCCESS and BOLT_V2.body(answer) == b"hello"
    sent = upstream.requests[served]
    # what the upstream read: the mutated header map, the received names kept, CRC valid
    assert sent.headers == {"service": "com.acme.Echo:1.0", "rpc_trace_context.sofaTraceId": "t", "x-caller": "mesh"}
    assert sent.class_name == bolt.SOFA_REQUEST_CLASS
    assert BOLT_V2.codec.headers_of(answer) == {"server": "a", "x-served-by": "pymosn"}
    assert log_lines(log, before + 1)[-1] == "200 - via_upstream com.acme.Echo:1.0 mesh"
    wait_stats(proxy.admin_port, IDLE)


def test_fault_abort_answers_the_bolt_status(env):
    proxy, upstream, log = env
    before, served = _lines(env), len(upstream.requests)
    aborted = stats(proxy.admin_port).get("http.rpc.fault.aborts_injected", 0)
    client = XExampleClient(proxy.port, dialect=BOLT_V2)
    answer = client.call({"service": "com.acme.Echo:1.0", "x-fault": "abort"}, b"x")
    assert answer.kind == FrameKind.RESPONSE and answer.status == bolt.SERVER_THREADPOOL_BUSY
    assert len(upstream.requests) == served
    # the connection goes on serving
    assert client.call({"service": "com.acme.Echo:1.0"}, b"next").status == bolt.SUCCESS
    client.close()
    assert log_lines(log, before + 2)[before] == "503 FI fault_filter_abort com.acme.Echo:1.0 mesh"
    wait_stats(proxy.admin_port, {**IDLE, "http.rpc.fault.aborts_injected": aborted + 1})


def test_fault_delay_holds_the_request_and_a_caller_hanging_up_ends_it_once(env):
    proxy, upstream, log = env
    before, served = _lines(env), len(upstream.requests)
    client = XExampleClient(proxy.port, dialect=BOLT_V2)
    answer = client.call({"service": "com.acme.Echo:1.0", "x-fault": "delay"}, b"late")
    assert answer.status == bolt.SUCCESS and BOLT_V2.body(answer) == b"late"
    assert log_lines(log, before + 1)[-1] == "200 DI via_upstream com.acme.Echo:1.0 mesh"
    client.send(FrameKind.REQUEST, {"service": "com.acme.Echo:1.0", "x-fault": "delay"}, b"gone")
    wait_stats(proxy.admin_port, {"rpc.boltv2.downstream_rq_active": 1})
    hang_up(client.sock)  # while the fault filter holds the request
    assert log_lines(log, before + 2)[-1] == "0 DI,DC - com.acme.Echo:1.0 mesh"
    wait_stats(proxy.admin_port, IDLE)
    assert len(upstream.requests) == served + 1  # the abandoned request never went upstream




def test_a_caller_closing_with_a_fin_ends_a_held_request_at_once(env):
    """A plain FIN (the caller may still read) ends a request a filter holds as DC, as MOSN's
    RemoteClose resets the connection's streams, even while the caller's connection still has an
    answer to flush: nothing is forwarded or answered afterwards."""
    proxy, upstream, log = env
    before, served = _lines(env), len(upstream.requests)
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        # an answer bigger than the socket buffers, unread: the proxy holds some of it to write
        sock.sendall(BOLT_V2.request(FrameKind.REQUEST, 1, {"service": "com.acme.Echo:1.0"}, b"b" * (12 << 20)))
        assert log_lines(log, before + 1)[-1] == "200 - via_upstream com.acme.Echo:1.0 mesh"
        sock.sendall(BOLT_V2.request(FrameKind.REQUEST, 2, {"service": "com.acme.Echo:1.0", "x-fault": "delay"},
                                     b"held"))
        wait_stats(proxy.admin_port, {"rpc.boltv2.downstream_rq_active": 1})
        sock.shutdown(socket.SHUT_WR)
        assert log_lines(log, before + 2)[-1] == "0 DI,DC - com.acme.Echo:1.0 mesh"
        wait_stats(proxy.admin_port, IDLE)
    assert len(upstream.requests) == served + 1  # the held request never went upstream
