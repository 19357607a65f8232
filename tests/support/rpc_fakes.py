"""Fakes for unit tests of the RPC proxy (proxy/rpc.py, rpc_filters.py) with no sockets: a
caller's connection that records what was written to it, a route table, clusters whose pools
hand out recording upstream connections, and filter plans made of scripted filters.

    rpc = RpcKit(BoltCodec(), plan=plan_of(("deny", scripted(decode_headers=reply(403)))))
    request = rpc.request(rpc.codec.request(5, {"service": "s"}, b"body"))
    assert rpc.caller.answers[0].status == bolt.SERVER_EXCEPTION

Builds on tests/support/fakes.py (FakeLoop, fake_connection)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pymosn.api.stream_filter import AnyFilter, FilterCallbacks, FilterPhase
from pymosn.metrics.stats import ClusterStats, HostStats, ListenerStats, ProtocolStats
from pymosn.protocol.xprotocol.api import Frame, PoolMode, XCodec
from pymosn.proxy.filter_manager import FilterChainEntry, FilterChainPlan
from pymosn.proxy.rpc import RpcRequest, RpcSettings, request_type_for
from pymosn.proxy.snapshot import SnapshotRef
from tests.support.fakes import FakeLoop, fake_connection


class FakeConn:
    """The network connection parts the RPC proxy reads."""

    def __init__(self, loop: FakeLoop, conn_id: int = 7) -> None:
        self.loop = loop
        self.id = conn_id
        self.remote_address = "10.0.0.2:40000"
        self.local_address = "10.0.0.1:12200"
        self.peer_uri_san: str | None = None
        self.info = fake_connection(loop, id=conn_id)
        self.closed = False

    def close(self) -> None:
        self.closed = True


class FakeCaller:
    """The downstream XServerConnection: records the responses written to it, decoded."""

    def __init__(self, codec: XCodec, loop: FakeLoop) -> None:
        self.codec = codec
        self.conn = FakeConn(loop)
        self.requests: set = set()
        self.written: list[bytes] = []

    def send_response(self, data: bytes | bytearray) -> None:
        self.written.append(bytes(data))

    @property
    def answers(self) -> list[Frame]:
        frames = []
        for data in self.written:
            frame = self.codec.decode(bytearray(data))
            assert frame is not None
            frames.append(frame)
        return frames

    def hang_up(self, reset: Any) -> None:
        requests, self.requests = self.requests, set()
        for request in requests:
            request.on_reset(reset)


class FakeUpstream:
    """A pooled upstream connection: records each frame sent, with the id it was given."""

    def __init__(self) -> None:
        self.conn = FakeConn(FakeLoop(), conn_id=90)
        self.sent: list[tuple[int, bytes, Any]] = []  # (upstream id, bytes, receiver)
        self.cancelled: list[int] = []
        self.closed = False
        self.next_id = 100

    def send(self, frame: Frame, receiver: Any) -> int:
        request_id, self.next_id = self.next_id, self.next_id + 1
        receiver.settings.codec.set_request_id(frame, request_id)
        self.sent.append((request_id, bytes(frame.raw), receiver))
        return request_id

    def cancel(self, request_id: int) -> None:
        self.cancelled.append(request_id)

    def close(self) -> None:
        self.closed = True


class FakePool:
    def __init__(self, upstream: FakeUpstream, mode: PoolMode = PoolMode.MULTIPLEX) -> None:
        self.upstream = upstream
        self.mode = mode
        self.released = 0
        self.waiting: list[Any] = []

    def acquire(self, request: Any, conn: Any) -> FakeUpstream | None:
        return self.upstream

    def release(self, client: Any) -> None:
        self.released += 1

    def cancel(self, request: Any) -> None:
        self.waiting.remove(request)


class FakePools:
    def __init__(self, pool: FakePool) -> None:
        self.pool = pool

    def get(self, host: Any, codec: XCodec, late: Callable[[], None]) -> FakePool:
        return self.pool


class FakeHost:
    def __init__(self, address: str) -> None:
        self.address = address
        self.stats = HostStats()


class FakeCluster:
    def __init__(self, name: str, upstream: FakeUpstream) -> None:
        self.name = name
        self.stats = ClusterStats()
        self.active_requests = 0
        self.hosts = [FakeHost(f"10.1.0.{len(name)}:12200")]
        self.xpools = FakePools(FakePool(upstream))
        self.choices = 0

    def can_start_request(self) -> bool:
        return True

    def can_retry(self) -> bool:
        return True

    def choose_host(self, conn: Any, headers: Any) -> FakeHost | None:
        self.choices += 1
        return self.hosts[0] if self.hosts else None


class FakeRpcRoute:
    kind = "cluster"
    retry_policy = None

    def __init__(self, name: str, cluster: str, timeout: float | None = None,
                 filter_configs: dict[str, object] | None = None) -> None:
        self.name = name
        self.cluster = self.cluster_name = cluster
        self.timeout = timeout
        self.filter_configs = filter_configs or {}

    def pick_cluster(self, headers: Any) -> str:
        return self.cluster


class FakeRouteTable:
    """Routes on the `service` header: service -> route; anything else: no route."""

    def __init__(self, routes: dict[str, FakeRpcRoute]) -> None:
        self.routes = routes
        self.lookups: list[dict[str, str]] = []

    def match(self, host: str, path: str, query: str, headers: Any, peer: Any = None) -> FakeRpcRoute | None:
        self.lookups.append(dict(headers))
        return self.routes.get(headers.get("service", ""))


class FakeSnapshot:
    def __init__(self, table: FakeRouteTable, clusters: dict[str, FakeCluster]) -> None:
        self.routers = {"r": table}
        self.clusters = clusters


class RecordingLogger:
    def __init__(self) -> None:
        self.lines: list[Any] = []

    def log(self, info: Any) -> None:
        self.lines.append(info)


class _Config:
    def __init__(self, made: dict[str, list[AnyFilter]], name: str, make: Callable[[FilterCallbacks], AnyFilter]):
        self._made = made
        self._name = name
        self._make = make

    def create_filter(self, callbacks: FilterCallbacks) -> AnyFilter:
        made = self._make(callbacks)
        self._made.setdefault(self._name, []).append(made)
        return made


class RecordedPlan(FilterChainPlan):
    """A plan of (name, make[, phase]) elements, `make` a FilterConfig or a callable taking the
    filter's callbacks; `made[name]` lists the filters made, one per stream."""

    def __init__(self, *chain: tuple[Any, ...]) -> None:
        self.made: dict[str, list[AnyFilter]] = {}
        entries = []
        for element in chain:
            name, make = element[0], element[1]
            phase = element[2] if len(element) > 2 else FilterPhase.BEFORE_ROUTE
            create = make.create_filter if hasattr(make, "create_filter") else make
            entries.append(FilterChainEntry(name, _Config(self.made, name, create), phase))
        super().__init__(entries)


