"""A cluster's upstream_protocol (pymosn's field: MOSN chooses it on the proxy filter only)
and how it agrees with the TLS ALPN list."""

from __future__ import annotations

from pymosn.config.loader import load_config_dict
from pymosn.upstream.cluster import _cluster_protocol

from .configs import cluster, errors, minimal, warnings

CLUSTER = "$.cluster_manager.clusters[0]"
TLS = {"status": True, "insecure_skip": True}


def loaded_cluster(raw: dict):
    return load_config_dict(raw).config.cluster_manager.clusters[0]


def test_names_are_canonical_and_unset_means_the_proxy_decides():
    raw = minimal()
    assert _cluster_protocol(loaded_cluster(raw)) is None
    cluster(raw)["upstream_protocol"] = "http2"
    assert loaded_cluster(raw).upstream_protocol == "Http2"


def test_alpn_alone_says_what_the_hosts_speak():
    raw = minimal()
    cluster(raw)["tls_context"] = {**TLS, "alpn": "h2,http/1.1"}
    assert _cluster_protocol(loaded_cluster(raw)) == "Auto"
    cluster(raw)["tls_context"]["alpn"] = "h2"
    assert _cluster_protocol(loaded_cluster(raw)) == "Http2"
    cluster(raw)["tls_context"]["alpn"] = "http/1.1"
    assert _cluster_protocol(loaded_cluster(raw)) == "Http1"


def test_unusable_values_name_their_path():
    raw = minimal()
    cluster(raw)["upstream_protocol"] = "bolt"
    assert errors(raw) == [f"{CLUSTER}.upstream_protocol: a cluster's upstream_protocol is Http1, Http2 or Auto, "
                           "not 'bolt'; RPC protocols are the proxy filter's"]
    cluster(raw)["upstream_protocol"] = "Auto"
    assert warnings(raw) == [f"{CLUSTER}.upstream_protocol: Auto takes the protocol the server picks by TLS ALPN; "
                             "without TLS it is HTTP/1.1 (as Envoy's auto_config)"]
    cluster(raw)["upstream_protocol"] = "Http1"
    cluster(raw)["tls_context"] = {**TLS, "alpn": "h2,http/1.1"}
    assert errors(raw) == [f"{CLUSTER}.tls_context.alpn: offers 'h2,http/1.1' but upstream_protocol Http1 speaks "
                           "only 'http/1.1'"]
    cluster(raw)["upstream_protocol"] = "Auto"
    cluster(raw)["tls_context"]["alpn"] = "h2"
    assert errors(raw) == [f"{CLUSTER}.tls_context.alpn: upstream_protocol Auto needs both 'h2' and 'http/1.1' "
                           "offered, got 'h2'"]
    cluster(raw)["upstream_protocol"] = "Http3"
    assert errors(raw)[0].startswith(f"{CLUSTER}.upstream_protocol: upstream protocol 'Http3' is not implemented")


def test_proxy_filter_accepts_http2_upstream():
    raw = minimal()
    raw["servers"][0]["listeners"][0]["filter_chains"][0]["filters"][0]["config"]["upstream_protocol"] = "Http2"
    proxy = load_config_dict(raw).config.servers[0].listeners[0].filter_chains[0].filters[0].config
    assert proxy.upstream_protocol == "Http2"


def test_cluster_http2_options_are_checked_at_their_path():
    raw = minimal()
    cluster(raw)["http2_protocol_options"] = {"max_concurrent_streams": 0, "max_frame_size": 10}
    assert errors(raw) == [
        f"{CLUSTER}.http2_protocol_options.max_concurrent_streams: must be 1..2147483647, got 0",
        f"{CLUSTER}.http2_protocol_options.max_frame_size: must be 16384..16777215, got 10",
    ]
    cluster(raw)["http2_protocol_options"] = {"max_concurrent_streams": 8}
    assert loaded_cluster(raw).http2_protocol_options.max_concurrent_streams == 8
