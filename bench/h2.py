#!/usr/bin/env python3
"""HTTP/2 benchmark: h2load (h2c, prior knowledge) to pymosn and to Envoy, one worker each on
CPU 1, both proxying HTTP/1.1 to the same nginx origin; h2load and the origin share CPU 0.

    python3 bench/h2.py                       # 5 interleaved rounds x 10 s, -c50 -m10
    python3 bench/h2.py --rounds 1 --duration 3
    python3 bench/h2.py --clients 50 --streams 10 --json /tmp/h2.json
    python3 bench/h2.py --pymosn-python /path/to/other/.venv/bin/python   # another pymosn build

pymosn: `downstream_protocol: Http2`, `upstream_protocol: Http1`, one catch-all route, started
with --concurrency 1. Envoy: --concurrency 1, an HTTP connection manager with codec_type AUTO
(h2c from the preface) and a STATIC HTTP/1.1 cluster, no access log. Each proxy must return the
origin's body over h2c before the rounds; rounds alternate pymosn, Envoy, pymosn, ... Run by
hand, on a quiet machine with at least 2 CPUs."""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import configs  # noqa: E402
import peers  # noqa: E402
from procs import CLK_TCK, BenchError, Server, free_port, install_cleanup, stop_all, tree_cpu_ticks  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
LOAD_CPU, PROXY_CPU = 0, 1


def pymosn_config(work: Path, port: int, admin: int, origin_port: int, name: str = "pymosn") -> Path:
    config = json.loads(configs.mosn_config(work, f"h2-{name}", port, admin, origin_port, None).read_text())
    proxy = config["servers"][0]["listeners"][0]["filter_chains"][0]["filters"][0]["config"]
    proxy["downstream_protocol"] = "Http2"
    proxy["upstream_protocol"] = "Http1"
    path = work / f"h2-{name}.json"
    path.write_text(json.dumps(config, indent=1))
    return path


def envoy_config(work: Path, port: int, admin: int, origin_port: int) -> Path:
    bootstrap = json.loads(configs.envoy_bootstrap(work, port, admin, origin_port).read_text())
    hcm = bootstrap["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    hcm["codec_type"] = "AUTO"
    path = work / "h2-envoy.yaml"
    path.write_text(json.dumps(bootstrap, indent=1))
    return path


def h2load(port: int, duration: float, clients: int, streams: int, warmup: float) -> dict:
    argv = ["taskset", "-c", str(LOAD_CPU), "h2load", "-t1", f"-c{clients}", f"-m{streams}",
            f"-D{max(1, round(duration))}", f"--warm-up-time={max(0, round(warmup))}",
            f"http://127.0.0.1:{port}/"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=duration + warmup + 60)
    if done.returncode != 0:
        raise BenchError(f"h2load failed ({done.returncode}): {(done.stderr or done.stdout).strip()[-400:]}")
    return parse_h2load(done.stdout)


def parse_h2load(out: str) -> dict:
    finished = re.search(r"finished in ([\d.]+)(ms|s), ([\d.]+) req/s", out)
    requests = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, "
                         r"(\d+) errored, (\d+) timeout", out)
    codes = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out)
    latency = re.search(r"time for request:\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)", out)
    if not finished or not requests or not codes:
        raise BenchError("h2load printed no totals:\n" + out[-800:])
    seconds = float(finished.group(1)) / (1000.0 if finished.group(2) == "ms" else 1.0)
    return {
        "seconds": seconds,
        "rps": float(finished.group(3)),
        "requests": int(requests.group(3)),
        "succeeded": int(requests.group(4)),
        "failed": int(requests.group(5)),  # errored and timed-out requests are among the failed
        "non_2xx": int(codes.group(2)) + int(codes.group(3)) + int(codes.group(4)),
        "mean_latency": latency.group(3) if latency else None,
    }


