"""Graceful stop: SIGTERM lets in-flight requests finish, then the process exits 0."""

from __future__ import annotations

import socket
import time

from tests.integration.test_http1_proxy import read_response


def test_sigterm_drains_in_flight_requests(proxy):
    busy = socket.create_connection(("127.0.0.1", proxy.port), timeout=5)
    idle = socket.create_connection(("127.0.0.1", proxy.port), timeout=5)
    idle.sendall(b"GET /echo HTTP/1.1\r\nHost: x\r\n\r\n")
    read_response(idle)
    busy.sendall(b"GET /slow/600 HTTP/1.1\r\nHost: x\r\n\r\n")
    time.sleep(0.2)
    proxy.proc.terminate()
    head, body = read_response(busy)
    assert head.startswith(b"HTTP/1.1 200") and body == b"slow\n"
    assert b"connection: close" in head.lower()
    assert busy.recv(10) == b""
    assert idle.recv(10) == b""  # idle keep-alive connections are closed at once
    assert proxy.proc.wait(10) == 0
    # and nothing listens any more
    try:
        socket.create_connection(("127.0.0.1", proxy.port), timeout=1).close()
        raise AssertionError("listener still accepting")
    except OSError:
        pass
