"""Every kind of error names the exact path it sits at, and all of them are reported in one run."""

import pytest

from pymosn.config.loader import load_config_dict

from .configs import cluster, errors, listener, minimal, proxy_config, route, sample, warnings

LISTENER = "$.servers[0].listeners[0]"
PROXY = f"{LISTENER}.filter_chains[0].filters[0].config"
VHOST = "$.servers[0].routers[0].virtual_hosts[0]"
ROUTE = f"{VHOST}.routers[0]"
CLUSTER = "$.cluster_manager.clusters[0]"


def test_unknown_lb_type_lists_the_known_ones():
    raw = minimal()
    cluster(raw)["lb_type"] = "LB_RANDON"
    assert errors(raw) == [
        f"{CLUSTER}.lb_type: unknown value 'LB_RANDON'; known: LB_ORIGINAL_DST, LB_RANDOM, LB_ROUNDROBIN, LB_WEIGHTED_ROUNDROBIN"]


def test_mosn_lb_type_not_implemented_yet():
    raw = minimal()
    cluster(raw)["lb_type"] = "LB_MAGLEV"
    assert errors(raw) == [f"{CLUSTER}.lb_type: lb_type 'LB_MAGLEV' is not implemented by pymosn yet; "
                           "known: LB_ORIGINAL_DST, LB_RANDOM, LB_ROUNDROBIN, LB_WEIGHTED_ROUNDROBIN"]


@pytest.mark.parametrize("kind", ["STRICT_DNS", "EDS"])
def test_mosn_cluster_types_not_implemented_yet(kind):
    raw = minimal()
    cluster(raw)["type"] = kind
    assert errors(raw) == [f"{CLUSTER}.type: cluster type {kind!r} is not implemented by pymosn yet; "
                           "known: ORIGINAL_DST, SIMPLE, STATIC"]


def test_bad_listener_address():
    raw = sample()
    listener(raw, 1)["address"] = "abc"
    assert errors(raw) == ["$.servers[0].listeners[1].address: expected \"host:port\", got 'abc'"]


def test_ports_out_of_range():
    raw = minimal()
    listener(raw)["address"] = "0.0.0.0:65536"
    cluster(raw)["hosts"] = [{"address": "10.0.0.1:0"}]
    raw["admin"] = {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 70000}}}
    assert errors(raw) == [
        f"{LISTENER}.address: port 65536 out of range 0..65535",
        f"{CLUSTER}.hosts[0].address: an upstream port must be 1..65535, got 0",
        "$.admin.address.socket_address.port_value: port 70000 out of range 0..65535",
    ]


def test_wrong_types():
    raw = minimal()
    cluster(raw)["max_request_per_conn"] = "1024"
    listener(raw)["bind_port"] = 1
    raw["servers"][0]["routers"][0]["virtual_hosts"][0]["domains"] = "*"
    cluster(raw)["hosts"][0]["weight"] = True
    assert sorted(errors(raw)) == sorted([
        f"{CLUSTER}.max_request_per_conn: expected int, got str",
        f"{LISTENER}.bind_port: expected bool, got int",
        f"{VHOST}.domains: expected list, got str",
        f"{CLUSTER}.hosts[0].weight: expected int, got bool",
    ])


def test_missing_required_fields():
    raw = minimal()
    del listener(raw)["address"]
    del cluster(raw)["hosts"][0]["address"]
    raw["cluster_manager"]["clusters"].append({"lb_type": "LB_RANDOM"})
    assert errors(raw) == [
        f"{LISTENER}.address: missing required field",
        f"{CLUSTER}.hosts[0].address: missing required field",
        "$.cluster_manager.clusters[1].name: missing required field",
    ]


def test_listener_without_name_is_named_after_its_address_as_in_mosn():
    raw = minimal()
    del listener(raw)["name"]
    assert load_config_dict(raw).config.servers[0].listeners[0].name == "127.0.0.1:2045"


def test_bad_duration():
    raw = minimal()
    cluster(raw)["connect_timeout"] = "3 seconds"
    route(raw)["route"]["timeout"] = "5"
    assert sorted(errors(raw)) == sorted([
        f"{CLUSTER}.connect_timeout: invalid duration '3 seconds': expected numbers with units (ns, us, ms, s, m, h), "
        "e.g. '1m30s'",
        f"{ROUTE}.route.timeout: invalid duration '5': missing unit (one of ns, us, ms, s, m, h)",
    ])


