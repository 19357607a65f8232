"""A third party adds an RPC protocol through a Python entry point, without touching pymosn:
a distribution on the path declares `[pymosn.xprotocol] acme = acme_codec:AcmeCodec`, and
`downstream_protocol: acme` proxies it."""

from __future__ import annotations

import os
import textwrap

from tests.integration.test_xprotocol import rpc_config
from tests.support.proxy import Pymosn, free_port
from tests.support.xexample_peer import XExampleClient, XExampleServer, body_of

PLUGIN = textwrap.dedent(
    '''
    from pymosn.protocol.xprotocol.example import ExampleCodec

    class AcmeCodec(ExampleCodec):
        """x_example's wire format under another name: enough to prove the plugin path."""
        name = "acme"
    '''
)


def install_plugin(root) -> None:
    (root / "acme_codec.py").write_text(PLUGIN)
    dist = root / "acme_codec-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-codec\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[pymosn.xprotocol]\nacme = acme_codec:AcmeCodec\n")


def test_codec_from_an_entry_point(tmp_path, monkeypatch):
    plugins = tmp_path / "site"
    plugins.mkdir()
    install_plugin(plugins)
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
    install_plugin(plugins)
    monkeypatch.setenv("PYTHONPATH", str(plugins))
    path = tmp_path / "bad.json"
    path.write_text(__import__("json").dumps(rpc_config(free_port(), free_port(), {"a": [1]}, protocol="acmee")))
    done = subprocess.run([sys.executable, "-m", "pymosn", "validate", "-c", str(path)], capture_output=True, text=True)
    assert done.returncode == 1
    assert "downstream protocol 'acmee' is not implemented by pymosn yet" in done.stderr
    assert "acme" in done.stderr.split("known:")[1]
