#!/usr/bin/env python3
"""Hot upgrade under load: wrk keeps 50 persistent HTTP/1.1 connections busy through pymosn's
HTTP proxy and 50 more through its tcp_proxy (to the same nginx origin) while a new pymosn
process takes over with `--upgrade`, several times in a row. Every upgrade must cost zero
failed requests (wrk's socket errors and non-2xx responses) and must migrate connections.

    python3 bench/upgrade.py               # 3 upgrades, 12 s of load around each
    python3 bench/upgrade.py --runs 5 --concurrency 2

Run by hand (not by CI); it installs nginx and wrk like bench/run.py does."""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import configs  # noqa: E402
import peers  # noqa: E402
import wrk  # noqa: E402
from procs import BenchError, Server, free_port, http_get, install_cleanup, stop_all, wait_for_http  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
LOAD_CPU, PROXY_CPU = 0, 1


def write_config(work: Path, http_port: int, tcp_port: int, admin_port: int, origin_port: int) -> Path:
    config = json.loads(configs.mosn_config(work, "upgrade", http_port, admin_port, origin_port, None).read_text())
    config["servers"][0]["listeners"].append(
        {
            "name": "tcp",
            "address": f"127.0.0.1:{tcp_port}",
            "filter_chains": [{"filters": [{"type": "tcp_proxy", "config": {"cluster": "origin"}}]}],
        }
    )
    path = work / "upgrade.mosn.json"
    path.write_text(json.dumps(config, indent=1))
    return path


def stats(admin_port: int) -> dict[str, int]:
    _, body = http_get(f"http://127.0.0.1:{admin_port}/stats")
    found = {}
    for line in body.decode().splitlines():
        name, _, value = line.partition(":")
        if value.strip().isdigit():
            found[name.strip()] = int(value)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=float, default=12.0, help="seconds of load around each upgrade")
    parser.add_argument("--concurrency", type=int, default=1, help="pymosn worker processes")
    parser.add_argument("--connections", type=int, default=50, help="wrk connections per listener")
    args = parser.parse_args(argv)

    install_cleanup()
    peers.ensure_apt_packages()
    peers.ensure_venv(need_envoy=False, need_pymosn=True)
    python = str(ROOT / "bench" / ".work" / "venv" / "bin" / "python")
    work = ROOT / "bench" / ".work" / "upgrade"
    work.mkdir(parents=True, exist_ok=True)
    origin_port = free_port()
    origin = Server("origin", [peers.nginx_binary(), "-p", str(work), "-e", "stderr", "-c",
                               str(configs.nginx_origin(work, origin_port))], LOAD_CPU, origin_port, work / "origin.log")
    http_port, tcp_port, admin_port = free_port(), free_port(), free_port()
    conf = write_config(work, http_port, tcp_port, admin_port, origin_port)
    control = work / "control.sock"

    def pymosn(generation: int, upgrade: bool) -> Server:
        argv = [python, "-m", "pymosn", "start", "-c", str(conf), "--concurrency", str(args.concurrency),
                "--upgrade-socket", str(control), "--drain-time-s", "5"]
        if upgrade:
            argv.append("--upgrade")
        return Server(f"pymosn-{generation}", argv, PROXY_CPU, http_port, work / f"pymosn-{generation}.log")

    results = []
    try:
        origin.start()
        origin.wait_listening(15)
        current = pymosn(0, upgrade=False)
        current.start()
        current.wait_listening(20)
        wait_for_http(f"http://127.0.0.1:{http_port}/", 10, "pymosn", configs.ORIGIN_BODY.encode())
        for run in range(1, args.runs + 1):
            loads: dict[str, wrk.WrkResult] = {}

            def load(name: str, port: int) -> None:
                loads[name] = wrk.run(f"http://127.0.0.1:{port}/", args.duration, args.connections, cpu=LOAD_CPU)

            threads = [threading.Thread(target=load, args=(n, p)) for n, p in (("http", http_port), ("tcp", tcp_port))]
            for t in threads:
                t.start()
            time.sleep(args.duration / 3)
            before = stats(admin_port)
            started = time.monotonic()
            successor = pymosn(run, upgrade=True)
            successor.start()
            if current.proc.wait(timeout=60) != 0:
                raise BenchError(f"the old process failed:\n{current.log_tail()}")
            handover_s = time.monotonic() - started
            for t in threads:
                t.join()
            after = stats(admin_port)
            migrated = {k: after.get(k, 0) - before.get(k, 0) for k in after if k.endswith("migrated_in")}
            row = {
                "run": run,
                "handover_s": round(handover_s, 2),
                "http_requests": loads["http"].requests,
                "http_errors": loads["http"].socket_errors + loads["http"].non_2xx_3xx,
                "tcp_requests": loads["tcp"].requests,
                "tcp_errors": loads["tcp"].socket_errors + loads["tcp"].non_2xx_3xx,
                "migrated": migrated,
            }
            print(json.dumps(row), flush=True)
            results.append(row)
            current = successor
        current.stop()
    finally:
        stop_all()
    failed = sum(r["http_errors"] + r["tcp_errors"] for r in results)
    print(f"{len(results)} upgrades under load, {failed} failed requests")
    return 0 if failed == 0 and len(results) == args.runs else 1


if __name__ == "__main__":
    sys.exit(main())
