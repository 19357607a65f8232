"""A third party adds a network filter through a Python entry point in `pymosn.network_filters`:
its factory carries a msgspec config type, pymosn decodes the filter's config once at load and
runs the filter in front of the proxy. A broken plugin is skipped and its name stays unknown."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap

import httpx

from tests.support.admin import wait_for, wait_stats
from tests.support.plugins import install_plugin
from tests.support.proxy import Pymosn, free_port, simple_config

PLUGIN = textwrap.dedent(
    '''
    import msgspec

    from pymosn.api.filter import FilterStatus


    class GateConfig(msgspec.Struct, forbid_unknown_fields=True):
        deny_prefix: str


    class _Gate:
        def __init__(self, conn, prefix):
            self.conn = conn
            self.prefix = prefix
            self.seen = False

        def on_new_connection(self):
            return FilterStatus.CONTINUE

        def on_data(self, data):
            if self.seen:
                return FilterStatus.CONTINUE
            self.seen = True
            if bytes(data).startswith(self.prefix):
                self.conn.close()
                return FilterStatus.STOP
            return FilterStatus.CONTINUE


    class TaggedSinkConfig(msgspec.Struct, forbid_unknown_fields=True):
        path: str
        tag: str


    class TaggedSink:
        """An access-log sink plugin: each line, prefixed with a tag, written at once."""

        config_type = TaggedSinkConfig

        def __init__(self, log):
            self.file = open(log.config.path, "a", encoding="utf-8")
            self.tag = log.config.tag

        def write(self, line):
            self.file.write(f"{self.tag} {line}")
            self.file.flush()

        def flush(self):
            self.file.flush()

        def reopen(self):
            pass

        def close(self):
            self.file.close()


    class Gate:
        """Closes a connection whose first bytes start with a configured prefix."""

        config_type = GateConfig

        def __init__(self, config, ctx):
            self.prefix = config.deny_prefix.encode()

        def __call__(self, conn):
            return _Gate(conn, self.prefix)
    '''
)


def _install(root) -> None:
    install_plugin(root, "acme_gate", PLUGIN,
                   "[pymosn.network_filters]\nacme_gate = acme_gate:Gate\nacme_broken = acme_gate_missing:Gate\n"
                   "[pymosn.access_log_sinks]\nacme_tagged = acme_gate:TaggedSink\n")


def _config(port: int, origin_port: int, gate: dict, admin_port: int | None = None) -> dict:
    config = simple_config(port, [origin_port], admin_port=admin_port)
    chain = config["servers"][0]["listeners"][0]["filter_chains"][0]
    chain["filters"].insert(0, gate)
    return config


def _with_plugin(tmp_path, monkeypatch) -> None:
    site = tmp_path / "site"
    site.mkdir()
    _install(site)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")])))


def test_a_plugin_network_filter_runs_in_front_of_the_proxy(tmp_path, monkeypatch, origin):
    _with_plugin(tmp_path, monkeypatch)
    port = free_port()
    gate = {"type": "acme_gate", "config": {"deny_prefix": "DELETE "}}
    with Pymosn(_config(port, origin.port, gate), tmp_path, port):
        assert httpx.get(f"http://127.0.0.1:{port}/ok", timeout=10).status_code == 200
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(b"DELETE /x HTTP/1.1\r\nHost: a\r\n\r\n")
            assert sock.recv(1024) == b""  # closed by the plugin, never proxied
        assert httpx.get(f"http://127.0.0.1:{port}/still", timeout=10).status_code == 200


def test_a_plugin_access_log_sink_gets_one_line_per_request(tmp_path, monkeypatch, origin):
    _with_plugin(tmp_path, monkeypatch)
    port, admin = free_port(), free_port()
    log = tmp_path / "tagged.log"
    config = simple_config(port, [origin.port], admin_port=admin)
    config["servers"][0]["listeners"][0]["access_logs"] = [
        {"sink": "acme_tagged", "config": {"path": str(log), "tag": "acme"}, "log_format": "%RESPONSE_CODE%"}]
    with Pymosn(config, tmp_path, port):
        assert httpx.get(f"http://127.0.0.1:{port}/a", timeout=10).status_code == 200
        assert httpx.get(f"http://127.0.0.1:{port}/b", timeout=10).status_code == 200
        wait_for(lambda: log.exists() and len(log.read_text().splitlines()) >= 2)
        assert log.read_text().splitlines() == ["acme 200", "acme 200"]
        wait_stats(admin, {"http.ingress.downstream_rq_active": 0, "cluster.origin.upstream_rq_active": 0,
                           "http.ingress.downstream_rq_2xx": 2})


def _validate(tmp_path, config: dict) -> subprocess.CompletedProcess:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    return subprocess.run([sys.executable, "-m", "pymosn", "validate", "-c", str(path)], capture_output=True,
                          text=True, timeout=60)


def test_plugin_config_errors_name_their_path_and_a_broken_plugin_stays_unknown(tmp_path, monkeypatch):
    _with_plugin(tmp_path, monkeypatch)
    filters = "$.servers[0].listeners[0].filter_chains[0].filters[0]"
    bad = _validate(tmp_path, _config(free_port(), 1, {"type": "acme_gate", "config": {"deny_prefix": 1}}))
    assert bad.returncode == 1
    skipped = ("network filter plugin acme_broken (acme_gate_missing:Gate) failed to load: "
               "No module named 'acme_gate_missing'")
    assert bad.stderr.splitlines() == [skipped, f"error: {filters}.config.deny_prefix: expected str, got int"]
    broken = _validate(tmp_path, _config(free_port(), 1, {"type": "acme_broken"}))
    assert broken.returncode == 1
    assert broken.stderr.splitlines() == [
        skipped, f"error: {filters}.type: unknown network filter 'acme_broken'; known: acme_gate, proxy, rbac, tcp_proxy"]
