"""Plain TCP servers for L4 tests, each on its own thread: echo, banner-first, and sink."""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from collections.abc import Iterator


class TcpServer:
    """`mode`: "echo" echoes until the client half-closes, then half-closes back;
    "banner" sends b"HELLO\\n" first, then echoes; "count" reads everything, then answers with
    the number of bytes read and closes (an HTTP server that never answers, to an HTTP client);
    "reset" resets the connection (RST) as soon as the first bytes arrive; "deaf" reads nothing
    (its receive buffer kept small), so a peer's writes back up."""

    def __init__(self, mode: str = "echo") -> None:
        self.mode = mode
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if mode == "deaf":
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # accepted sockets inherit it
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.peers: list[tuple[str, int]] = []
        self._stop = False
        self._closed = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop:
            try:
                conn, peer = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            self.peers.append(peer)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            try:
                if self.mode == "banner":
                    conn.sendall(b"HELLO\n")
                if self.mode == "deaf":
                    self._closed.wait()
                    return
                if self.mode == "reset":
                    conn.recv(65536)
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    return
                total = 0
                while True:
                    data = conn.recv(65536)
                    if not data:
                        break
                    total += len(data)
                    if self.mode != "count":
                        conn.sendall(data)
                if self.mode == "count":
                    conn.sendall(b"%d" % total)
                conn.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    def close(self) -> None:
        self._stop = True
        self._closed.set()
        self.sock.close()


@contextlib.contextmanager
def blackhole() -> Iterator[int]:
    """The port of a listening socket whose accept queue is full: connections to it never
    complete, so a connect to it times out."""
    hole = socket.socket()
    hole.bind(("127.0.0.1", 0))
    hole.listen(0)
    fillers = []
    for _ in range(8):
        s = socket.socket()
        s.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            s.connect(hole.getsockname())
        fillers.append(s)
    try:
        yield hole.getsockname()[1]
    finally:
        for s in fillers:
            s.close()
        hole.close()
