"""Request mirroring in both config shapes: MOSN's route `request_mirror_policies` and `mirror`
stream filter, Envoy's RouteAction/VirtualHost/RouteConfiguration request_mirror_policies;
every problem named with its path, the unsupported refused."""

from __future__ import annotations

from pymosn.config import model
from pymosn.config.loader import config_to_builtins, load_config_dict
from pymosn.config.mirror_rules import mirror_copies
from tests.support import envoy_bootstraps as envoy
from tests.unit.config.configs import cluster, errors, listener, minimal, route, warnings

R = "$.servers[0].routers[0].virtual_hosts[0].routers[0]"
F = "$.servers[0].listeners[0].stream_filters[0]"


def mirrored(policy: object, amplification: object = 1, **filter_config) -> dict:
    """The minimal config, its route mirrored to a second cluster `m` by a listener with the filter."""
    raw = minimal()
    raw["cluster_manager"]["clusters"].append({**cluster(raw), "name": "m"})
    route(raw)["request_mirror_policies"] = policy
    listener(raw)["stream_filters"] = [{"type": "mirror", "config": {"amplification": amplification, **filter_config}}]
    return raw


def policies(config: model.Config) -> tuple[model.MirrorPolicy, ...]:
    return config.servers[0].routers[0].virtual_hosts[0].routers[0].request_mirror_policies


# --- MOSN ----------------------------------------------------------------------------------------


def test_mosn_policy_object_and_filter_load_and_dump_back():
    loaded = load_config_dict(mirrored({"cluster": "m", "percent": 30}, amplification=3))
    assert loaded.warnings == []
    assert policies(loaded.config) == (model.MirrorPolicy(cluster="m", percent=30),)
    assert mirror_copies(loaded.config.servers[0].listeners[0].stream_filters) == 3
    again = load_config_dict(config_to_builtins(loaded.config)).config
    assert policies(again) == policies(loaded.config)


def test_a_list_of_policies_is_taken_too():
    raw = mirrored([{"cluster": "m", "percent": 1, "denominator": 10_000, "host_suffix": "-shadow"},
                    {"cluster_header": "x-to", "percent": 100}])
    assert [p.cluster or p.cluster_header for p in policies(load_config_dict(raw).config)] == ["m", "x-to"]


def test_mosn_amplification_may_be_written_as_a_float_and_defaults_to_one():
    raw = mirrored({"cluster": "m", "percent": 100}, amplification=2.0)
    assert mirror_copies(load_config_dict(raw).config.servers[0].listeners[0].stream_filters) == 2
    raw = mirrored({"cluster": "m", "percent": 100})
    listener(raw)["stream_filters"][0]["config"] = {}
    assert mirror_copies(load_config_dict(raw).config.servers[0].listeners[0].stream_filters) == 1


def test_policy_errors_name_their_paths():
    assert errors(mirrored({"cluster": "m", "cluster_header": "x", "percent": 5})) == [
        f"{R}.request_mirror_policies: a mirror policy needs exactly one of cluster, cluster_header"]
    assert errors(mirrored({"percent": 5})) == [
        f"{R}.request_mirror_policies: a mirror policy needs exactly one of cluster, cluster_header"]
    assert errors(mirrored([{"cluster": "m", "denominator": 1000}])) == [
        f"{R}.request_mirror_policies[0].denominator: must be one of 100, 10000, 1000000, got 1000"]
    assert errors(mirrored({"cluster": "nope", "percent": 5})) == [
        f"{R}.request_mirror_policies.cluster: unknown cluster 'nope'; known: c0, m"]
    assert errors(mirrored({"cluster": "m", "percent": -1})) == [f"{R}.request_mirror_policies.percent: must be >= 0, got -1"]
    (unknown,) = errors(mirrored({"cluster": "m", "percentage": 5}))
    assert unknown.startswith(f"{R}.request_mirror_policies.percentage: unknown field 'percentage' (did you mean 'percent'?)")


def test_mirror_filter_errors_name_their_paths():
    assert errors(mirrored({"cluster": "m", "percent": 5}, amplification=0)) == [
        f"{F}.config.amplification: must be a whole number >= 1 (copies of each sampled request), got 0"]
    assert errors(mirrored({"cluster": "m", "percent": 5}, amplification="10")) == [
        f"{F}.config.amplification: must be a whole number >= 1 (copies of each sampled request), got '10'"]
    assert errors(mirrored({"cluster": "m", "percent": 5}, copies=2)) == [
        f"{F}.config.copies: unknown field 'copies'; known: amplification, broadcast"]


def test_mosn_broadcast_is_refused_as_it_would_change_the_answer():
    (error,) = errors(mirrored({"cluster": "m", "percent": 5}, broadcast=True))
    assert error.startswith(f"{F}.config.broadcast: not implemented by pymosn yet; ignoring it would forward requests")
    assert warnings(mirrored({"cluster": "m", "percent": 5}, broadcast=False)) == []


def test_what_copies_nothing_is_told():
    raw = mirrored({"cluster": "m", "percent": 5, "trace_sampled": True})
    assert warnings(raw) == [f"{R}.request_mirror_policies.trace_sampled: accepted by MOSN but not implemented by "
                             "pymosn yet; ignored"]
    del listener(raw)["stream_filters"]
    assert f"{R}.request_mirror_policies: no listener routing by 'r0' has the mirror stream filter, which does the " \
           "copying (as in MOSN); no requests are copied" in warnings(raw)
    raw = mirrored({"cluster": "m", "percent": 5})
    route(raw)["direct_response"] = {"status": 200}
    del route(raw)["route"]
    assert f"{R}.request_mirror_policies: only a route to a cluster forwards requests to copy; ignored" in warnings(raw)


