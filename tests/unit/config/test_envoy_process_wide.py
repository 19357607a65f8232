"""The Bootstrap's process-wide fields (the ones Istio's bootstraps set beside static_resources):
validated as Envoy 1.40 validates them, refused where ignoring them would drop a limit or what a
management server sends, warned about where only a feature is lost."""

from __future__ import annotations

import pytest

from pymosn.config.loader import load_config_dict
from tests.support.envoy_bootstraps import bootstrap, errors, warnings

LIMIT_MONITOR = {"name": "envoy.resource_monitors.global_downstream_max_connections", "typed_config": {
    "@type": "type.googleapis.com/envoy.extensions.resource_monitors.downstream_connections.v3."
             "DownstreamConnectionsConfig", "max_active_downstream_connections": 20000}}
HEAP_MONITOR = {"name": "envoy.resource_monitors.fixed_heap", "typed_config": {
    "@type": "type.googleapis.com/envoy.extensions.resource_monitors.fixed_heap.v3.FixedHeapConfig",
    "max_heap_size_bytes": 1 << 30}}


@pytest.mark.parametrize("fields", [
    {"stats_flush_interval": "10s"}, {"stats_flush_interval": "0.001s"}, {"statsFlushInterval": "299.999s"},
    {"stats_flush_on_admin": True}, {"stats_eviction_interval": "10s"},
    {"stats_flush_interval": "10s", "stats_eviction_interval": "20s"},
    {"stats_flush_interval": "0.25s", "stats_eviction_interval": "0.5s"},
    {"stats_flush_on_admin": True, "stats_eviction_interval": "15s"},
])
def test_stats_flush_fields_istio_sets_load_silently(fields):
    assert warnings(bootstrap(**fields)) == []


@pytest.mark.parametrize(("fields", "message"), [
    ({"stats_flush_interval": "0s"}, "$.stats_flush_interval: must be at least 1ms and less than 300s, got '0s'"),
    ({"stats_flush_interval": "300s"}, "$.stats_flush_interval: must be at least 1ms and less than 300s, got '300s'"),
    ({"stats_flush_on_admin": False}, "$.stats_flush_on_admin: must be true when set (leave it out to flush every "
                                      "stats_flush_interval), got False"),
    ({"stats_flush_on_admin": True, "stats_flush_interval": "10s"},
     "$: set only one of stats_flush_interval, stats_flush_on_admin"),
    ({"stats_eviction_interval": "7s"},
     "$.stats_eviction_interval: must be a multiple of stats_flush_interval (5s, its default)"),
    ({"stats_flush_interval": "10s", "stats_eviction_interval": "15s"},
     "$.stats_eviction_interval: must be a multiple of stats_flush_interval (10s)"),
    ({"stats_eviction_interval": "0.0005s"}, "$.stats_eviction_interval: must be at least 1ms, got '0.0005s'"),
])
def test_stats_flush_fields_are_checked_as_envoy_checks_them(fields, message):
    assert errors(bootstrap(**fields)) == [message]


def test_dynamic_resources_are_refused_naming_the_xds_sources():
    xds = {"lds_config": {"ads": {}}, "cds_config": {"ads": {}}, "ads_config": {
        "api_type": "GRPC", "grpc_services": [{"envoy_grpc": {"cluster_name": "app"}}]}}
    assert errors(bootstrap(dynamic_resources=xds)) == [
        "$.dynamic_resources: not implemented by pymosn yet: xDS dynamic_resources (ads_config, lds_config, "
        "cds_config); pymosn serves static_resources only, so it would serve none of what the management server "
        "sends"]


