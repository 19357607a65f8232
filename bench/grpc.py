#!/usr/bin/env python3
"""gRPC benchmark: unary calls from a grpcio (asyncio) client to a grpcio server, directly and
through one pymosn worker and through one Envoy worker (HTTP/2 downstream, HTTP/2 upstream,
the same route), in interleaved rounds.

    python3 bench/grpc.py                            # 5 rounds x 10 s, 32 calls in flight on 4 channels
    python3 bench/grpc.py --rounds 1 --duration 3
    python3 bench/grpc.py --concurrency 1 --channels 1   # one call at a time: the latency a hop adds

The client and the server share CPU 0; pymosn has CPU 1 to itself (as in bench/run.py).
Messages are raw bytes (`--payload` of them each way), so no protobuf code is involved. The
overhead per call is reported two ways: pymosn's CPU time per call (from /proc), and the
latency it adds (p50 through pymosn minus p50 direct). `client` and `server` are this file's
own subcommands, run by the harness. Run by hand, not by CI."""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve()

METHOD = "/bench.Echo/Unary"
LOAD_CPU, PROXY_CPU = 0, 1


# --- the load generator and the server (run in the bench venv) ---------------------------------


async def serve(port: int) -> None:
    import grpc

    async def echo(request: bytes, context) -> bytes:
        return request

    handler = grpc.method_handlers_generic_handler("bench.Echo", {"Unary": grpc.unary_unary_rpc_method_handler(echo)})
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((handler,))
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    await server.wait_for_termination()


async def load(port: int, duration: float, concurrency: int, channels: int, payload: int) -> dict:
    import grpc

    # a local subchannel pool per channel: otherwise grpcio shares one connection among them
    options = [("grpc.use_local_subchannel_pool", 1)]
    chans = [grpc.aio.insecure_channel(f"127.0.0.1:{port}", options=options) for _ in range(channels)]
    calls = [ch.unary_unary(METHOD) for ch in chans]
    message = b"x" * payload
    latencies: list[float] = []
    errors = 0
    for call in calls:  # connect and warm up every channel before the clock starts
        await call(message, timeout=10)
    loop = asyncio.get_running_loop()
    end = loop.time() + duration

    async def worker(call) -> None:
        nonlocal errors
        while loop.time() < end:
            start = time.perf_counter()
            try:
                await call(message, timeout=10)
            except grpc.RpcError:
                errors += 1
                continue
            latencies.append(time.perf_counter() - start)

    began = loop.time()
    await asyncio.gather(*(worker(calls[i % channels]) for i in range(concurrency)))
    seconds = loop.time() - began
    for ch in chans:
        await ch.close()
    latencies.sort()

    def pct(q: float) -> float | None:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000 if latencies else None

    return {"calls": len(latencies), "seconds": seconds, "rps": len(latencies) / seconds, "errors": errors,
            "p50_ms": pct(0.5), "p99_ms": pct(0.99)}


# --- the harness (run with any python3) --------------------------------------------------------


def pymosn_config(work: Path, port: int, admin: int, server_port: int) -> Path:
    config = {
        "servers": [{
            "default_log_path": "stderr",
            "listeners": [{
                "name": "grpc",
                "address": f"127.0.0.1:{port}",
                "bind_port": True,
                "filter_chains": [{"filters": [{"type": "proxy", "config": {
                    "downstream_protocol": "Http2", "upstream_protocol": "Http2", "router_config_name": "grpc"}}]}],
            }],
            "routers": [{"router_config_name": "grpc", "virtual_hosts": [{"name": "all", "domains": ["*"], "routers": [
                {"match": {"prefix": "/bench.Echo/"}, "route": {"cluster_name": "echo"}}]}]}],
        }],
        "cluster_manager": {"clusters": [{"name": "echo", "type": "SIMPLE", "lb_type": "LB_ROUNDROBIN",
                                          "hosts": [{"address": f"127.0.0.1:{server_port}"}]}]},
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin}}},
    }
    path = work / "grpc-pymosn.json"
    path.write_text(json.dumps(config, indent=1))
    return path


