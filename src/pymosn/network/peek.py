"""Waits for a connection's ClientHello (or for proof that it is not TLS) without consuming a
byte, so that the chosen filter chain's transport (TLS or not) reads the stream from its start.

Peeking leaves the bytes in the kernel, so the socket stays readable: a plain readiness wait
would spin while a slow client trickles its ClientHello in. SO_RCVLOWAT fixes that: the socket
only turns readable once as many bytes as the parser asked for have arrived (or the peer shut
its side down). Where a kernel does not honour it, waking up without new bytes falls back to
polling with a growing pause."""

from __future__ import annotations

import asyncio
import socket

from pymosn.network.client_hello import MAX_CLIENT_HELLO, Inspection, Outcome, inspect

_TCP_CLOSE_WAIT = 8  # tcpi_state once the peer has sent its FIN
_POLL_START, _POLL_MAX = 0.002, 0.05


class PeerClosed(Exception):
    """The client closed (or reset) the connection before we could tell what it speaks."""


async def peek_client_hello(sock: socket.socket, timeout: float, max_bytes: int = MAX_CLIENT_HELLO) -> Inspection:
    """The inspection of the stream's first bytes, once it is decided. Raises TimeoutError after
    `timeout` seconds without a decision, PeerClosed when the client goes away first."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    low_water = 1
    seen = -1
    pause = 0.0
    try:
        while True:
            try:
                data = sock.recv(max_bytes, socket.MSG_PEEK)
            except (BlockingIOError, InterruptedError):
                data = None
            except OSError as error:
                raise PeerClosed(str(error)) from error
            if data == b"":
                raise PeerClosed("closed before sending anything")
            if data is not None:
                result = inspect(data, max_bytes)
                if result.outcome is not Outcome.NEED_MORE:
                    return result
                if len(data) > seen:
                    seen, pause = len(data), 0.0
                elif _peer_finished(sock):
                    raise PeerClosed("closed in the middle of its ClientHello")
                else:
                    pause = min(_POLL_MAX, pause * 2 or _POLL_START)  # woken without news: poll
                if result.needed != low_water:
                    low_water = _set_low_water(sock, result.needed)
            if loop.time() >= deadline:
                raise TimeoutError
            if pause:
                await asyncio.sleep(min(pause, deadline - loop.time()))
            else:
                await _readable(loop, sock.fileno(), deadline)
    finally:
        if low_water != 1:
            _set_low_water(sock, 1)


def _set_low_water(sock: socket.socket, size: int) -> int:
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT, size)
    except OSError:
        return 1  # not supported: the polling fallback copes
    return size


def _peer_finished(sock: socket.socket) -> bool:
    tcp_info = getattr(socket, "TCP_INFO", None)
    if tcp_info is None:
        return False
    try:
        return sock.getsockopt(socket.IPPROTO_TCP, tcp_info, 1)[0] == _TCP_CLOSE_WAIT
    except OSError:
        return True


def _wake(waiter: asyncio.Future) -> None:
    if not waiter.done():
        waiter.set_result(None)


async def _readable(loop: asyncio.AbstractEventLoop, fd: int, deadline: float) -> None:
    """Until `fd` is readable or the deadline passes, whichever comes first."""
    waiter = loop.create_future()
    loop.add_reader(fd, _wake, waiter)
    timer = loop.call_at(deadline, _wake, waiter)
    try:
        await waiter
    finally:
        loop.remove_reader(fd)
        timer.cancel()
