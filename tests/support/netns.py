"""Network namespaces for transparent-interception tests: each test gets its own namespace
(its own loopback, iptables rules and routes), runs servers, pymosn and clients inside it with
`ip netns exec`, and removes it afterwards, even on failure.

Run as a module it is the in-namespace echo server: `python -m tests.support.netns echo IP PORT`."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def unavailable_reason() -> str | None:
    """Why namespace tests cannot run here, or None."""
    if os.geteuid() != 0:
        return "needs root (CAP_NET_ADMIN) to create network namespaces"
    for tool in ("ip", "iptables"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (.ci/run installs iproute2 and iptables)"
    probe = f"pmprobe{uuid.uuid4().hex[:6]}"
    done = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if done.returncode != 0:
        return f"the kernel refused a network namespace: {done.stderr.strip()}"
    try:
        nat = subprocess.run(["ip", "netns", "exec", probe, "iptables", "-t", "nat", "-L", "-n"], capture_output=True,
                             text=True)
        if nat.returncode != 0:
            return f"iptables nat table unavailable: {nat.stderr.strip()}"
    finally:
        subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


class Netns:
    def __init__(self) -> None:
        self.name = f"pm{uuid.uuid4().hex[:8]}"
        self.procs: list[subprocess.Popen] = []

    def __enter__(self) -> Netns:
        subprocess.run(["ip", "netns", "add", self.name], check=True)
        self.run("ip", "link", "set", "lo", "up")
        return self

    def __exit__(self, *exc) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True)

    def run(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(["ip", "netns", "exec", self.name, *argv], capture_output=True, text=True, check=check)

    def spawn(self, *argv: str, env: dict | None = None) -> subprocess.Popen:
        proc = subprocess.Popen(["ip", "netns", "exec", self.name, *argv], cwd=ROOT, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=dict(os.environ, PYTHONUNBUFFERED="1", **(env or {})))
        self.procs.append(proc)
        return proc

    def python(self, code: str, timeout: float = 20) -> str:
        """Runs Python code inside the namespace; returns its stdout."""
        done = subprocess.run(["ip", "netns", "exec", self.name, sys.executable, "-c", code], cwd=ROOT,
                              capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(f"in-namespace code failed:\n{done.stderr}")
        return done.stdout

    def wait_port(self, ip: str, port: int, timeout: float = 15) -> None:
        self.python(
            "import socket, time\n"
            f"deadline = time.monotonic() + {timeout}\n"
            "while True:\n"
            f"    try:\n        socket.create_connection(({ip!r}, {port}), timeout=0.5).close(); break\n"
            "    except OSError:\n"
            "        if time.monotonic() > deadline: raise\n"
            "        time.sleep(0.05)\n",
            timeout=timeout + 5,
        )

    def echo_server(self, ip: str, port: int) -> None:
        self.spawn(sys.executable, "-m", "tests.support.netns", "echo", ip, str(port))
        self.wait_port(ip, port)

    def pymosn(self, config: dict, path: Path, port: int) -> subprocess.Popen:
        path.write_text(json.dumps(config))
        proc = self.spawn(sys.executable, "-m", "pymosn", "start", "-c", str(path), "--concurrency", "1",
                          "--upgrade-socket", str(path) + ".sock")
        try:
            self.wait_port("127.0.0.1", port)
        except RuntimeError:
            proc.terminate()
            raise RuntimeError(f"pymosn did not start:\n{proc.communicate(timeout=10)[1].decode()}") from None
        return proc

    def exchange(self, source: str, ip: str, port: int, payload: bytes) -> bytes:
        """Connects from `source` to ip:port inside the namespace, sends, returns all it reads."""
        return bytes.fromhex(self.python(
            "import socket\n"
            f"s = socket.socket(); s.bind(({source!r}, 0)); s.settimeout(5)\n"
            f"s.connect(({ip!r}, {port}))\n"
            # A connection the proxy refuses may be reset before the payload is out.
            f"try:\n    s.sendall({payload!r}); s.shutdown(socket.SHUT_WR)\nexcept OSError:\n    pass\n"
            "out = b''\n"
            "while True:\n"
            "    try:\n        chunk = s.recv(65536)\n    except ConnectionResetError:\n        break\n"
            "    if not chunk: break\n"
            "    out += chunk\n"
            "print(out.hex())\n"
        ).strip())

    def admin_stats(self, admin_port: int) -> dict[str, int]:
        text = self.python(
            f"import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:{admin_port}/stats').read().decode())"
        )
        return {k.strip(): int(v) for k, _, v in (line.partition(":") for line in text.splitlines())
                if v.strip().isdigit()}


def _echo(ip: str, port: int) -> None:
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind((ip, port))
    server.listen(64)

    def serve(conn: socket.socket) -> None:
        with conn:
            while data := conn.recv(65536):
                conn.sendall(b"echo from %s:%d: " % (ip.encode(), port) + data)
            conn.shutdown(socket.SHUT_WR)

    while True:
        conn, _ = server.accept()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    if sys.argv[1] == "echo":
        _echo(sys.argv[2], int(sys.argv[3]))
    time.sleep(0)
