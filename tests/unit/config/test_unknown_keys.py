"""Keys MOSN knows but pymosn ignores are warnings; keys nobody knows are errors with a suggestion."""

import pytest

from pymosn.config.loader import load_config_dict

from .configs import cluster, errors, listener, minimal, route, warnings

IGNORED = "accepted by MOSN but not implemented by pymosn yet; ignored"


def test_mosn_keys_pymosn_ignores_are_warnings_naming_the_path():
    raw = minimal()
    cluster(raw)["lb_subset_config"] = {"fall_back_policy": 1}
    cluster(raw)["dns_resolvers"] = {"servers": ["8.8.8.8"]}
    cluster(raw)["spec"] = {"subscribe": [{"service_name": "x"}]}
    listener(raw).update(inspector=True, type="ingress")
    route(raw)["route"].update(hash_policy=[{"header": {"key": "x"}}], regex_rewrite={"substitution": "/"})
    route(raw)["metadata"] = {"filter_metadata": {"mosn.lb": {"label": "gray"}}}
    raw["servers"][0].update(graceful_timeout="30s", processor=4)
    raw.update(tracing={"enable": True}, metrics={"sinks": []}, pprof={"debug": True})
    result = load_config_dict(raw)
    r = "$.servers[0].routers[0].virtual_hosts[0].routers[0]"
    assert sorted(str(issue) for issue in result.warnings) == sorted(f"{path}: {IGNORED}" for path in [
        "$.cluster_manager.clusters[0].lb_subset_config",
        "$.cluster_manager.clusters[0].dns_resolvers",
        "$.cluster_manager.clusters[0].spec",
        "$.servers[0].listeners[0].type",
        f"{r}.route.hash_policy",
        f"{r}.route.regex_rewrite",
        f"{r}.metadata",
        "$.servers[0].graceful_timeout",
        "$.servers[0].processor",
        "$.tracing",
        "$.metrics",
        "$.pprof",
    ])


def test_explicitly_disabled_mosn_keys_need_no_warning():
    raw = minimal()
    listener(raw).update(inspector=False, reuseport=False, network="tcp")
    cluster(raw)["health_check"] = {}
    assert warnings(raw) == []


def test_stream_filters_warn_per_filter_with_their_type():
    raw = minimal()
    listener(raw)["stream_filters"] = [{"type": "fault", "config": {}}, {"type": "gzip"}, {"type": "grpc_metric"}]
    assert warnings(raw) == [
        "$.servers[0].listeners[0].stream_filters[1]: stream filter 'gzip' is not implemented by pymosn yet; ignored",
        "$.servers[0].listeners[0].stream_filters[2]: stream filter 'grpc_metric' is not implemented by pymosn yet; "
        "ignored",
    ]


def test_typos_are_errors_with_a_suggestion_and_the_known_fields():
    raw = minimal()
    cluster(raw)["lb_typ"] = "LB_RANDOM"
    raw["servers"][0]["listener"] = []
    raw["cluster_manger"] = {}
    found = errors(raw)
    assert found[0] == ("$.servers[0].listener: unknown field 'listener' (did you mean 'listeners'?); known: "
                        "default_log_level, default_log_path, listeners, mosn_server_name, routers")
    # the cluster's known list grows with every feature; the point is the suggestion and the list
    prefix = "$.cluster_manager.clusters[0].lb_typ: unknown field 'lb_typ' (did you mean 'lb_type'?); known: "
    assert found[1].startswith(prefix)
    known = found[1][len(prefix):].split(", ")
    assert known == sorted(known) and {"lb_type", "hosts", "circuit_breakers", "health_check"} <= set(known)
    assert found[2:] == ["$.cluster_manger: unknown field 'cluster_manger' (did you mean 'cluster_manager'?); "
                         "known: admin, cluster_manager, servers"]


def test_typo_of_a_mosn_only_key_suggests_it():
    raw = minimal()
    cluster(raw)["health_chek"] = {}
    (error,) = errors(raw)
    assert error.startswith("$.cluster_manager.clusters[0].health_chek: unknown field 'health_chek' "
                            "(did you mean 'health_check'?)")


def test_nonsense_key_has_no_suggestion():
    raw = minimal()
    raw["zzz"] = 1
    assert errors(raw) == ["$.zzz: unknown field 'zzz'; known: admin, cluster_manager, servers"]


