"""A connection's ConnectionInfo is made once, when it is established, from the real socket."""

from __future__ import annotations

import asyncio

from pymosn.network.connection import Connection


def test_an_established_connection_describes_itself_once():
    async def run() -> tuple[Connection, tuple[str, int], tuple[str, int]]:
        loop = asyncio.get_running_loop()
        accepted: list[Connection] = []

        def factory() -> Connection:
            conn = Connection(loop)
            conn.original_destination = ("10.0.0.1", 8080)  # as the listener sets it, before the handshake
            accepted.append(conn)
            return conn

        server = await loop.create_server(factory, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for _ in range(200):
            if accepted and accepted[0].transport is not None:
                break
            await asyncio.sleep(0.01)
        client_local = writer.get_extra_info("sockname")[:2]
        writer.close()
        server.close()
        return accepted[0], client_local, ("127.0.0.1", port)

    conn, client_address, listen_address = asyncio.run(run())
    info = conn.info
    assert info.id == conn.id
    assert info.remote == client_address and info.local == listen_address
    assert info.remote_address == conn.remote_address == f"{client_address[0]}:{client_address[1]}"
    assert info.local_address == conn.local_address
    assert not info.tls and info.ssl_object is None and info.peer_uri_san is None and info.alpn is None
    assert info.original_destination == ("10.0.0.1", 8080)


def test_a_tls_connection_records_its_handshake():
    import ssl

    import trustme

    from pymosn.config import model
    from pymosn.network.tls import server_context

    ca = trustme.CA()
    cert = ca.issue_cert("example.test")
    chain = "".join(blob.bytes().decode() for blob in cert.cert_chain_pems)
    ctx = server_context([model.TLSConfig(status=True, cert_chain=chain, private_key=cert.private_key_pem.bytes().decode(),
                                          alpn="h2,http/1.1")])
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    client_ctx.set_alpn_protocols(["h2"])

    async def run() -> Connection:
        loop = asyncio.get_running_loop()
        made: list[Connection] = []

        def factory() -> Connection:
            made.append(Connection(loop))
            return made[-1]

        server = await loop.create_server(factory, "127.0.0.1", 0, ssl=ctx)
        port = server.sockets[0].getsockname()[1]
        _, writer = await asyncio.open_connection("127.0.0.1", port, ssl=client_ctx, server_hostname="example.test")
        for _ in range(200):
            if made and made[0].transport is not None:
                break
            await asyncio.sleep(0.01)
        writer.close()
        server.close()
        return made[0]

    info = asyncio.run(run()).info
    assert info.tls and info.ssl_object is not None
    assert info.sni == "example.test"
    assert info.alpn == "h2"
    assert info.peer_uri_san is None  # no client certificate
