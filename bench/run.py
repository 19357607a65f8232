#!/usr/bin/env python3
"""The proxy benchmark: pymosn vs Envoy vs nginx, behind each the same nginx origin.

    python3 bench/run.py                      # 5 rounds x 10 s, all targets (HTTP and L4)
    python3 bench/run.py --quick              # 2 rounds x 3 s, a smoke test
    python3 bench/run.py --only envoy,nginx   # any subset of: pymosn, envoy, nginx, routes,
                                              #   tcp-bulk, tcp-bulk-r, tcp-rr; or http, l4
    python3 bench/run.py --only l4 --l4-proxies pymosn,envoy
    python3 bench/run.py --write              # also update BENCHMARKS.md
    python3 bench/run.py --check              # short pymosn-vs-Envoy round against the ratio recorded
                                              #   in BENCHMARKS.md; exit 1 when >10% worse (bench/check.py)

See bench/README.md for what each column means.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shlex
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import check  # noqa: E402
import configs  # noqa: E402
import iperf  # noqa: E402
import peers  # noqa: E402
import report  # noqa: E402
import wrk  # noqa: E402
from procs import (  # noqa: E402
    CLK_TCK,
    BenchError,
    Server,
    free_port,
    install_cleanup,
    stop_all,
    tree_cpu_ticks,
    tree_rss_kib,
    wait_for_http,
    wait_for_port,
)

HTTP_TARGETS = ("pymosn", "envoy", "nginx", "routes", "filters")
# L4 tests: iperf3 client -> server, iperf3 -R (server -> client), wrk through the TCP proxy.
L4_TESTS = ("tcp-bulk", "tcp-bulk-r", "tcp-rr")
TARGETS = HTTP_TARGETS + L4_TESTS
GROUPS = {"http": HTTP_TARGETS, "l4": L4_TESTS}
# The proxies every L4 test runs through; pymosn-nosplice is pymosn with PYMOSN_DISABLE_SPLICE=1.
L4_PROXIES = ("pymosn", "pymosn-nosplice", "envoy", "nginx")
LOAD_CPU = 0  # wrk and the origin
PROXY_CPU = 1  # the proxy under test, alone
LABELS = {
    "pymosn": "pymosn",
    "envoy": "Envoy",
    "nginx": "nginx",
    "routes10": "pymosn, 10 routes + catch-all (cycling paths)",
    "routes10k": "pymosn, 10,000 routes + catch-all (cycling paths)",
    "pymosn-nosplice": "pymosn, no splice (PYMOSN_DISABLE_SPLICE=1)",
    "pymosn-envoy": "pymosn, Envoy's bare bootstrap",
    "pymosn-chain": "pymosn, Envoy's bootstrap + RBAC, local rate limit, header mutation",
    "envoy-chain": "Envoy + RBAC, local rate limit, header mutation",
    "pymosn-baseline": "pymosn, baseline build (--baseline-python, or pure Python: --baseline-pure-python)",
}
# `filters`: the bare route and the benchmark filter chain (configs.BENCH_CHAIN), each proxy
# running the same Envoy bootstrap with and without the chain
FILTER_TARGETS = ("pymosn-envoy", "pymosn-chain", "envoy", "envoy-chain")


@dataclass
class Target:
    """A server to load and how to load it."""

    name: str
    server: Server
    url: str
    paths_file: Path | None = None  # set: wrk cycles through these paths via cycle_paths.lua

    def load(self, duration_s: float, connections: int) -> wrk.WrkResult:
        script = peers.BENCH / "cycle_paths.lua" if self.paths_file else None
        args = [str(self.paths_file)] if self.paths_file else None
        return wrk.run(self.url, duration_s, connections, cpu=LOAD_CPU, script=script, script_args=args)


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def start_origin(work: Path) -> Server:
    port = free_port()
    conf = configs.nginx_origin(work, port)
    server = Server("origin", _nginx_argv(work, conf), LOAD_CPU, port, work / "origin.log")
    server.start()
    server.wait_listening(15)
    wait_for_http(f"http://127.0.0.1:{port}/", 10, "origin nginx", configs.ORIGIN_BODY.encode())
    return server


def _nginx_argv(work: Path, conf: Path) -> list[str]:
    # -e: errors logged before the config is read go to stderr (our log), not /var/log/nginx.
    return [peers.nginx_binary(), "-p", str(work), "-e", "stderr", "-c", str(conf)]


def _envoy_argv(conf: Path) -> list[str]:
    """Envoy with one worker, as every benchmark compares one worker per proxy."""
    return [peers.envoy_binary(), "-c", str(conf), "--concurrency", "1", "--disable-hot-restart", "-l", "warning"]


def start_targets(
    names: list[str], work: Path, origin_port: int, pymosn_python: str, baseline_python: str | None = None,
    baseline_env: dict[str, str] | None = None,
) -> list[Target]:
    """Starts every proxy first, then waits for each: startups overlap instead of adding up."""
    targets: list[Target] = []
    waits = []
    for name in names:
        port = free_port()
        if name in ("envoy", "envoy-chain"):
            admin = free_port()
            conf = configs.envoy_bootstrap(work, port, admin, origin_port, chain=name == "envoy-chain", name=name)
            argv = _envoy_argv(conf)
            server = Server(name, argv, PROXY_CPU, port, work / "envoy.log")
            # Envoy accepts on its listener before its clusters are initialised; /ready says when.
            waits.append((server, f"http://127.0.0.1:{admin}/ready"))
            targets.append(Target(name, server, f"http://127.0.0.1:{port}/"))
        elif name == "nginx":
            conf = configs.nginx_proxy(work, port, origin_port)
            server = Server(name, _nginx_argv(work, conf), PROXY_CPU, port, work / "nginx-proxy.log")
            targets.append(Target(name, server, f"http://127.0.0.1:{port}/"))
        elif name in ("pymosn-envoy", "pymosn-chain"):
            conf = configs.envoy_bootstrap(work, port, free_port(), origin_port, chain=name == "pymosn-chain", name=name)
            argv = [pymosn_python, "-m", "pymosn", "start", "-c", str(conf), "--concurrency", "1"]
            server = Server(name, argv, PROXY_CPU, port, work / f"{name}.log")
            targets.append(Target(name, server, f"http://127.0.0.1:{port}/"))
        else:  # pymosn, pymosn-baseline, routes10, routes10k: the same command with different configs
            route_count = {"pymosn": None, "pymosn-baseline": None, "routes10": 10, "routes10k": 10_000}[name]
            conf = configs.mosn_config(work, name, port, free_port(), origin_port, route_count)
            python = baseline_python if name == "pymosn-baseline" and baseline_python else pymosn_python
            argv = [python, "-m", "pymosn", "start", "-c", str(conf), "--concurrency", "1"]
            env = baseline_env if name == "pymosn-baseline" else None
            server = Server(name, argv, PROXY_CPU, port, work / f"{name}.log", env=env)
            paths = configs.route_paths(work, name, route_count) if route_count else None
            targets.append(Target(name, server, f"http://127.0.0.1:{port}/", paths))
        server.start()
    for target in targets:
        # A 10,000-route config takes a while to load in an interpreter; be generous.
        target.server.wait_listening(90)
    for server, ready_url in waits:
        wait_for_http(ready_url, 30, f"{server.name} admin /ready")
    for target in targets:
        check_target(target)
    return targets


def check_target(target: Target) -> None:
    """Each proxy must really return the origin's 200 and body, or its numbers mean nothing."""
    urls = [target.url]
    if target.paths_file:
        paths = target.paths_file.read_text().split()
        urls = [target.url.rstrip("/") + p for p in (paths[0], paths[len(paths) // 2], paths[-1])]
    for url in urls:
        try:
            wait_for_http(url, 15, target.name, configs.ORIGIN_BODY.encode())
        except BenchError as error:
            raise BenchError(
                f"{error}\n--- {target.server.log} (tail) ---\n{target.server.log_tail()}"
            ) from None


class RssSampler:
    """Samples the proxy tree's resident memory while wrk runs, keeping the maximum."""

    def __init__(self, pid: int, interval: float = 0.25):
        self.pid, self.interval, self.peak = pid, interval, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, tree_rss_kib(self.pid))
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, tree_rss_kib(self.pid))


def measure_round(target: Target, duration_s: float, connections: int) -> dict:
    if not target.server.alive():
        raise BenchError(
            f"{target.name} died\n--- {target.server.log} (tail) ---\n{target.server.log_tail()}"
        )
    before = tree_cpu_ticks(target.server.pid)
    with RssSampler(target.server.pid) as rss:
        result = target.load(duration_s, connections)
    ticks = tree_cpu_ticks(target.server.pid) - before
    return {"wrk": result.as_dict(), "cpu_ticks": ticks, "peak_rss_kib": rss.peak}


@dataclass
class L4Target:
    """A TCP proxy with a "bulk" listener (to iperf3 -s) and an "rr" listener (to the origin)."""

    name: str
    server: Server
    ports: dict[str, int]

    def rr(self) -> Target:
        return Target(self.name, self.server, f"http://127.0.0.1:{self.ports['rr']}/")


def start_l4_targets(
    names: list[str], work: Path, backends: dict[str, int], pymosn_python: str, stream_module: str | None
) -> list[L4Target]:
    targets: list[L4Target] = []
    waits = []
    for name in names:
        ports = {listener: free_port() for listener in configs.L4_LISTENERS}
        env = None
        if name == "envoy":
            admin = free_port()
            conf = configs.envoy_l4_bootstrap(work, ports, admin, backends)
            argv = _envoy_argv(conf)
            waits.append((name, f"http://127.0.0.1:{admin}/ready"))
        elif name == "nginx":
            assert stream_module is not None
            conf = configs.nginx_l4_proxy(work, ports, backends, stream_module)
            argv = _nginx_argv(work, conf)
        else:  # pymosn, pymosn-nosplice: the same config, the switch is in the environment
            conf = configs.mosn_l4_config(work, f"{name}-l4", ports, backends)
            argv = [pymosn_python, "-m", "pymosn", "start", "-c", str(conf), "--concurrency", "1"]
            if name == "pymosn-nosplice":
                env = {"PYMOSN_DISABLE_SPLICE": "1"}
        server = Server(f"{name}-l4", argv, PROXY_CPU, ports["rr"], work / f"{name}-l4.log", env=env)
        server.start()
        targets.append(L4Target(name, server, ports))
    for target in targets:
        target.server.wait_listening(30)
        try:
            wait_for_port(target.ports["bulk"], 10, target.server.proc, target.server.name)
        except BenchError as error:
            raise BenchError(
                f"{error}\n--- {target.server.log} (tail) ---\n{target.server.log_tail()}"
            ) from None
    for name, ready_url in waits:
        wait_for_http(ready_url, 30, f"{name} (L4) admin /ready")
    for target in targets:
        check_target(target.rr())  # the origin's 200 and body, through the TCP proxy
    return targets


def start_iperf_server(work: Path) -> Server:
    port = free_port()
    server = Server(
        "iperf3", ["iperf3", "-s", "-p", str(port), "-B", "127.0.0.1"], LOAD_CPU, port, work / "iperf3.log"
    )
    server.start()
    server.wait_listening(10)
    return server


def measure_bulk(target: L4Target, duration_s: float, reverse: bool) -> dict:
    """One iperf3 test through the proxy; the proxy's CPU % over the transfer, from /proc."""
    if not target.server.alive():
        raise BenchError(
            f"{target.name} died\n--- {target.server.log} (tail) ---\n{target.server.log_tail()}"
        )
    before = tree_cpu_ticks(target.server.pid)
    start = time.monotonic()
    with RssSampler(target.server.pid) as rss:
        try:
            result = iperf.run(target.ports["bulk"], duration_s, reverse=reverse, cpu=LOAD_CPU)
        except iperf.IperfError as error:
            raise BenchError(
                f"iperf3 through {target.name} failed: {error}\n--- {target.server.log} (tail) ---\n"
                f"{target.server.log_tail()}"
            ) from None
    wall = time.monotonic() - start
    ticks = tree_cpu_ticks(target.server.pid) - before
    return {"iperf": result.as_dict(), "cpu_ticks": ticks, "wall_s": wall, "peak_rss_kib": rss.peak}


def run_l4(
    args, tests: list[str], proxies: list[str], work: Path, origin: Server | None, stream_module
) -> dict:
    """Starts the iperf3 server and the L4 proxies, runs the interleaved rounds, stops them."""
    backends = {"bulk": 0, "rr": origin.port if origin else 0}
    iperf_server = None
    if any(t.startswith("tcp-bulk") for t in tests):
        log("starting the iperf3 server")
        iperf_server = start_iperf_server(work)
        backends["bulk"] = iperf_server.port
    log(f"starting L4 proxies: {', '.join(proxies)}")
    targets = start_l4_targets(
        proxies, work, backends, args.pymosn_python or str(peers.VENV_PY), stream_module
    )
    results: dict[str, dict[str, list[dict]]] = {test: {t.name: [] for t in targets} for test in tests}
    try:
        for target in targets:
            log(f"warming up {target.name} (L4, {args.warmup:g} s per test)")
            if iperf_server:
                iperf.run(target.ports["bulk"], max(1.0, args.warmup), cpu=LOAD_CPU)
            if "tcp-rr" in tests:
                target.rr().load(args.warmup, args.connections)
        for round_no in range(1, args.rounds + 1):
            # Test by test, proxy by proxy: each test's proxies are measured close together in
            # time. iperf3's server takes one test at a time, so the bulk rounds are sequential.
            for test in tests:
                for target in targets:
                    if test == "tcp-rr":
                        measured = measure_round(target.rr(), args.duration, args.connections)
                        w = measured["wrk"]
                        cpu_us = measured["cpu_ticks"] / CLK_TCK * 1e6 / max(1, w["requests"])
                        log(
                            f"round {round_no}/{args.rounds} {test} {target.name}: {w['rps']:,.0f} req/s, "
                            f"{cpu_us:.1f} CPU µs/req, errors {w['socket_errors']}, non-2xx {w['non_2xx_3xx']}"
                        )
                    else:
                        measured = measure_bulk(target, args.duration, reverse=test == "tcp-bulk-r")
                        r = measured["iperf"]
                        cpu_pct = measured["cpu_ticks"] / CLK_TCK / r["seconds"] * 100
                        log(
                            f"round {round_no}/{args.rounds} {test} {target.name}: {r['gbits']:.2f} Gbit/s, "
                            f"proxy CPU {cpu_pct:.0f}%"
                        )
                    results[test][target.name].append(measured)
    finally:
        for target in targets:
            target.server.stop(grace=3.0)
        if iperf_server:
            iperf_server.stop(grace=3.0)
    return results


def warn_if_busy() -> None:
    # Two cores leave no slack: anything else running skews every number, so say so up front.
    # A 1 s sample of /proc/stat, not the load average, which still remembers our last run.
    def busy_idle() -> tuple[int, int]:
        ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = ticks[3] + ticks[4]  # idle + iowait
        return sum(ticks) - idle, idle

    busy0, idle0 = busy_idle()
    time.sleep(1.0)
    busy1, idle1 = busy_idle()
    share = (busy1 - busy0) / max(1, (busy1 - busy0) + (idle1 - idle0))
    if share > 0.15:
        log(f"warning: the machine is already {share:.0%} busy before starting; results may be noisy")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds per target (default 5)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of wrk per round (default 10)")
    parser.add_argument("--connections", type=int, default=50, help="wrk connections (default 50)")
    parser.add_argument(
        "--warmup", type=float, default=3.0, help="seconds of warm-up load per target (default 3)"
    )
    parser.add_argument("--quick", action="store_true", help="smoke test: 2 rounds x 3 s, 1 s warm-up")
    parser.add_argument(
        "--only",
        default="http,l4",
        help=f"comma list of {', '.join(TARGETS)}, or the groups http (= {','.join(HTTP_TARGETS)}) "
        f"and l4 (= {','.join(L4_TESTS)}); default: all",
    )
    parser.add_argument(
        "--l4-proxies",
        default=",".join(L4_PROXIES),
        help=f"the proxies the L4 tests run through, comma list of {', '.join(L4_PROXIES)} (default: all)",
    )
    parser.add_argument(
        "--pymosn-python",
        help="interpreter that has pymosn installed (default: the bench venv, with pymosn installed editable)",
    )
    parser.add_argument(
        "--baseline-python",
        help="interpreter with another pymosn build (an older commit's venv); with target pymosn it also "
        "runs that build as pymosn-baseline, interleaved in the same rounds, for before/after pairs",
    )
    parser.add_argument(
        "--baseline-pure-python",
        action="store_true",
        help="pymosn-baseline is the same install run as pure Python (PYMOSN_NO_EXTENSIONS=1): "
        "the compiled build against its oracle, in the same rounds",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="regression guard: a short interleaved pymosn-vs-Envoy HTTP/1.1 round (3 x 5 s unless "
        "--rounds/--duration say otherwise); exit 1 when pymosn's CPU per request, as a ratio to Envoy's, "
        "is more than 10%% above the ratio recorded in BENCHMARKS.md",
    )
    parser.add_argument(
        "--record-check",
        action="store_true",
        help="with --check: record the measured ratio in BENCHMARKS.md as the new reference",
    )
    parser.add_argument(
        "--write",
        action="store_true",
        help="replace the benchmark section(s) of BENCHMARKS.md for what was run",
    )
    parser.add_argument(
        "--write-to", type=Path, default=peers.REPO / "BENCHMARKS.md", help="the file --write updates"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.duration, args.warmup = 2, 3.0, 1.0
    if args.check:
        args.only = "pymosn,envoy"
        defaults = (parser.get_default("rounds"), parser.get_default("duration"), parser.get_default("warmup"))
        if (args.rounds, args.duration, args.warmup) == defaults:
            args.rounds, args.duration, args.warmup = check.CHECK_ROUNDS, check.CHECK_DURATION, check.CHECK_WARMUP
    elif args.record_check:
        parser.error("--record-check goes with --check")
    only: list[str] = []
    for name in (n.strip() for n in args.only.split(",")):
        for item in GROUPS.get(name, (name,) if name else ()):
            if item not in only:
                only.append(item)
    unknown = sorted(set(only) - set(TARGETS))
    if unknown:
        parser.error(
            f"--only: unknown target(s) {', '.join(unknown)}; choose from {', '.join(TARGETS)}, http, l4"
        )
    args.only = only
    l4_proxies = [n.strip() for n in args.l4_proxies.split(",") if n.strip()]
    unknown = sorted(set(l4_proxies) - set(L4_PROXIES))
    if unknown:
        parser.error(f"--l4-proxies: unknown proxy {', '.join(unknown)}; choose from {', '.join(L4_PROXIES)}")
    args.l4_proxies = [n for n in L4_PROXIES if n in l4_proxies]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if (os.cpu_count() or 1) < 2:
        raise BenchError("needs at least 2 CPUs: the proxy gets CPU 1, wrk and the origin CPU 0")
    # The harness itself (RSS sampling, /proc reads) stays off the proxy's CPU.
    os.sched_setaffinity(0, {LOAD_CPU})
    install_cleanup()

    names = [n for n in ("pymosn", "envoy", "nginx") if n in args.only]
    if (args.baseline_python or args.baseline_pure_python) and "pymosn" in names:
        names.insert(names.index("pymosn") + 1, "pymosn-baseline")
    if "routes" in args.only:
        names += ["routes10", "routes10k"]
    if "filters" in args.only:
        names += [n for n in FILTER_TARGETS if n not in names]
    l4_tests = [t for t in L4_TESTS if t in args.only]
    l4_proxies = list(args.l4_proxies) if l4_tests else []
    need_pymosn = any(n.startswith(("pymosn", "routes")) for n in names + l4_proxies)
    need_envoy = any(n.startswith("envoy") for n in names + l4_proxies)
    peers.ensure_apt_packages(log)
    notes: list[str] = []
    stream_module = None
    if "nginx" in l4_proxies:
        stream_module = peers.nginx_stream_module(log)
        if stream_module is None:
            l4_proxies.remove("nginx")
            notes.append("nginx is not in the L4 tables: its stream module is not available on this machine.")
    peers.ensure_venv(need_envoy=need_envoy, need_pymosn=need_pymosn and not args.pymosn_python, log=log)
    info = peers.machine_info(
        need_envoy, need_pymosn, args.pymosn_python or str(peers.VENV_PY), need_iperf3=bool(l4_tests)
    )
    warn_if_busy()

    work = peers.WORK / "run"
    work.mkdir(parents=True, exist_ok=True)
    results: dict[str, list[dict]] = {}
    l4_results: dict[str, dict[str, list[dict]]] = {}
    try:
        origin = None
        if names or "tcp-rr" in l4_tests:
            log("starting the origin")
            origin = start_origin(work)
        if names:
            results = run_http(args, names, work, origin)
        if l4_tests and l4_proxies:
            l4_results = run_l4(args, l4_tests, l4_proxies, work, origin, stream_module)
    finally:
        stop_all()

    date = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    command = "python3 bench/run.py" + ("" if not sys.argv[1:] else " " + shlex.join(sys.argv[1:]))
    summaries = {name: report.summarise(rounds) for name, rounds in results.items()}
    l4_summaries = {
        test: {
            name: (report.summarise(rounds) if test == "tcp-rr" else report.summarise_bulk(rounds))
            for name, rounds in by_proxy.items()
        }
        for test, by_proxy in l4_results.items()
    }
    sections = []
    if summaries:
        table = report.markdown(summaries, LABELS)
        print(table)
        settings = (
            f"{args.rounds} interleaved rounds per target, each `wrk -t1 -c{args.connections} -d{args.duration:g}s "
            f"--latency` after a {args.warmup:g} s warm-up; proxy on CPU {PROXY_CPU}, wrk and the nginx origin "
            f"on CPU {LOAD_CPU}; every proxy runs one worker."
        )
        sections.append(report.section(table, date, command, info, settings))
    if l4_summaries:
        l4_table = report.l4_markdown(l4_summaries, LABELS)
        if summaries:
            print()
        print(l4_table)
        for note in notes:
            print(f"\n{note}")
        settings = (
            f"{args.rounds} interleaved rounds per test and proxy, after a warm-up. Bulk: one "
            f"`iperf3 -c 127.0.0.1 -p PROXY -t {args.duration:g} -J` stream (`-R` for server → client) "
            f"through the proxy to an `iperf3 -s` backend, rounds one after another (iperf3 serves one "
            f"test at a time). Request/response: `wrk -t1 -c{args.connections} -d{args.duration:g}s --latency` "
            f"through the TCP proxy to the nginx origin. Proxy on CPU {PROXY_CPU}; iperf3 client and "
            f"server, wrk and the origin on CPU {LOAD_CPU}; every proxy runs one worker "
            f"(Envoy `--concurrency 1`)."
        )
        sections.append(report.l4_section(l4_table, date, command, info, settings, notes))
    save_json(args, command, date, info, results, summaries, l4_results, l4_summaries, notes)
    if args.write:
        for text in sections:
            report.write_benchmarks_md(args.write_to, text)
        log(f"updated {args.write_to}")
    if args.check:
        return run_check(args, summaries, date)
    return 0


def run_check(args, summaries: dict[str, dict], date: str) -> int:
    measured = check.cpu_ratio(summaries)
    if args.record_check:
        label = f"{date[:10]}, {peers.git_head()}, {args.rounds} x {args.duration:g} s"
        check.record(args.write_to, measured, label)
        print(f"\ncheck: recorded pymosn/Envoy CPU per request {measured:.2f} in {args.write_to}")
        return 0
    reference = check.recorded(args.write_to)
    ok, text = check.verdict(measured, reference[0] if reference else None)
    where = f" (recorded {reference[1]})" if reference else ""
    print(f"\ncheck {'passed' if ok else 'FAILED'}: {text}{where}")
    return 0 if ok else 1


def run_http(args, names: list[str], work: Path, origin: Server) -> dict[str, list[dict]]:
    log(f"starting {', '.join(names)}")
    targets = start_targets(
        names, work, origin.port, args.pymosn_python or str(peers.VENV_PY), args.baseline_python,
        baseline_env={"PYMOSN_NO_EXTENSIONS": "1"} if args.baseline_pure_python else None,
    )
    try:
        for target in targets:
            log(f"warming up {target.name} ({args.warmup:g} s)")
            target.load(args.warmup, args.connections)
        results: dict[str, list[dict]] = {t.name: [] for t in targets}
        for round_no in range(1, args.rounds + 1):
            # Interleaving spreads slow drifts of the machine (thermal, noisy neighbours) over
            # every target instead of penalising whichever ran last.
            for target in targets:
                measured = measure_round(target, args.duration, args.connections)
                results[target.name].append(measured)
                w = measured["wrk"]
                log(
                    f"round {round_no}/{args.rounds} {target.name}: {w['rps']:,.0f} req/s, "
                    f"p99 {w['p99_ms']} ms, errors {w['socket_errors']}, non-2xx {w['non_2xx_3xx']}"
                )
    finally:
        # The L4 proxies run next; the HTTP ones must not sit on CPU 1 meanwhile.
        for target in targets:
            target.server.stop(grace=3.0)
    return results


def save_json(args, command, date, info, results, summaries, l4_results, l4_summaries, notes) -> None:
    out = peers.BENCH / "results"
    out.mkdir(exist_ok=True)
    path = out / f"run-{time.strftime('%Y%m%d-%H%M%S')}.json"
    payload = {
        "date": date,
        "command": command,
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "machine": info,
        "summary": summaries,
        "rounds": results,
        "l4_summary": l4_summaries,
        "l4_rounds": l4_results,
        "notes": notes,
    }
    path.write_text(json.dumps(payload, indent=1))
    log(f"raw results: {path}")


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as error:
        print(f"bench: error: {error}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("bench: interrupted; servers stopped", file=sys.stderr)
        sys.exit(130)