def test_a_mirror_filter_on_an_rpc_listener_is_told_it_copies_only_http():
    raw = mirrored({"cluster": "m", "percent": 5})
    listener(raw)["filter_chains"][0]["filters"][0]["config"].update(downstream_protocol="bolt", upstream_protocol="bolt")
    route(raw)["match"] = {"headers": [{"name": "service", "value": "s"}]}
    assert warnings(raw) == [f"{F}: bolt requests are not mirrored by pymosn yet (HTTP requests are); ignored for them"]


# --- Envoy ---------------------------------------------------------------------------------------

ER0 = envoy.R0


def envoy_mirrored(*policy_list: dict, **vhost_fields) -> dict:
    raw = envoy.with_route({"match": {"prefix": "/"}, "route": {"cluster": "app", "request_mirror_policies": list(policy_list)}})
    raw["static_resources"]["clusters"].append(envoy.cluster("copy"))
    raw["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]["route_config"][
        "virtual_hosts"][0].update(vhost_fields)
    return raw


def test_envoy_policy_defaults_are_written_out():
    config = envoy.load(envoy_mirrored({"cluster": "copy"}))
    assert policies(config) == (model.MirrorPolicy(cluster="copy", percent=100, host_suffix="-shadow"),)
    # Envoy's router mirrors wherever a route says so: the proxy filter gets MOSN's mirror filter
    proxy = envoy.first_listener(config).filter_chains[0].filters[0].config
    assert [f.type for f in proxy.stream_filters] == ["mirror"] and mirror_copies(proxy.stream_filters) == 1
    plain = envoy.first_listener(envoy.load(envoy.bootstrap())).filter_chains[0].filters[0].config
    assert plain.stream_filters == ()


def test_envoy_mirror_filter_joins_the_managers_http_filters():
    raw = envoy_mirrored({"cluster": "copy"})
    manager = raw["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    manager["http_filters"].insert(0, envoy.typed("envoy.filters.http.fault", "envoy.extensions.filters.http.fault.v3.HTTPFault"))
    loaded = load_config_dict(raw)
    proxy = loaded.config.servers[0].listeners[0].filter_chains[0].filters[0].config
    assert [f.type for f in proxy.stream_filters] == ["fault", "mirror"] and loaded.warnings == []


def test_envoy_fractions_header_clusters_and_the_suffix_switch():
    config = envoy.load(envoy_mirrored(
        {"cluster": "copy", "runtime_fraction": {"default_value": {"numerator": 25, "denominator": "TEN_THOUSAND"},
                                                 "runtime_key": "mirror.copy"}},
        {"cluster_header": "x-mirror", "disable_shadow_host_suffix_append": True},
        {"cluster": "copy", "runtime_fraction": {"runtime_key": "k"}},
    ))
    assert policies(config) == (
        model.MirrorPolicy(cluster="copy", percent=25, denominator=10_000, host_suffix="-shadow"),
        model.MirrorPolicy(cluster_header="x-mirror", percent=100),
        model.MirrorPolicy(cluster="copy", percent=0, host_suffix="-shadow"),  # no default_value: none
    )


def test_envoy_virtual_host_and_route_configuration_policies_are_inherited_whole():
    raw = envoy.bootstrap(envoy.listener(envoy.hcm({
        "name": "rc", "request_mirror_policies": [{"cluster": "copy"}],
        "virtual_hosts": [
            {"name": "own", "domains": ["a"], "request_mirror_policies": [{"cluster": "app"}], "routes": [
                {"match": {"prefix": "/x"}, "route": {"cluster": "app", "request_mirror_policies": [
                    {"cluster": "copy", "runtime_fraction": {"default_value": {"numerator": 7}}}]}},
                {"match": {"prefix": "/"}, "route": {"cluster": "app"}},
                {"match": {"prefix": "/d"}, "direct_response": {"status": 200}},
            ]},
            {"name": "inherits", "domains": ["*"], "routes": [{"match": {"prefix": "/"}, "route": {"cluster": "app"}}]},
        ]})), clusters=[envoy.cluster("app"), envoy.cluster("copy")])
    hosts = envoy.load(raw).servers[0].routers[0].virtual_hosts
    assert [[(p.cluster, p.percent) for p in r.request_mirror_policies] for r in hosts[0].routers] == [
        [("copy", 7)], [("app", 100)], []]
    assert [(p.cluster, p.percent) for p in hosts[1].routers[0].request_mirror_policies] == [("copy", 100)]


def test_envoy_errors_and_warnings_name_envoy_paths():
    policies_path = f"{ER0}.route.request_mirror_policies[0]"
    assert envoy.errors(envoy_mirrored({"cluster": "copy", "cluster_header": "x"})) == [
        f"{policies_path}: a mirror policy needs exactly one of cluster, cluster_header"]
    assert envoy.errors(envoy_mirrored({"cluster": "nosuch"})) == [
        f"{policies_path}.cluster: unknown cluster 'nosuch'; known: app, copy"]
    assert envoy.errors(envoy_mirrored({"cluster": "copy", "runtime_key": "k"})) == [
        f"{policies_path}.runtime_key: 'runtime_key' is the v2 API; v3 uses runtime_fraction"]
    for field, value in (("request_headers_mutations", [{"remove": "x"}]), ("host_rewrite_literal", "h")):
        (error,) = envoy.errors(envoy_mirrored({"cluster": "copy", field: value}))
        assert error.startswith(f"{policies_path}.{field}: not implemented by pymosn yet; ignoring it would send copies")
    assert envoy.warnings(envoy_mirrored({"cluster": "copy", "trace_sampled": False})) == [
        f"{policies_path}.trace_sampled: pymosn does not trace requests; ignored"]
