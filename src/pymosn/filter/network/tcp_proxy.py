"""The `tcp_proxy` network filter: forwards a connection's bytes, both ways, to a host of a
cluster (MOSN's tcpproxy, Envoy's TcpProxy).

Each direction is flow-controlled by the other side's write watermarks; a FIN from one side is
passed on as a FIN (half-close) and the connection ends when both directions have ended or
either side resets. Idle time counts bytes in either direction."""

from __future__ import annotations

import asyncio
import ipaddress
import random
import time
from dataclasses import dataclass, field
from typing import Any

from pymosn.api import flags
from pymosn.api.filter import FilterStatus
from pymosn.api.stream_info import StreamInfo
from pymosn.config import model
from pymosn.network import splice
from pymosn.network.connection import Connection
from pymosn.proxy.snapshot import SnapshotRef
from pymosn.upstream.errors import UpstreamConnectError

_PENDING_LIMIT = 1024 * 1024  # bytes held from the client while the upstream connects


class _Route:
    """A compiled MOSN tcp_proxy route."""

    def __init__(self, route: model.TcpRoute) -> None:
        self.cluster = route.cluster
        self.sources = [ipaddress.ip_network(f"{c.address}/{c.length}", strict=False) for c in route.source_addrs]
        self.destinations = [ipaddress.ip_network(f"{c.address}/{c.length}", strict=False) for c in route.destination_addrs]
        self.source_ports = _port_ranges(route.source_port)
        self.destination_ports = _port_ranges(route.destination_port)

    def matches(self, source: tuple[str, int], destination: tuple[str, int]) -> bool:
        return (
            _in_networks(source[0], self.sources)
            and _in_networks(destination[0], self.destinations)
            and _in_ports(source[1], self.source_ports)
            and _in_ports(destination[1], self.destination_ports)
        )


def _port_ranges(spec: str) -> list[tuple[int, int]]:
    ranges = []
    for part in spec.split(","):
        if part.strip():
            low, _, high = part.strip().partition("-")
            ranges.append((int(low), int(high or low)))
    return ranges


def _in_networks(ip: str, networks: list) -> bool:
    if not networks:
        return True
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(address in n for n in networks)


def _in_ports(port: int, ranges: list[tuple[int, int]]) -> bool:
    return not ranges or any(low <= port <= high for low, high in ranges)


@dataclass(eq=False)
class TcpProxySettings:
    listener_name: str
    config: model.TcpProxyConfig
    snapshot_ref: SnapshotRef
    stats: Any  # metrics.ListenerStats
    access_loggers: list = field(default_factory=list)
    routes: list[_Route] = field(init=False)

    def __post_init__(self) -> None:
        self.routes = [_Route(r) for r in self.config.routes]

    def pick_cluster(self, source: tuple[str, int], destination: tuple[str, int]) -> str | None:
        for route in self.routes:
            if route.matches(source, destination):
                return route.cluster
        weighted = self.config.weighted_clusters
        if weighted is not None and weighted.clusters:
            point = random.random() * sum(c.weight for c in weighted.clusters)
            for c in weighted.clusters:
                point -= c.weight
                if point < 0:
                    return c.name
            return weighted.clusters[-1].name
        return self.config.cluster or None


def _split(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port or 0)


