"""The proxy filter's protocols and extend_config as MOSN reads them: an omitted upstream_protocol is
the downstream one (pkg/proxy/downstream.go getUpstreamProtocol), extend_config's HTTP/1 limits
apply, and older MOSN spellings are named as such."""

import pytest

from pymosn.config import model
from pymosn.config.loader import config_to_builtins, load_config_dict

from .configs import errors, minimal, proxy_config, warnings

PROXY = "$.servers[0].listeners[0].filter_chains[0].filters[0].config"


def _loaded_proxy(raw: dict) -> model.ProxyConfig:
    return load_config_dict(raw).config.servers[0].listeners[0].filter_chains[0].filters[0].config


@pytest.mark.parametrize(("downstream", "extend", "upstream"), [
    ("Http1", {}, "Http1"),
    ("Http2", {}, "Http2"),
    ("Auto", {}, "Auto"),  # each connection's detected protocol
    ("bolt", {}, "bolt"),
    ("X", {"sub_protocol": "dubbo"}, "dubbo"),
    ("X", {"sub_protocol": "x_example"}, "x_example"),
])
def test_omitted_upstream_protocol_is_the_downstream_one(downstream, extend, upstream):
    raw = minimal()
    proxy_config(raw).update(downstream_protocol=downstream, extend_config=extend)
    proxy = _loaded_proxy(raw)
    assert proxy.upstream_protocol == upstream
    assert warnings(raw) == []


def test_explicit_upstream_protocol_still_holds_and_the_dump_loads_back():
    raw = minimal()
    proxy_config(raw).update(downstream_protocol="Auto", upstream_protocol="Http1")
    config = load_config_dict(raw).config
    assert config.servers[0].listeners[0].filter_chains[0].filters[0].config.upstream_protocol == "Http1"
    assert load_config_dict(config_to_builtins(config)).config == config
    proxy_config(raw).update(downstream_protocol="bolt", upstream_protocol="Http1")
    assert errors(raw) == [f"{PROXY}.upstream_protocol: converting bolt to Http1 is not supported; use the same "
                           "protocol on both sides"]


def test_http1_limits_in_extend_config_apply_and_the_stricter_wins():
    raw = minimal()
    proxy_config(raw).update(extend_config={"max_header_size": 8192, "max_request_body_size": 4096})
    proxy = _loaded_proxy(raw)
    assert (proxy.max_request_headers_kb, proxy.max_request_bytes) == (8, 4096)
    proxy_config(raw).update(downstream_protocol="Auto", max_request_bytes=1000,
                             extend_config={"Http1": {"max_header_size": 1500, "max_request_body_size": 4096}})
    proxy = _loaded_proxy(raw)
    assert (proxy.max_request_headers_kb, proxy.max_request_bytes) == (1, 1000)  # rounded down, not looser
    proxy_config(raw).update(extend_config={"Http1": {"max_header_size": "8k"}})
    assert errors(raw) == [f"{PROXY}.extend_config.Http1.max_header_size: must be a number of bytes >= 1, got '8k'"]


def test_other_codec_options_warn_but_http2_streaming_is_what_pymosn_does():
    raw = minimal()
    for extend in ({"http2_use_stream": True}, {"Http2": {"http2_use_stream": True}}, {"http2_use_stream": False}):
        proxy_config(raw).update(downstream_protocol="Http2", extend_config=extend)
        assert warnings(raw) == []
    proxy_config(raw).update(downstream_protocol="bolt", extend_config={"enable_bolt_goaway": True})
    assert warnings(raw) == [f"{PROXY}.extend_config.enable_bolt_goaway: accepted by MOSN but not implemented by "
                             "pymosn yet; ignored"]
    proxy_config(raw).update(downstream_protocol="Auto", extend_config={"Http2": {"max_streams": 5}})
    assert warnings(raw) == [f"{PROXY}.extend_config.Http2.max_streams: accepted by MOSN but not implemented by "
                             "pymosn yet; ignored"]


def test_older_mosn_protocol_spellings_are_named():
    raw = minimal()
    proxy_config(raw).update(downstream_protocol="X", extend_config={"sub_protocols": "bolt,boltv2"})
    assert errors(raw) == [f"{PROXY}.extend_config.sub_protocols: older MOSN's list of X sub-protocols is not "
                           "implemented by pymosn; name one codec in sub_protocol, or use downstream_protocol Auto to "
                           "detect the codec per connection"]
    proxy_config(raw).update(downstream_protocol="SofaRpc", upstream_protocol="SofaRpc", extend_config={})
    assert errors(raw) == [  # the same name on both sides is reported once
        f"{PROXY}.downstream_protocol: downstream protocol 'SofaRpc' is older MOSN's name for SOFARPC, refused by "
        "current MOSN too; use bolt (or X with extend_config.sub_protocol bolt); known: Http1, Http2, Auto, X, bolt, "
        "boltv2, dubbo, x_example"]
