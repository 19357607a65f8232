from __future__ import annotations

import pytest

from tests.support.origin import Origin
from tests.support.proxy import Pymosn, free_port, simple_config


@pytest.fixture
def origin():
    with Origin("origin-a") as o:
        yield o


@pytest.fixture
def origin_b():
    with Origin("origin-b") as o:
        yield o


@pytest.fixture
def proxy(origin, tmp_path):
    """pymosn with one listener proxying everything to `origin`, plus an admin port."""
    port, admin = free_port(), free_port()
    with Pymosn(simple_config(port, [origin.port], admin_port=admin), tmp_path, port) as p:
        p.admin_port = admin
        yield p


@pytest.fixture
def start_proxy(tmp_path):
    """Factory: start_proxy(config_builder) where config_builder(port) returns a config dict."""
    running = []

    def start(build, extra_args=None):
        port = free_port()
        p = Pymosn(build(port), tmp_path, port, extra_args)
        p.__enter__()
        running.append(p)
        return p

    yield start
    for p in running:
        p.stop()
        p.print_errors()  # captured: pytest shows it only with a failure