def test_circuit_breaker_thresholds_paths():
    raw = minimal()
    cluster(raw)["circuit_breakers"] = [{"max_connections": -1}, {"max_requets": 1}]
    assert errors(raw) == [
        f"{CLUSTER}.circuit_breakers[0].max_connections: must be >= 0, got -1",
        f"{CLUSTER}.circuit_breakers[1].max_requets: unknown field 'max_requets' (did you mean 'max_requests'?); "
        "known: max_connections, max_pending_requests, max_requests, max_retries",
    ]


def test_duplicate_names():
    raw = minimal()
    raw["cluster_manager"]["clusters"].append(dict(cluster(raw)))
    raw["servers"][0]["listeners"].append(dict(listener(raw), address="127.0.0.1:2046"))
    raw["servers"][0]["routers"].append(dict(raw["servers"][0]["routers"][0]))
    assert sorted(errors(raw)) == sorted([
        "$.cluster_manager.clusters[1]: duplicate cluster name 'c0' (first at $.cluster_manager.clusters[0])",
        "$.servers[0].listeners[1]: duplicate listener name 'l0' (first at $.servers[0].listeners[0])",
        "$.servers[0].routers[1]: duplicate router config name 'r0' (first at $.servers[0].routers[0])",
    ])


def test_two_listeners_on_one_address():
    raw = minimal()
    raw["servers"][0]["listeners"].append(dict(listener(raw), name="l1"))
    assert errors(raw) == [f"$.servers[0].listeners[1].address: 127.0.0.1:2045 is already used by {LISTENER}.address"]


def test_missing_router_config():
    raw = minimal()
    proxy_config(raw)["router_config_name"] = "nope"
    assert warnings(raw) == [
        f"{PROXY}.router_config_name: unknown router config 'nope'; known: r0; every request on this listener "
        "gets 404 (NR), as in MOSN"]


def test_proxy_config_errors_have_nested_paths():
    raw = minimal()
    proxy_config(raw).update(router_config_nam="r0", downstream_protocol="Auto", upstream_protocol="Http3",
                             max_request_bytes="big")
    del proxy_config(raw)["router_config_name"]
    found = errors(raw)
    # the known list grows with every proxy option; the point is the path and the suggestion
    assert found[0].startswith(f"{PROXY}.router_config_nam: unknown field 'router_config_nam' (did you mean "
                               "'router_config_name'?); known: downstream_protocol, ")
    assert found[1:] == [f"{PROXY}.max_request_bytes: expected int, got str"]
    proxy_config(raw).update(router_config_name="r0", max_request_bytes=0)
    del proxy_config(raw)["router_config_nam"]
    assert errors(raw) == [
        f"{PROXY}.upstream_protocol: upstream protocol 'Http3' is not implemented by pymosn yet; known: Http1, "
        "Http2, Auto, X, bolt, boltv2, dubbo, x_example",
    ]


def test_rpc_protocols_in_mosn_shapes():
    raw = minimal()
    proxy_config(raw).update(downstream_protocol="X", upstream_protocol="X", extend_config={"sub_protocol": "Bolt"})
    config = load_config_dict(raw).config
    proxy = config.servers[0].listeners[0].filter_chains[0].filters[0].config
    assert (proxy.downstream_protocol, proxy.upstream_protocol) == ("bolt", "bolt")
    proxy_config(raw).update(downstream_protocol="dubbo", upstream_protocol="dubbo", extend_config={})
    load_config_dict(raw)
    proxy_config(raw).update(downstream_protocol="Auto", upstream_protocol="Auto")
    load_config_dict(raw)
    proxy_config(raw).update(downstream_protocol="X", upstream_protocol="X", extend_config={"sub_protocol": "thrift"})
    assert errors(raw) == [f"{PROXY}.extend_config.sub_protocol: unknown X-Protocol sub_protocol 'thrift'; known: "
                           "bolt, boltv2, dubbo, x_example"]
    proxy_config(raw).update(extend_config={})
    assert errors(raw) == [f"{PROXY}.extend_config.sub_protocol: protocol X needs extend_config.sub_protocol naming "
                           "one of: bolt, boltv2, dubbo, x_example"]
    proxy_config(raw).update(downstream_protocol="bolt", upstream_protocol="Http1")
    assert errors(raw) == [f"{PROXY}.upstream_protocol: converting bolt to Http1 is not supported; use the same "
                           "protocol on both sides"]


def test_empty_router_config_name_in_proxy():
    raw = minimal()
    proxy_config(raw)["router_config_name"] = ""
    assert errors(raw) == [f"{PROXY}.router_config_name: must not be empty"]


