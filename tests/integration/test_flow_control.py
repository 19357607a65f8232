"""Back-pressure: a slow reader must not make the proxy buffer without bound, and large bodies
pass through with bounded memory."""

from __future__ import annotations

import socket
import time

import pytest

from tests.support.proxy import simple_config


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_slow_downstream_pauses_the_upstream(origin, start_proxy):
    p = start_proxy(lambda port: simple_config(port, [origin.port], listener={"per_connection_buffer_limit_bytes": 65536}))
    total = 500 * 1024 * 1024
    with socket.create_connection(("127.0.0.1", p.port), timeout=10) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        s.sendall(b"GET /big/%d HTTP/1.1\r\nHost: x\r\n\r\n" % total)
        s.recv(1000)
        time.sleep(1.5)  # the client reads nothing
        streamed = origin.streamed
        rss = rss_kib(p.proc.pid)
        # Only socket buffers and watermarks hold data: far less than the response.
        assert streamed < 64 * 1024 * 1024, streamed
        time.sleep(0.5)
        assert origin.streamed - streamed < 4 * 1024 * 1024  # the origin is paused
        assert rss < 120 * 1024, rss
        # now read it all: the proxy resumes and delivers every byte
        received = 0
        s.settimeout(20)
        while received < total - 2000:
            chunk = s.recv(1 << 20)
            if not chunk:
                break
            received += len(chunk)
        assert received >= total - 2000
        assert rss_kib(p.proc.pid) < 120 * 1024


@pytest.mark.timeout(300)
def test_one_gigabyte_upload_streams_with_bounded_memory(proxy, origin):
    size = 1024 * 1024 * 1024
    block = b"u" * (1 << 20)
    peak = 0
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=60) as s:
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % size)
        for i in range(size // len(block)):
            s.sendall(block)
            if i % 64 == 0:
                peak = max(peak, rss_kib(proxy.proc.pid))
        out = b""
        while b"body_bytes" not in out:
            out += s.recv(65536)
    assert b"HTTP/1.1 200" in out
    assert b'"body_bytes": %d' % size in out
    assert peak < 120 * 1024, f"peak RSS {peak} KiB"
