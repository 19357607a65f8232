"""Instructions per proxied HTTP/1.1 request (or gRPC call), counted by callgrind: a figure this
machine's noise does not move, for comparing two builds of pymosn (pure Python and compiled,
before and after).

    python3 bench/instructions.py [--python .venv/bin/python] [--requests 3000] [--env K=V ...]
    python3 bench/instructions.py --grpc [--seconds 10]   # unary gRPC calls, HTTP/2 both ways

pymosn runs the bench's MOSN config (one catch-all route, HTTP/1.1 both sides, the nginx origin),
or with `--envoy bare|chain` the Envoy bootstrap of `run.py --only filters` (without or with
BENCH_CHAIN), under `valgrind --tool=callgrind --instr-atstart=no`; after a warm-up, counting is switched on
around `h2load --h1 -n N -c 10` keep-alive GETs and off again, so the figure is user-space
instructions of the proxy process per request, event loop and libraries included, kernel
excluded. The same build, inputs and environment give the same figure to a few hundred
instructions in a run of 3,000 requests.

`--grpc` runs bench/grpc.py's config, server and load generator instead (grpcio from the bench
venv, 4 channels, 32 calls in flight, 64 B each way) for `--seconds` of counting; the figure
is per completed call."""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import configs  # noqa: E402
import grpc as grpc_bench  # noqa: E402  (bench/grpc.py)
import peers  # noqa: E402
from procs import BenchError, Server, free_port, install_cleanup, wait_for_http, wait_for_port  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
_TOTALS = re.compile(r"^(?:summary|totals):\s+(\d+)", re.M)


def _h2load(url: str, requests: int) -> int:
    done = subprocess.run(["h2load", "--h1", "-n", str(requests), "-c", "10", url], capture_output=True, text=True)
    if done.returncode != 0 or f"{requests} succeeded" not in done.stdout:
        raise BenchError(f"h2load did not complete {requests} requests:\n{done.stdout[-600:]}{done.stderr[-400:]}")
    return requests


def _control(*args: str) -> None:
    subprocess.run(["callgrind_control", *args], check=True, capture_output=True)


def _counted(pid: int, work: Path, keep: Path | None, run: Callable[[], int]) -> float:
    """Instructions per unit of work: counting on around `run` (which returns how many units
    it did), the dump read back."""
    _control("-i", "on", str(pid))
    units = run()
    _control("-i", "off", str(pid))
    _control("-d", str(pid))
    time.sleep(1)
    dumps = {dump: max(map(int, _TOTALS.findall(dump.read_text(errors="replace"))), default=0)
             for dump in work.glob("callgrind.out*")}
    measured = max(dumps, key=dumps.__getitem__, default=None)
    if measured is None or not dumps[measured] or not units:
        raise BenchError(f"no callgrind totals in {work}")
    if keep is not None:  # for callgrind_annotate
        shutil.copy(measured, keep)
    print(f"{units} counted")
    return dumps[measured] / units


def count(python: str, requests: int, warmup: int, env: dict[str, str], keep: Path | None = None,
          envoy: str | None = None) -> float:
    for tool in ("valgrind", "callgrind_control", "h2load", "nginx"):
        if shutil.which(tool) is None:
            raise BenchError(f"{tool} not found (apt-get install valgrind nghttp2-client nginx)")
    work = Path(tempfile.mkdtemp(prefix="pymosn-instructions-"))
    origin_port, port = free_port(), free_port()
    origin = Server("origin", ["nginx", "-p", str(work), "-e", "stderr", "-c",
                               str(configs.nginx_origin(work, origin_port))], 0, origin_port, work / "origin.log")
    origin.start()
    origin.wait_listening(15)
    if envoy is None:
        conf = configs.mosn_config(work, "pymosn", port, free_port(), origin_port, None)
    else:
        conf = configs.envoy_bootstrap(work, port, free_port(), origin_port, chain=envoy == "chain", name="pymosn")
    out = work / "callgrind.out"
    argv = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}",
            python, "-m", "pymosn", "start", "-c", str(conf), "--concurrency", "1"]
    proxy = Server("pymosn", argv, 1, port, work / "pymosn.log", env=env)
    proxy.start()
    try:
        wait_for_port(port, 300, proxy.proc, "pymosn under callgrind")
        url = f"http://127.0.0.1:{port}/"
        wait_for_http(url, 60, "pymosn under callgrind", configs.ORIGIN_BODY.encode())
        _h2load(url, warmup)
        return _counted(proxy.pid, work, keep, lambda: _h2load(url, requests))
    finally:
        proxy.stop()
        origin.stop()
        shutil.rmtree(work, ignore_errors=True)


