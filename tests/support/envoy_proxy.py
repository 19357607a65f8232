"""A real Envoy beside pymosn on the same bootstrap, for differential tests of behaviour
(tests/integration/test_envoy_differential.py), and the bootstraps those tests and pymosn's own
integration tests share. Envoy is found as ENVOY_BINARY, else `envoy` on PATH; where there is
none, the tests that need it skip.

    with serving(Envoy, bootstrap_for, tmp_path) as (port, log): ...   # or Pymosn"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from tests.support.envoy_bootstraps import ROUTER, bootstrap, cluster, hcm, listener, routes
from tests.support.h2_client import H2Client
from tests.support.proxy import Pymosn, free_port, wait_port

ENVOY = os.environ.get("ENVOY_BINARY") or shutil.which("envoy")

ACCESS_LOG = "envoy.extensions.access_loggers.file.v3.FileAccessLog"
# what both write for a stream: no times, no ids, nothing that differs run to run
LOG_FORMAT = "%REQ(:METHOD)% %REQ(:PATH)% %RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS%\n"


class Envoy:
    """`with Envoy(bootstrap, tmp_path, port):` serves `bootstrap` (its listener on `port`)."""

    def __init__(self, config: dict, tmp_path: Path, port: int) -> None:
        assert ENVOY, "no envoy binary"
        self.config = config
        self.path = tmp_path / f"envoy-{port}.json"
        self.port = port
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> Envoy:
        self.path.write_text(json.dumps(self.config))
        # a base id of its own: Envoys running at once must not share hot-restart memory
        self.proc = subprocess.Popen(
            [ENVOY, "-c", str(self.path), "--base-id", str(self.port), "--concurrency", "1", "-l", "error",
             "--log-path", str(self.path.with_suffix(".log"))],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_port(self.port, timeout=30.0, proc=self.proc)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.communicate()
        self.proc = None


Proxy = type[Envoy] | type[Pymosn]


@contextlib.contextmanager
def serving(proxy: Proxy, bootstrap_for: Callable[[int, Path], dict], tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """`proxy` (Envoy or Pymosn) serving `bootstrap_for(port, access_log)`: yields the port and the
    access log's path."""
    port = free_port()
    where = tmp_path / f"{proxy.__name__.lower()}-{port}"
    where.mkdir()
    log = where / "access.log"
    with proxy(bootstrap_for(port, log), where, port):
        yield port, log


def manager(route_config: dict, log: Path, filters: list[dict] | None = None, **fields: Any) -> dict:
    """An HTTP connection manager with `filters` before the router, logging LOG_FORMAT to `log`."""
    config = hcm(route_config, http_filters=[*(filters or []), ROUTER], **fields)
    config["typed_config"]["access_log"] = [{"name": "envoy.access_loggers.file", "typed_config": {
        "@type": f"type.googleapis.com/{ACCESS_LOG}", "path": str(log),
        "log_format": {"text_format_source": {"inline_string": LOG_FORMAT}}}}]
    return config


def on_port(port: int, http_manager: dict, *clusters: dict) -> dict:
    lst = listener(http_manager)
    lst["address"]["socket_address"]["port_value"] = port
    return bootstrap(lst, clusters=list(clusters) or [cluster()])


def direct(status: int) -> dict:
    return {"status": status, "body": {"inline_string": f"route {status}\n"}}


# --- route conditions on pseudo-headers ---------------------------------------------------------

def _on(status: int, name: str, **test: Any) -> dict:
    return {"match": {"prefix": "/", "headers": [{"name": name, **test}]}, "direct_response": direct(status)}


PSEUDO_ROUTES = routes(
    _on(201, ":method", string_match={"exact": "POST"}),
    _on(202, ":path", string_match={"prefix": "/p"}),
    _on(203, ":scheme", string_match={"exact": "https"}),
    _on(204, ":authority", string_match={"exact": "a.example"}),
    _on(205, ":method", string_match={"exact": "GET"}, invert_match=True),
    {"match": {"prefix": "/"}, "direct_response": direct(200)},
)

HEADER_MUTATION = {"name": "envoy.filters.http.header_mutation", "typed_config": {
    "@type": "type.googleapis.com/envoy.extensions.filters.http.header_mutation.v3.HeaderMutation",
    "mutations": {"request_mutations": [{"append": {"header": {"key": "x-mutated", "value": "1"}}}]}}}


