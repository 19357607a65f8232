#!/usr/bin/env python3
"""RPC benchmark: X-Protocol request/response through one pymosn worker vs the same client
talking to the same server directly, plus pymosn's HTTP/1.1 proxying in the same run for the
CPU-per-request comparison the issue asks for.

    python3 bench/rpc.py                          # bolt and dubbo, 3 rounds x 10 s
    python3 bench/rpc.py --protocols x_example --rounds 2 --duration 5

Load: bench/rpc_load.py, 50 callers over 4 downstream connections (so many requests are in
flight on each), small payloads; pymosn multiplexes them onto its upstream connection. The
load generator and the echo server share CPU 0; pymosn has CPU 1 to itself, as in bench/run.py.
HTTP reference: wrk -c50 through pymosn to the nginx origin. Run by hand, not by CI."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import configs  # noqa: E402
import peers  # noqa: E402
import wrk  # noqa: E402
from procs import CLK_TCK, Server, free_port, install_cleanup, stop_all, tree_cpu_ticks, wait_for_http  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
LOAD_CPU, PROXY_CPU = 0, 1


def rpc_config(work: Path, protocol: str, port: int, admin: int, server_port: int) -> Path:
    config = {
        "servers": [{
            "default_log_path": "stderr",
            "listeners": [{
                "name": "rpc",
                "address": f"127.0.0.1:{port}",
                "filter_chains": [{"filters": [{"type": "proxy", "config": {
                    "downstream_protocol": protocol, "upstream_protocol": protocol, "router_config_name": "rpc"}}]}],
            }],
            "routers": [{"router_config_name": "rpc", "virtual_hosts": [{"name": "all", "domains": ["*"], "routers": [
                {"match": {"headers": [{"name": "service", "value": ".*", "regex": True}]},
                 "route": {"cluster_name": "echo"}}]}]}],
        }],
        "cluster_manager": {"clusters": [{"name": "echo", "hosts": [{"address": f"127.0.0.1:{server_port}"}]}]},
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin}}},
    }
    path = work / f"rpc-{protocol}.json"
    path.write_text(json.dumps(config, indent=1))
    return path


def run_client(python: str, protocol: str, port: int, duration: float, args) -> dict:
    argv = ["taskset", "-c", str(LOAD_CPU), python, str(ROOT / "bench" / "rpc_load.py"), "client",
            "--protocol", protocol, "--port", str(port), "--duration", str(duration),
            "--connections", str(args.connections), "--callers", str(args.callers), "--payload", str(args.payload)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 60)
    if done.returncode != 0:
        raise RuntimeError(f"load generator failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def measured(server: Server, run) -> tuple[dict, float]:
    """Runs `run()` and returns its result and the proxy's CPU microseconds per request."""
    before = tree_cpu_ticks(server.pid)
    result = run()
    cpu_s = (tree_cpu_ticks(server.pid) - before) / CLK_TCK
    requests = result["requests"]
    return result, (cpu_s / requests * 1e6) if requests else float("nan")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--protocols", default="bolt,dubbo")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--callers", type=int, default=50)
    parser.add_argument("--payload", type=int, default=64)
    parser.add_argument("--json", type=Path, default=None, help="also write the raw results here")
    args = parser.parse_args(argv)

    install_cleanup()
    peers.ensure_apt_packages()
    peers.ensure_venv(need_envoy=False, need_pymosn=True)
    python = str(ROOT / "bench" / ".work" / "venv" / "bin" / "python")
    work = ROOT / "bench" / ".work" / "rpc"
    work.mkdir(parents=True, exist_ok=True)
    protocols = [p for p in args.protocols.split(",") if p]
    results: dict[str, list[dict]] = {p: [] for p in protocols}
    results["http1"] = []
    try:
        origin_port = free_port()
        origin = Server("origin", [peers.nginx_binary(), "-p", str(work), "-e", "stderr", "-c",
                                   str(configs.nginx_origin(work, origin_port))], LOAD_CPU, origin_port,
                        work / "origin.log")
        origin.start()
        origin.wait_listening(15)
        http_port = free_port()
        http_conf = configs.mosn_config(work, "rpc-http", http_port, free_port(), origin_port, None)
        http = Server("pymosn-http", [python, "-m", "pymosn", "start", "-c", str(http_conf), "--concurrency", "1"],
                      PROXY_CPU, http_port, work / "pymosn-http.log")
        http.start()
        http.wait_listening(20)
        wait_for_http(f"http://127.0.0.1:{http_port}/", 10, "pymosn", configs.ORIGIN_BODY.encode())
        stacks = {}
        for protocol in protocols:
            server_port, proxy_port = free_port(), free_port()
            echo = Server(f"echo-{protocol}", [python, str(ROOT / "bench" / "rpc_load.py"), "server", "--protocol",
                                               protocol, "--port", str(server_port), "--payload", str(args.payload)],
                          LOAD_CPU, server_port, work / f"echo-{protocol}.log")
            echo.start()
            echo.wait_listening(20)
            conf = rpc_config(work, protocol, proxy_port, free_port(), server_port)
            proxy = Server(f"pymosn-{protocol}", [python, "-m", "pymosn", "start", "-c", str(conf), "--concurrency", "1"],
                           PROXY_CPU, proxy_port, work / f"pymosn-{protocol}.log")
            proxy.start()
            proxy.wait_listening(20)
            stacks[protocol] = (server_port, proxy_port, proxy)
        for round_no in range(1, args.rounds + 1):
            for protocol, (server_port, proxy_port, proxy) in stacks.items():
                direct = run_client(python, protocol, server_port, args.duration, args)
                through, cpu_us = measured(proxy, lambda: run_client(python, protocol, proxy_port, args.duration, args))
                row = {"round": round_no, "direct_rps": direct["rps"], "proxy_rps": through["rps"],
                       "ratio": round(through["rps"] / direct["rps"], 3) if direct["rps"] else None,
                       "proxy_cpu_us_per_rq": round(cpu_us, 1), "errors": direct["errors"] + through["errors"]}
                results[protocol].append(row)
                print(json.dumps({"protocol": protocol, **row}), flush=True)
            wrk_result, http_cpu = measured(http, lambda: _wrk_dict(http_port, args.duration))
            row = {"round": round_no, "proxy_rps": wrk_result["requests"] / args.duration,
                   "proxy_cpu_us_per_rq": round(http_cpu, 1), "errors": wrk_result["errors"]}
            results["http1"].append(row)
            print(json.dumps({"protocol": "http1", **row}), flush=True)
    finally:
        stop_all()
    print(_table(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


def _wrk_dict(port: int, duration: float) -> dict:
    result = wrk.run(f"http://127.0.0.1:{port}/", duration, 50, cpu=LOAD_CPU)
    return {"requests": result.requests, "errors": result.socket_errors + result.non_2xx_3xx}


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2] if ordered else float("nan")


def _table(results: dict[str, list[dict]]) -> str:
    http_cpu = _median([r["proxy_cpu_us_per_rq"] for r in results["http1"]])
    lines = ["| protocol | direct req/s | through pymosn req/s | ratio | pymosn CPU us/req | vs HTTP/1.1 CPU us/req |",
             "|---|---:|---:|---:|---:|---:|"]
    for protocol, rows in results.items():
        if protocol == "http1" or not rows:
            continue
        cpu = _median([r["proxy_cpu_us_per_rq"] for r in rows])
        lines.append(
            f"| {protocol} | {_median([r['direct_rps'] for r in rows]):,.0f} | {_median([r['proxy_rps'] for r in rows]):,.0f}"
            f" | {_median([r['ratio'] for r in rows]):.2f} | {cpu:.1f} | {cpu / http_cpu:.2f}x ({http_cpu:.1f}) |"
        )
    return "\n".join(lines) + f"\n(medians of {len(results['http1'])} rounds)"


if __name__ == "__main__":
    sys.exit(main())