def count_grpc(python: str, seconds: float, env: dict[str, str], keep: Path | None = None) -> float:
    for tool in ("valgrind", "callgrind_control"):
        if shutil.which(tool) is None:
            raise BenchError(f"{tool} not found (apt-get install valgrind)")
    peers.ensure_venv(need_envoy=False, need_pymosn=False)
    load_python = str(peers.VENV_PY)
    grpc_bench.ensure_grpcio(load_python)
    work = Path(tempfile.mkdtemp(prefix="pymosn-instructions-"))
    server_port, port = free_port(), free_port()
    here = str(Path(grpc_bench.__file__))
    server = Server("grpc-server", [load_python, here, "server", "--port", str(server_port)], 0, server_port,
                    work / "server.log")
    server.start()
    server.wait_listening(20)
    conf = grpc_bench.pymosn_config(work, port, free_port(), server_port)
    out = work / "callgrind.out"
    argv = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}",
            python, "-m", "pymosn", "start", "-c", str(conf), "--concurrency", "1"]
    proxy = Server("pymosn", argv, 1, port, work / "pymosn.log", env=env)
    proxy.start()

    def load(duration: float) -> int:
        done = subprocess.run([load_python, here, "client", "--port", str(port), "--duration", str(duration),
                               "--concurrency", "32", "--channels", "4", "--payload", "64"],
                              capture_output=True, text=True, timeout=duration + 120)
        if done.returncode != 0:
            raise BenchError(f"gRPC load generator failed:\n{done.stderr[-1500:]}")
        result = json.loads(done.stdout.strip().splitlines()[-1])
        if result["errors"]:
            raise BenchError(f"{result['errors']} gRPC calls failed")
        return int(result["calls"])

    try:
        wait_for_port(port, 300, proxy.proc, "pymosn under callgrind")
        load(3.0)
        return _counted(proxy.pid, work, keep, lambda: load(seconds))
    finally:
        proxy.stop()
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--python", default=str(REPO / ".venv/bin/python"))
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--warmup", type=int, default=1000)
    parser.add_argument("--env", action="append", default=[], help="KEY=VALUE for the proxy's environment")
    parser.add_argument("--envoy", choices=("bare", "chain"),
                        help="the Envoy bootstrap of the filters benchmark instead of the MOSN config")
    parser.add_argument("--keep", type=Path, help="copy the measured callgrind dump here (callgrind_annotate FILE)")
    parser.add_argument("--grpc", action="store_true", help="unary gRPC calls through pymosn instead of HTTP/1.1")
    parser.add_argument("--seconds", type=float, default=10.0, help="--grpc: seconds of counted load")
    args = parser.parse_args()
    install_cleanup()
    env = dict(item.split("=", 1) for item in args.env)
    label = " ".join([*args.env, *([f"envoy {args.envoy}"] if args.envoy else [])]) or "default environment"
    if args.grpc:
        per_call = count_grpc(args.python, args.seconds, env, args.keep)
        print(f"{per_call / 1000:.1f}k instructions per gRPC call ({label}, {args.python})")
        return
    per_request = count(args.python, args.requests, args.warmup, env, args.keep, args.envoy)
    print(f"{per_request / 1000:.1f}k instructions per request ({args.requests} requests, {label}, {args.python})")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