def envoy_bootstrap(work: Path, port: int, admin: int, server_port: int) -> Path:
    """Envoy's equivalent: h2c downstream (AUTO codec), HTTP/2 to the server, no access log."""
    cluster_options = {"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
        "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
        "explicit_http_config": {"http2_protocol_options": {}}}}
    hcm = {
        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": "grpc", "codec_type": "AUTO",
        "route_config": {"virtual_hosts": [{"name": "all", "domains": ["*"], "routes": [
            {"match": {"prefix": "/bench.Echo/"}, "route": {"cluster": "echo"}}]}]},
        "http_filters": [{"name": "envoy.filters.http.router", "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}],
    }
    bootstrap = {
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin}}},
        "static_resources": {
            "listeners": [{"name": "grpc", "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
                           "filter_chains": [{"filters": [{"name": "envoy.filters.network.http_connection_manager",
                                                           "typed_config": hcm}]}]}],
            "clusters": [{"name": "echo", "type": "STATIC", "connect_timeout": "1s",
                          "typed_extension_protocol_options": cluster_options,
                          "load_assignment": {"cluster_name": "echo", "endpoints": [{"lb_endpoints": [
                              {"endpoint": {"address": {"socket_address": {"address": "127.0.0.1",
                                                                            "port_value": server_port}}}}]}]}}],
        },
    }
    path = work / "grpc-envoy.yaml"
    path.write_text(json.dumps(bootstrap, indent=1))  # JSON is YAML
    return path


def ensure_grpcio(python: str) -> None:
    import peers

    if subprocess.run([python, "-c", "import grpc"], capture_output=True).returncode != 0:
        print("installing grpcio into the bench venv", flush=True)
        peers._run([python, "-m", "pip", "install", "-q", "grpcio>=1.60"], "pip install grpcio")


