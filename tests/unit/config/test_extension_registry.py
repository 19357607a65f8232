"""The typed extension registry: names and type URLs are unique per kind, unknown names list the
known ones, plugins come from entry points (broken ones are skipped, built-ins cannot be
replaced), and a registered network filter's config is decoded once at load into its Struct."""

from __future__ import annotations

import logging
from importlib.metadata import EntryPoint
from typing import Any

import msgspec
import pytest

import pymosn.filter.registry  # noqa: F401 - binds the built-in network filters
import pymosn.upstream.load_balancer  # noqa: F401 - binds the built-in balancers
from pymosn.api import registry as api_registry
from pymosn.api.registry import DuplicateExtension, Registry, UnboundExtension, UnknownExtension
from pymosn.config import extension_rules, model, registries, rules
from pymosn.config.loader import load_config_dict
from tests.support import envoy_bootstraps as envoy

from .configs import cluster, errors, listener, minimal

GROUP = "pymosn.test_extensions"
CHAIN = "$.servers[0].listeners[0].filter_chains[0].filters"


class QuotaConfig(msgspec.Struct, forbid_unknown_fields=True):
    limit: int
    label: str = ""


class QuotaFilter:
    """A plugin network filter's factory: the config type it takes rides on the class."""

    config_type = QuotaConfig
    type_url = "acme.filters.network.quota.v1.Quota"

    def __init__(self, config: QuotaConfig, ctx: Any) -> None:
        self.config = config


class NotAStructConfig:
    config_type = dict


def _entry_point(name: str, attr: str) -> EntryPoint:
    return EntryPoint(name, f"{__name__}:{attr}", GROUP)


def _network_filters() -> Registry[Any]:
    """A fresh registry holding the built-in declarations, as config/registries.py makes them."""
    fresh: Registry[Any] = Registry("network filter", GROUP)
    for name in registries.NETWORK_FILTERS.names():
        declared = registries.NETWORK_FILTERS.get(name)
        fresh.register(name, registries.NETWORK_FILTERS.factory(name), type_url=declared.type_url,
                       config_type=declared.config_type)
    return fresh


def test_a_name_registered_twice_is_a_typed_error():
    kind: Registry[int] = Registry("thing", GROUP)
    kind.register("a", 1)
    with pytest.raises(DuplicateExtension) as raised:
        kind.register("a", 2)
    assert (raised.value.kind, raised.value.name, raised.value.type_url) == ("thing", "a", "")
    assert kind.factory("a") == 1
    with pytest.raises(DuplicateExtension):
        kind.bind("a", 3)  # a declared name binds once


def test_a_type_url_registered_twice_is_a_typed_error_naming_its_holder():
    kind: Registry[int] = Registry("thing", GROUP)
    kind.register("a", 1, type_url="acme.v1.A")
    with pytest.raises(DuplicateExtension) as raised:
        kind.register("b", 2, type_url="acme.v1.A")
    assert (raised.value.name, raised.value.type_url, raised.value.holder) == ("b", "acme.v1.A", "a")
    assert kind.names() == ("a",)
    assert kind.by_type_url("acme.v1.A") == kind.get("a")


def test_an_unknown_name_lists_the_known_ones():
    kind: Registry[int] = Registry("thing", GROUP)
    kind.register("b", 1)
    kind.register("a", 2)
    with pytest.raises(UnknownExtension) as raised:
        kind.get("c")
    assert raised.value.known == ("b", "a")
    assert kind.find("c") is None
    with pytest.raises(UnknownExtension):
        kind.bind("c", 3)


def test_a_declared_name_without_a_factory_is_a_pymosn_bug_not_a_config_error():
    kind: Registry[int] = Registry("thing", GROUP)
    kind.declare("a")
    assert kind.unbound() == ("a",)
    with pytest.raises(UnboundExtension):
        kind.factory("a")


def test_every_declared_built_in_is_bound_once_its_layer_is_imported():
    assert registries.NETWORK_FILTERS.unbound() == ()
    assert registries.LOAD_BALANCERS.unbound() == ()


def test_case_insensitive_kinds_find_mosns_spellings():
    kind: Registry[int] = Registry("codec", GROUP, case_insensitive=True)
    kind.register("bolt", 1)
    assert kind.get("Bolt").name == "bolt"
    with pytest.raises(DuplicateExtension):
        kind.register("BOLT", 2)