def pseudo_routes(port: int, log: Path, filtered: bool = False) -> dict:
    """Routes answering by the pseudo-header they test (201 :method POST, 202 :path /p..., 203
    :scheme https, 204 :authority a.example, 205 :method not GET, else 200); `filtered` puts a
    header mutation filter before the router."""
    return on_port(port, manager(PSEUDO_ROUTES, log, [HEADER_MUTATION] if filtered else None, codec_type="AUTO"))


# (method, target, extra header lines) -> the route that answers (see pseudo_routes)
_PSEUDO_HTTP1 = [
    ("POST", "/", b"", 201),
    ("GET", "/p?x=1", b"", 202),
    ("GET", "/", b"x-forwarded-proto: https\r\n", 203),
    ("GET", "/", b"x-forwarded-proto: gopher\r\n", 200),
    ("GET", "HTTPS://x/", b"", 203),  # an absolute-form target names its scheme
    ("HEAD", "/", b"", 205),
    ("GET", "/", b"", 200),
]
# (method, :scheme, :path, :authority) -> route
_PSEUDO_HTTP2 = [
    (b"POST", b"http", b"/", b"x", 201),
    (b"GET", b"http", b"/p", b"x", 202),
    (b"GET", b"https", b"/", b"x", 203),  # as the client names it, on a plaintext listener
    (b"GET", b"http", b"/", b"a.example", 204),
    (b"GET", b"http", b"/", b"x", 200),
]


def http1_status(port: int, method: str, target: str, extra: bytes, host: str = "x") -> int:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(f"{method} {target} HTTP/1.1\r\nhost: {host}\r\n".encode() + extra + b"connection: close\r\n\r\n")
        reply = b""
        while chunk := s.recv(65536):
            reply += chunk
    return int(reply.split(b" ", 2)[1])


def pseudo_exchange(port: int) -> list[int]:
    """Every request of _PSEUDO_HTTP1 and _PSEUDO_HTTP2, in order: the statuses answered."""
    statuses = [http1_status(port, method, target, extra) for method, target, extra, _ in _PSEUDO_HTTP1]
    statuses.append(http1_status(port, "GET", "/", b"", host="a.example"))
    with H2Client(port) as client:
        for method, scheme, path, authority, _ in _PSEUDO_HTTP2:
            sid = client.conn.get_next_available_stream_id()
            client.send_block(sid, [(b":method", method), (b":scheme", scheme), (b":path", path),
                                    (b":authority", authority)], end_stream=True)
            statuses.append(client.response(sid).status)
    return statuses


PSEUDO_EXPECTED = [status for *_, status in _PSEUDO_HTTP1] + [204] + [status for *_, status in _PSEUDO_HTTP2]


# --- a gRPC call's grpc-timeout and a fault delay before the router -----------------------------

def fault_delay(seconds: float) -> dict:
    return {"name": "envoy.filters.http.fault", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault",
        "delay": {"fixed_delay": f"{seconds}s", "percentage": {"numerator": 100}}}}


def delayed_grpc(port: int, log: Path, origin_port: int, delay: float, envoy: bool = False) -> dict:
    """Everything to `origin_port` behind a `delay` s fault delay. pymosn always honours a
    gRPC call's grpc-timeout, as Envoy does with a route's max_stream_duration
    grpc_timeout_header_max 0s, which `envoy` adds (pymosn refuses that field)."""
    action: dict[str, Any] = {"cluster": "app"}
    if envoy:
        action["max_stream_duration"] = {"grpc_timeout_header_max": "0s"}
    route = routes({"match": {"prefix": "/"}, "route": action})
    return on_port(port, manager(route, log, [fault_delay(delay)], codec_type="AUTO"), cluster("app", origin_port))


def grpc_call(port: int, target: str, grpc_timeout: str) -> dict[str, str]:
    """A unary-shaped gRPC request over HTTP/1.1 (no body): the response head's fields, once the
    whole response (of a content-length) is read."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(f"POST {target} HTTP/1.1\r\nhost: x\r\ncontent-type: application/grpc\r\n"
                  f"grpc-timeout: {grpc_timeout}\r\ncontent-length: 0\r\n\r\n".encode())
        reply = b""
        while b"\r\n\r\n" not in reply and (chunk := s.recv(65536)):
            reply += chunk
        raw_head, _, body = reply.partition(b"\r\n\r\n")
        status_line, *fields = raw_head.decode("latin-1").split("\r\n")
        head = {name.lower(): value.strip() for name, _, value in (f.partition(":") for f in fields)}
        head[":status"] = status_line.split(" ")[1]
        while len(body) < int(head.get("content-length", 0)) and (chunk := s.recv(65536)):
            body += chunk
    return head
