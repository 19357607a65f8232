"""The copies a mirror policy sends, driven with fake pools and client streams: what each copy
sends, when it is dropped instead of buffering or slowing its original, and that it ends exactly
once with the mirror cluster's and host's counters back where they were."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from pymosn.api.errors import ResetKind, ResetSource, StreamReset
from pymosn.metrics.stats import ClusterStats, HostStats, ListenerStats
from pymosn.protocol.http1 import BODY_CHUNKED, BODY_NONE
from pymosn.proxy import mirror
from pymosn.proxy.mirror import BUFFER_LIMIT, ShadowRequest, original_ended, shadow_host, start_shadows
from pymosn.proxy.settings import ProxySettings
from pymosn.proxy.snapshot import Snapshot, SnapshotRef
from pymosn.router.manager import RouterManager
from pymosn.upstream.cluster import ClusterManager
from pymosn.upstream.host import Host
from tests.support.fakes import FakeLoop, fake_connection
from tests.unit.router.builders import routes_table

HEADERS = [(b"host", b"svc:80"), (b"x-request-id", b"r1")]


class FakeClient:
    def __init__(self) -> None:
        self.sent: list[tuple] = []
        self.write_paused = False
        self.reused = False
        self.receiver: Any = None
        self.listener: Any = "stale"

    def send_headers(self, receiver, method, target, headers, body_kind, end_stream) -> None:
        self.receiver = receiver
        self.sent.append(("headers", method, target, list(headers), end_stream))

    def send_data(self, data, end_stream) -> None:
        self.sent.append(("data", data, end_stream))

    def send_trailers(self, trailers) -> None:
        self.sent.append(("trailers", trailers))

    def reset(self) -> None:
        self.sent.append(("reset",))

    def on_idle(self, client) -> None:
        self.sent.append(("idle",))

    def set_watermark_listener(self, listener) -> None:
        self.listener = listener


class FakePool:
    def __init__(self, ready: bool) -> None:
        self.ready = ready
        self.client = FakeClient()
        self.waiting: list = []

    def acquire(self, requester) -> FakeClient | None:
        if self.ready:
            return self.client
        self.waiting.append(requester)
        return None

    def cancel(self, requester) -> None:
        self.waiting.remove(requester)

    def connect(self) -> None:
        self.waiting.pop().on_pool_ready(self.client)


class FakeCluster:
    def __init__(self, name: str = "m", ready: bool = True, max_requests: int = 0) -> None:
        self.name = name
        self.stats = ClusterStats()
        self.active_requests = 0
        self.max_requests = max_requests
        self.host = Host("10.0.0.9", 80, 1, {}, "", HostStats())
        self.pool = FakePool(ready)

    def can_start_request(self) -> bool:
        return not self.max_requests or self.active_requests < self.max_requests

    def choose_host(self, conn=None, headers=None) -> Host:
        return self.host

    def pool_for(self, host, protocol) -> FakePool:
        return self.pool


def shadow(cluster: FakeCluster, loop: FakeLoop, end_stream: bool = False, timeout: float = 5.0,
           body_kind: int = BODY_CHUNKED) -> ShadowRequest:
    copy = ShadowRequest(cluster, loop, timeout)
    copy.start(fake_connection(loop), {}, "Http1", b"POST", b"/p", list(HEADERS), body_kind, end_stream)
    return copy


def response(status: int) -> Any:
    return SimpleNamespace(status=status)


def settled(cluster: FakeCluster) -> bool:
    """Every counter a copy raised is back down."""
    return (cluster.active_requests, cluster.stats.upstream_rq_active, cluster.host.stats.rq_active) == (0, 0, 0)


@pytest.fixture
def loop() -> FakeLoop:
    return FakeLoop()


def test_a_request_without_body_is_sent_whole_and_its_answer_counted(loop):
    cluster = FakeCluster()
    copy = shadow(cluster, loop, end_stream=True, body_kind=BODY_NONE)
    client = cluster.pool.client
    assert client.sent == [("headers", b"POST", b"/p", HEADERS, True)]
    assert client.listener is None  # the pooled connection's last listener can no longer be paused by us
    assert (cluster.stats.upstream_rq_active, cluster.host.stats.rq_active) == (1, 1)
    copy.on_response_head(response(204), True)
    assert settled(cluster) and copy.ended
    assert (cluster.stats.upstream_rq_total, cluster.stats.upstream_rq_2xx, cluster.host.stats.rq_success) == (1, 1, 1)
    assert cluster.stats.upstream_rq_time.count == 1
    loop.advance(10.0)
    assert cluster.stats.upstream_rq_timeout == 0  # its deadline went with it
    copy.on_upstream_reset(StreamReset(ResetSource.UPSTREAM, ResetKind.RESET, "late"))
    assert cluster.stats.upstream_rq_shadow_failed == 0  # an ended copy ends once


def test_body_and_trailers_wait_for_the_connection_then_go_in_order(loop):
    cluster = FakeCluster(ready=False)
    copy = shadow(cluster, loop)
    copy.send_data(b"ab", False)
    copy.send_trailers([(b"x-t", b"1")])
    assert cluster.stats.upstream_rq_total == 0 and cluster.stats.upstream_rq_active == 1
    cluster.pool.connect()
    assert cluster.pool.client.sent == [("headers", b"POST", b"/p", HEADERS, False), ("data", b"ab", False),
                                        ("trailers", [(b"x-t", b"1")])]
    copy.on_response_data(b"ignored", True)
    assert settled(cluster) and cluster.stats.upstream_rq_total == 1


def test_more_body_than_the_limit_before_the_connection_drops_the_copy(loop):
    cluster = FakeCluster(ready=False)
    copy = shadow(cluster, loop)
    copy.send_data(b"x" * BUFFER_LIMIT, False)
    assert not copy.ended
    copy.send_data(b"x", False)
    assert copy.ended and cluster.pool.waiting == [] and settled(cluster)
    assert cluster.stats.upstream_rq_shadow_dropped == 1
    copy.send_data(b"more", True)  # the original goes on; the copy takes no more
    assert cluster.pool.client.sent == []


def test_a_mirror_that_does_not_keep_up_loses_the_copy(loop):
    cluster = FakeCluster()
    copy = shadow(cluster, loop)
    client = cluster.pool.client
    client.write_paused = True
    copy.send_data(b"x" * BUFFER_LIMIT, False)  # written on top of the full buffer, up to the limit
    client.write_paused = False
    copy.send_data(b"y", False)  # drained meanwhile: the allowance starts again
    client.write_paused = True
    copy.send_data(b"x" * BUFFER_LIMIT, False)
    assert not copy.ended
    copy.send_data(b"z", False)
    assert copy.ended and client.sent[-1] == ("reset",) and settled(cluster)
    assert cluster.stats.upstream_rq_shadow_dropped == 1 and cluster.host.stats.rq_error == 0


def test_a_copy_has_its_own_deadline(loop):
    cluster = FakeCluster()
    copy = shadow(cluster, loop, end_stream=True, timeout=2.0)
    loop.advance(1.0)
    assert not copy.ended
    loop.advance(1.5)
    assert copy.ended and cluster.pool.client.sent[-1] == ("reset",) and settled(cluster)
    stats = cluster.stats
    assert (stats.upstream_rq_timeout, stats.upstream_rq_shadow_failed, cluster.host.stats.rq_timeout) == (1, 1, 1)
    assert cluster.host.stats.rq_error == 1


def test_a_copy_waiting_for_its_connection_times_out_too(loop):
    cluster = FakeCluster(ready=False)
    copy = shadow(cluster, loop, timeout=1.0)
    loop.advance(2.0)
    assert copy.ended and cluster.pool.waiting == [] and settled(cluster)


def test_an_answer_before_the_request_ended_stops_sending(loop):
    cluster = FakeCluster()
    copy = shadow(cluster, loop)
    copy.send_data(b"part", False)
    copy.on_response_head(response(413), True)
    client = cluster.pool.client
    assert client.sent[-1] == ("reset",) and settled(cluster)
    copy.send_data(b"rest", True)
    assert client.sent[-1] == ("reset",)
    assert cluster.stats.upstream_rq_4xx == 1


def test_a_reset_is_a_failed_copy_and_a_5xx_a_host_error(loop):
    cluster = FakeCluster()
    failed = shadow(cluster, loop, end_stream=True)
    failed.on_upstream_reset(StreamReset(ResetSource.UPSTREAM, ResetKind.CONNECTION_CLOSED, "closed"))
    answered = shadow(cluster, loop, end_stream=True)
    answered.on_response_head(response(503), True)
    assert settled(cluster)
    stats = cluster.stats
    assert (stats.upstream_rq_shadow_failed, stats.upstream_rq_5xx, cluster.host.stats.rq_error) == (1, 1, 2)


def test_no_room_or_no_host_drops_the_copy_before_it_starts(loop):
    full = FakeCluster(max_requests=1)
    full.active_requests = 1
    copy = shadow(full, loop)
    assert copy.ended and full.stats.upstream_rq_pending_overflow == 1 and full.stats.upstream_rq_shadow_dropped == 1
    assert full.active_requests == 1 and full.stats.upstream_rq_active == 0
    hostless = FakeCluster()
    hostless.choose_host = lambda conn=None, headers=None: None  # type: ignore[method-assign]
    assert shadow(hostless, loop).ended and hostless.stats.upstream_rq_shadow_dropped == 1


def test_an_original_cut_short_drops_the_copies_still_taking_its_request(loop):
    cluster = FakeCluster()
    waiting, whole = shadow(cluster, loop), shadow(cluster, loop)
    whole.send_data(b"all", True)
    original_ended([waiting, whole])
    assert waiting.ended and not whole.ended
    whole.on_response_head(response(200), True)
    assert settled(cluster) and cluster.stats.upstream_rq_shadow_dropped == 1


def _settings(mirror_copies: int) -> ProxySettings:
    """A listener's settings with no routes or clusters of its own (the tests pass their own)."""
    empty = SnapshotRef(Snapshot(RouterManager([]), ClusterManager((), None)))
    return ProxySettings("l", "r", empty, ListenerStats(), mirror_copies=mirror_copies)


