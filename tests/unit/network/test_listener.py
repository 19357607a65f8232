"""The listener in-process, on real sockets: Listener.adopt (a socket accepted elsewhere, with
bytes already read, with or without a chain given), chain choice by SNI with each chain's own
certificate, what a failed handshake and an unmatched connection leave in the stats."""

from __future__ import annotations

import asyncio
import socket
import ssl

import pytest
import uvloop

from pymosn.config import model
from pymosn.metrics.stats import ListenerStats
from pymosn.network.filter_chain import FilterChain
from pymosn.network.listener import Listener
from pymosn.network.tls import server_context
from tests.support.certs import Pki


class Tagger:
    """Answers every read with its chain's tag and the bytes."""

    def __init__(self, conn, tag: bytes) -> None:
        self.conn = conn
        self.tag = tag

    def on_new_connection(self) -> int:
        return 0

    def on_data(self, data: bytes) -> int:
        self.conn.write(self.tag + b":" + bytes(data) + b"\n")
        return 1


def chain(index: int, tag: bytes, match: model.FilterChainMatch | None = None, ctx=None) -> FilterChain:
    return FilterChain(index, lambda conn: [Tagger(conn, tag)], match=match, ssl_context=ctx, handshake_timeout=2.0)


def run(coro):
    return uvloop.run(coro)


async def accepted_pair() -> tuple[socket.socket, socket.socket]:
    """(client, server side) of a TCP connection accepted by a plain socket of ours."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        client = socket.create_connection(server.getsockname())
        accepted, _ = server.accept()
    client.setblocking(False)
    return client, accepted


async def read_line(client: socket.socket) -> bytes:
    loop = asyncio.get_running_loop()
    data = b""
    while not data.endswith(b"\n"):
        chunk = await asyncio.wait_for(loop.sock_recv(client, 1000), 5)
        if not chunk:
            break
        data += chunk
    return data


def test_adopt_serves_a_socket_accepted_elsewhere_with_bytes_already_read():
    async def main():
        stats = ListenerStats()
        listener = Listener("l", "127.0.0.1", 0, [chain(0, b"zero")], stats)
        client, accepted = await accepted_pair()
        conn = await listener.adopt(accepted, initial_data=b"first")
        assert conn.filter_chain_index == 0 and not conn.secure
        assert await read_line(client) == b"zero:first\n"
        await asyncio.get_running_loop().sock_sendall(client, b"second")
        assert await read_line(client) == b"zero:second\n"
        assert (stats.downstream_cx_total, stats.downstream_cx_active) == (1, 1)
        client.close()
        await asyncio.sleep(0.05)
        assert (stats.downstream_cx_active, stats.downstream_cx_destroy) == (0, 1)

    run(main())


def test_adopt_with_a_chain_index_skips_selection():
    async def main():
        stats = ListenerStats()
        chains = [chain(0, b"a", model.FilterChainMatch(destination_port=1)), chain(1, b"b", model.FilterChainMatch(destination_port=2))]
        listener = Listener("l", "127.0.0.1", 0, chains, stats)
        client, accepted = await accepted_pair()
        conn = await listener.adopt(accepted, chain_index=1)
        assert conn.filter_chain_index == 1
        await asyncio.get_running_loop().sock_sendall(client, b"x")
        assert await read_line(client) == b"b:x\n"
        # without an index, neither port matches: closed and counted
        client2, accepted2 = await accepted_pair()
        with pytest.raises(OSError):
            await listener.adopt(accepted2)
        assert stats.no_filter_chain_match == 1
        assert accepted2.fileno() == -1
        assert await asyncio.wait_for(asyncio.get_running_loop().sock_recv(client2, 10), 5) == b""
        assert stats.downstream_cx_total == 1
        client.close()
        client2.close()

    run(main())


def test_tls_bytes_already_read_cannot_be_served():
    async def main():
        listener = Listener("l", "127.0.0.1", 0, [chain(0, b"p", model.FilterChainMatch(transport_protocol="raw_buffer"))], ListenerStats())
        client, accepted = await accepted_pair()
        with pytest.raises(OSError, match="TLS"):
            await listener.adopt(accepted, initial_data=b"\x16\x03\x01\x00\x10")
        client.close()
        client, accepted = await accepted_pair()
        conn = await listener.adopt(accepted, initial_data=b"GET")  # plaintext: selection by what was read
        assert await read_line(client) == b"p:GET\n"
        conn.close()
        client.close()

    run(main())


def test_adopt_chooses_by_sni_and_each_chain_has_its_certificate(tmp_path):
    pki = Pki(tmp_path)
    a, b = pki.server("a.example.com"), pki.server("b.example.com")
    ctx_a = server_context([model.TLSConfig(status=True, cert_chain=a[0], private_key=a[1])])
    ctx_b = server_context([model.TLSConfig(status=True, cert_chain=b[0], private_key=b[1])])

    async def main():
        stats = ListenerStats()
        listener = Listener("l", "127.0.0.1", 0, [
            chain(0, b"A", model.FilterChainMatch(server_names=("a.example.com",)), ctx_a),
            chain(1, b"B", model.FilterChainMatch(server_names=("*.example.com",)), ctx_b),
        ], stats)
        assert listener.inspects and listener.only_chain is None
        loop = asyncio.get_running_loop()
        client_ctx = ssl.create_default_context(cafile=pki.ca_path)
        client_ctx.check_hostname = False
        for name, tag, index in (("a.example.com", b"A", 0), ("x.example.com", b"B", 1)):
            with socket.create_server(("127.0.0.1", 0)) as server:
                connecting = loop.create_task(asyncio.open_connection(*server.getsockname(), ssl=client_ctx,
                                                                      server_hostname=name))
                accepted, _ = await loop.sock_accept(server)
            conn = await listener.adopt(accepted)
            reader, writer = await connecting
            assert conn.secure and conn.filter_chain_index == index
            cert = writer.get_extra_info("peercert")
            assert [v for k, v in cert["subjectAltName"]] == ([name] if tag == b"A" else ["b.example.com"])
            writer.write(b"hi")
            assert await asyncio.wait_for(reader.readline(), 5) == tag + b":hi\n"
            writer.close()
        # a client that fails the handshake is not counted as a connection
        before = stats.downstream_cx_total
        bad_ctx = ssl.create_default_context()  # does not trust our CA
        with socket.create_server(("127.0.0.1", 0)) as server:
            connecting = loop.create_task(asyncio.open_connection(*server.getsockname(), ssl=bad_ctx,
                                                                  server_hostname="a.example.com"))
            accepted, _ = await loop.sock_accept(server)
        with pytest.raises(OSError):
            await listener.adopt(accepted)
        with pytest.raises((ssl.SSLError, OSError)):
            await connecting
        await asyncio.sleep(0.05)
        assert stats.downstream_cx_total == before
        assert stats.downstream_cx_active == len(listener.connections)

    run(main())