@pytest.mark.parametrize(
    ("where", "key"),
    [("listener", "tls_context"), ("listener", "tls_context_set"), ("cluster", "tls_context")],
)
def test_tls_files_that_do_not_exist_are_errors_with_paths(where, key):
    raw = minimal()
    context = {"status": True, "cert_chain": "/nonexistent/cert.pem", "private_key": "/nonexistent/key.pem"}
    if where == "listener":
        listener(raw)["filter_chains"][0][key] = [context] if key == "tls_context_set" else context
        path = f"$.servers[0].listeners[0].filter_chains[0].{key}" + ("[0]" if key == "tls_context_set" else "")
    else:
        cluster(raw)[key] = context
        path = f"$.cluster_manager.clusters[0].{key}"
    assert errors(raw) == [
        f"{path}.cert_chain: not inline PEM and not a readable file: '/nonexistent/cert.pem'",
        f"{path}.private_key: not inline PEM and not a readable file: '/nonexistent/key.pem'",
    ]


def test_cluster_manager_wide_tls_is_still_refused():
    raw = minimal()
    raw["cluster_manager"]["tls_context"] = {"status": True, "ca_cert": "x"}
    assert errors(raw) == [
        "$.cluster_manager.tls_context: TLS shared by the clusters that set cluster_manager_tls is not implemented "
        "by pymosn yet (give each cluster its own tls_context); refusing to run without the TLS asked for"
    ]
    raw["cluster_manager"]["tls_context"] = {"status": False, "ca_cert": "x"}
    assert warnings(raw) == [f"$.cluster_manager.tls_context: {IGNORED}"]


def test_disabled_tls_context_is_accepted():
    raw = minimal()
    cluster(raw)["tls_context"] = {"status": False, "server_name": "x"}
    assert warnings(raw) == []  # and no ConfigError


def test_match_variables_would_widen_the_route_so_they_are_errors():
    raw = minimal()
    route(raw)["match"]["variables"] = [{"name": "x-mosn-host", "value": "a"}]
    (error,) = errors(raw)
    assert error.startswith("$.servers[0].routers[0].virtual_hosts[0].routers[0].match.variables: not implemented")


def test_non_tcp_listener_network_is_an_error():
    raw = minimal()
    listener(raw)["network"] = "udp"
    assert errors(raw) == ["$.servers[0].listeners[0].network: network 'udp' is not implemented by pymosn yet; "
                           "known: tcp"]


def test_route_upstream_protocol_is_checked_and_ignored():
    raw = minimal()
    route(raw)["route"]["upstream_protocol"] = "Http3"
    assert errors(raw) == ["$.servers[0].routers[0].virtual_hosts[0].routers[0].route.upstream_protocol: upstream "
                           "protocol 'Http3' is not implemented by pymosn yet; known: Http1, Http2, Auto, X, bolt, "
                           "boltv2, dubbo, x_example"]
    for value in ("HTTP1", "Http2"):
        route(raw)["route"]["upstream_protocol"] = value
        assert warnings(raw) == ["$.servers[0].routers[0].virtual_hosts[0].routers[0].route.upstream_protocol: "
                                 f"{IGNORED}: the proxy filter's (or the cluster's) upstream protocol is used"]


def test_proxy_config_mosn_keys_warn_with_nested_path():
    raw = minimal()
    listener(raw)["filter_chains"][0]["filters"][0]["config"]["concurrency_num"] = 4
    assert warnings(raw) == [
        f"$.servers[0].listeners[0].filter_chains[0].filters[0].config.concurrency_num: {IGNORED}"]


def test_keys_match_case_insensitively_as_in_go():
    raw = minimal()
    cluster(raw)["Name"] = cluster(raw).pop("name")
    cluster(raw)["Lb_Subset_Config"] = {"fall_back_policy": 1}
    cluster(raw)["Health_Check"] = {"protocol": "Http1"}
    result = load_config_dict(raw)
    assert result.config.cluster_manager.clusters[0].name == "c0"
    assert result.config.cluster_manager.clusters[0].health_check.protocol == "Http1"
    assert [str(w) for w in result.warnings] == [f"$.cluster_manager.clusters[0].Lb_Subset_Config: {IGNORED}"]


def test_legacy_listener_log_path_from_mosn_samples_is_a_warning():
    raw = minimal()
    listener(raw)["log_path"] = "stdout"
    assert warnings(raw) == [
        "$.servers[0].listeners[0].log_path: ignored by MOSN too (left over from older MOSN configs); ignored"]
