"""Worker processes: a master binds the listeners, starts N workers that all accept on the same
sockets (each with its own uvloop loop), restarts any that dies, serves the admin API and adds
up the workers' stats.

Workers are fresh interpreters (`python -m pymosn _worker`) that inherit the listening sockets
and a stats pipe, rather than forks of a process that already runs a loop. Each worker writes a
stats snapshot (one JSON line) to its pipe four times a second; the master keeps the latest one
per worker and rebuilds its aggregate store from them, keeping the counters (not the gauges) of
workers that died so totals never go backwards."""

from __future__ import annotations

import asyncio
import fcntl
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile

import msgspec

from pymosn.admin import AdminServer
from pymosn.config import model
from pymosn.config.loader import config_to_builtins
from pymosn.filter.bucket_table import BucketTable
from pymosn.metrics import StatsStore
from pymosn.network.handoff import ConnectionReceiver
from pymosn.server import heap
from pymosn.server.upgrade import ADMIN, UpgradeService, migrate_connections
from pymosn.upstream.cluster import ClusterManager

log = logging.getLogger("pymosn.master")

STATS_INTERVAL = 0.25
_RESTART_BACKOFF = 0.5


def bind_listeners(config: model.Config, copies: int) -> list[list[socket.socket]]:
    """For each worker, one listening socket per listener, all bound with SO_REUSEPORT to the
    same address: the kernel spreads new connections evenly over the workers (a shared socket
    lets the first worker to wake take them all). The master keeps every socket open, so a
    dead worker's share waits in its backlog for the replacement instead of being refused."""
    per_worker: list[list[socket.socket]] = [[] for _ in range(copies)]
    for server in config.servers:
        for lst in server.listeners:
            if not lst.bind_port:
                continue  # a virtual listener: reached by original-dst hand-off, never bound
            host, port = lst.address
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            for worker_sockets in per_worker:
                sock = socket.socket(family, socket.SOCK_STREAM)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
                try:
                    sock.bind((host, port))
                except OSError as error:
                    sock.close()
                    raise OSError(error.errno, f"listener {lst.name}: cannot bind {host}:{port}: {error.strerror}") from None
                port = sock.getsockname()[1]  # port 0: the first bind picks, the others follow
                sock.listen(lst.backlog)
                sock.setblocking(False)
                worker_sockets.append(sock)
    return per_worker


class _StatsReader(asyncio.Protocol):
    def __init__(self, master: Master, worker_id: int) -> None:
        self.master = master
        self.worker_id = worker_id
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        *lines, self.buffer = self.buffer.split(b"\n")
        if lines and lines[-1]:
            try:
                self.master.on_worker_stats(self.worker_id, json.loads(lines[-1]))
            except ValueError:
                log.warning("worker %d sent unreadable stats", self.worker_id)