def test_entry_points_load_once_and_broken_or_clashing_plugins_are_skipped(monkeypatch, caplog):
    calls = []

    def fake_entry_points(group: str) -> list[EntryPoint]:
        calls.append(group)
        return [
            _entry_point("quota", "QuotaFilter"),
            _entry_point("proxy", "QuotaFilter"),  # cannot replace the built-in
            EntryPoint("missing", "no_such_module_for_pymosn:Filter", GROUP),
            _entry_point("bad_config", "NotAStructConfig"),
            _entry_point("same_url", "QuotaFilter"),  # its type URL is quota's
        ]

    kind = _network_filters()
    monkeypatch.setattr(api_registry, "entry_points", fake_entry_points)
    with caplog.at_level(logging.ERROR, logger="pymosn.extensions"):
        assert kind.names() == ("proxy", "tcp_proxy", "rbac", "quota")
        assert kind.names() == ("proxy", "tcp_proxy", "rbac", "quota")
    assert calls == [GROUP]
    assert kind.factory("quota") is QuotaFilter
    assert kind.factory("proxy") is registries.NETWORK_FILTERS.factory("proxy")
    assert kind.get("quota").config_type is QuotaConfig and not kind.get("quota").builtin
    assert kind.by_type_url(QuotaFilter.type_url) == kind.get("quota")
    skipped = sorted(r.getMessage().split(" ")[3] for r in caplog.records)
    assert skipped == ["bad_config", "missing", "proxy", "same_url"]


@pytest.fixture
def quota_registered(monkeypatch):
    kind = _network_filters()
    kind.register("quota", QuotaFilter, type_url=QuotaFilter.type_url, config_type=QuotaConfig, builtin=False)
    monkeypatch.setattr(extension_rules, "NETWORK_FILTERS", kind)
    return kind


def _with_quota(config: object) -> dict:
    raw = minimal()
    chain = listener(raw)["filter_chains"][0]
    chain["filters"].insert(0, {"type": "quota", "config": config})
    return raw


def test_a_plugin_name_is_known_to_the_config_and_its_config_decoded_once(quota_registered):
    loaded = load_config_dict(_with_quota({"limit": 3})).config
    quota, proxy = loaded.servers[0].listeners[0].filter_chains[0].filters
    assert quota.config == QuotaConfig(limit=3)
    assert isinstance(proxy.config, model.ProxyConfig)


def test_a_plugin_config_error_names_its_path(quota_registered):
    assert errors(_with_quota({"limit": "3"})) == [f"{CHAIN}[0].config.limit: expected int, got str"]


def test_an_unknown_network_filter_lists_the_registered_ones(quota_registered):
    raw = minimal()
    listener(raw)["filter_chains"][0]["filters"][0]["type"] = "quotaa"
    assert errors(raw) == [f"{CHAIN}[0].type: unknown network filter 'quotaa'; known: proxy, quota, rbac, tcp_proxy"]


LISTENER_FILTER = "$.servers[0].listeners[0].listener_filters[0]"


def _with_listener_filter(entry: dict) -> dict:
    raw = minimal()
    listener(raw)["listener_filters"] = [entry]
    return raw


def test_original_dst_listener_filter_config_is_decoded_with_paths():
    loaded = load_config_dict(_with_listener_filter({"type": "original_dst", "config": {"type": "tproxy"}})).config
    (lst,) = loaded.servers[0].listeners
    assert lst.listener_filters[0].config == model.OriginalDstFilterConfig(type="tproxy")
    assert lst.use_original_dst == "tproxy"
    assert errors(_with_listener_filter({"type": "original_dst", "config": {"type": 1}})) == [
        f"{LISTENER_FILTER}.config.type: expected str, got int"]


def test_a_plugin_listener_filter_is_known_but_refused(monkeypatch):
    kind: Registry[Any] = Registry("listener filter", GROUP)
    kind.declare("original_dst", config_type=model.OriginalDstFilterConfig)
    kind.register("acme_proxy_protocol", QuotaFilter, builtin=False)
    monkeypatch.setattr(extension_rules, "LISTENER_FILTERS", kind)
    assert errors(_with_listener_filter({"type": "acme_proxy_protocol"})) == [
        f"{LISTENER_FILTER}: listener filter 'acme_proxy_protocol' is a plugin, and pymosn's listeners run only "
        "their built-in filters; refusing to run without it, as it may refuse connections"]


def _envoy_quota(config: dict) -> dict:
    quota = {"name": "acme.quota", "typed_config": {"@type": f"type.googleapis.com/{QuotaFilter.type_url}", **config}}
    return envoy.bootstrap(envoy.listener(quota, envoy.hcm()))


