"""One running pymosn: listeners, clusters, routes, stats and the admin server built from a
config, started and stopped together. Reload swaps the route/cluster snapshot in one step."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time

from pymosn import __version__
from pymosn.accesslog import AccessLogger
from pymosn.admin import AdminServer
from pymosn.config import model
from pymosn.config.loader import config_to_builtins
from pymosn.config.registries import ACCESS_LOG_SINKS, FILE_SINK
from pymosn.filter.http.chain import routes_turning_off
from pymosn.filter.registry import ListenerContext, build_filter_chain
from pymosn.metrics import StatsStore
from pymosn.network.filter_chain import FilterChain, FilterChainFactory
from pymosn.network.listener import Listener
from pymosn.network.tls import server_context
from pymosn.proxy.snapshot import Snapshot, SnapshotRef
from pymosn.router.manager import RouterManager
from pymosn.server.upgrade import ADMIN
from pymosn.upstream.cluster import ClusterManager
from pymosn.upstream.health_check import start_health_checks

log = logging.getLogger("pymosn.server")
_CLOSE_GRACE = 1.0  # seconds closed connections get to send what they hold before being aborted


class Runtime:
    def __init__(self, config: model.Config) -> None:
        self.config = config
        self.stats = StatsStore(process=True)
        self.snapshot_ref = SnapshotRef(self._build_snapshot(config))
        self.listeners: list[Listener] = []
        self.access_loggers: list[AccessLogger] = []
        self.admin: AdminServer | None = None
        self.admin_address: tuple[str, int] | None = None
        self.started_at = time.time()
        self.draining = False
        self.closed = False
        self.stopped = asyncio.Event()
        self._listener_configs: list[model.Listener] = []
        for server in config.servers:
            for listener in server.listeners:
                self.listeners.append(self._build_listener(listener))
                self._listener_configs.append(listener)

    def _build_snapshot(self, config: model.Config) -> Snapshot:
        routers = [r for s in config.servers for r in s.routers]
        return Snapshot(RouterManager(routers), ClusterManager(config.cluster_manager.clusters, self.stats))

    def _build_listener(self, cfg: model.Listener) -> Listener:
        stats = self.stats.listener(cfg.name)
        loggers = [AccessLogger(a.log_path, a.log_format, sink=ACCESS_LOG_SINKS.factory(a.sink)(a))
                   for a in cfg.access_logs if a.log_path or a.sink != FILE_SINK]
        self.access_loggers += loggers

        def build_chain(index: int, chain: model.FilterChain, match: model.FilterChainMatch | None) -> FilterChain:
            tls_configs = [c for c in (chain.tls_context, *chain.tls_context_set) if c is not None and c.status]
            ssl_context = server_context(tls_configs) if tls_configs else None
            ctx = ListenerContext(
                cfg.name, self.snapshot_ref, stats, loggers, secure=ssl_context is not None, stats_store=self.stats,
                buffer_limit=cfg.per_connection_buffer_limit_bytes, stream_filters=cfg.stream_filters,
            )
            plaintext = None
            if ssl_context is not None and cfg.inspector:  # its plaintext clients must not look secure
                plaintext = FilterChainFactory(build_filter_chain(chain, dataclasses.replace(ctx, secure=False)))
            return FilterChain(
                index,
                FilterChainFactory(build_filter_chain(chain, ctx)),
                match=match,
                ssl_context=ssl_context,
                handshake_timeout=tls_configs[0].handshake_timeout if tls_configs else 10.0,
                plaintext_factory=plaintext,
                # tcp_proxy has its own idle timeout that counts both directions
                idle_timeout=0.0 if any(f.type == "tcp_proxy" for f in chain.filters) else None,
            )

        chains = [build_chain(i, c, c.filter_chain_match) for i, c in enumerate(cfg.filter_chains)]
        default = None
        if cfg.default_filter_chain is not None:
            default = build_chain(len(chains), cfg.default_filter_chain, None)  # its match is ignored, as Envoy
        elif not chains:
            chains = [build_chain(0, model.FilterChain(), None)]
        handshake_timeouts = [c.handshake_timeout for c in (*chains, default) if c is not None and c.ssl_context]
        host, port = cfg.address
        return Listener(
            cfg.name,
            host,
            port,
            chains,
            stats,
            default_chain=default,
            backlog=cfg.backlog,
            max_connections=cfg.max_connections,
            buffer_limit=cfg.per_connection_buffer_limit_bytes,
            idle_timeout=cfg.connection_idle_timeout,
            inspector=cfg.inspector,
            inspect_timeout=cfg.listener_filters_timeout or max(handshake_timeouts, default=10.0),
            continue_on_inspect_timeout=cfg.continue_on_listener_filters_timeout is not False,
            original_dst=cfg.use_original_dst,
            transparent=cfg.transparent,
        )

    async def start(self, sockets: list | None = None, with_admin: bool = True, takeover=None) -> None:
        """Starts the listeners (on already bound `sockets`, in listener order, when a master
        process hands them over; on the sockets of the process being upgraded when `takeover`
        is given) and, unless a master serves it, the admin server."""
        bound = [lst for lst, cfg in zip(self.listeners, self._listener_configs) if cfg.bind_port]
        if takeover is not None:
            sockets = [takeover.take(lst.name, (lst.host, lst.port)) for lst in bound]
        for listener in self.listeners:
            listener.handoff = self._listener_at
        # Listeners that bind a new socket start first: if one cannot bind, we fail before
        # accepting anything on an inherited socket (the old process goes on serving those).
        order = sorted(range(len(bound)), key=lambda i: sockets is not None and sockets[i] is not None)
        for i in order:
            listener = bound[i]
            host, port = await listener.start(sock=sockets[i] if sockets else None)
            log.info("listener %s serving on %s:%d", listener.name, host, port)
        admin_cfg = self.config.admin
        if admin_cfg is not None and with_admin:
            sa = admin_cfg.address.socket_address
            self.admin = AdminServer(
                self.stats,
                config_dump=lambda: config_to_builtins(self.config),
                clusters=lambda: self.snapshot_ref.current.clusters.describe(),
                listeners=self.describe_listeners,
                on_quit=self.request_stop,
                on_drain=self.drain_listeners,
                ready=lambda: not self.draining,
            )
            admin_sock = None
            if takeover is not None:
                admin_sock = takeover.take(ADMIN, (sa.address, sa.port_value))
            self.admin_address = await self.admin.start(sa.address, sa.port_value, sock=admin_sock)
            log.info("admin serving on %s:%d", *self.admin_address)
        start_health_checks(self.snapshot_ref.current.clusters)
        reloaders = [ctx.reloader for lst in self.listeners for ctx in lst.ssl_contexts]
        if reloaders:
            self._watch_certificates(reloaders)
        server_stats = self.stats.server
        server_stats.live = 1
        server_stats.concurrency = 1

    def _watch_certificates(self, reloaders: list) -> None:
        """Certificate files are checked once a second; changed ones apply to new handshakes."""
        loop = asyncio.get_running_loop()

        def check() -> None:
            if self.draining:
                return
            for reloader in reloaders:
                reloader.check()
            loop.call_later(1.0, check)

        loop.call_later(1.0, check)

    def _listener_at(self, destination: tuple[str, int]) -> Listener | None:
        """The listener configured for an intercepted connection's original destination: the
        exact address first, then a wildcard one on the same port (as MOSN looks them up)."""
        ip, port = destination[:2]
        wildcard = None
        for listener, cfg in zip(self.listeners, self._listener_configs):
            host, lport = cfg.address
            if lport != port:
                continue
            if host == ip:
                return listener
            if host in ("0.0.0.0", "::", "") and wildcard is None:
                wildcard = listener
        return wildcard

    def describe_listeners(self) -> list[dict]:
        return [{"name": lst.name, "address": f"{lst.host}:{lst.port}"} for lst in self.listeners]

    def drain_listeners(self) -> None:
        self.draining = True
        for listener in self.listeners:
            listener.stop_accepting()

    def request_stop(self) -> None:
        self.stopped.set()

    async def stop(self, drain_time: float = 0.0) -> None:
        """Drains (in-flight requests finish, for up to drain_time seconds), then closes."""
        if self.closed:
            return
        self.closed = True
        self.draining = True
        for listener in self.listeners:
            listener.drain()
        deadline = asyncio.get_running_loop().time() + drain_time
        while any(lst.connections for lst in self.listeners) and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
        for listener in self.listeners:
            listener.close_all()
        # The streams those connections carried end, and write their access-log lines, as
        # the closes complete: before the loggers close.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + _CLOSE_GRACE
        while any(lst.connections for lst in self.listeners) and loop.time() < deadline:
            await asyncio.sleep(0.01)
        for listener in self.listeners:
            listener.abort_all()
        await asyncio.sleep(0)
        if self.admin is not None:
            await self.admin.stop()
        self.snapshot_ref.current.clusters.close()
        for logger in self.access_loggers:
            logger.close()

    # --- hot upgrade -----------------------------------------------------------------------------

    def listening_sockets(self) -> list[tuple[str, object]]:
        """(name, socket) of every listening socket, the admin's included: what a hot upgrade
        hands to the new process."""
        found = [(lst.name, sock) for lst in self.listeners for sock in lst.sockets]
        if self.admin is not None and self.admin.socket is not None:
            found.append((ADMIN, self.admin.socket))
        return found

    async def stop_accepting_for_upgrade(self) -> None:
        """The new process serves our sockets now: stop accepting and leave the admin port to
        it. Connections stay; they are migrated or drained."""
        for listener in self.listeners:
            listener.stop_accepting()
        if self.admin is not None:
            await self.admin.stop()
            self.admin = None

    def adopt(self, listener_name: str, chain_index: int, sock, initial_data: bytes, inherited: dict) -> bool:
        """Serve a connection migrated from the previous process on listener `listener_name`."""
        listener = next((lst for lst in self.listeners if lst.name == listener_name), None)
        if listener is None or self.draining:
            return False
        asyncio.get_running_loop().create_task(self._adopt(listener, chain_index, sock, initial_data, inherited))
        return True

    async def _adopt(self, listener: Listener, chain_index: int, sock, initial_data: bytes, inherited: dict) -> None:
        try:
            await listener.adopt(sock, chain_index=chain_index, initial_data=initial_data, inherited=inherited)
        except OSError as error:
            log.warning("hot upgrade: a migrated connection could not be served: %s", error)
            sock.close()
            return
        stats = listener.stats
        stats.downstream_cx_total -= 1  # the previous process counted it already
        stats.downstream_cx_migrated_in += 1

    def final_stats(self) -> dict:
        """Our counters, for the process that replaces us (gauges end with us)."""
        for group in self.stats.groups():
            group.zero_gauges()
        return self.stats.snapshot()

    def reload(self, config: model.Config) -> None:
        """Swap routes and clusters; listeners keep their sockets. In-flight requests finish on
        the snapshot they started with."""
        if _listeners_of(config) != _listeners_of(self.config):
            log.warning("listener changes are not applied by a reload; restart (or hot upgrade) to apply them")
        old = self.snapshot_ref.current
        self.snapshot_ref.current = self._build_snapshot(config)
        turned_off = (routes_turning_off(self.snapshot_ref.current.routers.tables.values())
                      - routes_turning_off(old.routers.tables.values()))
        if turned_off:  # a listener's filter chain is fixed when it is built (filter/http/chain.py)
            log.warning("routes now turn off stream filters %s, which the listeners' filter chains built before "
                        "do not expect; restart (or hot upgrade) to apply that", ", ".join(sorted(turned_off)))
        start_health_checks(self.snapshot_ref.current.clusters)
        self.config = config
        old.clusters.close()
        log.info("config reloaded: %d route configs, %d clusters", len(self.snapshot_ref.current.routers.tables),
                 len(self.snapshot_ref.current.clusters.clusters))


__all__ = ["Runtime", "__version__"]


def _listeners_of(config: model.Config) -> tuple:
    return tuple(lst for server in config.servers for lst in server.listeners)
