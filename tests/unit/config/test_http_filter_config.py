"""HTTP filters in both formats: read once at load by their kind's reader into its Struct (with
the field paths in errors), kept in the model as that Struct, and loaded back unchanged from
/config_dump's form."""

from __future__ import annotations

import msgspec
import pytest

from pymosn.config.http_filters import accept_plugin
from pymosn.config.issues import IssueLog
from pymosn.config.loader import config_to_builtins, load_config_dict
from pymosn.config.registries import HTTP_FILTERS
from pymosn.filter.http.fault import FaultConfig, FaultDelay, Percent
from pymosn.filter.http.payload_limit import PayloadLimitConfig
from tests.support import envoy_bootstraps as envoy

from .configs import errors, listener, minimal, warnings

FILTERS = "$.servers[0].listeners[0].stream_filters"
FAULT_TYPE = "envoy.extensions.filters.http.fault.v3.HTTPFault"
BUFFER_TYPE = "envoy.extensions.filters.http.buffer.v3.Buffer"


def mosn_with(*filters: dict) -> dict:
    raw = minimal()
    listener(raw)["stream_filters"] = list(filters)
    return raw


def test_a_mosn_stream_filter_is_read_into_its_struct_once():
    raw = mosn_with({"type": "fault", "config": {"delay": {"fixed_delay": "1.5s", "percentage": 30}}},
                    {"type": "payload_limit", "config": {"max_entity_size": 10, "http_status": 400}})
    config = load_config_dict(raw).config
    fault, limit = config.servers[0].listeners[0].stream_filters
    assert fault.config.delay == FaultDelay(1.5, Percent(30, 100))
    assert limit.config == PayloadLimitConfig(10, 400)
    assert fault.decoded and limit.decoded
    assert load_config_dict(config_to_builtins(config)).config == config


def test_mosn_filter_config_errors_name_their_paths():
    raw = mosn_with({"type": "fault", "config": {"delay": {"fixed_delay": "1s", "percentage": 101}, "abortt": {}}})
    assert errors(raw) == [
        f"{FILTERS}[0].config.abortt: unknown field (did you mean 'abort'?); known: delay, abort, upstream_cluster, "
        "headers",
        f"{FILTERS}[0].config.delay.percentage: 101 is out of range [0, 100]",
    ]


def test_a_dumped_config_that_was_edited_is_checked_as_the_struct():
    raw = mosn_with({"type": "payload_limit", "decoded": True, "config": {"max_bytes": "ten"}})
    assert errors(raw) == [f"{FILTERS}[0].config.max_bytes: Expected `int`, got `str`"]


def test_an_unknown_mosn_filter_lists_the_known_ones():
    (error,) = errors(mosn_with({"type": "acme_auth"}))
    assert error.endswith(f"known: {', '.join(HTTP_FILTERS.names())}") and "fault, payload_limit" in error


def test_an_envoy_http_filter_is_read_by_its_envoy_reader_at_its_envoy_path():
    fault = envoy.typed("my-fault", FAULT_TYPE, abort={"http_status": 503, "percentage": {"numerator": 5}})
    buffer = {**envoy.typed("envoy.filters.http.buffer", BUFFER_TYPE, max_request_bytes=1024), "disabled": True}
    config = envoy.load(envoy.with_http_filters(fault, buffer))
    proxy = envoy.proxy(config)
    first, second = proxy.stream_filters
    assert (first.type, first.name, first.disabled) == ("fault", "my-fault", False)
    assert isinstance(first.config, FaultConfig) and first.config.abort.http_status == 503
    assert (second.type, second.name, second.disabled) == ("payload_limit", "envoy.filters.http.buffer", True)
    assert second.config == PayloadLimitConfig(1024)
    assert load_config_dict(config_to_builtins(config)).config == config

    bad = envoy.typed("my-fault", FAULT_TYPE, abort={"http_status": 503, "percentage": {"numerator": 5}}, delayy={})
    (error,) = envoy.errors(envoy.with_http_filters(bad))
    assert error.startswith(f"{envoy.HC}.http_filters[0].typed_config.delayy: unknown field")


def test_an_envoy_filter_without_typed_config_is_found_by_its_well_known_name():
    (error,) = envoy.errors(envoy.with_http_filters({"name": "envoy.filters.http.buffer"}))
    assert error == f"{envoy.HC}.http_filters[0].typed_config.max_request_bytes: missing required field"


def test_mosn_filters_warn_nothing_when_read():
    assert warnings(mosn_with({"type": "header_mutation", "config": {"mutations": {"request_mutations": [
        {"append": {"header": {"key": "x-a", "value": "1"}}}]}}})) == []


def test_stream_filters_on_the_listener_and_its_proxy_filter_are_refused():
    raw = mosn_with({"type": "fault", "config": {}})
    listener(raw)["filter_chains"][0]["filters"][0]["config"]["stream_filters"] = [{"type": "fault", "config": {}}]
    assert errors(raw) == ["$.servers[0].listeners[0].filter_chains[0].filters[0].config.stream_filters: the listener "
                           "has stream_filters too: give them in one place"]


def test_a_plugin_is_a_filter_config_class_or_a_factory_object_with_a_struct_config():
    class Config(msgspec.Struct, forbid_unknown_fields=True):
        limit: int = 1

    class AsClass:
        config_type = Config

        def __init__(self, config):
            self.config = config

        def create_filter(self, callbacks):
            raise AssertionError("not called here")

    class Factory:
        config_type = Config
        type_url = "type.googleapis.com/acme.filters.Limit"

        def create_config(self, config):
            return AsClass(config)

    by_class, by_factory = accept_plugin(AsClass), accept_plugin(Factory())
    assert by_class.type_url == "" and by_factory.type_url == "acme.filters.Limit"
    assert by_class.factory.create_config(Config(2)).config == Config(2)
    assert by_factory.factory.create_config(Config(3)).config == Config(3)
    assert not hasattr(by_class.factory, "decode_mosn_route")  # no route_config_type: no per-route configs
    log = IssueLog()
    assert by_class.factory.decode_mosn({"limit": "x"}, "$.c", log) is None
    assert [str(e) for e in log.errors] == ["$.c.limit: Expected `int`, got `str`"]
    with pytest.raises(TypeError, match="config_type must be a msgspec.Struct type"):
        accept_plugin(type("NoConfig", (), {"config_type": dict}))