def test_an_envoy_filter_finds_a_plugin_by_its_type_url(monkeypatch, quota_registered):
    import pymosn.config.envoy.listeners as envoy_listeners

    monkeypatch.setattr(envoy_listeners, "NETWORK_FILTERS", quota_registered)
    quota, proxy = envoy.first_listener(envoy.load(_envoy_quota({"limit": 5}))).filter_chains[0].filters
    assert (quota.type, quota.config) == ("quota", QuotaConfig(limit=5))
    assert envoy.errors(_envoy_quota({"limit": "5"})) == [
        f"{envoy.L0}.filter_chains[0].filters[0].typed_config.limit: expected int, got str"]


def test_an_access_log_names_a_registered_sink():
    raw = minimal()
    logs = "$.servers[0].listeners[0].access_logs[0]"
    listener(raw)["access_logs"] = [{"sink": "kafka"}]
    assert errors(raw) == [f"{logs}.sink: unknown access log sink 'kafka'; known: file"]
    listener(raw)["access_logs"] = [{"log_path": "stdout", "config": {"topic": "x"}}]
    assert errors(raw) == [f"{logs}.config: access log sink 'file' takes no config"]


class TaggedConfig(msgspec.Struct, forbid_unknown_fields=True):
    tag: str


class TaggedSink:
    config_type = TaggedConfig
    type_url = "acme.access_loggers.tagged.v1.Tagged"


def test_an_envoy_access_logger_finds_a_plugin_sink_by_its_type_url(monkeypatch):
    import pymosn.config.envoy.access_log as envoy_access_log

    kind: Registry[Any] = Registry("access log sink", GROUP)
    kind.declare(registries.FILE_SINK)
    kind.register("acme_tagged", TaggedSink, type_url=TaggedSink.type_url, config_type=TaggedConfig, builtin=False)
    monkeypatch.setattr(envoy_access_log, "ACCESS_LOG_SINKS", kind)
    monkeypatch.setattr(extension_rules, "ACCESS_LOG_SINKS", kind)
    tagged = {"name": "acme", "typed_config": {"@type": f"type.googleapis.com/{TaggedSink.type_url}", "tag": "t"}}
    (log,) = envoy.first_listener(envoy.load(envoy.bootstrap(envoy.listener(envoy.hcm(access_log=[tagged]))))
                                  ).access_logs
    assert (log.sink, log.config) == ("acme_tagged", TaggedConfig(tag="t"))


def test_a_plugin_load_balancer_is_a_valid_lb_type(monkeypatch):
    kind: Registry[Any] = Registry("load balancer", GROUP)
    for name in registries.LOAD_BALANCERS.names():
        kind.register(name, registries.LOAD_BALANCERS.factory(name))
    kind.register("LB_ACME", registries.LOAD_BALANCERS.factory("LB_RANDOM"), builtin=False)
    monkeypatch.setattr(rules, "LOAD_BALANCERS", kind)
    raw = minimal()
    cluster(raw)["lb_type"] = "LB_ACME"
    assert load_config_dict(raw).config.cluster_manager.clusters[0].lb_type == "LB_ACME"
    cluster(raw)["lb_type"] = "LB_ACMEE"
    assert errors(raw) == ["$.cluster_manager.clusters[0].lb_type: unknown value 'LB_ACMEE'; known: LB_ACME, "
                           "LB_ORIGINAL_DST, LB_RANDOM, LB_ROUNDROBIN, LB_WEIGHTED_ROUNDROBIN"]


def test_the_xprotocol_codecs_are_one_of_the_registries():
    from pymosn.protocol.xprotocol import registry as xprotocol
    from pymosn.protocol.xprotocol.bolt import BoltCodec

    assert xprotocol.XPROTOCOL_CODECS.group == "pymosn.xprotocol"
    assert xprotocol.get("Bolt") is xprotocol.codecs()["bolt"]  # MOSN's names are case-insensitive
    with pytest.raises(DuplicateExtension):
        xprotocol.register(BoltCodec())


def test_an_unknown_envoy_network_filter_lists_the_plugins_too(monkeypatch, quota_registered):
    import pymosn.config.envoy.listeners as envoy_listeners

    monkeypatch.setattr(envoy_listeners, "NETWORK_FILTERS", quota_registered)
    unknown = {"name": "acme.other", "typed_config": {"@type": "type.googleapis.com/acme.Other"}}
    assert envoy.errors(envoy.bootstrap(envoy.listener(unknown, envoy.hcm()))) == [
        f"{envoy.L0}.filter_chains[0].filters[0]: unknown network filter 'acme.other' (type acme.Other); pymosn runs "
        "envoy.filters.network.http_connection_manager, envoy.filters.network.tcp_proxy, "
        f"envoy.filters.network.dubbo_proxy, x_proxy, envoy.filters.network.rbac, {QuotaFilter.type_url}"]
