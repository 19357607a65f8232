"""Moving live connections between processes (hot upgrade): the old process sends an idle
connection's file descriptors, plus its filters' state and any bytes it read but did not use,
over a unix socket; the new process serves the connection from there.

The channel is a SOCK_SEQPACKET unix socket: each message is one JSON object with its file
descriptors attached (SCM_RIGHTS), and message boundaries survive, so no framing is needed.

A connection can move only when every read filter on it says so: a filter implements
`migration_state() -> (state dict, [extra fds], unread bytes) | None` (None: busy now, try
later; unread: bytes it read from the socket but has not acted on, replayed on arrival) and
`on_migrated()` (release everything quietly: the connection lives on elsewhere). The receiving
side hands the state to the same filter of the same chain through `Connection.inherited`.
Bytes already in the kernel's socket buffers travel with the descriptor; nothing is read twice
because the old process stops reading before it sends."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import socket
from collections.abc import Callable

from pymosn.network.connection import Connection

log = logging.getLogger("pymosn.handoff")

MAX_MESSAGE = 1 << 20  # a stats snapshot of a large config fits; connections are tiny
MAX_FDS = 8
_BUFFER = 4 << 20


def seqpacket_socket() -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    for option in (socket.SO_SNDBUF, socket.SO_RCVBUF):
        try:
            sock.setsockopt(socket.SOL_SOCKET, option, _BUFFER)
        except OSError:
            pass
    return sock


def send_message(sock: socket.socket, message: dict, fds: list[int] | tuple = ()) -> None:
    data = json.dumps(message, separators=(",", ":")).encode()
    if len(data) > MAX_MESSAGE:
        raise ValueError(f"handoff message of {len(data)} bytes is over the {MAX_MESSAGE} limit")
    socket.send_fds(sock, [data], list(fds))


def recv_message(sock: socket.socket) -> tuple[dict, list[int]]:
    """One message and its descriptors; EOFError when the peer closed."""
    data, fds, msg_flags, _ = socket.recv_fds(sock, MAX_MESSAGE, MAX_FDS)
    if not data and not fds:
        raise EOFError("handoff peer closed the channel")
    if msg_flags & (socket.MSG_TRUNC | socket.MSG_CTRUNC):
        for fd in fds:
            os.close(fd)
        raise ValueError("handoff message truncated")
    return json.loads(data), fds


def listen_seqpacket(path: str) -> socket.socket:
    """A listening handoff socket at `path`, replacing a stale socket file nobody serves."""
    if os.path.exists(path):
        probe = seqpacket_socket()
        try:
            probe.connect(path)
        except OSError:
            os.unlink(path)  # stale: left by a process that died
        else:
            probe.close()
            raise OSError(f"{path} is served by another running process")
        finally:
            probe.close()
    sock = seqpacket_socket()
    sock.bind(path)
    os.chmod(path, 0o600)  # listener and connection descriptors: owner only
    sock.listen(16)
    return sock


class ConnectionSender:
    """Old side: sends a connection away when it is idle. `on_sent(listener_name)` is told of
    each connection that left."""

    def __init__(self, channel: socket.socket, on_sent: Callable[[str], None]) -> None:
        self.channel = channel
        self.on_sent = on_sent
        self.broken = False

    def try_send(self, conn: Connection, listener_name: str) -> bool:
        """Sends `conn` if it can go now; False leaves it untouched, to be tried again."""
        transport = conn.transport
        if self.broken or conn.closed or conn.secure or transport is None or transport.is_closing():
            return False
        if transport.get_write_buffer_size() or conn._batch:
            return False  # our reply is still leaving: moving now could reorder bytes
        states: list[dict] = []
        extra_fds: list[int] = []
        unread = b""
        for f in conn.read_filters:
            describe = getattr(f, "migration_state", None)
            found = describe() if describe is not None else None
            if found is None:
                return False
            state, fds, held = found
            states.append(state)
            extra_fds += fds
            unread += held
        sock = transport.get_extra_info("socket")
        if sock is None:
            return False
        conn.pause_reading()
        message = {
            "op": "conn",
            "listener": listener_name,
            "chain": getattr(conn, "filter_chain_index", 0),
            "filters": states,
            "unread": base64.b64encode(unread).decode() if unread else "",
        }
        try:
            send_message(self.channel, message, [sock.fileno(), *extra_fds])
        except (BlockingIOError, InterruptedError):
            conn.resume_reading()
            return False
        except OSError as error:
            log.error("hot upgrade: connection handoff channel failed: %s", error)
            self.broken = True
            conn.resume_reading()
            return False
        for f in conn.read_filters:
            f.on_migrated()
        # The descriptor is in flight (the kernel holds a reference), so closing ours neither
        # sends a FIN nor a reset: the connection lives on in the new process.
        conn.migrated = True
        conn.abort()
        self.on_sent(listener_name)
        return True


class ConnectionReceiver:
    """New side: accepts handoff channels on a unix socket and gives every connection that
    arrives to `adopt(listener_name, chain_index, sock, initial_data, inherited)`, which
    returns False when no listener of that name exists (the connection is then closed)."""

    def __init__(self, path: str, adopt: Callable, on_message: Callable[[dict, list[int]], None] | None = None) -> None:
        self.path = path
        self.adopt = adopt
        self.on_message = on_message  # messages other than "conn"
        self.server: socket.socket | None = None
        self.channels: list[socket.socket] = []
        self.received = 0

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.server = listen_seqpacket(self.path)
        self.server.setblocking(False)
        loop.add_reader(self.server.fileno(), self._accept)

    def _accept(self) -> None:
        try:
            channel, _ = self.server.accept()
        except BlockingIOError:
            return
        channel.setblocking(False)
        self.channels.append(channel)
        self.loop.add_reader(channel.fileno(), self._read, channel)

    def _read(self, channel: socket.socket) -> None:
        while True:
            try:
                message, fds = recv_message(channel)
            except BlockingIOError:
                return
            except (EOFError, OSError, ValueError) as error:
                if not isinstance(error, EOFError):
                    log.error("hot upgrade: handoff channel error: %s", error)
                self._drop(channel)
                return
            if message.get("op") == "conn":
                self._adopt(message, fds)
            elif self.on_message is not None:
                self.on_message(message, fds)
            else:
                for fd in fds:
                    os.close(fd)

    def _adopt(self, message: dict, fds: list[int]) -> None:
        if not fds:
            return
        sock = socket.socket(fileno=fds[0])
        extra = [socket.socket(fileno=fd) for fd in fds[1:]]
        unread = base64.b64decode(message.get("unread") or "")
        inherited = {"filters": message.get("filters", []), "sockets": extra}
        self.received += 1
        adopted = self.adopt(message.get("listener", ""), message.get("chain", 0), sock, unread, inherited)
        if not adopted:
            log.warning("hot upgrade: no listener %r here; closing a migrated connection", message.get("listener"))
            for s in (sock, *extra):
                s.close()

    def _drop(self, channel: socket.socket) -> None:
        if channel in self.channels:
            self.channels.remove(channel)
            self.loop.remove_reader(channel.fileno())
            channel.close()

    def close(self) -> None:
        for channel in list(self.channels):
            self._drop(channel)
        if self.server is not None:
            self.loop.remove_reader(self.server.fileno())
            self.server.close()
            self.server = None
            try:
                os.unlink(self.path)
            except OSError:
                pass
