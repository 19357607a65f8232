"""Transparent interception for real, inside network namespaces the tests create: iptables
REDIRECT and TPROXY steer a client's connections to pymosn, which proxies them to where they
were going (ORIGINAL_DST cluster) or hands them to the listener configured for that address."""

from __future__ import annotations

import httpx
import pytest

from tests.support.netns import Netns, unavailable_reason
from tests.support.origin import Origin
from tests.support.proxy import Pymosn, free_port, simple_config

REASON = unavailable_reason()
netns_only = pytest.mark.skipif(REASON is not None, reason=f"network namespaces: {REASON}")

CLIENT = "127.0.0.5"  # only this source is intercepted, so pymosn's own upstream traffic is not
SERVICE = "127.0.0.2"  # where the client thinks it is going


def config(listeners: list[dict], clusters: list[dict], admin: int) -> dict:
    return {
        "servers": [{"listeners": listeners, "routers": [{
            "router_config_name": "handed",
            "virtual_hosts": [{"name": "all", "domains": ["*"], "routers": [
                {"match": {"prefix": "/"}, "direct_response": {"status": 200, "body": "served by the virtual listener"}},
            ]}],
        }]}],
        "cluster_manager": {"clusters": clusters},
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin}}},
    }


def intercept(name: str, mode: str, addr: str, port: int = 0) -> dict:
    listener = {
        "name": name,
        "address": addr,
        "use_original_dst": mode,
        "filter_chains": [{"filters": [{"type": "tcp_proxy", "config": {"cluster": "passthrough"}}]}],
    }
    return listener


PASSTHROUGH = {"name": "passthrough", "type": "ORIGINAL_DST", "lb_type": "LB_ORIGINAL_DST", "connect_timeout": "1s"}


@netns_only
def test_redirect_to_original_destination(tmp_path):
    with Netns() as ns:
        ns.echo_server(SERVICE, 8080)
        ns.run("iptables", "-t", "nat", "-A", "OUTPUT", "-p", "tcp", "-s", CLIENT, "-d", SERVICE, "--dport", "8080",
               "-j", "REDIRECT", "--to-ports", "15001")
        cfg = config([intercept("outbound", "redirect", "127.0.0.1:15001")], [PASSTHROUGH], 15000)
        ns.pymosn(cfg, tmp_path / "redirect.json", 15001)
        assert ns.exchange(CLIENT, SERVICE, 8080, b"hello") == b"echo from 127.0.0.2:8080: hello"
        stats = ns.admin_stats(15000)
        assert stats["cluster.passthrough.upstream_cx_total"] == 1  # it went through pymosn
        assert stats["listener.outbound.downstream_cx_total"] == 2  # and the readiness probe
        # Not redirected (a client connecting to the proxy port itself): no destination but the
        # proxy, which would be a loop; the connection is refused, not proxied to itself.
        assert ns.exchange("127.0.0.1", "127.0.0.1", 15001, b"loop?") == b""
        assert ns.admin_stats(15000)["cluster.passthrough.upstream_cx_total"] == 1


@netns_only
def test_redirect_hands_off_to_the_virtual_listener_of_the_destination(tmp_path):
    with Netns() as ns:
        ns.run("iptables", "-t", "nat", "-A", "OUTPUT", "-p", "tcp", "-s", CLIENT, "-d", SERVICE, "-j", "REDIRECT",
               "--to-ports", "15001")
        virtual = {
            "name": "svc-8081",
            "address": f"{SERVICE}:8081",
            "bind_port": False,
            "filter_chains": [{"filters": [{"type": "proxy", "config": {"router_config_name": "handed"}}]}],
        }
        cfg = config([intercept("outbound", "redirect", "127.0.0.1:15001"), virtual], [PASSTHROUGH], 15000)
        ns.pymosn(cfg, tmp_path / "handoff.json", 15001)
        answer = ns.exchange(CLIENT, SERVICE, 8081, b"GET / HTTP/1.1\r\nHost: svc\r\nConnection: close\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"served by the virtual listener")
        stats = ns.admin_stats(15000)
        assert stats["listener.svc-8081.downstream_cx_total"] == 1
        assert stats.get("cluster.passthrough.upstream_cx_total", 0) == 0


@netns_only
def test_tproxy_to_original_destination(tmp_path):
    with Netns() as ns:
        ns.echo_server(SERVICE, 7777)
        ns.run("iptables", "-t", "mangle", "-A", "PREROUTING", "-p", "tcp", "-s", CLIENT, "--dport", "7777",
               "-j", "TPROXY", "--on-port", "15002", "--tproxy-mark", "1")
        ns.run("ip", "rule", "add", "fwmark", "1", "lookup", "100")
        ns.run("ip", "route", "add", "local", "0.0.0.0/0", "dev", "lo", "table", "100")
        listener = intercept("tproxy", "", "0.0.0.0:15002")
        del listener["use_original_dst"]  # MOSN's newer spelling: an original_dst listener filter
        listener["listener_filters"] = [{"type": "original_dst", "config": {"type": "tproxy"}}]
        cfg = config([listener], [PASSTHROUGH], 15000)
        ns.pymosn(cfg, tmp_path / "tproxy.json", 15002)
        assert ns.exchange(CLIENT, SERVICE, 7777, b"through tproxy") == b"echo from 127.0.0.2:7777: through tproxy"
        assert ns.admin_stats(15000)["cluster.passthrough.upstream_cx_total"] == 1


def test_original_dst_from_a_request_header(tmp_path):
    """`original_dst_lb_config.use_header`: an HTTP request names its destination."""
    with Origin("one") as one, Origin("two") as two:
        port, admin = free_port(), free_port()
        cfg = simple_config(port, [], admin_port=admin)
        cfg["cluster_manager"]["clusters"][0].update(
            type="ORIGINAL_DST", lb_type="LB_ORIGINAL_DST", hosts=[], original_dst_lb_config={"use_header": True})
        with Pymosn(cfg, tmp_path, port):
            for origin in (one, two, one):
                r = httpx.get(f"http://127.0.0.1:{port}/echo",
                              headers={"x-envoy-original-dst-host": f"127.0.0.1:{origin.port}"})
                assert r.status_code == 200 and r.json()["origin"] == origin.name
            # no header and no interception: nowhere to go
            assert httpx.get(f"http://127.0.0.1:{port}/echo").status_code == 503
            # names are not resolved: only literal addresses
            assert httpx.get(f"http://127.0.0.1:{port}/echo",
                             headers={"x-envoy-original-dst-host": "localhost:80"}).status_code == 503
