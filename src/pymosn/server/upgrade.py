"""Hot upgrade (MOSN's smooth upgrade): a new pymosn process takes the listening sockets and then
the live idle connections of the running one, without a dropped request.

Every running pymosn serves a control socket (a SOCK_SEQPACKET unix socket, `--upgrade-socket`).
`pymosn start --upgrade` connects to it and the two processes talk:

    new -> old   takeover
    old -> new   listeners {names}          + the listening sockets (and the admin socket)
                 (new starts serving on them, and a handoff socket for connections)
    new -> old   ready {targets}
                 (old stops accepting and sends each connection to a target as soon as it is
                  idle; busy ones finish first; what is still busy after the drain time is
                  drained the ordinary way)
    old -> new   stats {snapshot}           the old process's counters, added to the new one's
    old -> new   done {migrated}
                 (old exits 0; new starts serving the control socket itself)

With worker processes the masters have this conversation and each old worker sends its
connections to a new worker's handoff socket (see workers.py)."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import tempfile
from collections.abc import Callable

from pymosn.network.handoff import (
    ConnectionSender,
    listen_seqpacket,
    recv_message,
    send_message,
    seqpacket_socket,
)

log = logging.getLogger("pymosn.upgrade")

DEFAULT_SOCKET = os.path.join(tempfile.gettempdir(), "pymosn-upgrade.sock")
ADMIN = "__admin__"  # the name the admin listening socket travels under
_HANDSHAKE_TIMEOUT = 10.0
_POLL = 0.01  # how often busy connections are looked at again while migrating


class UpgradeError(Exception):
    pass


# --- the new process ---------------------------------------------------------------------------


class Takeover:
    """The new process's side of the control conversation."""

    def __init__(self, path: str, timeout: float = _HANDSHAKE_TIMEOUT) -> None:
        self.path = path
        self.channel = seqpacket_socket()
        self.channel.settimeout(timeout)
        try:
            self.channel.connect(path)
        except OSError as error:
            self.channel.close()
            raise UpgradeError(f"no running pymosn serves {path}: {error.strerror or error}") from None
        send_message(self.channel, {"op": "takeover", "pid": os.getpid()})
        message, fds = recv_message(self.channel)
        if message.get("op") != "listeners" or len(message.get("names", ())) != len(fds):
            for fd in fds:
                os.close(fd)
            raise UpgradeError(f"unexpected answer from the running pymosn: {message.get('op')!r}")
        self.sockets: dict[str, list[socket.socket]] = {}
        for name, fd in zip(message["names"], fds):
            self.sockets.setdefault(name, []).append(socket.socket(fileno=fd))
        self.old_pid = message.get("pid")
        self.stats: dict | None = None
        self.migrated = 0
        self.done = asyncio.Event()

    def take(self, name: str, address: tuple[str, int]) -> socket.socket | None:
        """The inherited listening socket of listener `name`, if it listens on `address` (a
        listener whose address changed gets a fresh socket)."""
        for sock in self.sockets.get(name, ()):
            host, port = sock.getsockname()[:2]
            if port == address[1] and _same_host(host, address[0]) or address[1] == 0:
                self.sockets[name].remove(sock)
                return sock
        return None

    def take_all(self, name: str) -> list[socket.socket]:
        return self.sockets.pop(name, [])

    def leftovers(self) -> list[socket.socket]:
        return [s for socks in self.sockets.values() for s in socks]

    def ready(self, targets: list[str], loop: asyncio.AbstractEventLoop, on_stats: Callable[[dict], None]) -> None:
        """We serve: tell the old process to stop accepting and send connections to `targets`."""
        for sock in self.leftovers():
            sock.close()  # listeners the new config no longer has
        self.sockets.clear()
        self.on_stats = on_stats
        send_message(self.channel, {"op": "ready", "targets": targets})
        self.channel.setblocking(False)
        loop.add_reader(self.channel.fileno(), self._read, loop)

    def _read(self, loop: asyncio.AbstractEventLoop) -> None:
        while True:
            try:
                message, fds = recv_message(self.channel)
            except BlockingIOError:
                return
            except (EOFError, OSError, ValueError) as error:
                if not self.done.is_set():
                    log.warning("hot upgrade: the old process left without finishing: %s", error)
                self._finish(loop)
                return
            for fd in fds:
                os.close(fd)
            if message.get("op") == "stats":
                self.on_stats(message.get("snapshot", {}))
            elif message.get("op") == "done":
                self.migrated = message.get("migrated", 0)
                log.info("hot upgrade complete: %d connections migrated from pid %s", self.migrated, self.old_pid)
                self._finish(loop)
                return

    def _finish(self, loop: asyncio.AbstractEventLoop) -> None:
        loop.remove_reader(self.channel.fileno())
        self.channel.close()
        self.done.set()


def _same_host(a: str, b: str) -> bool:
    wildcard = ("0.0.0.0", "::", "")
    return a == b or (a in wildcard and b in wildcard)


# --- the old process ---------------------------------------------------------------------------


