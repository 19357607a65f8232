"""An HTTP upstream that records the exact bytes of each request head it receives (request
line and header lines as written by the proxy), answering each with a short 200."""

from __future__ import annotations

import socket
import threading


class CaptureUpstream:
    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.heads: list[bytes] = []  # each request head, up to and including the blank line
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        data = b""
        with conn:
            while True:
                head, sep, rest = data.partition(b"\r\n\r\n")
                if sep:
                    self.heads.append(head + sep)
                    data = rest
                    conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                    continue
                try:
                    chunk = conn.recv(65536)
                except OSError:
                    return
                if not chunk:
                    return
                data += chunk

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> CaptureUpstream:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
