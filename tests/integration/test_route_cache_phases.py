"""clear_route_cache() through a real listener, by MOSN phase: a filter (a third-party plugin,
loaded from its entry point) moves the request to another path and clears the route cache. In
BEFORE_ROUTE and AFTER_ROUTE the request is routed again (another cluster, another origin);
in AFTER_CHOOSE_HOST the route and host stay those already chosen, and the filter is told so
(docs/design/stream-filters.md "Clearing the route cache")."""

from __future__ import annotations

import json
import os
import textwrap

import httpx
import pytest

from tests.support.admin import log_lines, wait_stats
from tests.support.plugins import install_plugin
from tests.support.proxy import Pymosn, free_port, simple_config

REROUTE = textwrap.dedent('''
    import msgspec

    from pymosn.api.stream_filter import CONTINUE, DecoderFilter, FilterPhase


    class RerouteSettings(msgspec.Struct, forbid_unknown_fields=True):
        phase: str = "before_route"


    class _Reroute(DecoderFilter):
        def __init__(self, callbacks):
            self.callbacks = callbacks

        def decode_headers(self, headers, end_stream):
            target = headers.get(b"x-reroute")
            if target:
                headers.set(b":path", target)
                self.callbacks.clear_route_cache()
                headers.set(b"x-route-seen", self.callbacks.route.name.encode())
            return CONTINUE


    class Reroute:
        config_type = RerouteSettings

        def __init__(self, config):
            self.phase = FilterPhase[config.phase.upper()]

        def create_filter(self, callbacks):
            return _Reroute(callbacks)
    ''')


@pytest.mark.parametrize(("phase", "origin_name", "route"), [
    ("before_route", "origin-b", "to-b"),
    ("after_route", "origin-b", "to-b"),
    ("after_choose_host", "origin-a", "to-a"),
])
def test_a_cleared_route_reroutes_until_the_host_is_chosen(phase, origin_name, route, origin, origin_b, tmp_path,
                                                          monkeypatch):
    site = tmp_path / "site"
    install_plugin(site, "reroute_filter", REROUTE, "[pymosn.http_filters]\nreroute = reroute_filter:Reroute\n")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")])))
    port, admin = free_port(), free_port()
    log = tmp_path / "access.log"
    config = simple_config(
        port, [origin.port], admin_port=admin,
        routes=[{"name": "to-a", "match": {"prefix": "/a"}, "route": {"cluster_name": "origin"}},
                {"name": "to-b", "match": {"prefix": "/b"}, "route": {"cluster_name": "b"}}],
        extra_clusters=[{"name": "b", "type": "SIMPLE", "lb_type": "LB_ROUNDROBIN",
                         "hosts": [{"address": f"127.0.0.1:{origin_b.port}"}]}],
        listener={"stream_filters": [{"type": "reroute", "config": {"phase": phase}}],
                  "access_logs": [{"log_path": str(log),
                                   "log_format": "%ROUTE_NAME% %UPSTREAM_CLUSTER% %RESPONSE_CODE% %REQ(:PATH)%\n"}]})
    with Pymosn(config, tmp_path, port):
        response = httpx.get(f"http://127.0.0.1:{port}/a/x", headers={"x-reroute": "/b/echo"}, timeout=10)
        echoed = json.loads(response.content)
        lines = log_lines(log, 1)
        wait_stats(admin, {"http.ingress.downstream_rq_active": 0, "cluster.origin.upstream_rq_active": 0,
                           "cluster.b.upstream_rq_active": 0})
    assert response.status_code == 200
    assert (echoed["origin"], echoed["path"], echoed["headers"]["x-route-seen"]) == (origin_name, "/b/echo", route)
    cluster = "origin" if route == "to-a" else "b"
    assert lines == [f"{route} {cluster} 200 /b/echo"]
