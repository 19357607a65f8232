"""The proxy core with no sockets: real route tables, clusters and stats from a MOSN config,
every host's pool a FakePool, and each request a ActiveStream (FilteredStream with filters) on a FakeServerStream.

    core = ProxyCore(routes=[{"match": {"prefix": "/"}, "route": {"cluster_name": "origin"}}])
    stream, server = core.request(b"GET", b"/a")
    core.upstream().respond(200, body=b"hi")
    assert server.status == 200 and core.idle()

`filter_plan` makes the listener one with stream filters (a FilterChainPlan, or FilterHarness-style
chain elements: (name, make[, phase]))."""

from __future__ import annotations

from typing import Any

from pymosn.api.stream_filter import FilterPhase
from pymosn.config.loader import load_config_dict
from pymosn.metrics.store import StatsStore
from pymosn.protocol.http1 import BODY_CHUNKED, BODY_LENGTH, BODY_NONE, RequestHead
from pymosn.proxy.active_stream import ActiveStream
from pymosn.proxy.filter_manager import FilterChainEntry, FilterChainPlan
from pymosn.proxy.filtered_stream import FilteredStream
from pymosn.proxy.settings import ProxySettings
from pymosn.proxy.snapshot import Snapshot, SnapshotRef
from pymosn.router.manager import RouterManager
from pymosn.upstream.cluster import ClusterManager
from tests.support.fakes import FakeClientStream, FakeLoop, FakePool, FakeServerStream

CATCH_ALL = [{"match": {"prefix": "/"}, "route": {"cluster_name": "origin"}}]


class _Made:
    """A chain element's `make` as a FilterConfig (a callable taking the callbacks)."""

    def __init__(self, make: Any) -> None:
        self.create_filter = make.create_filter if hasattr(make, "create_filter") else make


def plan_of(*chain: tuple[Any, ...]) -> FilterChainPlan:
    entries = []
    for element in chain:
        phase = element[2] if len(element) > 2 else FilterPhase.BEFORE_ROUTE
        entries.append(FilterChainEntry(element[0], _Made(element[1]), phase))
    return FilterChainPlan(entries)


class RecordingLogger:
    def __init__(self) -> None:
        self.lines: list[Any] = []  # the StreamInfo of every access-log line

    def log(self, info: Any) -> None:
        self.lines.append(info)


class ProxyCore:
    def __init__(self, routes: list[dict] | None = None, clusters: list[dict] | None = None,
                 filters: tuple[tuple[Any, ...], ...] | FilterChainPlan | None = None, **settings: Any) -> None:
        self.loop = FakeLoop()
        self.store = StatsStore()
        clusters = clusters or [{"name": "origin", "type": "SIMPLE", "lb_type": "LB_ROUNDROBIN",
                                 "hosts": [{"address": "10.0.1.1:80"}]}]
        raw = {
            "servers": [{"routers": [{"router_config_name": "r", "virtual_hosts": [
                {"name": "all", "domains": ["*"], "routers": routes or CATCH_ALL}]}]}],
            "cluster_manager": {"clusters": clusters},
        }
        config = load_config_dict(raw).config
        self.clusters = ClusterManager(config.cluster_manager.clusters, self.store)
        self.pools: dict[str, FakePool] = {}
        for cluster in self.clusters.clusters.values():
            for host in cluster.hosts:
                host.pool = self.pools[host.address] = FakePool(self.loop)
        snapshot = Snapshot(RouterManager([r for s in config.servers for r in s.routers]), self.clusters)
        self.logger = RecordingLogger()
        plan = filters if isinstance(filters, FilterChainPlan) or filters is None else plan_of(*filters)
        self.settings = ProxySettings("ingress", "r", SnapshotRef(snapshot), self.store.listener("ingress"),
                                      access_loggers=[self.logger], filter_plan=plan, **settings)

    @property
    def stats(self) -> Any:
        return self.settings.stats

    def request(self, method: bytes = b"GET", target: bytes = b"/", headers: list[tuple[bytes, bytes]] | None = None,
                body: bytes | None = None, chunked: bool = False, version: bytes = b"1.1",
                ) -> tuple[ActiveStream, FakeServerStream]:
        """Starts a request: its head (ending it unless `body` or `chunked`), then `body` whole."""
        pairs = [(b"host", b"svc.local"), *(headers or [])]
        if body is not None and not chunked:
            pairs.append((b"content-length", b"%d" % len(body)))
        head = RequestHead(method, target, version, pairs, [n.lower() for n, _ in pairs])
        head.host = b"svc.local"
        head.body_kind = BODY_CHUNKED if chunked else BODY_NONE if body is None else BODY_LENGTH
        head.content_length = len(body or b"")
        server = FakeServerStream(self.loop, "HTTP/2" if version == b"2" else "HTTP/1.1")
        stream = (ActiveStream if self.settings.filter_plan is None else FilteredStream)(server, self.settings)
        stream.on_headers(head, body is None and not chunked)
        if body is not None and not stream.done:
            stream.on_data(body, not chunked)
        return stream, server

    def pool(self, address: str = "10.0.1.1:80") -> FakePool:
        return self.pools[address]

    def upstream(self, address: str = "10.0.1.1:80", index: int = -1) -> FakeClientStream:
        return self.pool(address).streams[index]

    def idle(self) -> bool:
        """Every gauge a stream raised is back to zero."""
        if self.stats.downstream_rq_active:
            return False
        for cluster in self.clusters.clusters.values():
            if cluster.stats.upstream_rq_active or cluster.active_requests:
                return False
            if any(host.stats.rq_active for host in cluster.hosts):
                return False
        return True

    def ended_once(self) -> bool:
        """The one stream of the test ended exactly once: gauges at zero, one access-log line."""
        return self.idle() and len(self.logger.lines) == 1