class UpgradeService:
    """The running process's side: serves the control socket. `handover` gives the listening
    sockets to send ([(name, socket)]); `stop_accepting()` is called once the new process
    serves; `migrate(targets)` is awaited while connections move and returns how many moved;
    `final_stats()` gives the counters to pass on; `on_done()` ends this process."""

    def __init__(
        self,
        path: str,
        *,
        handover: Callable[[], list[tuple[str, socket.socket]]],
        stop_accepting: Callable[[], None],
        migrate: Callable[[list[str]], asyncio.Future],
        final_stats: Callable[[], dict],
        on_done: Callable[[], None],
    ) -> None:
        self.path = path
        self.handover = handover
        self.stop_accepting = stop_accepting
        self.migrate = migrate
        self.final_stats = final_stats
        self.on_done = on_done
        self.server: socket.socket | None = None
        self.busy = False

    def start(self, loop: asyncio.AbstractEventLoop) -> bool:
        self.loop = loop
        try:
            self.server = listen_seqpacket(self.path)
        except OSError as error:
            log.warning("hot upgrade disabled: cannot serve %s: %s", self.path, error)
            return False
        self.server.setblocking(False)
        loop.add_reader(self.server.fileno(), self._accept)
        return True

    def close(self) -> None:
        if self.server is None:
            return
        self.loop.remove_reader(self.server.fileno())
        self.server.close()
        self.server = None
        try:
            os.unlink(self.path)
        except OSError:
            pass

    def _accept(self) -> None:
        try:
            channel, _ = self.server.accept()
        except BlockingIOError:
            return
        if self.busy:
            channel.close()  # one upgrade at a time
            return
        self.busy = True
        self.loop.create_task(self._serve(channel))

    async def _serve(self, channel: socket.socket) -> None:
        channel.settimeout(_HANDSHAKE_TIMEOUT)
        try:
            targets = await self.loop.run_in_executor(None, self._handshake, channel)
        except (OSError, EOFError, ValueError, UpgradeError) as error:
            log.error("hot upgrade aborted, still serving: %s", error)
            channel.close()
            self.busy = False
            return
        # The new process serves on the same sockets now; from here on this one only winds down.
        self.close()
        self.stop_accepting()
        log.info("hot upgrade: new process is serving; handing over connections")
        migrated = 0
        try:
            migrated = await self.migrate(targets)
        finally:
            try:
                channel.setblocking(True)
                send_message(channel, {"op": "stats", "snapshot": self.final_stats()})
                send_message(channel, {"op": "done", "migrated": migrated})
            except OSError as error:
                log.error("hot upgrade: could not report to the new process: %s", error)
            channel.close()
            log.info("hot upgrade: %d connections migrated; exiting", migrated)
            self.on_done()

    def _handshake(self, channel: socket.socket) -> list[str]:
        message, fds = recv_message(channel)
        for fd in fds:
            os.close(fd)
        if message.get("op") != "takeover":
            raise UpgradeError(f"unexpected message {message.get('op')!r} on the control socket")
        sockets = self.handover()
        send_message(
            channel,
            {"op": "listeners", "names": [name for name, _ in sockets], "pid": os.getpid()},
            [sock.fileno() for _, sock in sockets],
        )
        message, fds = recv_message(channel)
        for fd in fds:
            os.close(fd)
        if message.get("op") != "ready":
            raise UpgradeError(f"the new process did not become ready: {message.get('op')!r}")
        return list(message.get("targets", ()))


async def migrate_connections(runtime, target: str, deadline: float, on_sent: Callable[[str], None]) -> int:
    """Sends each of the runtime's connections to `target` as soon as it is idle, until none is
    left or `deadline` (loop time) passes. Returns how many moved; the rest are the caller's
    to drain."""
    loop = asyncio.get_running_loop()
    channel = seqpacket_socket()
    channel.settimeout(_HANDSHAKE_TIMEOUT)
    try:
        await loop.run_in_executor(None, channel.connect, target)
    except OSError as error:
        log.error("hot upgrade: cannot reach the new process at %s: %s", target, error)
        channel.close()
        return 0
    channel.settimeout(1.0)  # a full channel means the new process is stuck: give up on it
    sent = 0

    def count(name: str) -> None:
        nonlocal sent
        sent += 1
        on_sent(name)

    sender = ConnectionSender(channel, count)
    owners = {}

    def try_later(conn) -> None:
        loop.call_soon(try_one, conn)  # after the reply just written has been flushed

    def try_one(conn) -> None:
        listener = owners.get(conn)
        if listener is not None and not conn.secure and sender.try_send(conn, listener.name):
            owners.pop(conn, None)

    try:
        while loop.time() < deadline and not sender.broken:
            for listener in runtime.listeners:
                for conn in list(listener.connections):
                    if conn not in owners:
                        owners[conn] = listener
                        if conn.secure:
                            _end_after_next_response(conn)
                            continue
                        conn.on_idle = try_later
                        for f in conn.read_filters:
                            quiesce = getattr(f, "quiesce", None)
                            if quiesce is not None:
                                quiesce()  # multiplexed RPC: new requests wait and move with it
                    try_one(conn)
            for conn in [c for c in owners if c.closed]:
                owners.pop(conn, None)
            if not any(lst.connections for lst in runtime.listeners):
                break
            await asyncio.sleep(_POLL)
    finally:
        for conn in owners:
            conn.on_idle = None
            if not conn.closed and conn.reading_paused:
                conn.resume_reading()  # not moved: serve what waited; the drain closes it after
        channel.close()
    return sent


def _end_after_next_response(conn) -> None:
    """A TLS connection cannot move (its session lives in our OpenSSL): its next response says
    Connection: close, so the client reconnects, to the new process, between requests."""
    for f in conn.read_filters:
        drain = getattr(f, "drain", None)
        if drain is not None:
            drain(close_idle=False)