class Master:
    def __init__(self, config: model.Config, concurrency: int, *, cpu_affinity: bool, drain_time: float,
                 log_level: str) -> None:
        self.config = config
        self.concurrency = concurrency
        self.cpu_affinity = cpu_affinity
        self.drain_time = drain_time
        self.log_level = log_level
        self.store = StatsStore()
        self.retired = StatsStore()
        self.latest: dict[int, dict] = {}
        self.procs: dict[int, subprocess.Popen] = {}
        self.pipes: dict[int, asyncio.BaseTransport] = {}
        self.sockets: list[list[socket.socket]] = []  # per worker, per listener
        self.buckets: BucketTable | None = None  # the rate-limit buckets every worker shares
        self.stopping = False
        self.upgrading = False  # a new master took over: workers leave and are not replaced
        self.admin: AdminServer | None = None
        self.stopped = asyncio.Event()
        # Only for /clusters: hosts and their (aggregated) stats; never dials anything.
        self.clusters = ClusterManager(config.cluster_manager.clusters, self.store)
        self.config_file = tempfile.NamedTemporaryFile("w", prefix="pymosn-", suffix=".json", delete=False)
        json.dump(config_to_builtins(config), self.config_file)
        self.config_file.close()

    async def run(self, ready_message: str | None = None, takeover=None, upgrade_socket: str | None = None) -> int:
        """Serve until stopped. With `takeover` (a hot upgrade) the listening sockets come from
        the process being replaced and its workers send their connections to ours."""
        handoff_paths: list[str] = []
        try:
            if takeover is not None:
                self.sockets = self._inherit_listeners(takeover)
                handoff_paths = [f"{upgrade_socket}.{os.getpid()}.{i}" for i in range(self.concurrency)]
            else:
                self.sockets = bind_listeners(self.config, self.concurrency)
        except OSError as error:
            log.error("cannot start: %s", error)
            os.unlink(self.config_file.name)
            return 1
        for i, sock in enumerate(self.sockets[0]):
            log.info("listener %d bound on %s", i, sock.getsockname())
        # before any worker starts: their rate limits share buckets through it
        self.buckets = BucketTable.create(self.concurrency)
        for worker_id in range(self.concurrency):
            await self._spawn(worker_id, handoff_paths[worker_id] if handoff_paths else None)
        admin = None
        if self.config.admin is not None:
            sa = self.config.admin.address.socket_address
            admin = AdminServer(
                self.store,
                config_dump=lambda: config_to_builtins(self.config),
                clusters=self.clusters.describe,
                listeners=self._describe_listeners,
                on_quit=self.request_stop,
                on_drain=self.drain_listeners,
                ready=lambda: not self.stopping,
            )
            admin_sock = takeover.take(ADMIN, (sa.address, sa.port_value)) if takeover is not None else None
            host, port = await admin.start(sa.address, sa.port_value, sock=admin_sock)
            log.info("admin serving on %s:%d", host, port)
        self.admin = admin
        self.store.server.live = 1
        self.store.server.concurrency = self.concurrency
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop)
        if ready_message:
            print(ready_message, flush=True)
        supervisor = loop.create_task(self._supervise())
        upgrades: list = []
        if takeover is not None:
            await self._continue_takeover(takeover, handoff_paths, upgrade_socket, upgrades)
        elif upgrade_socket:
            upgrades.append(self._serve_upgrades(upgrade_socket))
        await self.stopped.wait()
        supervisor.cancel()
        for service in upgrades:
            if service is not None:
                service.close()
        await self._stop_workers()
        if self.admin is not None:
            await self.admin.stop()
        for path in (self.config_file.name, self.config_file.name + ".upgrade"):
            if os.path.exists(path):
                os.unlink(path)
        return 0

    # --- hot upgrade: the new master ---------------------------------------------------------

    def _inherit_listeners(self, takeover) -> list[list[socket.socket]]:
        """The old master's listening sockets, one group per old worker. We run at least as
        many workers as there are groups: a group nobody accepts on would lose its backlog."""
        listeners = [lst for server in self.config.servers for lst in server.listeners if lst.bind_port]
        inherited = {lst.name: takeover.take_all(lst.name) for lst in listeners}
        groups = max((len(socks) for socks in inherited.values()), default=0)
        if groups > self.concurrency:
            log.warning("hot upgrade: running %d workers, as the old process did (asked: %d)", groups, self.concurrency)
            self.concurrency = groups
        fresh = bind_listeners(self.config, self.concurrency) if any(
            len(inherited[lst.name]) < self.concurrency for lst in listeners
        ) else None
        per_worker: list[list[socket.socket]] = [[] for _ in range(self.concurrency)]
        for index, lst in enumerate(listeners):
            socks = inherited[lst.name]
            for worker_id in range(self.concurrency):
                if worker_id < len(socks):
                    per_worker[worker_id].append(socks[worker_id])
                else:  # a new listener, or more workers than before
                    per_worker[worker_id].append(fresh[worker_id][index])
        if fresh is not None:  # the fresh sockets we did not use
            used = {id(s) for group in per_worker for s in group}
            for group in fresh:
                for sock in group:
                    if id(sock) not in used:
                        sock.close()
        return per_worker

    async def _continue_takeover(self, takeover, handoff_paths: list[str], upgrade_socket: str, upgrades: list) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while not all(os.path.exists(p) for p in handoff_paths) and loop.time() < deadline:
            await asyncio.sleep(0.02)  # the workers open their handoff sockets as they start
        takeover.ready(handoff_paths, loop, on_stats=self._inherit_stats)

        async def when_done() -> None:
            await takeover.done.wait()
            upgrades.append(self._serve_upgrades(upgrade_socket))

        loop.create_task(when_done())

    def _inherit_stats(self, snapshot: dict) -> None:
        self.retired.merge([snapshot])
        self._aggregate()

    # --- hot upgrade: the old master ---------------------------------------------------------

    def _serve_upgrades(self, path: str):
        loop = asyncio.get_running_loop()
        service = UpgradeService(
            path,
            handover=self._listening_sockets,
            stop_accepting=lambda: loop.create_task(self._stop_accepting_for_upgrade()),
            migrate=self._migrate,
            final_stats=self._final_stats,
            on_done=self.request_stop,
        )
        return service if service.start(loop) else None

    def _listening_sockets(self) -> list[tuple[str, socket.socket]]:
        names = [lst.name for server in self.config.servers for lst in server.listeners if lst.bind_port]
        found = [(name, sock) for group in self.sockets for name, sock in zip(names, group)]
        if self.admin is not None and self.admin.socket is not None:
            found.append((ADMIN, self.admin.socket))
        return found

    async def _stop_accepting_for_upgrade(self) -> None:
        self.upgrading = True  # workers that exit now are not replaced
        self.drain_listeners()
        if self.admin is not None:
            await self.admin.stop()
            self.admin = None

    async def _migrate(self, targets: list[str]) -> int:
        """Each worker sends its connections to one of the new workers, then drains and exits
        (its last stats reach us through its pipe)."""
        with open(self.config_file.name + ".upgrade", "w") as f:
            json.dump({"targets": targets}, f)
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGUSR1)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 2 * self.drain_time + 10
        while any(p.poll() is None for p in self.procs.values()) and loop.time() < deadline:
            await asyncio.sleep(0.05)
        await asyncio.sleep(STATS_INTERVAL)  # the pipes deliver the workers' last snapshots
        for worker_id in list(self.latest):
            self._retire(worker_id)
        return sum(s.downstream_cx_migrated_out for s in self.store.listeners.values())

    def _final_stats(self) -> dict:
        self._aggregate()
        for group in self.store.groups():
            group.zero_gauges()
        return self.store.snapshot()

    async def _spawn(self, worker_id: int, handoff_path: str | None = None) -> None:
        read_fd, write_fd = os.pipe()
        try:  # room for a whole snapshot, so a write is never split
            fcntl.fcntl(read_fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), 1024 * 1024)
        except OSError:
            pass
        fds = [s.fileno() for s in self.sockets[worker_id]]
        if self.buckets is not None:
            fds.append(self.buckets.fd)
        args = [
            sys.executable, "-m", "pymosn", "_worker",
            "-c", self.config_file.name,
            "--listen-fds", ",".join(str(s.fileno()) for s in self.sockets[worker_id]),
            "--stats-fd", str(write_fd),
            "--worker-id", str(worker_id),
            "--drain-time-s", str(self.drain_time),
            "--upgrade-file", self.config_file.name + ".upgrade",
            "-l", self.log_level,
        ]
        if handoff_path is not None:
            args += ["--handoff-socket", handoff_path]
        if self.buckets is not None:
            args += ["--bucket-fd", str(self.buckets.fd)]
        if self.cpu_affinity:
            args += ["--cpu", str(worker_id % (os.cpu_count() or 1))]
        proc = subprocess.Popen(args, pass_fds=(*fds, write_fd))
        os.close(write_fd)
        self.procs[worker_id] = proc
        loop = asyncio.get_running_loop()
        pipe = os.fdopen(read_fd, "rb", buffering=0)
        transport, _ = await loop.connect_read_pipe(lambda: _StatsReader(self, worker_id), pipe)
        old = self.pipes.pop(worker_id, None)
        if old is not None:
            old.close()
        self.pipes[worker_id] = transport
        log.info("worker %d started (pid %d)", worker_id, proc.pid)

    def _describe_listeners(self) -> list[dict]:
        names = [lst.name for server in self.config.servers for lst in server.listeners if lst.bind_port]
        addresses = [s.getsockname() for s in self.sockets[0]]
        return [{"name": n, "address": f"{a[0]}:{a[1]}"} for n, a in zip(names, addresses)]

    def on_worker_stats(self, worker_id: int, snapshot: dict) -> None:
        self.latest[worker_id] = snapshot
        self._aggregate()

    def _aggregate(self) -> None:
        self.store.replace_with([*self.latest.values(), self.retired.snapshot()])

    async def _supervise(self) -> None:
        while not self.stopping:
            await asyncio.sleep(0.1)
            for worker_id, proc in list(self.procs.items()):
                code = proc.poll()
                if code is None or self.stopping or self.upgrading:
                    continue
                log.error("worker %d (pid %d) exited with %s; starting it again", worker_id, proc.pid, code)
                self._retire(worker_id)
                self.store.server.workers_restarted += 1
                await asyncio.sleep(_RESTART_BACKOFF)
                if not self.stopping:
                    await self._spawn(worker_id)

    def _retire(self, worker_id: int) -> None:
        """Keep a dead worker's counters in the totals; its gauges (active connections...) died
        with it."""
        last = self.latest.pop(worker_id, None)
        if last is not None:
            self.retired.merge([last])
            for group in self.retired.groups():
                group.zero_gauges()
        self._aggregate()

    def reload(self, config: model.Config) -> None:
        """Hands a validated config to every worker (through the file they read it from)."""
        with open(self.config_file.name + ".new", "w") as f:
            json.dump(config_to_builtins(config), f)
        os.replace(self.config_file.name + ".new", self.config_file.name)
        self.config = config
        self.clusters = ClusterManager(config.cluster_manager.clusters, self.store)
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGHUP)

    def request_stop(self) -> None:
        self.stopping = True
        self.stopped.set()

    def drain_listeners(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGUSR2)

    async def _stop_workers(self) -> None:
        for worker_sockets in self.sockets:
            for sock in worker_sockets:
                sock.close()
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        deadline = asyncio.get_running_loop().time() + self.drain_time + 5
        while any(p.poll() is None for p in self.procs.values()):
            if asyncio.get_running_loop().time() > deadline:
                for p in self.procs.values():
                    if p.poll() is None:
                        p.kill()
                break
            await asyncio.sleep(0.05)
        for transport in self.pipes.values():
            transport.close()


