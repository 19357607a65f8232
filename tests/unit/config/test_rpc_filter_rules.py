"""An RPC listener's stream filters against the header maps its codec can carry: a config whose
filters would change headers the codec cannot rewrite (a Dubbo response has no header map) is
refused at load, at the field asking for it; what can be carried loads."""

from __future__ import annotations

import msgspec
import pytest

from pymosn.api.headers import HeaderSide
from pymosn.config import protocols
from pymosn.config.http_filters import PluginHttpFilter, header_changes
from pymosn.config.loader import load_config_dict
from pymosn.protocol.xprotocol import registry as codecs

from .configs import errors

LISTENER = "$.servers[0].listeners[0]"
PROXY = f"{LISTENER}.filter_chains[0].filters[0].config"
ROUTE = "$.servers[0].routers[0].virtual_hosts[0].routers[0]"
BOTH_WAYS = {"mutations": {"request_mutations": [{"remove": "x-a"}], "response_mutations": [{"remove": "x-b"}]}}
REQUEST_ONLY = {"mutations": {"request_mutations": [{"remove": "x-a"}]}}
X_HEADERS = {"stat_prefix": "rl", "token_bucket": {"max_tokens": 1, "tokens_per_fill": 1, "fill_interval": "1s"},
             "enable_x_ratelimit_headers": "DRAFT_VERSION_03"}


def rpc(protocol: str = "dubbo", stream_filters=(), route_filters=None, **proxy) -> dict:
    route = {"match": {"headers": [{"name": "service", "value": ".*", "regex": True}]},
             "route": {"cluster_name": "c0"}}
    if route_filters:
        route["per_filter_config"] = route_filters
    return {
        "servers": [{
            "listeners": [{"name": "l0", "address": "127.0.0.1:20880", "stream_filters": list(stream_filters),
                           "filter_chains": [{"filters": [{"type": "proxy", "config": {
                               "downstream_protocol": protocol, "router_config_name": "r0", **proxy}}]}]}],
            "routers": [{"router_config_name": "r0", "virtual_hosts": [{"name": "v", "domains": ["*"],
                                                                        "routers": [route]}]}],
        }],
        "cluster_manager": {"clusters": [{"name": "c0", "hosts": [{"address": "127.0.0.1:20881"}]}]},
    }


def refused(path: str, kind: str, side: str, protocol: str = "dubbo") -> str:
    return (f"{path}: {kind} changes {side} headers, which {protocol} {side}s cannot carry (the {protocol} codec "
            f"cannot rewrite a {side}'s header map; the listener's downstream_protocol is at "
            f"{PROXY}.downstream_protocol): every {side} it changed would be answered 500 FF")


def mutation(config: dict) -> dict:
    return {"type": "header_mutation", "config": config}


def test_response_header_changes_on_a_dubbo_listener_are_refused_at_their_field():
    assert errors(rpc(stream_filters=[mutation(BOTH_WAYS)])) == [
        refused(f"{LISTENER}.stream_filters[0].config.mutations.response_mutations", "header_mutation", "response")]
    # MOSN's X with sub_protocol is the same listener
    assert errors(rpc("X", [mutation(BOTH_WAYS)], extend_config={"sub_protocol": "dubbo"})) == [
        refused(f"{LISTENER}.stream_filters[0].config.mutations.response_mutations", "header_mutation", "response")]


def test_a_proxy_filters_own_stream_filters_are_checked_too():
    raw = rpc(stream_filters=[{"type": "local_ratelimit", "config": X_HEADERS}])
    listener = raw["servers"][0]["listeners"][0]
    listener["filter_chains"][0]["filters"][0]["config"]["stream_filters"] = listener.pop("stream_filters")
    assert errors(raw) == [refused(f"{PROXY}.stream_filters[0].config.enable_x_ratelimit_headers", "local_ratelimit",
                                   "response")]


def test_a_per_route_config_of_a_listener_filter_is_checked():
    limit = {"type": "local_ratelimit", "config": {**X_HEADERS, "enable_x_ratelimit_headers": "OFF"}}
    assert errors(rpc(stream_filters=[limit], route_filters={"local_ratelimit": X_HEADERS})) == [
        refused(f"{ROUTE}.per_filter_config.local_ratelimit.enable_x_ratelimit_headers", "local_ratelimit",
                "response")]


@pytest.mark.parametrize("raw", [
    rpc(stream_filters=[mutation(REQUEST_ONLY)]),  # a Dubbo request's attachments carry them
    rpc("bolt", [mutation(BOTH_WAYS)], route_filters={"local_ratelimit": X_HEADERS}),  # Bolt: both sides
    rpc("Auto", [mutation(BOTH_WAYS)]),  # each connection's protocol: refused per response (500 FF)
    # a route config of a kind the listener does not run is never used
    rpc(stream_filters=[mutation(REQUEST_ONLY)], route_filters={"local_ratelimit": X_HEADERS}),
], ids=["dubbo-requests", "bolt", "auto", "unused-route-config"])
def test_what_the_codec_can_carry_loads(raw):
    load_config_dict(raw)


def test_the_built_in_defaults_are_the_codecs_own_declarations():
    assert protocols.BUILTIN_RPC_HEADER_REWRITES == {
        name: codec.rewritable_headers for name, codec in codecs.codecs().items() if name in protocols.BUILTIN_RPC}
    assert codecs.rewritable_headers("dubbo") is HeaderSide.REQUEST and codecs.rewritable_headers("nope") is None


def test_a_codec_that_rewrites_no_headers_refuses_request_changes_too(monkeypatch):
    monkeypatch.setattr(protocols, "_rpc_protocols", lambda: [*protocols.BUILTIN_RPC, "acme"])
    monkeypatch.setattr(protocols, "_rpc_header_rewrites", {"acme": HeaderSide.NONE}.get)
    assert errors(rpc("acme", [mutation(REQUEST_ONLY)])) == [
        refused(f"{LISTENER}.stream_filters[0].config.mutations.request_mutations", "header_mutation", "request",
                "acme")]


class _PluginConfig(msgspec.Struct, frozen=True):
    stamp: bool = False


class _Plugin:
    config_type = _PluginConfig

    @staticmethod
    def create_config(config):
        return None

    @staticmethod
    def header_changes(config):
        return ((HeaderSide.RESPONSE, "stamp"),) if config.stamp else ()


def test_a_plugin_kind_may_declare_its_header_changes():
    factory = PluginHttpFilter(_Plugin)
    assert header_changes(factory, _PluginConfig(stamp=True)) == ((HeaderSide.RESPONSE, "stamp"),)
    assert header_changes(factory, _PluginConfig()) == ()
    assert header_changes(PluginHttpFilter(type("Quiet", (), {"config_type": _PluginConfig,
                                                              "create_config": _Plugin.create_config})),
                          _PluginConfig(stamp=True)) == ()
    with pytest.raises(TypeError):
        PluginHttpFilter(type("Bad", (), {"config_type": _PluginConfig, "create_config": _Plugin.create_config,
                                          "header_changes": 1}))