def test_unknown_network_filter():
    raw = minimal()
    listener(raw)["filter_chains"][0]["filters"][0]["type"] = "udp_proxy"
    listener(raw)["filter_chains"][0]["filters"].append({"type": "proxyy"})
    assert errors(raw) == [
        f"{LISTENER}.filter_chains[0].filters[0].type: network filter 'udp_proxy' is not implemented by pymosn yet; "
        "known: proxy, rbac, tcp_proxy",
        f"{LISTENER}.filter_chains[0].filters[1].type: unknown network filter 'proxyy'; known: proxy, rbac, tcp_proxy",
    ]


def test_missing_clusters_in_routes():
    raw = minimal()
    route(raw)["route"]["cluster_name"] = "nope"
    raw["servers"][0]["routers"][0]["virtual_hosts"][0]["routers"].append({"route": {"weighted_clusters": [
        {"cluster": {"name": "c0", "weight": 90}}, {"cluster": {"name": "gone", "weight": 10}}]}})
    assert errors(raw) == [
        f"{ROUTE}.route.cluster_name: unknown cluster 'nope'; known: c0",
        f"{VHOST}.routers[1].route.weighted_clusters[1].cluster.name: unknown cluster 'gone'; known: c0",
    ]


@pytest.mark.parametrize(
    ("actions", "found"),
    [
        ({}, "none"),
        ({"route": {"cluster_name": "c0"}, "direct_response": {"status": 200}}, "route, direct_response"),
        ({"direct_response": {"status": 200}, "redirect": {"path_redirect": "/x"}}, "direct_response, redirect"),
    ],
)
def test_route_needs_exactly_one_action(actions, found):
    raw = minimal()
    route(raw).pop("route")
    route(raw).update(actions)
    assert errors(raw) == [f"{ROUTE}: a route needs exactly one of route, direct_response, redirect; found {found}"]


def test_route_action_needs_one_cluster_choice():
    raw = minimal()
    route(raw)["route"] = {"cluster_name": "c0", "cluster_header": "x-cluster"}
    raw["servers"][0]["routers"][0]["virtual_hosts"][0]["routers"].append({"route": {"timeout": "1s"}})
    assert errors(raw) == [
        f"{ROUTE}.route: set only one of cluster_name, cluster_header, weighted_clusters; found cluster_name, "
        "cluster_header",
        f"{VHOST}.routers[1].route: a route action needs one of cluster_name, cluster_header, weighted_clusters",
    ]


def test_match_kinds_and_regexes():
    raw = minimal()
    route(raw)["match"] = {"prefix": "/", "path": "/x", "headers": [{"name": "x-v", "value": "(", "regex": True}]}
    raw["servers"][0]["routers"][0]["virtual_hosts"][0]["routers"].append(
        {"match": {"regex": "/a[", "query_parameters": [{"name": "", "value": "*", "regex": True}]},
         "direct_response": {"status": 200}})
    assert errors(raw) == [
        f"{ROUTE}.match.headers[0].value: invalid regex '(': missing ), unterminated subpattern at position 0",
        f"{ROUTE}.match: set at most one of prefix, path, regex; found prefix, path",
        f"{VHOST}.routers[1].match.query_parameters[0].name: must not be empty",
        f"{VHOST}.routers[1].match.query_parameters[0].value: invalid regex '*': nothing to repeat at position 0",
        f"{VHOST}.routers[1].match.regex: invalid regex '/a[': unterminated character set at position 2",
    ]


def test_weights_below_one():
    raw = minimal()
    cluster(raw)["hosts"][0]["weight"] = 0
    route(raw)["route"] = {"weighted_clusters": [{"cluster": {"name": "c0", "weight": 0}}]}
    assert errors(raw) == [
        f"{ROUTE}.route.weighted_clusters[0].cluster.weight: must be >= 1, got 0",
        f"{CLUSTER}.hosts[0].weight: must be >= 1, got 0",
    ]


def test_redirect_and_direct_response_codes():
    raw = minimal()
    route(raw).pop("route")
    route(raw)["redirect"] = {"response_code": 300, "path_redirect": "/new"}
    raw["servers"][0]["routers"][0]["virtual_hosts"][0]["routers"].append({"direct_response": {"status": 600}})
    assert errors(raw) == [
        f"{ROUTE}.redirect.response_code: must be one of 301, 302, 303, 307, 308, got 300",
        f"{VHOST}.routers[1].direct_response.status: HTTP status must be 100..599, got 600",
    ]


def test_retry_status_codes():
    raw = minimal()
    route(raw)["route"]["retry_policy"] = {"status_codes": [503, 42]}
    assert errors(raw) == [f"{ROUTE}.route.retry_policy.status_codes[1]: HTTP status must be 100..599, got 42"]


