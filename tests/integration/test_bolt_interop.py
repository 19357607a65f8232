"""Interop with a third-party Bolt implementation: anthunder, Ant's own Python SOFARPC client,
calls through pymosn to a Bolt server; pymosn routes on the SOFA header map anthunder writes."""

from __future__ import annotations

import types

import pytest

from tests.integration.test_xprotocol import rpc_config, stats
from tests.support.proxy import Pymosn, free_port
from tests.support.xexample_peer import BOLT, XExampleServer

anthunder = pytest.importorskip("anthunder")


def test_anthunder_calls_through_pymosn(tmp_path):
    interface = "com.acme.Interop:1.0"
    with XExampleServer("a", dialect=BOLT) as server:
        port, admin = free_port(), free_port()
        routes = [{"match": {"headers": [{"name": "service", "value": interface},
                                         {"name": "sofa_head_method_name", "value": "echo"}]},
                   "route": {"cluster_name": "a"}}]
        config = rpc_config(port, admin, {"a": [server.port]}, protocol="bolt", routes=routes)
        with Pymosn(config, tmp_path, port):
            anthunder.SERVICE_MAP[interface] = ("127.0.0.1", port)
            client = anthunder.Client("interop-test")
            no_trace = types.SimpleNamespace(baggage={})
            for i in range(5):
                content = b"hello from anthunder %d" % i
                assert client.invoke_sync(interface, "echo", content, spanctx=no_trace, timeout_ms=3000) == content
            request = server.requests[-1]
            assert request.class_name == "com.alipay.sofa.rpc.core.request.SofaRequest"
            assert request.headers["sofa_head_target_service"] == interface
            with pytest.raises(anthunder.exceptions.ServerError):  # no route: NO_PROCESSOR
                client.invoke_sync(interface, "other", b"x", spanctx=no_trace, timeout_ms=3000)
            assert stats(admin)["rpc.bolt.response_status.0"] == 5
