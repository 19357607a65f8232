#!/usr/bin/env python3
"""HTTPS termination benchmark: wrk over TLS to pymosn and to Envoy (one worker each, pinned
to CPU 1), both proxying HTTP/1.1 to the same nginx origin on CPU 0, in interleaved rounds.

    python3 bench/https.py                    # 3 rounds x 10 s, keep-alive and new-connection
    python3 bench/https.py --rounds 2 --duration 5

Two loads: keep-alive (wrk -c50: TLS records only, the handshake cost amortised) and
handshake-heavy (every request on a new connection: `Connection: close`). Certificate: a
self-signed ECDSA P-256 key made with openssl; TLS 1.3 (both proxies' default). Run by hand."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import configs  # noqa: E402
import peers  # noqa: E402
from procs import CLK_TCK, Server, free_port, install_cleanup, stop_all, tree_cpu_ticks, wait_for_http  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
LOAD_CPU, PROXY_CPU = 0, 1


def make_cert(work: Path) -> tuple[Path, Path]:
    cert, key = work / "bench-cert.pem", work / "bench-key.pem"
    if not cert.exists():
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                        "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "30", "-subj", "/CN=localhost",
                        "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"], check=True, capture_output=True)
    return cert, key


def pymosn_config(work: Path, port: int, origin_port: int, cert: Path, key: Path) -> Path:
    config = json.loads(configs.mosn_config(work, "https-pymosn", port, free_port(), origin_port, None).read_text())
    chain = config["servers"][0]["listeners"][0]["filter_chains"][0]
    chain["tls_context"] = {"status": True, "cert_chain": str(cert), "private_key": str(key)}
    path = work / "https-pymosn.json"
    path.write_text(json.dumps(config, indent=1))
    return path


def envoy_config(work: Path, port: int, admin: int, origin_port: int, cert: Path, key: Path) -> Path:
    bootstrap = json.loads(configs.envoy_bootstrap(work, port, admin, origin_port).read_text())
    chain = bootstrap["static_resources"]["listeners"][0]["filter_chains"][0]
    chain["transport_socket"] = {
        "name": "envoy.transport_sockets.tls",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
            "common_tls_context": {"tls_certificates": [
                {"certificate_chain": {"filename": str(cert)}, "private_key": {"filename": str(key)}}]},
        },
    }
    path = work / "https-envoy.yaml"
    path.write_text(json.dumps(bootstrap, indent=1))
    return path


def wrk_https(port: int, duration: float, close: bool) -> dict:
    argv = ["taskset", "-c", str(LOAD_CPU), "wrk", "-t1", "-c50", f"-d{max(1, round(duration))}s"]
    if close:
        argv += ["-H", "Connection: close"]
    argv.append(f"https://127.0.0.1:{port}/")
    out = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 60).stdout
    import re

    total = re.search(r"(\d+) requests in", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    non_ok = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    requests = int(total.group(1)) if total else 0
    return {"requests": requests, "rps": requests / duration,
            "errors": (sum(map(int, errors.groups())) if errors else 0) + (int(non_ok.group(1)) if non_ok else 0)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=10.0)
    args = parser.parse_args(argv)
    install_cleanup()
    peers.ensure_apt_packages()
    peers.ensure_venv(need_envoy=True, need_pymosn=True)
    python = str(ROOT / "bench" / ".work" / "venv" / "bin" / "python")
    work = ROOT / "bench" / ".work" / "https"
    work.mkdir(parents=True, exist_ok=True)
    cert, key = make_cert(work)
    results: dict[str, list[dict]] = {}
    try:
        origin_port = free_port()
        origin = Server("origin", [peers.nginx_binary(), "-p", str(work), "-e", "stderr", "-c",
                                   str(configs.nginx_origin(work, origin_port))], LOAD_CPU, origin_port,
                        work / "origin.log")
        origin.start()
        origin.wait_listening(15)
        p_port, e_port, e_admin = free_port(), free_port(), free_port()
        proxies = {
            "pymosn": Server("pymosn", [python, "-m", "pymosn", "start", "-c",
                                        str(pymosn_config(work, p_port, origin_port, cert, key)), "--concurrency", "1"],
                             PROXY_CPU, p_port, work / "pymosn.log"),
            "envoy": Server("envoy", [peers.envoy_binary(), "-c", str(envoy_config(work, e_port, e_admin, origin_port,
                                                                                    cert, key)),
                                      "--concurrency", "1", "--disable-hot-restart", "-l", "warning"],
                            PROXY_CPU, e_port, work / "envoy.log"),
        }
        for server in proxies.values():
            server.start()
        for server in proxies.values():
            server.wait_listening(30)
        wait_for_http(f"http://127.0.0.1:{e_admin}/ready", 30, "envoy /ready")
        for round_no in range(1, args.rounds + 1):
            for close in (False, True):
                for name, server in proxies.items():
                    before = tree_cpu_ticks(server.pid)
                    r = wrk_https(server.port, args.duration, close)
                    cpu_s = (tree_cpu_ticks(server.pid) - before) / CLK_TCK
                    r["cpu_us_per_rq"] = round(cpu_s / r["requests"] * 1e6, 1) if r["requests"] else None
                    key_name = f"{name}/{'new-connection' if close else 'keep-alive'}"
                    results.setdefault(key_name, []).append(r)
                    print(json.dumps({"round": round_no, "target": key_name, **r}), flush=True)
    finally:
        stop_all()
    print(table(results))
    return 0


def _median(values):
    values = sorted(v for v in values if v is not None)
    return values[len(values) // 2] if values else float("nan")


def table(results: dict[str, list[dict]]) -> str:
    lines = ["| load | pymosn req/s | Envoy req/s | pymosn/Envoy | pymosn CPU us/req | Envoy CPU us/req | CPU ratio |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for load in ("keep-alive", "new-connection"):
        p, e = results.get(f"pymosn/{load}", []), results.get(f"envoy/{load}", [])
        if not p or not e:
            continue
        prps, erps = _median([r["rps"] for r in p]), _median([r["rps"] for r in e])
        pcpu, ecpu = _median([r["cpu_us_per_rq"] for r in p]), _median([r["cpu_us_per_rq"] for r in e])
        lines.append(f"| {load} | {prps:,.0f} | {erps:,.0f} | {prps / erps:.2f} | {pcpu:.1f} | {ecpu:.1f} | "
                     f"{pcpu / ecpu:.2f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