def test_start_shadows_makes_copies_per_policy_with_the_host_suffix(loop):
    route = routes_table([{"match": {"prefix": "/"}, "route": {"cluster_name": "c"}, "request_mirror_policies": [
        {"cluster": "m", "percent": 100, "host_suffix": "-shadow"},
        {"cluster_header": "x-to", "percent": 100},
        {"cluster": "gone", "percent": 100},
    ]}]).match("h", "/", "", {})
    clusters = {"m": FakeCluster("m"), "n": FakeCluster("n")}
    settings = _settings(mirror_copies=2)
    waiting = start_shadows(route, settings, clusters, fake_connection(loop), {"x-to": "n"}, b"GET", b"/",
                            list(HEADERS), BODY_CHUNKED, False)
    assert waiting is not None and len(waiting) == 4
    sent = {name: [c.sent[0][3] for c in [cluster.pool.client]] for name, cluster in clusters.items()}
    assert sent["m"] == [[(b"host", b"svc-shadow:80"), (b"x-request-id", b"r1")]]
    assert sent["n"] == [HEADERS]
    assert [clusters[n].stats.upstream_rq_total for n in ("m", "n")] == [2, 2]
    header_only = start_shadows(route, settings, clusters, fake_connection(loop), {}, b"GET", b"/", list(HEADERS),
                                BODY_NONE, True)
    assert header_only is None and clusters["m"].stats.upstream_rq_total == 4


