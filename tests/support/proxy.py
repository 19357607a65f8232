"""Runs a real pymosn process from a config dict, for integration tests."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A port nothing listens on, never one this process handed out before: the kernel may
    offer a just-closed port again, and a test asking for two (listener and admin) would get
    one twice."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port


def wait_port(port: int, timeout: float = 10.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"pymosn exited with {proc.returncode}:\n{_text(proc.stderr.read())}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on {port}")


def simple_config(
    port: int,
    upstream_ports: list[int],
    *,
    admin_port: int | None = None,
    routes: list[dict] | None = None,
    cluster: dict | None = None,
    listener: dict | None = None,
    proxy: dict | None = None,
    extra_clusters: list[dict] | None = None,
) -> dict:
    """A one-listener MOSN config proxying everything to one cluster `origin`."""
    lst = {
        "name": "ingress",
        "address": f"127.0.0.1:{port}",
        "bind_port": True,
        "filter_chains": [
            {
                "filters": [
                    {
                        "type": "proxy",
                        "config": {
                            "downstream_protocol": "Http1",
                            "upstream_protocol": "Http1",
                            "router_config_name": "r",
                            **(proxy or {}),
                        },
                    }
                ]
            }
        ],
        **(listener or {}),
    }
    clu = {
        "name": "origin",
        "type": "SIMPLE",
        "lb_type": "LB_ROUNDROBIN",
        "hosts": [{"address": f"127.0.0.1:{p}"} for p in upstream_ports],
        **(cluster or {}),
    }
    config = {
        "servers": [
            {
                "listeners": [lst],
                "routers": [
                    {
                        "router_config_name": "r",
                        "virtual_hosts": [
                            {
                                "name": "all",
                                "domains": ["*"],
                                "routers": routes or [{"match": {"prefix": "/"}, "route": {"cluster_name": "origin"}}],
                            }
                        ],
                    }
                ],
            }
        ],
        "cluster_manager": {"clusters": [clu] + (extra_clusters or [])},
    }
    if admin_port is not None:
        config["admin"] = {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin_port}}}
    return config


class Pymosn:
    """`with Pymosn(config, tmp_path) as p:` starts `python -m pymosn start -c FILE`."""

    def __init__(self, config: dict, tmp_path: Path, port: int, extra_args: list[str] | None = None) -> None:
        self.config = config
        self.path = tmp_path / f"pymosn-{port}.json"
        self.port = port
        self.extra_args = extra_args or []
        if "--concurrency" not in self.extra_args:  # one process, unless a test asks for workers
            self.extra_args = ["--concurrency", "1", *self.extra_args]
        self.proc: subprocess.Popen | None = None
        self.output = self.errors = b""  # what the process wrote, once stopped

    def __enter__(self) -> Pymosn:
        self.path.write_text(json.dumps(self.config))
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pymosn", "start", "-c", str(self.path), *self.extra_args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        wait_port(self.port, proc=self.proc)
        return self

    def __exit__(self, exc_type, *exc) -> None:
        self.stop()
        if exc_type is not None:
            self.print_errors()

    def print_errors(self) -> None:
        """The tail of what the stopped proxy wrote to stderr, for pytest to show with a failure
        (it captures the output): the proxy's side of what went wrong."""
        tail = self.errors[-4000:]
        if tail:
            print(f"--- pymosn on port {self.port}, stderr (last 4000 bytes) ---\n" + tail.decode(errors="replace"))

    def stop(self) -> tuple[bytes, bytes]:
        if self.proc is None:
            return b"", b""
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            out, err = self.proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate()
        self.proc = None
        self.output = out
        self.errors = err
        return out, err


def _text(data) -> str:
    return data.decode(errors="replace") if isinstance(data, bytes) else str(data)