async def run_worker(
    runtime,
    sockets: list[socket.socket],
    stats_fd: int,
    drain_time: float,
    *,
    upgrade_file: str | None = None,
    handoff_socket: str | None = None,
    worker_id: int = 0,
) -> int:
    """Body of one worker process: serve on the inherited sockets, report stats, drain on
    SIGTERM, stop accepting on SIGUSR2, and leave if the master is gone. In a hot upgrade an old
    worker sends its connections away on SIGUSR1 (to the target the master wrote to
    `upgrade_file`) and a new one receives them on `handoff_socket`."""
    loop = asyncio.get_running_loop()
    master_pid = os.getppid()
    await runtime.start(sockets, with_admin=False)
    heap.settle()
    receiver = None
    if handoff_socket:
        receiver = ConnectionReceiver(handoff_socket, runtime.adopt)
        receiver.start(loop)
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, runtime.request_stop)
    loop.add_signal_handler(signal.SIGUSR2, runtime.drain_listeners)
    if upgrade_file:
        loop.add_signal_handler(signal.SIGUSR1, lambda: loop.create_task(_hand_over(runtime, upgrade_file, drain_time, worker_id)))
    os.set_blocking(stats_fd, False)
    encode = msgspec.json.encode

    def report() -> None:
        if os.getppid() != master_pid:
            runtime.request_stop()  # orphaned: the master died
            return
        try:
            os.write(stats_fd, encode(runtime.stats.snapshot()) + b"\n")
        except BlockingIOError:
            pass  # the master is busy; the next snapshot supersedes this one
        except OSError:
            runtime.request_stop()
            return
        loop.call_later(STATS_INTERVAL, report)

    report()
    await runtime.stopped.wait()
    if receiver is not None:
        receiver.close()
    await runtime.stop(drain_time)
    try:
        os.write(stats_fd, encode(runtime.stats.snapshot()) + b"\n")
    except OSError:
        pass
    return 0


async def _hand_over(runtime, upgrade_file: str, drain_time: float, worker_id: int) -> None:
    """Old worker, hot upgrade: send the idle connections to our target, let the busy ones
    finish (migrating them when they fall idle), then leave."""
    with open(upgrade_file) as f:
        targets = json.load(f)["targets"]
    for listener in runtime.listeners:
        listener.stop_accepting()
    loop = asyncio.get_running_loop()

    def on_sent(listener_name: str) -> None:
        runtime.stats.listener(listener_name).downstream_cx_migrated_out += 1

    if targets:
        await migrate_connections(runtime, targets[worker_id % len(targets)], loop.time() + drain_time, on_sent)
    runtime.request_stop()
