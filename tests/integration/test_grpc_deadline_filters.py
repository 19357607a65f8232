"""A gRPC call's grpc-timeout on a listener with stream filters: it runs from the arrival of
the request headers, so the time a filter holds the request (a fault delay) counts, as Envoy's
max_stream_duration (grpc_timeout_header_max) counts from the stream's start. The route
timeout still runs from the end of the request at the router. Real listener, real upstream;
the same bootstrap (plus the one field pymosn refuses) runs under real Envoy in
test_envoy_differential.py."""

from __future__ import annotations

from tests.support.admin import log_lines
from tests.support.envoy_proxy import delayed_grpc, grpc_call, serving
from tests.support.origin import Origin
from tests.support.proxy import Pymosn


def test_a_fault_delay_counts_towards_grpc_timeout(tmp_path):
    with Origin() as origin:
        with serving(Pymosn, lambda port, log: delayed_grpc(port, log, origin.port, delay=2), tmp_path) as (port, log):
            head = grpc_call(port, "/slow/10", "300m")
            lines = log_lines(log, 1)
        # the deadline expired while the fault filter held the request: it never went upstream
        assert (head[":status"], head["grpc-status"]) == ("200", "4")  # DEADLINE_EXCEEDED
        assert origin.heads == []
    assert lines == ["POST /slow/10 200 DI,DT max_duration_timeout"]


def test_a_deadline_longer_than_the_delay_lets_the_call_through(tmp_path):
    with Origin() as origin:
        with serving(Pymosn, lambda port, log: delayed_grpc(port, log, origin.port, delay=0.2), tmp_path) as (port, log):
            head = grpc_call(port, "/slow/10", "20S")
            lines = log_lines(log, 1)
        assert head[":status"] == "200" and "grpc-status" not in head  # the upstream's answer
        assert origin.heads == ["/slow/10"]
    assert lines == ["POST /slow/10 200 DI via_upstream"]
