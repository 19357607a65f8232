"""Pool failures are typed values: the kind decides flag, status and retry, the detail is text."""

from __future__ import annotations

import asyncio
import socket

import pytest

from pymosn.api import flags
from pymosn.api.errors import PENDING_OVERFLOW, FailureKind, UpstreamFailure
from pymosn.config import model
from pymosn.metrics.store import StatsStore
from pymosn.network.connection import Connection
from pymosn.proxy.local_reply import FAILURE_REPLIES
from pymosn.upstream.cluster import Cluster
from pymosn.upstream.errors import UpstreamConnectError


def test_every_failure_kind_has_a_reply():
    assert set(FAILURE_REPLIES) == set(FailureKind)
    assert FAILURE_REPLIES[FailureKind.TLS_HANDSHAKE] == (flags.UPSTREAM_CONNECTION_FAILURE, 503)
    assert FAILURE_REPLIES[FailureKind.CONNECT_REFUSED] == (flags.UPSTREAM_CONNECTION_FAILURE, 502)
    assert FAILURE_REPLIES[FailureKind.OVERFLOW] == (flags.UPSTREAM_OVERFLOW, 503)


def test_only_a_full_breaker_is_not_retried():
    assert not PENDING_OVERFLOW.retryable
    assert [k for k in FailureKind if not UpstreamFailure(k, "").retryable] == [FailureKind.OVERFLOW]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_refused_connect_raises_a_typed_failure():
    port = _closed_port()
    store = StatsStore()
    cluster = Cluster(model.Cluster(name="c", hosts=(model.Host(address=("127.0.0.1", port)),)), store)
    host = cluster.hosts[0]

    async def dial() -> UpstreamFailure:
        loop = asyncio.get_running_loop()
        with pytest.raises(UpstreamConnectError) as caught:
            await cluster.connect(host, lambda: Connection(loop))
        return caught.value.failure

    failure = asyncio.run(dial())
    assert failure.kind is FailureKind.CONNECT_REFUSED
    assert failure.detail.startswith("connect failed: ")
    assert cluster.stats.upstream_cx_connect_fail == 1
    assert host.stats.cx_connect_fail == 1