def run_client(python: str, port: int, duration: float, args) -> dict:
    argv = ["taskset", "-c", str(LOAD_CPU), python, str(HERE), "client", "--port", str(port),
            "--duration", str(duration), "--concurrency", str(args.concurrency), "--channels", str(args.channels),
            "--payload", str(args.payload)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 90)
    if done.returncode != 0:
        raise RuntimeError(f"gRPC load generator failed:\n{done.stderr[-1500:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def harness(args) -> int:
    import peers
    from procs import CLK_TCK, Server, free_port, install_cleanup, stop_all, tree_cpu_ticks

    install_cleanup()
    peers.ensure_apt_packages()
    peers.ensure_venv(need_envoy=not args.no_envoy, need_pymosn=True)
    python = str(peers.VENV_PY)
    ensure_grpcio(python)
    work = peers.WORK / "grpc"
    work.mkdir(parents=True, exist_ok=True)
    rows: list[dict] = []
    try:
        server_port, proxy_port = free_port(), free_port()
        server = Server("grpc-server", [python, str(HERE), "server", "--port", str(server_port)], LOAD_CPU,
                        server_port, work / "grpc-server.log")
        server.start()
        server.wait_listening(20)
        conf = pymosn_config(work, proxy_port, free_port(), server_port)
        # a control socket of its own: any other pymosn on the machine keeps to its own
        proxy = Server("pymosn", [python, "-m", "pymosn", "start", "-c", str(conf), "--concurrency", "1",
                                  "--upgrade-socket", str(work / "upgrade.sock")],
                       PROXY_CPU, proxy_port, work / "pymosn.log")
        proxy.start()
        proxy.wait_listening(30)
        envoy = None
        if not args.no_envoy:
            envoy_port = free_port()
            envoy_conf = envoy_bootstrap(work, envoy_port, free_port(), server_port)
            envoy = Server("envoy", [peers.envoy_binary(), "-c", str(envoy_conf), "--concurrency", "1",
                                     "--disable-hot-restart", "-l", "warning"], PROXY_CPU, envoy_port, work / "envoy.log")
            envoy.start()
            envoy.wait_listening(30)
        for target in (proxy, envoy):  # each proxy answers before any measuring
            if target is not None:
                run_client(python, target.port, 0.5, args)

        def through(target) -> tuple[dict, int]:
            before = tree_cpu_ticks(target.pid)
            result = run_client(python, target.port, args.duration, args)
            return result, tree_cpu_ticks(target.pid) - before

        for round_no in range(1, args.rounds + 1):
            direct = run_client(python, server_port, args.duration, args)
            via, ticks = through(proxy)
            row = {"round": round_no, "direct": direct, "through": via, "proxy_cpu_ticks": ticks,
                   "proxy_cpu_us_per_call": round(ticks / CLK_TCK * 1e6 / via["calls"], 1) if via["calls"] else None}
            if envoy is not None:
                via_envoy, envoy_ticks = through(envoy)
                row.update(envoy=via_envoy, envoy_cpu_ticks=envoy_ticks, envoy_cpu_us_per_call=round(
                    envoy_ticks / CLK_TCK * 1e6 / via_envoy["calls"], 1) if via_envoy["calls"] else None)
            rows.append(row)
            print(json.dumps(row), flush=True)
    finally:
        stop_all()
    print(table(rows, args))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


def table(rows: list[dict], args) -> str:
    from procs import CLK_TCK

    def med(values):
        values = [v for v in values if v is not None]
        return statistics.median(values) if values else float("nan")

    direct_rps, through_rps = med([r["direct"]["rps"] for r in rows]), med([r["through"]["rps"] for r in rows])
    direct_p50, through_p50 = med([r["direct"]["p50_ms"] for r in rows]), med([r["through"]["p50_ms"] for r in rows])
    direct_p99, through_p99 = med([r["direct"]["p99_ms"] for r in rows]), med([r["through"]["p99_ms"] for r in rows])
    calls = sum(r["through"]["calls"] for r in rows)
    cpu_us = sum(r["proxy_cpu_ticks"] for r in rows) / CLK_TCK * 1e6 / calls if calls else float("nan")
    errors = sum(r["direct"]["errors"] + r["through"]["errors"] + r.get("envoy", {}).get("errors", 0) for r in rows)
    envoy_rows: list[str] = []
    if all("envoy" in r for r in rows):
        envoy_rps = med([r["envoy"]["rps"] for r in rows])
        envoy_p50, envoy_p99 = med([r["envoy"]["p50_ms"] for r in rows]), med([r["envoy"]["p99_ms"] for r in rows])
        envoy_calls = sum(r["envoy"]["calls"] for r in rows)
        envoy_us = sum(r["envoy_cpu_ticks"] for r in rows) / CLK_TCK * 1e6 / envoy_calls if envoy_calls else float("nan")
        envoy_rows = [
            "", "| proxy | calls/s (median) | p50 ms | p99 ms | proxy CPU µs/call |", "| --- | ---: | ---: | ---: | ---: |",
            f"| pymosn | {through_rps:,.0f} | {through_p50:.2f} | {through_p99:.2f} | {cpu_us:.1f} |",
            f"| Envoy | {envoy_rps:,.0f} | {envoy_p50:.2f} | {envoy_p99:.2f} | {envoy_us:.1f} |",
            f"| pymosn / Envoy | {through_rps / envoy_rps:.2f} | | | {cpu_us / envoy_us:.2f} |",
        ]
    return "\n".join([
        f"gRPC unary, {args.payload} B each way, {args.concurrency} calls in flight on {args.channels} channel(s), "
        f"{len(rows)} rounds x {args.duration:g} s",
        "",
        "| path | calls/s (median) | p50 ms | p99 ms |",
        "| --- | ---: | ---: | ---: |",
        f"| direct | {direct_rps:,.0f} | {direct_p50:.2f} | {direct_p99:.2f} |",
        f"| through pymosn | {through_rps:,.0f} | {through_p50:.2f} | {through_p99:.2f} |",
        "",
        "| through / direct calls/s | pymosn CPU µs/call | added p50 latency ms | errors |",
        "| ---: | ---: | ---: | ---: |",
        f"| {through_rps / direct_rps:.2f} | {cpu_us:.1f} | {through_p50 - direct_p50:.2f} | {errors} |",
        *envoy_rows,
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("role", nargs="?", default="bench", choices=["bench", "client", "server"])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=32, help="calls in flight")
    parser.add_argument("--channels", type=int, default=4, help="client channels (HTTP/2 connections)")
    parser.add_argument("--payload", type=int, default=64, help="message bytes each way")
    parser.add_argument("--json", type=Path, default=None, help="also write the raw rounds here")
    parser.add_argument("--no-envoy", action="store_true", help="pymosn only (by default Envoy runs the same rounds)")
    args = parser.parse_args(argv)
    if args.role in ("client", "server"):
        # this file is bench/grpc.py: with bench/ on the path, `import grpc` would find it
        sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE.parent]
    else:
        sys.path.insert(0, str(HERE.parent))
    if args.role == "server":
        asyncio.run(serve(args.port))
        return 0
    if args.role == "client":
        print(json.dumps(asyncio.run(load(args.port, args.duration, args.concurrency, args.channels, args.payload))))
        return 0
    return harness(args)


if __name__ == "__main__":
    sys.exit(main())
