"""The admin HTTP server: Envoy's endpoint set plus MOSN's /api/v1 aliases, from one table.

Every endpoint renders at request time from callables the runtime provides, so the admin layer
holds no copy of proxy state."""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from pymosn import __version__
from pymosn.admin import views
from pymosn.admin.http import AdminHTTPProtocol, Request, Response
from pymosn.admin.redact import redact
from pymosn.metrics import PROMETHEUS_CONTENT_TYPE, StatsStore, render_json, render_prometheus, render_text

JSON = "application/json"


@dataclass(frozen=True, slots=True)
class Endpoint:
    path: str
    methods: frozenset[str]
    help: str
    handler: Callable[[Request, dict[str, str]], Response]


class AdminServer:
    def __init__(
        self,
        store: StatsStore,
        *,
        config_dump: Callable[[], dict],
        clusters: Callable[[], list[dict]],
        listeners: Callable[[], list[dict]],
        on_quit: Callable[[], None] | None = None,
        on_drain: Callable[[], None] | None = None,
        ready: Callable[[], bool] = lambda: True,
        version: str = __version__,
    ) -> None:
        self.store = store
        self.config_dump = config_dump
        self.clusters = clusters
        self.listeners = listeners
        self.on_quit = on_quit
        self.on_drain = on_drain
        self.ready = ready
        self.version = version
        self.started_at = time.time()
        self.endpoints: dict[str, Endpoint] = {e.path: e for e in self._endpoints()}
        self._server: asyncio.base_events.Server | None = None
        self._connections: set[AdminHTTPProtocol] = set()

    # --- lifecycle ----------------------------------------------------------------------------
    async def start(self, host: str = "127.0.0.1", port: int = 0, sock=None) -> tuple[str, int]:
        """Listen (on `sock` when one is inherited from a previous process); returns the bound
        (host, port), which tells the caller the port when 0."""
        loop = asyncio.get_running_loop()
        factory = lambda: AdminHTTPProtocol(self.handle, self._connections)  # noqa: E731
        if sock is not None:
            self._server = await loop.create_server(factory, sock=sock)
        else:
            self._server = await loop.create_server(factory, host or "127.0.0.1", port, reuse_address=True)
        sock = self._server.sockets[0]
        bound = sock.getsockname()
        return bound[0], bound[1]

    @property
    def socket(self):
        return self._server.sockets[0] if self._server is not None else None

    async def stop(self) -> None:
        if self._server is None:
            return
        self._server.close()
        for conn in list(self._connections):
            if conn.transport is not None:
                conn.transport.close()
        await self._server.wait_closed()
        self._server = None

    # --- dispatch -----------------------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        parts = urlsplit(request.target)
        endpoint = self.endpoints.get(parts.path)
        if endpoint is None:
            return Response(404, f"no admin endpoint at {parts.path}; GET / lists them\n")
        method = "GET" if request.method == "HEAD" else request.method
        if method not in endpoint.methods:
            allowed = ", ".join(sorted(endpoint.methods))
            return Response(
                405, f"{parts.path} only accepts {allowed} requests\n", headers=[("allow", allowed)]
            )
        # Envoy's query parameters are flags (`?usedonly`), so blank values are kept.
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        return endpoint.handler(request, query)

    def _endpoints(self) -> list[Endpoint]:
        get, post = frozenset({"GET"}), frozenset({"POST"})
        return [
            Endpoint("/", get, "this list", self._help),
            Endpoint("/ready", get, "200 LIVE when serving, 503 otherwise", self._ready),
            Endpoint(
                "/stats", get, "stats; ?format=json|prometheus, ?filter=<regex>, ?usedonly", self._stats
            ),
            Endpoint("/stats/prometheus", get, "stats in Prometheus text format", self._prometheus),
            Endpoint(
                "/config_dump", get, "the effective config as JSON (secrets redacted)", self._config_dump
            ),
            Endpoint("/clusters", get, "upstream clusters and hosts; ?format=json", self._clusters),
            Endpoint("/listeners", get, "listeners and their addresses; ?format=json", self._listeners),
            Endpoint("/server_info", get, "version, state and uptime as JSON", self._server_info),
            Endpoint("/quitquitquit", post, "exit the server gracefully", self._quit),
            Endpoint("/drain_listeners", post, "stop accepting on every listener", self._drain),
            Endpoint(
                "/reset_counters", post, "reset every counter and histogram to zero", self._reset_counters
            ),
            Endpoint("/api/v1/config_dump", get, "MOSN alias of /config_dump", self._config_dump),
            Endpoint("/api/v1/stats", get, "MOSN alias of /stats?format=json", self._stats_json),
            Endpoint("/api/v1/version", get, "the version string", self._version),
            Endpoint("/api/v1/states", get, "MOSN process state: pid=<pid>&state=<n>", self._states),
        ]

    # --- handlers -----------------------------------------------------------------------------
    def _help(self, request: Request, query: dict) -> Response:
        width = max(len(e.path) for e in self.endpoints.values())
        lines = ["admin commands are:"]
        for e in self.endpoints.values():
            methods = "/".join(sorted(e.methods))
            lines.append(f"  {e.path.ljust(width)}  {methods.ljust(4)}  {e.help}")
        return Response(200, "\n".join(lines) + "\n")

    def _ready(self, request: Request, query: dict) -> Response:
        if self.ready():
            return Response(200, "LIVE\n")
        return Response(503, "DRAINING\n")

    def _stats(self, request: Request, query: dict) -> Response:
        fmt = query.get("format", "")
        filter = query.get("filter") or None
        used_only = "usedonly" in query
        try:
            if fmt == "json":
                return Response(200, render_json(self.store, filter, used_only), JSON)
            if fmt == "prometheus":
                return Response(
                    200, render_prometheus(self.store, filter, used_only), PROMETHEUS_CONTENT_TYPE
                )
            if fmt not in ("", "text"):
                return Response(400, f"unknown format {fmt!r}; use json, prometheus or text\n")
            return Response(200, render_text(self.store, filter, used_only))
        except re.error as e:
            return Response(400, f"invalid filter regex {filter!r}: {e}\n")

    def _stats_json(self, request: Request, query: dict) -> Response:
        return self._stats(request, {**query, "format": "json"})

    def _prometheus(self, request: Request, query: dict) -> Response:
        return self._stats(request, {**query, "format": "prometheus"})

    def _config_dump(self, request: Request, query: dict) -> Response:
        return Response(200, json.dumps(redact(self.config_dump()), indent=2, default=str) + "\n", JSON)

    def _clusters(self, request: Request, query: dict) -> Response:
        clusters = self.clusters()
        if query.get("format") == "json":
            return Response(200, json.dumps(views.clusters_json(clusters), indent=2) + "\n", JSON)
        return Response(200, views.clusters_text(clusters))

    def _listeners(self, request: Request, query: dict) -> Response:
        listeners = self.listeners()
        if query.get("format") == "json":
            return Response(200, json.dumps(views.listeners_json(listeners), indent=2) + "\n", JSON)
        return Response(200, views.listeners_text(listeners))

    def _server_info(self, request: Request, query: dict) -> Response:
        info = views.server_info(self.version, self.ready(), self.started_at, self.store.server.concurrency)
        return Response(200, json.dumps(info, indent=2) + "\n", JSON)

    def _quit(self, request: Request, query: dict) -> Response:
        # The callback runs after the answer is written, so the caller sees "OK" before exit.
        return Response(200, "OK\n", after=self.on_quit)

    def _drain(self, request: Request, query: dict) -> Response:
        return Response(200, "OK\n", after=self.on_drain)

    def _reset_counters(self, request: Request, query: dict) -> Response:
        self.store.reset_counters()
        return Response(200, "OK\n")

    def _version(self, request: Request, query: dict) -> Response:
        return Response(200, f"{self.version}\n")

    def _states(self, request: Request, query: dict) -> Response:
        # MOSN's stage-manager codes: 2 = Running; we report 3 (Stopping) when draining.
        return Response(200, f"pid={os.getpid()}&state={2 if self.ready() else 3}\n")


__all__ = ["AdminServer", "Endpoint"]
