"""The network RBAC filter: its config read from an Envoy bootstrap and a MOSN-shaped config
(errors at the user's paths), and its read filter on a fake connection (checked at start,
a denied connection closed at once or after delay_deny, nothing read past a denial)."""

from __future__ import annotations

from typing import Any

import pytest

import pymosn.filter.registry  # noqa: F401 - registers the network rbac filter, as the server does
from pymosn.api.errors import ConfigError
from pymosn.api.filter import FilterStatus
from pymosn.config.loader import load_config_dict
from pymosn.filter.network import rbac
from pymosn.metrics.store import StatsStore
from tests.support import envoy_bootstraps as envoy
from tests.support.fakes import FakeLoop, fake_connection

RBAC_TYPE = "type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC"
ANY = {"any": True}
LOCAL_ONLY = {"action": "ALLOW", "policies": {"local": {"permissions": [ANY], "principals": [
    {"remote_ip": {"address_prefix": "127.0.0.1", "prefix_len": 32}}]}}}


def _envoy_rbac(**config: Any) -> dict[str, Any]:
    return {"name": "envoy.filters.network.rbac", "typed_config": {"@type": RBAC_TYPE, **config}}


def test_an_envoy_network_rbac_becomes_the_rbac_network_filter():
    loaded = envoy.load(envoy.bootstrap(envoy.listener(_envoy_rbac(stat_prefix="tcp.", rules=LOCAL_ONLY,
                                                                   delayDeny="0.5s"), envoy.tcp(cluster="app"))))
    first = envoy.first_listener(loaded).filter_chains[0].filters[0]
    assert first.type == "rbac"
    assert first.config == rbac.RbacNetworkConfig("tcp.", LOCAL_ONLY, delay_deny=0.5)


def test_envoy_errors_name_the_bootstrap_paths():
    bad = {"action": "ALLOW", "policies": {"p": {"permissions": [ANY], "principals": [{"metadata": {}}]}}}
    raw = envoy.bootstrap(envoy.listener(_envoy_rbac(rules=bad, shadow_matcher={}), envoy.tcp(cluster="app")))
    where = f"{envoy.F0}.typed_config"
    assert envoy.errors(raw) == [
        f"{where}.shadow_matcher: the RBAC matcher tree is not implemented by pymosn; use rules / shadow_rules",
        f"{where}.stat_prefix: missing: the network RBAC filter needs a stat_prefix (as in Envoy)",
        f"{where}.rules.policies.p.principals[0].metadata: metadata matching is not implemented by pymosn (it keeps "
        "no dynamic metadata); refusing to match differently",
    ]
    no_config = {"name": "envoy.filters.network.rbac"}
    assert envoy.errors(envoy.bootstrap(envoy.listener(no_config, envoy.tcp(cluster="app")))) == [
        f"{where}.stat_prefix: missing: the network RBAC filter needs a stat_prefix (as in Envoy)"]


def test_continuous_enforcement_is_accepted_with_a_warning():
    raw = envoy.bootstrap(envoy.listener(_envoy_rbac(stat_prefix="t", enforcement_type="CONTINUOUS"),
                                         envoy.tcp(cluster="app")))
    assert envoy.warnings(raw) == [
        f"{envoy.F0}.typed_config.enforcement_type: CONTINUOUS: what pymosn's rules read cannot change during a "
        "connection (it has no protocol metadata), so each connection is checked once, when it starts"]


def _mosn(filters: list[dict[str, Any]]) -> dict[str, Any]:
    return {"servers": [{"listeners": [{"name": "l", "address": "127.0.0.1:9000",
                                        "filter_chains": [{"filters": filters}]}]}],
            "cluster_manager": {"clusters": [{"name": "c", "hosts": [{"address": "127.0.0.1:9001"}]}]}}


def test_the_mosn_shaped_filter_and_its_paths():
    tcp = {"type": "tcp_proxy", "config": {"cluster": "c"}}
    loaded = load_config_dict(_mosn([{"type": "rbac", "config": {"stat_prefix": "l4.", "shadow_rules": LOCAL_ONLY}},
                                     tcp])).config
    assert loaded.servers[0].listeners[0].filter_chains[0].filters[0].config == rbac.RbacNetworkConfig(
        "l4.", shadow_rules=LOCAL_ONLY)
    with pytest.raises(ConfigError) as refused:
        load_config_dict(_mosn([{"type": "rbac", "config": {"stat_prefix": "x", "rules": {"policies": {
            "p": {"permissions": [{"destination_port": -1}], "principals": [ANY]}}}}}, tcp]))
    assert [str(i) for i in refused.value.issues] == [
        "$.servers[0].listeners[0].filter_chains[0].filters[0].config.rules.policies.p.permissions[0]"
        ".destination_port: -1 is out of range [0, 65535]"]


# --- the read filter -------------------------------------------------------------------------

class FakeConnection:
    def __init__(self, remote: str) -> None:
        self.loop = FakeLoop()
        self.info = fake_connection(self.loop, remote=(remote, 40000))
        self.close_callbacks: list[Any] = []
        self.aborted = 0
        self.reading_paused = False

    def abort(self) -> None:
        self.aborted += 1
        for callback in self.close_callbacks:
            callback(self, None)

    def pause_reading(self) -> None:
        self.reading_paused = True


def _build(store: StatsStore, **config: Any):
    return rbac.FACTORY(rbac.RbacNetworkConfig("tcp.", **config), type("Ctx", (), {"stats_store": store})())


def test_connections_are_checked_when_they_start_and_counted():
    store = StatsStore()
    build = _build(store, rules=LOCAL_ONLY, shadow_rules={"action": "DENY", "policies": {}})
    allowed, denied = FakeConnection("127.0.0.1"), FakeConnection("127.0.0.2")
    allowed_filter, denied_filter = build(allowed), build(denied)
    assert allowed_filter.on_new_connection() == FilterStatus.CONTINUE and allowed.aborted == 0
    assert allowed_filter.on_data(b"x") == FilterStatus.CONTINUE
    assert denied_filter.on_new_connection() == FilterStatus.STOP and denied.aborted == 1
    assert denied_filter.on_data(b"x") == FilterStatus.STOP  # nothing reaches the tcp_proxy
    assert {name: c.value for name, c in store.named.items()} == {
        "tcp.rbac.allowed": 1, "tcp.rbac.denied": 1, "tcp.rbac.shadow_allowed": 2, "tcp.rbac.shadow_denied": 0}


def test_delay_deny_stops_reading_then_closes():
    store = StatsStore()
    conn = FakeConnection("10.1.1.1")
    read_filter = _build(store, rules=LOCAL_ONLY, delay_deny=2.0)(conn)
    assert read_filter.on_new_connection() == FilterStatus.STOP
    assert conn.reading_paused and conn.aborted == 0
    conn.loop.advance(1.9)
    assert conn.aborted == 0
    conn.loop.advance(0.1)
    assert conn.aborted == 1


def test_a_connection_closed_during_its_delay_cancels_the_timer():
    conn = FakeConnection("10.1.1.1")
    read_filter = _build(StatsStore(), rules=LOCAL_ONLY, delay_deny=2.0)(conn)
    read_filter.on_new_connection()
    conn.abort()  # the client left first
    conn.loop.advance(5)
    assert conn.aborted == 1


def test_no_rules_allow_every_connection():
    conn = FakeConnection("10.1.1.1")
    assert _build(StatsStore())(conn).on_new_connection() == FilterStatus.CONTINUE
