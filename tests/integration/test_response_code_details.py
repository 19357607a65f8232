"""%RESPONSE_CODE_DETAILS% through a real listener, as Envoy writes it: requests that break
HTTP/1.1 or HTTP/2 (the codec's name for the error), resets after the response started
(upstream_reset_after_response_started{...}, response_timeout), clients that reset (DR
http2.remote_reset) or go away (DC downstream_remote_disconnect). Exact access-log lines, one per
stream, and every counter back to zero. The same cases run under real Envoy in
test_envoy_differential.py."""

from __future__ import annotations

import pytest

from tests.support import details_cases
from tests.support.admin import log_lines, stats, wait_for
from tests.support.origin import Origin
from tests.support.proxy import Pymosn, free_port


@pytest.mark.parametrize(("codec", "cases"), [("HTTP1", details_cases.HTTP1), ("AUTO", details_cases.HTTP2)],
                         ids=["http1", "http2"])
def test_each_ending_is_logged_with_envoys_details(codec, cases, tmp_path):
    port, admin = free_port(), free_port()
    log = tmp_path / "access.log"
    with Origin() as origin, Pymosn(details_cases.bootstrap(port, log, origin.port, codec, admin), tmp_path, port):
        for _, send, _, _ in cases:
            send(port)
        lines = log_lines(log, len(cases))

        def idle() -> bool:
            gauges = {k: v for k, v in stats(admin).items() if k.endswith("rq_active")}
            return bool(gauges) and not any(gauges.values())
        wait_for(idle, what="every rq_active back to 0")
    assert lines == [line for _, _, line, _ in cases]
