"""The pymosn command line: validate, version, start failures, demo."""

from __future__ import annotations

import json
import subprocess
import sys

import httpx

from tests.integration.test_xprotocol import rpc_config
from tests.support.proxy import free_port, simple_config, wait_port


def run(*args, timeout=30):
    return subprocess.run([sys.executable, "-m", "pymosn", *args], capture_output=True, text=True, timeout=timeout)


def test_version():
    r = run("version")
    assert r.returncode == 0 and r.stdout.startswith("pymosn ")


def test_validate_ok_and_warnings(tmp_path):
    cfg = simple_config(1234, [5678])
    cfg["cluster_manager"]["clusters"][0]["health_check"] = {"interval": "5s"}  # no protocol: warned
    path = tmp_path / "c.json"
    path.write_text(json.dumps(cfg))
    r = run("validate", "-c", str(path))
    assert r.returncode == 0, r.stderr
    assert "warning: $.cluster_manager.clusters[0].health_check" in r.stderr


def test_validate_reports_every_error_with_its_path(tmp_path):
    cfg = simple_config(1234, [5678])
    cfg["cluster_manager"]["clusters"][0]["lb_type"] = "LB_RANDON"
    cfg["servers"][0]["listeners"][0]["address"] = "nowhere"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(cfg))
    r = run("validate", "-c", str(path))
    assert r.returncode == 1
    assert "error: $.cluster_manager.clusters[0].lb_type:" in r.stderr
    assert "LB_RANDON" in r.stderr
    assert "error: $.servers[0].listeners[0].address:" in r.stderr


def test_start_refuses_a_bad_config_and_starts_nothing(tmp_path):
    port = free_port()
    cfg = simple_config(port, [5678])
    cfg["cluster_manager"]["clusters"][0]["lb_type"] = "nope"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(cfg))
    r = run("start", "-c", str(path))
    assert r.returncode == 1
    assert "lb_type" in r.stderr


def test_yaml_config_starts(tmp_path, origin):
    import yaml

    port = free_port()
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(simple_config(port, [origin.port])))
    proc = subprocess.Popen([sys.executable, "-m", "pymosn", "start", "-c", str(path)], stderr=subprocess.PIPE)
    try:
        wait_port(port, proc=proc)
        assert httpx.get(f"http://127.0.0.1:{port}/echo").status_code == 200
    finally:
        proc.terminate()
        proc.wait(10)


def test_demo_serves_direct_and_proxied_routes():
    port, admin = free_port(), free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "pymosn", "demo", "--port", str(port), "--admin-port", str(admin)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_port(port, proc=proc)
        assert httpx.get(f"http://127.0.0.1:{port}/").text == "Welcome to pymosn!\n"
        r = httpx.get(f"http://127.0.0.1:{port}/echo/hi")
        assert r.status_code == 200 and r.json()["path"] == "/echo/hi"
        assert httpx.get(f"http://127.0.0.1:{port}/nothing").status_code == 404
        assert httpx.get(f"http://127.0.0.1:{admin}/ready").status_code == 200
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
    assert f"curl -i http://127.0.0.1:{port}/" in out


def test_validate_refuses_response_header_changes_on_a_dubbo_listener(tmp_path):
    """What a codec can carry is learnt from the codec registry, plugins included."""
    cfg = rpc_config(1234, 1235, {"a": [5678]}, protocol="dubbo")
    cfg["servers"][0]["listeners"][0]["stream_filters"] = [{"type": "header_mutation", "config": {"mutations": {
        "request_mutations": [{"remove": "x-a"}], "response_mutations": [{"remove": "x-b"}]}}}]
    path = tmp_path / "dubbo.json"
    path.write_text(json.dumps(cfg))
    r = run("validate", "-c", str(path))
    assert r.returncode == 1
    errors = [line for line in r.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1  # the request rules are carried by a Dubbo request's attachments
    assert errors[0].startswith("error: $.servers[0].listeners[0].stream_filters[0].config.mutations.response_mutations: "
                                "header_mutation changes response headers, which dubbo responses cannot carry")
