"""SIGHUP reloads the config file: routes and clusters swap, a bad config is refused."""

from __future__ import annotations

import json
import signal
import time

import httpx
import pytest

from tests.support.proxy import Pymosn, free_port, simple_config


def wait_origin(port: int, name: str, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if httpx.get(f"http://127.0.0.1:{port}/echo").json()["origin"] == name:
            return True
        time.sleep(0.1)
    return False


@pytest.mark.parametrize("concurrency", ["1", "2"])
def test_sighup_applies_a_good_config_and_refuses_a_bad_one(origin, origin_b, tmp_path, concurrency):
    port = free_port()
    with Pymosn(simple_config(port, [origin.port]), tmp_path, port, ["--concurrency", concurrency]) as p:
        with httpx.Client() as client:  # a keep-alive connection across the reload
            assert client.get(f"http://127.0.0.1:{port}/echo").json()["origin"] == "origin-a"
            p.path.write_text(json.dumps(simple_config(port, [origin_b.port])))
            p.proc.send_signal(signal.SIGHUP)
            assert wait_origin(port, "origin-b")
            assert client.get(f"http://127.0.0.1:{port}/echo").json()["origin"] == "origin-b"

        bad = simple_config(port, [origin.port])
        bad["cluster_manager"]["clusters"][0]["lb_type"] = "LB_NOPE"
        p.path.write_text(json.dumps(bad))
        p.proc.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        assert httpx.get(f"http://127.0.0.1:{port}/echo").json()["origin"] == "origin-b"
        p.stop()
    assert b"lb_type" in p.errors and b"config reload rejected" in p.errors