def test_the_route_timeout_is_the_copy_deadline_and_none_falls_back(loop):
    assert mirror.FALLBACK_TIMEOUT == 15.0
    entries = routes_table([
        {"match": {"prefix": "/a"}, "route": {"cluster_name": "c", "timeout": 0.0},
         "request_mirror_policies": [{"cluster": "m", "percent": 100}]},
        {"match": {"prefix": "/b"}, "route": {"cluster_name": "c", "timeout": 2.0},
         "request_mirror_policies": [{"cluster": "m", "percent": 100}]},
    ])
    for path, deadline in (("/a", 15.0), ("/b", 2.0)):
        cluster = FakeCluster()
        settings = _settings(mirror_copies=1)
        start_shadows(entries.match("h", path, "", {}), settings, {"m": cluster}, fake_connection(loop), {}, b"GET",
                      b"/", list(HEADERS), BODY_NONE, True)
        loop.advance(deadline - 0.5)
        assert cluster.stats.upstream_rq_timeout == 0
        loop.advance(1.0)
        assert cluster.stats.upstream_rq_timeout == 1


@pytest.mark.parametrize(("host", "expected"), [
    (b"svc", b"svc-shadow"), (b"svc:8080", b"svc-shadow:8080"), (b"[::1]:80", b"[::1]-shadow:80"),
    (b"[::1]", b"[::1]-shadow"), (b"10.0.0.1:80", b"10.0.0.1-shadow:80"),
])
def test_the_shadow_suffix_goes_before_the_port(host, expected):
    assert shadow_host(host, b"-shadow") == expected

