"""A real pymosn with one HTTP listener `ingress` and stream filters in front of a real origin,
in MOSN's format or Envoy's: the setup the stream-filter integration tests share.

A test module writes its two config builders, `(port, admin, origin, log) -> dict`, and a
module fixture over both formats:

    @pytest.fixture(scope="module", params=["mosn", "envoy"])
    def env(request, tmp_path_factory):
        yield from filter_env.start(request.param, tmp_path_factory, mosn_config, envoy_config)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.support.admin import log_lines, stats, wait_for
from tests.support.envoy_bootstraps import address
from tests.support.origin import Origin
from tests.support.proxy import Pymosn, free_port

# status, flags, details and path: what the filter tests read of each request's line
LOG_FORMAT = "%RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS% %REQ(:PATH)%\n"
IDLE = {"http.ingress.downstream_rq_active": 0, "cluster.origin.upstream_rq_active": 0}
ROUTER = {"name": "envoy.filters.http.router",
          "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}

Builder = Callable[[int, int, int, str], dict]


def envoy_bootstrap(port: int, admin: int, origin: int, log: str, routes: list[dict], http_filters: list[dict],
                    **vhost: object) -> dict:
    """Listener `ingress` (stat prefix too) with one `*` virtual host of `routes` (plus `vhost`'s
    fields), `http_filters` then the router, the access log at `log`, and a STATIC `origin`."""
    hcm = {"@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3."
                    "HttpConnectionManager", "stat_prefix": "ingress",
           "route_config": {"name": "r", "virtual_hosts": [{"name": "all", "domains": ["*"], "routes": routes,
                                                            **vhost}]},
           "access_log": [{"name": "envoy.access_loggers.file", "typed_config": {
               "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog", "path": log,
               "log_format": {"text_format": LOG_FORMAT}}}],
           "http_filters": [*http_filters, ROUTER]}
    return {
        "admin": {"address": address(admin)},
        "static_resources": {
            "listeners": [{"name": "ingress", "address": address(port), "filter_chains": [{"filters": [
                {"name": "envoy.filters.network.http_connection_manager", "typed_config": hcm}]}]}],
            "clusters": [{"name": "origin", "type": "STATIC", "connect_timeout": "1s", "load_assignment": {
                "cluster_name": "origin",
                "endpoints": [{"lb_endpoints": [{"endpoint": {"address": address(origin)}}]}]}}]}}


def start(config_format: str, tmp_path_factory, mosn_config: Builder, envoy_config: Builder) -> Iterator[Pymosn]:
    """The module fixture's body: an origin and a pymosn of the format's config, with
    `admin_port`, `log` (the access log's path) and `format` set on it."""
    tmp = tmp_path_factory.mktemp(f"filters-{config_format}")
    build = mosn_config if config_format == "mosn" else envoy_config
    with pytest.MonkeyPatch.context() as patch, Origin() as origin:
        patch.setenv("PYMOSN_FILE_FLUSH_INTERVAL_MSEC", "50")  # each test waits for its lines
        port, admin = free_port(), free_port()
        log = tmp / "access.log"
        with Pymosn(build(port, admin, origin.port, str(log)), tmp, port) as proxy:
            proxy.admin_port = admin
            proxy.log = log
            proxy.format = config_format
            yield proxy


def request(proxy: Pymosn, path: str, method: str = "GET", **kwargs) -> httpx.Response:
    return httpx.request(method, f"http://127.0.0.1:{proxy.port}{path}", timeout=10, **kwargs)


def line_count(proxy: Pymosn) -> int:
    """The access log's lines once every request that ended has written its own (the log is
    flushed on a timer: counting too early would take an earlier test's last line for this
    one's), read from the listener's counters."""
    def settled() -> bool:
        counters = stats(proxy.admin_port)
        ended = counters.get("http.ingress.downstream_rq_total", 0) - counters.get("http.ingress.downstream_rq_active", 0)
        return _lines(proxy) >= ended

    wait_for(settled, 10, "the access log to hold a line per ended request")
    return _lines(proxy)


def _lines(proxy: Pymosn) -> int:
    return len(proxy.log.read_text().splitlines()) if proxy.log.exists() else 0


def logged(proxy: Pymosn, before: int) -> str:
    """The one line the request wrote (it is the next one, and no other follows it)."""
    lines = log_lines(proxy.log, before + 1)
    assert len(lines) == before + 1
    return lines[-1]
