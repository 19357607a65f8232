"""The `pymosn` command: start, validate, version, demo."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys

from pymosn import __version__
from pymosn.api.errors import ConfigError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pymosn", description="MOSN, re-built in Python")
    sub = parser.add_subparsers(dest="command", required=True)
    start = sub.add_parser("start", help="run the proxy")
    start.add_argument("-c", "--config", required=True, help="MOSN config or Envoy v3 bootstrap (JSON or YAML)")
    start.add_argument("-l", "--log-level", default="info", choices=["trace", "debug", "info", "warning", "error", "critical"])
    start.add_argument(
        "--concurrency",
        type=int,
        default=None,
        help="worker processes (default: the CPUs this process may run on); above 1 a master supervises them",
    )
    start.add_argument("--cpu-affinity", action="store_true", help="pin worker i to CPU i (mod the CPU count)")
    start.add_argument(
        "--drain-time-s", type=float, default=5.0, help="on SIGTERM, how long in-flight requests may take to finish"
    )
    start.add_argument(
        "--upgrade",
        action="store_true",
        help="hot upgrade: take the listeners and live connections of the pymosn serving --upgrade-socket",
    )
    start.add_argument(
        "--upgrade-socket",
        default=None,
        help=f"control socket for hot upgrades (served by every running pymosn; default: {_default_upgrade_socket()})",
    )
    validate = sub.add_parser("validate", help="check a config and print every problem with its path")
    validate.add_argument("-c", "--config", required=True)
    sub.add_parser("version", help="print the version")
    worker = sub.add_parser("_worker")  # started by the master, not by people
    worker.add_argument("-c", "--config", required=True)
    worker.add_argument("--listen-fds", required=True)
    worker.add_argument("--stats-fd", type=int, required=True)
    worker.add_argument("--worker-id", type=int, default=0)
    worker.add_argument("--drain-time-s", type=float, default=5.0)
    worker.add_argument("--cpu", type=int, default=None)
    worker.add_argument("--upgrade-file", default=None)
    worker.add_argument("--handoff-socket", default=None)
    worker.add_argument("--bucket-fd", type=int, default=None)  # the master's shared rate-limit buckets
    worker.add_argument("-l", "--log-level", default="info")
    demo = sub.add_parser("demo", help="run a proxy with a built-in upstream; nothing else needed")
    demo.add_argument("--port", type=int, default=2046)
    demo.add_argument("--admin-port", type=int, default=34901)
    args = parser.parse_args(argv)

    if args.command == "version":
        from pymosn.build import describe

        print(f"pymosn {__version__}, {describe()}")
        return 0
    if args.command == "validate":
        return _validate(args.config)
    if args.command == "demo":
        from pymosn.server.demo import run_demo

        _setup_logging("info")
        return run_demo(args.port, args.admin_port)
    _setup_logging(args.log_level)
    # A reload signal that arrives before the loop installs its handler must not kill us.
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    if args.command == "_worker":
        return _worker(args)
    config = _load(args.config)
    if config is None:
        return 1
    if args.concurrency is None:
        args.concurrency = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    if args.concurrency < 1:
        print("error: --concurrency must be >= 1", file=sys.stderr)
        return 1
    if args.concurrency > 1:
        return _run_master(config, args)
    return serve(
        config,
        drain_time=args.drain_time_s,
        config_path=args.config,
        upgrade_socket=args.upgrade_socket or _default_upgrade_socket(),
        upgrade=args.upgrade,
    )


def _default_upgrade_socket() -> str:
    from pymosn.server.upgrade import DEFAULT_SOCKET

    return DEFAULT_SOCKET


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=logging.DEBUG if level in ("trace", "debug") else getattr(logging, level.upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def _load(path: str):
    import pymosn.filter.registry  # noqa: F401 - registers its filter kinds (rbac) before a config names them
    from pymosn.config.loader import load_config_file
    from pymosn.config.protocols import set_rpc_header_rewrites, set_rpc_protocols
    from pymosn.filter.http import registry as http_filters
    from pymosn.protocol.xprotocol import registry

    set_rpc_protocols(lambda: registry.codecs().keys())  # plugin codecs are valid names too
    set_rpc_header_rewrites(registry.rewritable_headers)
    assert http_filters.BUILTINS  # registered before the config names them

    try:
        result = load_config_file(path)
    except ConfigError as error:
        for issue in error.issues:
            print(f"error: {issue}", file=sys.stderr)
        return None
    except OSError as error:
        print(f"error: cannot read {path}: {error.strerror}", file=sys.stderr)
        return None
    for issue in result.warnings:
        print(f"warning: {issue}", file=sys.stderr)
    return result.config


def _validate(path: str) -> int:
    config = _load(path)
    if config is None:
        return 1
    print(f"{path}: ok")
    return 0


def _run_loop(main) -> int:
    try:
        import uvloop
    except ImportError:  # uvloop is Linux/macOS only; asyncio works, slower
        return asyncio.run(main())
    return uvloop.run(main())


def _run_master(config, args) -> int:
    from pymosn.server.upgrade import Takeover, UpgradeError
    from pymosn.server.workers import Master

    upgrade_socket = args.upgrade_socket or _default_upgrade_socket()
    master = Master(
        config, args.concurrency, cpu_affinity=args.cpu_affinity, drain_time=args.drain_time_s, log_level=args.log_level
    )

    async def main() -> int:
        takeover = None
        if args.upgrade:
            try:
                takeover = Takeover(upgrade_socket)
            except (UpgradeError, OSError, EOFError, ValueError) as error:
                logging.getLogger("pymosn.server").error("hot upgrade failed: %s", error)
                return 1
        reload_on_sighup(asyncio.get_running_loop(), args.config, master.reload)
        return await master.run(takeover=takeover, upgrade_socket=upgrade_socket)

    return _run_loop(main)


def _worker(args) -> int:
    import socket

    from pymosn.server.runtime import Runtime
    from pymosn.server.workers import run_worker

    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    if args.bucket_fd is not None:  # before any listener is built: its rate limits find their slots there
        from pymosn.filter.bucket_table import BucketTable, install

        install(BucketTable.attach(args.bucket_fd, args.worker_id))
    config = _load(args.config)
    if config is None:
        return 1
    sockets = [socket.socket(fileno=int(fd)) for fd in args.listen_fds.split(",") if fd]

    async def main() -> int:
        runtime = Runtime(config)
        reload_on_sighup(asyncio.get_running_loop(), args.config, runtime.reload)
        return await run_worker(
            runtime,
            sockets,
            args.stats_fd,
            args.drain_time_s,
            upgrade_file=args.upgrade_file,
            handoff_socket=args.handoff_socket,
            worker_id=args.worker_id,
        )

    return _run_loop(main)


def reload_on_sighup(loop, path: str, apply) -> None:
    """SIGHUP re-reads the config file. A config with errors is rejected (each error logged)
    and the running one keeps serving."""

    def reload() -> None:
        config = _load(path)
        if config is None:
            logging.getLogger("pymosn.server").error("config reload rejected: %s has errors; keeping the running config", path)
            return
        apply(config)

    loop.add_signal_handler(signal.SIGHUP, reload)


def serve(
    config,
    ready_message: str | None = None,
    before_start=None,
    drain_time: float = 5.0,
    config_path: str | None = None,
    upgrade_socket: str | None = None,
    upgrade: bool = False,
) -> int:
    """Runs the proxy until SIGTERM/SIGINT, /quitquitquit or a hot upgrade hands it over to a new
    process; SIGHUP reloads config_path. `upgrade`: take over from the process serving
    `upgrade_socket` instead of binding the listeners."""
    from pymosn.build import describe
    from pymosn.server import heap
    from pymosn.server.runtime import Runtime
    from pymosn.server.upgrade import Takeover, UpgradeError

    log = logging.getLogger("pymosn.server")
    log.info("pymosn %s, %s", __version__, describe())

    async def run() -> int:
        if before_start is not None:
            await before_start()
        takeover = None
        if upgrade:
            try:
                takeover = Takeover(upgrade_socket)
            except (UpgradeError, OSError, EOFError, ValueError) as error:
                log.error("hot upgrade failed: %s", error)
                return 1
            log.info("hot upgrade: took the listening sockets of pid %s", takeover.old_pid)
        runtime = Runtime(config)
        try:
            await runtime.start(takeover=takeover)
        except OSError as error:
            log.error("cannot start: %s", error)
            await runtime.stop()
            return 1
        heap.settle()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, runtime.request_stop)
        if config_path is not None:
            reload_on_sighup(loop, config_path, runtime.reload)
        upgrades: list = []
        if takeover is not None:
            await _continue_takeover(takeover, runtime, upgrade_socket, drain_time, upgrades)
        elif upgrade_socket:
            upgrades.append(_serve_upgrades(runtime, upgrade_socket, drain_time))
        if ready_message:
            print(ready_message, flush=True)
        await runtime.stopped.wait()
        for service in upgrades:
            if service is not None:
                service.close()
        await runtime.stop(drain_time)
        return 0

    return _run_loop(run)


async def _continue_takeover(takeover, runtime, upgrade_socket: str, drain_time: float, upgrades: list) -> None:
    """We serve on the inherited sockets: receive the old process's connections until it is
    done, continue its counters, then serve the control socket ourselves."""
    from pymosn.network.handoff import ConnectionReceiver

    loop = asyncio.get_running_loop()
    receiver = ConnectionReceiver(f"{upgrade_socket}.{os.getpid()}", runtime.adopt)
    receiver.start(loop)
    takeover.ready([receiver.path], loop, on_stats=lambda snapshot: runtime.stats.merge([snapshot]))

    async def when_done() -> None:
        await takeover.done.wait()
        receiver.close()
        upgrades.append(_serve_upgrades(runtime, upgrade_socket, drain_time))

    loop.create_task(when_done())


def _serve_upgrades(runtime, path: str, drain_time: float):
    """Serve the control socket through which a newer pymosn can take over from this one."""
    from pymosn.server.upgrade import UpgradeService, migrate_connections

    loop = asyncio.get_running_loop()

    def on_sent(listener_name: str) -> None:
        runtime.stats.listener(listener_name).downstream_cx_migrated_out += 1

    async def migrate(targets: list[str]) -> int:
        sent = await migrate_connections(runtime, targets[0], loop.time() + drain_time, on_sent)
        await runtime.stop(drain_time)  # what is still busy finishes here, then is closed
        return sent

    def done() -> None:
        runtime.request_stop()

    service = UpgradeService(
        path,
        handover=runtime.listening_sockets,
        stop_accepting=lambda: loop.create_task(runtime.stop_accepting_for_upgrade()),
        migrate=migrate,
        final_stats=runtime.final_stats,
        on_done=done,
    )
    return service if service.start(loop) else None


if __name__ == "__main__":
    sys.exit(main())