class TcpProxy:
    """Read filter on the downstream connection; owns the upstream connection."""

    def __init__(self, conn: Connection, settings: TcpProxySettings) -> None:
        self.conn = conn
        self.settings = settings
        self.upstream: Connection | None = None
        self.cluster: Any = None
        self.host: Any = None
        self.pending: list[bytes] = []
        self.pending_bytes = 0
        self.downstream_eof = False
        self.upstream_eof = False
        self.done = False
        self.last_activity = 0.0
        self.idle_timer: asyncio.TimerHandle | None = None
        self.relay: splice.SpliceRelay | None = None
        self.info = StreamInfo(settings.listener_name, conn.id)
        self.info.protocol = "TCP"
        conn.close_callbacks.append(self._on_downstream_close)

    # --- downstream ----------------------------------------------------------------------------

    def on_new_connection(self) -> FilterStatus:
        conn, info = self.conn, self.info
        info.start_time = time.time()
        info.start_monotonic = self.last_activity = conn.loop.time()
        info.downstream_remote_address = conn.remote_address
        info.downstream_local_address = conn.local_address
        info.downstream_peer_uri_san = conn.peer_uri_san
        snapshot = self.settings.snapshot_ref.current
        if conn.inherited is not None:
            return self._resume(conn.inherited, snapshot)
        name = self.settings.pick_cluster(_split(conn.remote_address), _split(conn.local_address))
        cluster = snapshot.clusters.get(name) if name else None
        if cluster is None:
            return self._refuse(flags.NO_HEALTHY_UPSTREAM, f"no cluster {name!r}")
        self.cluster = cluster
        info.upstream_cluster = cluster.name
        timeout = self.settings.config.idle_timeout
        if timeout > 0:
            self.idle_timer = conn.loop.call_later(timeout, self._check_idle)
        conn.loop.create_task(self._connect(self.settings.config.max_connect_attempts))
        return FilterStatus.STOP

    def on_data(self, data: bytes) -> FilterStatus:
        self.info.bytes_received += len(data)
        self.last_activity = self.conn.loop.time()
        if self.upstream is not None:
            self.upstream.write(data)
        else:
            self.pending.append(data)
            self.pending_bytes += len(data)
            if self.pending_bytes > _PENDING_LIMIT:
                self.conn.pause_reading()
        return FilterStatus.STOP

    def on_eof(self) -> bool:
        self.downstream_eof = True
        if self.upstream is not None:
            self.upstream.write_eof()
            self._close_if_both_ended()
        return True  # keep our write side open: the upstream may still answer

    # --- upstream ------------------------------------------------------------------------------

    async def _connect(self, attempts: int) -> None:
        cluster = self.cluster
        reason = "no healthy upstream"
        flag = flags.NO_HEALTHY_UPSTREAM
        for _ in range(attempts):
            if self.done:
                return
            host = cluster.choose_host(self.conn)
            if host is None:
                break
            if not cluster.can_open_connection():
                cluster.stats.upstream_cx_overflow += 1
                reason, flag = "connection limit reached", flags.UPSTREAM_OVERFLOW
                break
            self.host = host
            self.info.upstream_host = host.address
            cluster.connections += 1
            try:
                upstream = await cluster.connect(host, self._new_upstream)
            except UpstreamConnectError as error:
                cluster.connections -= 1
                reason, flag = error.failure.detail, flags.UPSTREAM_CONNECTION_FAILURE
                continue
            self._attach(upstream)
            return
        self.info.upstream_transport_failure_reason = reason
        self._refuse(flag, reason)

    def _new_upstream(self) -> Connection:
        """Protocol factory: the read filter is in place before any byte can arrive, so a server
        that speaks first (a greeting banner) is heard."""
        upstream = Connection(self.conn.loop, buffer_limit=self.cluster.buffer_limit)
        upstream.read_filters = [_UpstreamSide(self)]
        upstream.close_callbacks.append(self._on_upstream_close)
        upstream.watermark_listener = _PauseWhenFull(self.conn)
        # before any byte: a server that pushes at once must already be paused by a slow client
        self.conn.watermark_listener = _PauseWhenFull(upstream)
        return upstream

    def on_upstream_connected(self) -> None:
        # uvloop builds the protocol before dialling: count the connection once it exists.
        self.cluster.stats.upstream_cx_active += 1
        self.host.stats.cx_active += 1

    def _attach(self, upstream: Connection) -> None:
        if self.done:  # the client left while we were connecting
            upstream.close()
            return
        self.upstream = upstream
        self.info.upstream_local_address = upstream.local_address
        self.info.upstream_connection_id = upstream.id
        if splice.AVAILABLE and self._start_splice(upstream):
            return
        if self.pending:
            upstream.write(b"".join(self.pending))
            self.pending.clear()
            self.pending_bytes = 0
            self.conn.resume_reading()
        if self.downstream_eof:
            upstream.write_eof()

    def _start_splice(self, upstream: Connection) -> bool:
        """Hands both sockets to the zero-copy relay, when nothing is queued in a transport (so
        no byte can overtake another) and the client has not half-closed yet."""
        conn = self.conn
        down, up = conn.transport, upstream.transport
        if down is None or up is None:  # either one already lost
            return False
        down_sock = down.get_extra_info("socket")
        up_sock = up.get_extra_info("socket")
        if (
            conn.secure
            or upstream.secure
            or down_sock is None
            or up_sock is None
            or self.downstream_eof
            or self.upstream_eof
            or down.get_write_buffer_size()
            or up.get_write_buffer_size()
        ):
            return False
        conn.pause_reading()
        upstream.pause_reading()
        relay = self.relay = splice.SpliceRelay(conn.loop, down_sock, up_sock, self._on_relay_done, self._touch)
        prefix = b"".join(self.pending)
        self.pending.clear()
        self.pending_bytes = 0
        upstream.bytes_sent += len(prefix)  # already counted as received from the client
        relay.start(a_prefix=prefix)
        return True

    def _touch(self) -> None:
        self.last_activity = self.conn.loop.time()

    def _account_relay(self, relay: splice.SpliceRelay, upstream: Connection) -> None:
        """The relay's bytes never passed through the connections: account them here."""
        self.info.bytes_received += relay.bytes_a_to_b
        self.info.bytes_sent += relay.bytes_b_to_a
        self.conn.bytes_received += relay.bytes_a_to_b
        self.conn.bytes_sent += relay.bytes_b_to_a
        upstream.bytes_sent += relay.bytes_a_to_b
        upstream.bytes_received += relay.bytes_b_to_a

    def _on_relay_done(self, error: OSError | None) -> None:
        relay, upstream = self.relay, self.upstream
        assert relay is not None and upstream is not None  # only a started relay calls back
        self._account_relay(relay, upstream)
        if error is not None:
            self.info.response_flags.append(flags.UPSTREAM_CONNECTION_TERMINATION)
        self._finish()
        if error is not None:
            self.conn.abort()
            upstream.abort()
        else:
            self.conn.close()
            upstream.close()

    def on_upstream_data(self, data: bytes) -> None:
        self.info.bytes_sent += len(data)
        self.last_activity = self.conn.loop.time()
        self.conn.write(data)

    def on_upstream_eof(self) -> bool:
        self.upstream_eof = True
        self.conn.write_eof()
        self._close_if_both_ended()
        return True

    # --- hot upgrade -----------------------------------------------------------------------------

    def migration_state(self) -> tuple[dict, list[int], bytes] | None:
        """Both directions idle (nothing held in a transport, the relay's pipes or our pending
        list, no half-close): the pair of sockets can move to another process as they are;
        bytes in flight sit in the kernel's socket buffers and move with them."""
        upstream, relay = self.upstream, self.relay
        if (
            self.done
            or upstream is None
            or upstream.transport is None
            or upstream.secure
            or self.pending
            or self.downstream_eof
            or self.upstream_eof
            or upstream.transport.get_write_buffer_size()
            or upstream._batch
        ):
            return None
        if relay is not None and not relay.idle:
            return None
        sock = upstream.transport.get_extra_info("socket")
        if sock is None:
            return None
        info = self.info
        relayed_in = relay.bytes_a_to_b if relay is not None else 0
        relayed_out = relay.bytes_b_to_a if relay is not None else 0
        state = {
            "kind": "tcp_proxy",
            "cluster": self.cluster.name,
            "host": self.host.address,
            "start_time": info.start_time,
            "bytes_received": info.bytes_received + relayed_in,
            "bytes_sent": info.bytes_sent + relayed_out,
        }
        return state, [sock.fileno()], b""

    def on_migrated(self) -> None:
        """The pair lives on in another process: let go of both sockets without a FIN, and log
        nothing (the new owner logs the connection when it really ends)."""
        self.done = True
        if self.idle_timer is not None:
            self.idle_timer.cancel()
            self.idle_timer = None
        relay, upstream = self.relay, self.upstream
        assert upstream is not None  # migration_state hands over only a connected pair
        if relay is not None:
            self._account_relay(relay, upstream)
            relay.detach()
        upstream.migrated = True
        upstream.abort()

    def _resume(self, inherited: dict, snapshot) -> FilterStatus:
        """Continue a pair handed over by the previous process."""
        state = next((s for s in inherited["filters"] if s.get("kind") == "tcp_proxy"), None)
        sockets = inherited["sockets"]
        cluster = snapshot.clusters.get(state["cluster"]) if state is not None else None
        address = state["host"] if state is not None else None
        host = next((h for h in cluster.hosts if h.address == address), None) if cluster is not None else None
        if state is None or cluster is None or host is None or not sockets:
            for sock in sockets:
                sock.close()
            return self._refuse(flags.NO_HEALTHY_UPSTREAM, "migrated connection's upstream is not configured here")
        info = self.info
        info.start_time = state["start_time"]
        info.bytes_received = state["bytes_received"]
        info.bytes_sent = state["bytes_sent"]
        info.upstream_cluster = cluster.name
        info.upstream_host = host.address
        self.cluster, self.host = cluster, host
        cluster.connections += 1
        timeout = self.settings.config.idle_timeout
        if timeout > 0:
            self.idle_timer = self.conn.loop.call_later(timeout, self._check_idle)
        self.conn.loop.create_task(self._adopt_upstream(sockets[0]))
        return FilterStatus.STOP

    async def _adopt_upstream(self, sock) -> None:
        try:
            _, upstream = await self.conn.loop.connect_accepted_socket(self._new_upstream, sock=sock)
        except OSError as error:
            self.cluster.connections -= 1
            self._refuse(flags.UPSTREAM_CONNECTION_FAILURE, f"migrated upstream connection unusable: {error}")
            return
        self._attach(upstream)

    # --- endings -------------------------------------------------------------------------------

    def _close_if_both_ended(self) -> None:
        if self.downstream_eof and self.upstream_eof:
            self._finish()
            self.conn.close()
            if self.upstream is not None:
                self.upstream.close()

    def _refuse(self, flag: str, reason: str) -> FilterStatus:
        self.info.response_flags.append(flag)
        self.info.upstream_transport_failure_reason = reason
        self._finish()
        self.conn.close()
        return FilterStatus.STOP

    def _on_downstream_close(self, conn: Connection, exc: Exception | None) -> None:
        if not self.done and exc is not None:
            self.info.response_flags.append(flags.DOWNSTREAM_CONNECTION_TERMINATION)
        self._finish()
        if self.upstream is not None:
            # A reset client resets the upstream too; a clean close lets our writes drain.
            self.upstream.abort() if exc is not None else self.upstream.close()

    def _on_upstream_close(self, upstream: Connection, exc: Exception | None) -> None:
        cluster, host = self.cluster, self.host
        cluster.connections -= 1
        cluster.stats.upstream_cx_active -= 1
        cluster.stats.upstream_cx_destroy += 1
        cluster.stats.upstream_cx_rx_bytes_total += upstream.bytes_received
        cluster.stats.upstream_cx_tx_bytes_total += upstream.bytes_sent
        host.stats.cx_active -= 1
        if not self.done and exc is not None:
            self.info.response_flags.append(flags.UPSTREAM_CONNECTION_TERMINATION)
        self._finish()
        if exc is not None:
            self.conn.abort()
        else:
            self.conn.close()

    def _check_idle(self) -> None:
        self.idle_timer = None
        if self.done:
            return
        timeout = self.settings.config.idle_timeout
        idle_for = self.conn.loop.time() - self.last_activity
        if idle_for < timeout:
            self.idle_timer = self.conn.loop.call_later(timeout - idle_for, self._check_idle)
            return
        self.settings.stats.downstream_cx_idle_timeout += 1
        if self.relay is not None:
            self.relay.close(None)  # accounts, finishes and closes both sides
            return
        self._finish()
        self.conn.close()
        if self.upstream is not None:
            self.upstream.close()

    def _finish(self) -> None:
        if self.done:
            return
        self.done = True
        if self.idle_timer is not None:
            self.idle_timer.cancel()
            self.idle_timer = None
        info = self.info
        info.end_monotonic = self.conn.loop.time()
        for logger in self.settings.access_loggers:
            logger.log(info)


class _UpstreamSide:
    """Read filter on the upstream connection: everything goes back to the client."""

    __slots__ = ("proxy",)

    def __init__(self, proxy: TcpProxy) -> None:
        self.proxy = proxy

    def on_new_connection(self) -> FilterStatus:
        self.proxy.on_upstream_connected()
        return FilterStatus.CONTINUE

    def on_data(self, data: bytes) -> FilterStatus:
        self.proxy.on_upstream_data(data)
        return FilterStatus.STOP

    def on_eof(self) -> bool:
        return self.proxy.on_upstream_eof()


class _PauseWhenFull:
    """A side whose pending writes pass the high watermark stops reading from the other side."""

    __slots__ = ("other",)

    def __init__(self, other: Connection) -> None:
        self.other = other

    def on_above_write_high_watermark(self) -> None:
        self.other.pause_reading()

    def on_below_write_low_watermark(self) -> None:
        self.other.resume_reading()


def tcp_proxy_filter_factory(settings: TcpProxySettings):
    def build(conn: Connection) -> TcpProxy:
        return TcpProxy(conn, settings)

    return build