def test_a_global_connection_limit_is_refused_other_monitors_warn():
    assert errors(bootstrap(overload_manager={"resource_monitors": [HEAP_MONITOR, LIMIT_MONITOR]})) == [
        "$.overload_manager.resource_monitors[1]: envoy.resource_monitors.global_downstream_max_connections is "
        "not implemented by pymosn yet; refusing to run without the connection limit it sets"]
    assert warnings(bootstrap(overload_manager={"refresh_interval": "1s", "resource_monitors": [HEAP_MONITOR]})) == [
        "$.overload_manager.resource_monitors[0]: overload resource monitors are not implemented by pymosn yet; "
        "ignored",
        "$.overload_manager.refresh_interval: not implemented by pymosn yet; ignored"]


def test_overload_actions_are_refused():
    action = {"name": "envoy.overload_actions.stop_accepting_requests", "triggers": [
        {"name": "envoy.resource_monitors.fixed_heap", "threshold": {"value": 0.95}}]}
    assert errors(bootstrap(overload_manager={"resource_monitors": [HEAP_MONITOR], "actions": [action]})) == [
        "$.overload_manager.actions: not implemented by pymosn yet; ignoring it would skip the load shedding it "
        "configures"]


def test_runtime_connection_limits_are_refused_other_runtime_keys_warn():
    layers = [{"name": "global config", "static_layer": {
        "overload.global_downstream_max_connections": "5000",
        "envoy": {"resource_limits": {"listener": {"l0": {"connection_limit": 10}, "other": {"connection_limit": 1}}}},
        "re2.max_program_size.error_level": "32768"}}, {"name": "admin", "admin_layer": {}}]
    assert errors(bootstrap(layered_runtime={"layers": layers})) == [
        "$.layered_runtime.layers[0].static_layer: runtime key 'overload.global_downstream_max_connections' sets a "
        "connection limit, which is not implemented by pymosn yet; refusing to run without it",
        "$.layered_runtime.layers[0].static_layer: runtime key 'envoy.resource_limits.listener.l0.connection_limit' "
        "sets a connection limit, which is not implemented by pymosn yet; refusing to run without it"]
    layers[0]["static_layer"] = {"re2.max_program_size.error_level": "32768"}
    assert warnings(bootstrap(layered_runtime={"layers": layers})) == [
        "$.layered_runtime.layers[0].static_layer: runtime overrides of Envoy's behaviour are not implemented by "
        "pymosn yet; ignored"]


def test_istio_bootstrap_fields_without_effect_load_with_warnings_for_what_is_lost():
    raw = bootstrap(
        node={"id": "sidecar~10.0.0.1~pod.ns~ns.svc.cluster.local", "metadata": {"ISTIO_VERSION": "1.24"}},
        deferred_stat_options={"enable_deferred_creation_stats": True},
        cluster_manager={"outlier_detection": {"event_log_path": "/dev/stdout"}},
        application_log_config={"log_format": {"text_format": "%v"}},
        stats_config={"use_all_default_tags": False})
    result = load_config_dict(raw)
    assert sorted(issue.path for issue in result.warnings) == [
        "$.application_log_config", "$.cluster_manager.outlier_detection", "$.stats_config"]


@pytest.mark.parametrize(("fields", "message"), [
    ({"runtime": {"symlink_root": "/srv"}}, "$.runtime: 'runtime' is the v2 API; v3 uses layered_runtime"),
    ({"listeners": []}, "$.listeners: 'listeners' is the v1 API; v3 uses static_resources.listeners"),
    ({"cluster_manager": {"clusters": []}},
     "$.cluster_manager.clusters: 'clusters' is the v1 API; v3 uses static_resources.clusters"),
])
def test_fields_of_older_apis_are_named_as_such(fields, message):
    assert errors(bootstrap(**fields)) == [message]


def test_an_envoy_v1_config_is_told_apart_from_a_mosn_one():
    v1 = {"listeners": [{"address": "tcp://127.0.0.1:10000", "filters": []}],
          "cluster_manager": {"clusters": [{"name": "c", "type": "static", "hosts": [{"url": "tcp://1.2.3.4:80"}]}]}}
    assert [e.split(": ")[0] for e in errors(v1)] == ["$.listeners", "$.cluster_manager.clusters"]
