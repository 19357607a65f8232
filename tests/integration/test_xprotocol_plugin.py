"""A third party adds an RPC protocol through a Python entry point, without touching pymosn:
a distribution on the path declares `[pymosn.xprotocol] acme = acme_codec:AcmeCodec`, and
`downstream_protocol: acme` proxies it."""

from __future__ import annotations

import os
import textwrap

from tests.integration.test_xprotocol import rpc_config
from tests.support.plugins import install_plugin
from tests.support.proxy import Pymosn, free_port
from tests.support.xexample_peer import XExampleClient, XExampleServer, body_of

PLUGIN = textwrap.dedent(
    '''
    from pymosn.protocol.xprotocol.example import ExampleCodec

    from pymosn.protocol.xprotocol.api import PoolMode

    class AcmeCodec(ExampleCodec):
        """x_example's wire format under another name: enough to prove the plugin path."""
        name = "acme"

    class BoundCodec(ExampleCodec):
        name = "acme_bound"
        pool_mode = PoolMode.BOUND

    class PingPongCodec(ExampleCodec):
        name = "acme_pingpong"
        pool_mode = PoolMode.PINGPONG
    '''
)


def _install(root) -> None:
    install_plugin(root, "acme_codec", PLUGIN,
                   "[pymosn.xprotocol]\nacme = acme_codec:AcmeCodec\nacme_bound = acme_codec:BoundCodec\n"
                   "acme_pingpong = acme_codec:PingPongCodec\n")


def test_codec_from_an_entry_point(tmp_path, monkeypatch):
    plugins = tmp_path / "site"
    plugins.mkdir()
    _install(plugins)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(plugins), os.environ.get("PYTHONPATH")])))
    with XExampleServer("a") as server:
        port, admin = free_port(), free_port()
        config = rpc_config(port, admin, {"a": [server.port]}, protocol="acme")
        with Pymosn(config, tmp_path, port):
            client = XExampleClient(port)
            assert body_of(client.call({"service": "s"}, b"via plugin")) == b"via plugin"
            client.close()


def test_unknown_protocol_names_the_known_ones_including_plugins(tmp_path, monkeypatch):
    import subprocess
    import sys

    plugins = tmp_path / "site"
    plugins.mkdir()
    _install(plugins)
    monkeypatch.setenv("PYTHONPATH", str(plugins))
    path = tmp_path / "bad.json"
    path.write_text(__import__("json").dumps(rpc_config(free_port(), free_port(), {"a": [1]}, protocol="acmee")))
    done = subprocess.run([sys.executable, "-m", "pymosn", "validate", "-c", str(path)], capture_output=True, text=True)
    assert done.returncode == 1
    assert "downstream protocol 'acmee' is not implemented by pymosn yet" in done.stderr
    assert "acme" in done.stderr.split("known:")[1]


def test_bound_and_pingpong_pool_modes(tmp_path, monkeypatch):
    """BOUND: one upstream connection per downstream connection, however many requests it
    sends at once. PINGPONG: one request per upstream connection at a time, so concurrent
    requests open more connections and answers never mix."""
    import threading

    plugins = tmp_path / "site"
    plugins.mkdir()
    _install(plugins)
    monkeypatch.setenv("PYTHONPATH", str(plugins))
    for protocol, expected_connections in (("acme_bound", 3), ("acme_pingpong", None)):
        with XExampleServer("a") as server:
            port, admin = free_port(), free_port()
            with Pymosn(rpc_config(port, admin, {"a": [server.port]}, protocol=protocol), tmp_path, port):
                clients = [XExampleClient(port) for _ in range(3)]
                errors: list[str] = []

                def caller(i: int, clients=clients, errors=errors) -> None:
                    for j in range(10):
                        body = f"{i}/{j}".encode()
                        if body_of(clients[i % 3].call({"service": "s", "delay-ms": str(j % 3)}, body)) != body:
                            errors.append(body.decode())

                threads = [threading.Thread(target=caller, args=(i,)) for i in range(12)]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join(60)
                assert errors == []
                if expected_connections is not None:
                    assert server.connections == expected_connections
                else:
                    assert 1 < server.connections <= 12  # never more than requests in flight
                for client in clients:
                    client.close()