def test_duplicate_domains_across_virtual_hosts():
    raw = minimal()
    raw["servers"][0]["routers"][0]["virtual_hosts"].append({"name": "vh1", "domains": ["a.com", "*"]})
    assert errors(raw) == [f"$.servers[0].routers[0].virtual_hosts[1].domains[1]: domain '*' is already served by {VHOST}"]


def test_only_one_server_and_filter_chains_with_distinct_matches():
    raw = minimal()
    listener(raw)["filter_chains"].append({"filters": []})
    raw["servers"].append({})
    assert errors(raw) == [
        f"{LISTENER}.filter_chains[1]: matches the same connections as {LISTENER}.filter_chains[0]; each "
        "connection must have one most specific filter chain",
        "$.servers[1]: only one server is supported (as in MOSN)",
    ]


def test_unknown_log_level():
    raw = minimal()
    raw["servers"][0]["default_log_level"] = "LOUD"
    assert errors(raw) == ["$.servers[0].default_log_level: unknown value 'LOUD'; known: CRITICAL, DEBUG, ERROR, "
                           "FATAL, INFO, TRACE, WARN, WARNING"]


def test_many_errors_are_reported_at_once():
    raw = sample()
    raw["cluster_manager"]["clusters"][0]["lb_type"] = "LB_RANDON"
    raw["cluster_manager"]["clusters"][1]["hosts"][0]["address"] = "nohost"
    raw["servers"][0]["listeners"][1]["address"] = "abc"
    raw["servers"][0]["routers"][0]["virtual_hosts"][0]["routers"][0]["route"]["cluster_name"] = "gone"
    raw["servers"][0]["routers"][2]["virtual_hosts"][0]["routers"][0]["direct_response"]["status"] = 99
    raw["admin"]["address"]["socket_address"]["port_value"] = "34901"
    raw["servers"][0]["default_log_path"] = 1
    paths = [issue.split(": ", 1)[0] for issue in errors(raw)]
    assert sorted(paths) == sorted([
        "$.cluster_manager.clusters[0].lb_type",
        "$.cluster_manager.clusters[1].hosts[0].address",
        "$.servers[0].listeners[1].address",
        "$.servers[0].routers[0].virtual_hosts[0].routers[0].route.cluster_name",
        "$.servers[0].routers[2].virtual_hosts[0].routers[0].direct_response.status",
        "$.admin.address.socket_address.port_value",
        "$.servers[0].default_log_path",
    ])


def test_empty_route_next_to_direct_response_is_no_action_as_in_mosn_dumps():
    raw = minimal()
    route(raw).update(route={"timeout": "0s"}, direct_response={"status": 204})
    entry = load_config_dict(raw).config.servers[0].routers[0].virtual_hosts[0].routers[0]
    assert entry.route is None
    assert entry.direct_response.status == 204


def test_references_are_checked_even_when_a_top_level_section_is_broken():
    raw = minimal()
    raw["admin"] = "127.0.0.1:34901"
    route(raw)["route"]["cluster_name"] = "gone"
    assert errors(raw) == [
        "$.admin: expected object, got str",
        f"{ROUTE}.route.cluster_name: unknown cluster 'gone'; known: c0",
    ]


def test_original_dst_listener_and_cluster():
    raw = minimal()
    listener(raw)["use_original_dst"] = True
    cluster(raw).update(type="ORIGINAL_DST", hosts=[])
    config = load_config_dict(raw).config
    assert config.servers[0].listeners[0].use_original_dst == "redirect"
    assert config.cluster_manager.clusters[0].lb_type == "LB_ORIGINAL_DST"
    listener(raw)["use_original_dst"] = "nat"
    cluster(raw)["hosts"] = [{"address": "127.0.0.1:1"}]
    assert errors(raw) == [
        "$.servers[0].listeners[0].use_original_dst: must be redirect or tproxy, got 'nat'",
        f"{CLUSTER}.hosts: an ORIGINAL_DST cluster takes its hosts from each connection's original destination; "
        "it lists none",
    ]


def test_mosn_original_dst_listener_filter():
    raw = minimal()
    listener(raw)["listener_filters"] = [{"type": "original_dst", "config": {"type": "tproxy"}}, {"type": "tls_inspector"}]
    result = load_config_dict(raw)
    assert result.config.servers[0].listeners[0].use_original_dst == "tproxy"
    assert [str(w) for w in result.warnings] == [
        "$.servers[0].listeners[0].listener_filters[1]: listener filter 'tls_inspector' is Envoy's; MOSN's "
        "equivalent is the listener's inspector: true; ignored"]
    listener(raw)["listener_filters"] = [{"type": "original_dst"}]
    assert load_config_dict(raw).config.servers[0].listeners[0].use_original_dst == "redirect"
