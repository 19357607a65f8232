"""Active health checking of a cluster's hosts (MOSN's health_check, MOSN's defaults).

Every `interval` (plus jitter) each host gets one check with a `timeout`:
- "tcp": the connection opens;
- "Http1": GET `check_config.http_check_config.path` (default "/") answers with a status in
  `codes` (default 200-399, ranges [start, end) as in MOSN);
- an RPC protocol: its heartbeat, on a connection kept open between checks, is answered.
`unhealthy_threshold` failures in a row take a host out of load balancing;
`healthy_threshold` successes in a row bring it back. Hosts start healthy, as in MOSN."""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Any

from pymosn.api.errors import StreamReset
from pymosn.network.connection import Connection
from pymosn.protocol.xprotocol import registry as xprotocol_registry
from pymosn.protocol.xprotocol.api import Frame, XCodec
from pymosn.stream.xprotocol import XClientConnection
from pymosn.upstream.errors import UpstreamConnectError

log = logging.getLogger("pymosn.health_check")


class HealthChecker:
    def __init__(self, cluster: Any) -> None:
        self.cluster = cluster
        self.config = cluster.config.health_check
        self.tasks: list[asyncio.Task] = []
        protocol = self.config.protocol
        self.codec: XCodec | None = None if protocol in ("tcp", "Http1") else xprotocol_registry.get(protocol)

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        for host in self.cluster.hosts:
            self.tasks.append(loop.create_task(self._watch(host)))

    def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        self.tasks.clear()

    async def _watch(self, host: Any) -> None:
        config, stats = self.config, self.cluster.stats
        session = _Session(self, host)
        successes = failures = 0
        try:
            while True:
                await asyncio.sleep(config.interval + random.uniform(0, config.interval_jitter))
                stats.health_check_attempt += 1
                try:
                    ok = await asyncio.wait_for(session.check(), config.timeout)
                except (TimeoutError, OSError, UpstreamConnectError):
                    ok = False
                if ok:
                    stats.health_check_success += 1
                    successes, failures = successes + 1, 0
                    if not host.healthy and successes >= config.healthy_threshold:
                        host.healthy = True
                        log.info("cluster %s: host %s is healthy again", self.cluster.name, host.address)
                else:
                    stats.health_check_failure += 1
                    session.reset()
                    failures, successes = failures + 1, 0
                    if host.healthy and failures >= config.unhealthy_threshold:
                        host.healthy = False
                        log.warning("cluster %s: host %s failed %d health checks; taken out of load balancing",
                                    self.cluster.name, host.address, failures)
        finally:
            session.reset()


class _Session:
    """One host's checks. RPC checks reuse one connection while it stays usable."""

    def __init__(self, checker: HealthChecker, host: Any) -> None:
        self.checker = checker
        self.host = host
        self.client: XClientConnection | None = None

    async def check(self) -> bool:
        protocol = self.checker.config.protocol
        if protocol == "tcp":
            _, writer = await asyncio.open_connection(self.host.host, self.host.port)
            writer.close()
            return True
        if protocol == "Http1":
            return await self._http()
        return await self._heartbeat()

    async def _http(self) -> bool:
        settings = self.checker.config.check_config.get("http_check_config") or {}
        path = settings.get("path") or "/"
        method = (settings.get("method") or "GET").upper()
        domain = settings.get("domain") or self.host.hostname or self.host.host
        port = settings.get("port") or self.host.port
        reader, writer = await asyncio.open_connection(self.host.host, port)
        try:
            writer.write(f"{method} {path} HTTP/1.1\r\nHost: {domain}\r\nConnection: close\r\n\r\n".encode())
            status_line = await reader.readline()
        finally:
            writer.close()
        parts = status_line.split()
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit():
            return False
        code = int(parts[1])
        ranges = settings.get("codes") or [{"start": 200, "end": 400}]
        return any(r.get("start", 0) <= code < r.get("end", 0) for r in ranges)

    async def _heartbeat(self) -> bool:
        codec = self.checker.codec
        client = self.client
        if client is None or client.closed:
            loop = asyncio.get_running_loop()

            def factory() -> Connection:
                conn = Connection(loop)
                XClientConnection(conn, codec)
                return conn

            conn = await self.checker.cluster.connect(self.host, factory)
            client = self.client = conn.read_filters[0]
        answer: asyncio.Future = asyncio.get_running_loop().create_future()
        client.ping(_Answer(answer, codec))
        return await answer

    def reset(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None


class _Answer:
    __slots__ = ("future", "codec")

    def __init__(self, future: asyncio.Future, codec: XCodec) -> None:
        self.future = future
        self.codec = codec

    def on_response(self, frame: Frame) -> None:
        if not self.future.done():
            self.future.set_result(self.codec.response_ok(frame))

    def on_upstream_failure(self, reset: StreamReset) -> None:
        if not self.future.done():
            self.future.set_result(False)


def start_health_checks(clusters: Any) -> None:
    """Starts checking every cluster of a ClusterManager that asks for it; Cluster.close()
    stops its checker."""
    for cluster in clusters.clusters.values():
        check = cluster.config.health_check
        if check is not None and check.protocol and cluster.health_checker is None:
            cluster.health_checker = HealthChecker(cluster)
            cluster.health_checker.start()
