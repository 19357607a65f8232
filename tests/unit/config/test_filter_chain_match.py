"""Config of filter chain matching, XFCC and peer-identity routes: what loads, and every bad
value reported at its path."""

from pymosn.config.loader import load_config_dict

from .configs import errors, listener, minimal, proxy_config, route, warnings

LISTENER = "$.servers[0].listeners[0]"
CHAINS = f"{LISTENER}.filter_chains"
PROXY = {"type": "proxy", "config": {"router_config_name": "r0"}}


def with_chains(*matches, default: bool = False) -> dict:
    raw = minimal()
    listener(raw)["filter_chains"] = [
        {"filter_chain_match": m, "filters": [PROXY]} if m is not None else {"filters": [PROXY]} for m in matches
    ]
    if default:
        listener(raw)["default_filter_chain"] = {"filters": [PROXY]}
    return raw


def test_several_chains_load_with_their_matches():
    raw = with_chains(
        {"server_names": ["a.example.com"], "transport_protocol": "tls"},
        {"server_names": ["*.example.com"], "transport_protocol": "tls", "application_protocols": ["h2"]},
        {"transport_protocol": "raw_buffer", "destination_port": 80,
         "prefix_ranges": [{"address_prefix": "10.0.0.0", "prefix_len": 8}],
         "source_prefix_ranges": [{"address_prefix": "::1", "prefix_len": 128}], "source_ports": [1234]},
        default=True,
    )
    listener(raw).update(inspector=True, listener_filters_timeout="2s", continue_on_listener_filters_timeout=False)
    config = load_config_dict(raw).config
    lst = config.servers[0].listeners[0]
    assert [c.filter_chain_match.server_names for c in lst.filter_chains] == [("a.example.com",), ("*.example.com",), ()]
    assert lst.filter_chains[2].filter_chain_match.prefix_ranges[0].prefix_len == 8
    assert lst.default_filter_chain is not None and lst.inspector
    assert (lst.listener_filters_timeout, lst.continue_on_listener_filters_timeout) == (2.0, False)


def test_chains_matching_the_same_connections_are_refused():
    raw = with_chains({"server_names": ["a.com"]}, {"server_names": ["b.com", "a.com"]}, {"transport_protocol": "tls"})
    assert errors(raw) == [
        f"{CHAINS}[1].filter_chain_match: matches the same connections as {CHAINS}[0]; each connection must have "
        "one most specific filter chain"]
    # differing in one criterion is enough
    assert load_config_dict(with_chains({"server_names": ["a.com"], "transport_protocol": "tls"},
                                        {"server_names": ["a.com"], "transport_protocol": "raw_buffer"}))
    # an empty match equals no match
    raw = with_chains(None, {})
    assert errors(raw) == [f"{CHAINS}[1].filter_chain_match: matches the same connections as {CHAINS}[0]; each "
                           "connection must have one most specific filter chain"]


def test_bad_match_values_name_their_paths():
    raw = with_chains({
        "destination_port": 0,
        "prefix_ranges": [{"address_prefix": "10.0.0.300", "prefix_len": 8}, {"address_prefix": "10.0.0.0", "prefix_len": 33}],
        "server_names": ["w*.example.com", "*", "", "*.ok.com"],
        "transport_protocol": "quic",
        "application_protocols": [""],
        "source_ports": [70000],
    })
    m = f"{CHAINS}[0].filter_chain_match"
    assert errors(raw) == [
        f"{m}.destination_port: port must be 1..65535, got 0",
        f"{m}.source_ports[0]: port must be 1..65535, got 70000",
        f"{m}.prefix_ranges[0]: '10.0.0.300/8' does not appear to be an IPv4 or IPv6 network",
        f"{m}.prefix_ranges[1]: '10.0.0.0/33' does not appear to be an IPv4 or IPv6 network",
        f"{m}.server_names[0]: only whole-label wildcards like '*.example.com' are supported, got 'w*.example.com'",
        f"{m}.server_names[1]: only whole-label wildcards like '*.example.com' are supported, got '*'",
        f"{m}.server_names[2]: must not be empty",
        f"{m}.transport_protocol: unknown value 'quic'; known: raw_buffer, tls",
        f"{m}.application_protocols[0]: must not be empty",
    ]


def test_listener_level_fields():
    raw = with_chains(None, default=True)
    listener(raw)["default_filter_chain"]["filter_chain_match"] = {"destination_port": 80}
    assert warnings(raw) == [f"{LISTENER}.default_filter_chain.filter_chain_match: ignored on the default filter "
                             "chain (as in Envoy)"]
    listener(raw)["listener_filters_timeout"] = "0s"
    assert errors(raw) == [f"{LISTENER}.listener_filters_timeout: must be > 0, got 0.0"]
    raw = minimal()
    listener(raw)["filter_chains"] = []
    listener(raw)["default_filter_chain"] = {"filters": [PROXY]}
    assert warnings(raw) == []


def test_client_cert_forwarding_config():
    raw = minimal()
    proxy_config(raw).update(forward_client_cert_details="append_forward",
                             set_current_client_cert_details={"uri": True, "subject": True, "dns": True, "cert": True})
    cfg = load_config_dict(raw).config
    proxy = cfg.servers[0].listeners[0].filter_chains[0].filters[0].config
    assert proxy.forward_client_cert_details == "APPEND_FORWARD"
    proxy_config(raw).update(forward_client_cert_details="FORWARD", set_current_client_cert_details={"chain": True})
    p = f"{CHAINS}[0].filters[0].config"
    assert errors(raw) == [
        f"{p}.forward_client_cert_details: unknown value 'FORWARD'; known: ALWAYS_FORWARD_ONLY, APPEND_FORWARD, "
        "FORWARD_ONLY, SANITIZE, SANITIZE_SET",
        f"{p}.set_current_client_cert_details.chain: not implemented by pymosn (Python's ssl shows the peer's chain "
        "only from Python 3.13)",
    ]
    proxy_config(raw).update(forward_client_cert_details="SANITIZE", set_current_client_cert_details={"uri": True})
    assert warnings(raw) == [f"{p}.set_current_client_cert_details: has an effect only with "
                             "forward_client_cert_details APPEND_FORWARD or SANITIZE_SET (as in Envoy)"]


def test_peer_identity_route_match():
    r = "$.servers[0].routers[0].virtual_hosts[0].routers[0].match.downstream_peer_uri_san"
    raw = minimal()
    route(raw)["match"]["downstream_peer_uri_san"] = {"prefix": "spiffe://cluster.local/"}
    assert load_config_dict(raw).config.servers[0].routers[0].virtual_hosts[0].routers[0].match.downstream_peer_uri_san
    route(raw)["match"]["downstream_peer_uri_san"] = {"prefix": "a", "exact": "b"}
    assert errors(raw) == [f"{r}: set exactly one of exact, prefix, suffix, contains, regex; found exact, prefix"]
    route(raw)["match"]["downstream_peer_uri_san"] = {"regex": "(", "ignore_case": True}
    assert [e.split(":")[0] for e in errors(raw)] == [f"{r}.regex", f"{r}.ignore_case"]
    route(raw)["match"]["downstream_peer_uri_san"] = {}
    assert errors(raw) == [f"{r}: set exactly one of exact, prefix, suffix, contains, regex; found none"]
