"""Exact bytes over a raw socket: what a test sends is what pymosn reads, and everything
pymosn answers is returned as written."""

from __future__ import annotations

import contextlib
import socket


def read_all(s: socket.socket, timeout: float = 10.0) -> bytes:
    """Everything the server sends until it closes (a reset counts as a close)."""
    s.settimeout(timeout)
    out = b""
    with contextlib.suppress(ConnectionResetError):
        while chunk := s.recv(65536):
            out += chunk
    return out


def exchange(port: int, data: bytes, timeout: float = 10.0) -> bytes:
    """Sends `data` on a fresh connection, returns all the server sent until it closed."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        return read_all(s, timeout)
