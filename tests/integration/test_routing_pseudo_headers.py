"""Route conditions on Envoy's pseudo-headers (`:method`, `:path`, `:scheme`, `:authority`)
through a real listener, for HTTP/1.1 and HTTP/2 downstreams, with and without stream filters.
The same bootstrap runs under real Envoy in test_envoy_differential.py."""

from __future__ import annotations

import pytest

from tests.support.admin import log_lines
from tests.support.envoy_proxy import PSEUDO_EXPECTED, pseudo_exchange, pseudo_routes, serving
from tests.support.proxy import Pymosn


@pytest.mark.parametrize("filtered", [False, True], ids=["no filters", "header mutation"])
def test_routes_match_pseudo_headers_on_http1_and_http2(filtered, tmp_path):
    with serving(Pymosn, lambda port, log: pseudo_routes(port, log, filtered), tmp_path) as (port, log):
        assert pseudo_exchange(port) == PSEUDO_EXPECTED
        lines = log_lines(log, len(PSEUDO_EXPECTED))
    assert len(lines) == len(PSEUDO_EXPECTED)  # one line per stream
    assert lines[0] == "POST / 201 - direct_response"
    assert lines[1] == "GET /p?x=1 202 - direct_response"