def check_h2c(port: int, name: str) -> None:
    """One h2load request: the proxy must answer the origin's 200 over h2c before any load."""
    deadline = time.monotonic() + 20
    last = ""
    while time.monotonic() < deadline:
        done = subprocess.run(["h2load", "-n1", "-c1", f"http://127.0.0.1:{port}/"], capture_output=True,
                              text=True, timeout=30)
        if "1 succeeded" in done.stdout and "1 2xx" in done.stdout:
            return
        last = done.stdout[-300:] + done.stderr[-300:]
        time.sleep(0.3)
    raise BenchError(f"{name} did not answer 200 over h2c:\n{last}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=1.0, help="h2load --warm-up-time, seconds")
    parser.add_argument("--clients", type=int, default=50, help="h2load -c (connections)")
    parser.add_argument("--streams", type=int, default=10, help="h2load -m (concurrent streams per connection)")
    parser.add_argument("--only", default="pymosn,envoy",
                        help="subset of pymosn,pymosn-h2 (its h2-based server codec, PYMOSN_HTTP2_SERVER=h2),envoy")
    parser.add_argument("--json", type=Path, default=None, help="also write the raw rounds here")
    parser.add_argument("--pymosn-python", default=None,
                        help="interpreter that has pymosn installed (default: the bench venv, with this repo editable)")
    args = parser.parse_args(argv)
    targets = [t for t in args.only.split(",") if t]

    install_cleanup()
    peers.ensure_apt_packages()
    peers.ensure_venv(need_envoy="envoy" in targets, need_pymosn=any(t.startswith("pymosn") for t in targets))
    python = args.pymosn_python or str(peers.VENV_PY)
    work = peers.WORK / "h2"
    work.mkdir(parents=True, exist_ok=True)
    rounds: dict[str, list[dict]] = {t: [] for t in targets}
    try:
        origin_port = free_port()
        origin = Server("origin", [peers.nginx_binary(), "-p", str(work), "-e", "stderr", "-c",
                                   str(configs.nginx_origin(work, origin_port))], LOAD_CPU, origin_port,
                        work / "origin.log")
        origin.start()
        origin.wait_listening(15)
        proxies: dict[str, Server] = {}
        for name, codec in (("pymosn", "fast"), ("pymosn-h2", "h2")):
            if name not in targets:
                continue
            port = free_port()
            conf = pymosn_config(work, port, free_port(), origin_port, name)
            # a control socket of its own: any other pymosn on the machine keeps to its own
            proxies[name] = Server(name, [python, "-m", "pymosn", "start", "-c", str(conf), "--concurrency", "1",
                                          "--upgrade-socket", str(work / f"upgrade-{codec}.sock")],
                                   PROXY_CPU, port, work / f"{name}.log", env={"PYMOSN_HTTP2_SERVER": codec})
        if "envoy" in targets:
            port = free_port()
            conf = envoy_config(work, port, free_port(), origin_port)
            proxies["envoy"] = Server("envoy", [peers.envoy_binary(), "-c", str(conf), "--concurrency", "1",
                                                "--disable-hot-restart", "-l", "warning"], PROXY_CPU, port,
                                      work / "envoy.log")
        for server in proxies.values():
            server.start()
        for name, server in proxies.items():
            server.wait_listening(30)
            check_h2c(server.port, name)
        for round_no in range(1, args.rounds + 1):
            for name, server in proxies.items():
                before = tree_cpu_ticks(server.pid)
                r = h2load(server.port, args.duration, args.clients, args.streams, args.warmup)
                r["cpu_ticks"] = tree_cpu_ticks(server.pid) - before
                rounds[name].append(r)
                cpu_us = measured_ticks(r) / CLK_TCK * 1e6 / r["requests"] if r["requests"] else float("nan")
                print(json.dumps({"round": round_no, "target": name, **r, "cpu_us_per_rq": round(cpu_us, 1)}),
                      flush=True)
    finally:
        stop_all()
    print(table(rounds, args))
    if args.json:
        args.json.write_text(json.dumps(rounds, indent=1))
    return 0


def measured_ticks(r: dict) -> float:
    """The CPU reading spans h2load's warm-up too, whose requests h2load does not count (its
    "finished in" does include it): scale the ticks to the measured share of the run."""
    measured_s = r["requests"] / r["rps"] if r["rps"] else r["seconds"]
    return r["cpu_ticks"] * min(1.0, measured_s / r["seconds"])


def summarise(rows: list[dict]) -> dict:
    """Median req/s; CPU per request over all rounds together (ticks are 10 ms each)."""
    requests = sum(r["requests"] for r in rows)
    ticks = sum(measured_ticks(r) for r in rows)
    return {
        "rps": statistics.median(r["rps"] for r in rows),
        "rps_min": min(r["rps"] for r in rows),
        "rps_max": max(r["rps"] for r in rows),
        "cpu_us": ticks / CLK_TCK * 1e6 / requests if requests else None,
        "failed": sum(r["failed"] for r in rows),
        "non_2xx": sum(r["non_2xx"] for r in rows),
    }


def table(rounds: dict[str, list[dict]], args) -> str:
    s = {name: summarise(rows) for name, rows in rounds.items() if rows}
    lines = [f"h2load h2c -c{args.clients} -m{args.streams}, {len(next(iter(rounds.values()), []))} rounds x "
             f"{args.duration:g} s, HTTP/1.1 upstream",
             "",
             "| proxy | req/s (median) | req/s range | CPU µs/req | failed | non-2xx |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for name, v in s.items():
        cpu = f"{v['cpu_us']:.1f}" if v["cpu_us"] is not None else "n/a"
        lines.append(f"| {name} | {v['rps']:,.0f} | {v['rps_min']:,.0f}-{v['rps_max']:,.0f} | {cpu} | "
                     f"{v['failed']} | {v['non_2xx']} |")
    if "pymosn" in s and "envoy" in s:
        p, e = s["pymosn"], s["envoy"]
        cpu_ratio = f"{p['cpu_us'] / e['cpu_us']:.2f}" if p["cpu_us"] and e["cpu_us"] else "n/a"
        lines += ["", "| pymosn / Envoy | req/s | CPU µs/req |", "| --- | ---: | ---: |",
                  f"| ratio | {p['rps'] / e['rps']:.2f} | {cpu_ratio} |"]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