def plan_of(*chain: tuple[Any, ...]) -> RecordedPlan:
    return RecordedPlan(*chain)


class RpcKit:
    """One RPC listener's settings over fakes: clusters `a` and `b` routed by the `service`
    headers `svc.a` and `svc.b`."""

    def __init__(self, codec: XCodec, plan: FilterChainPlan | None = None, timeout: float | None = None) -> None:
        self.codec = codec
        self.loop = FakeLoop()
        self.caller = FakeCaller(codec, self.loop)
        self.upstreams = {"a": FakeUpstream(), "b": FakeUpstream()}
        self.clusters = {name: FakeCluster(name, upstream) for name, upstream in self.upstreams.items()}
        self.table = FakeRouteTable({f"svc.{name}": FakeRpcRoute(f"to_{name}", name, timeout) for name in self.clusters})
        self.logger = RecordingLogger()
        self.stats = ListenerStats()
        self.protocol_stats = ProtocolStats()
        self.settings = RpcSettings(
            listener_name="rpc", router_config_name="r",
            snapshot_ref=SnapshotRef(FakeSnapshot(self.table, self.clusters)),  # type: ignore[arg-type]
            stats=self.stats, protocol_stats=self.protocol_stats, codec=codec, access_loggers=[self.logger],
            filter_plan=plan,
        )
        self.request_type = request_type_for(self.settings)
        self.started: list[RpcRequest] = []

    def request(self, raw: bytes) -> RpcRequest:
        """Decodes `raw` and starts it as the RPC proxy starts a caller's request."""
        frame = self.codec.decode(bytearray(raw))
        assert frame is not None
        request = self.request_type(self.caller, frame, self.settings)  # type: ignore[arg-type]
        self.started.append(request)
        request.start()
        return request

    def respond(self, cluster: str, raw_for: Callable[[int], bytes], index: int = -1) -> None:
        """The upstream of `cluster` answers its `index`th request with raw_for(upstream id)."""
        request_id, _, receiver = self.upstreams[cluster].sent[index]
        frame = self.codec.decode(bytearray(raw_for(request_id)))
        assert frame is not None
        receiver.on_response(frame)

    def ended(self) -> bool:
        """Every count is back to zero and each request wrote one access-log line."""
        clusters_idle = all(c.active_requests == 0 and c.stats.upstream_rq_active == 0 for c in self.clusters.values())
        return (self.stats.downstream_rq_active == 0 and self.protocol_stats.downstream_rq_active == 0
                and clusters_idle and len(self.logger.lines) == len(self.started) and not self.caller.requests)
