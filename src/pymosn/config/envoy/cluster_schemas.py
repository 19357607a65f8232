"""The Envoy v3 messages of clusters pymosn reads (clusters, endpoints, health checks, upstream
protocol options), as `schemas` lists those of listeners and routes."""

from __future__ import annotations

from pymosn.config.envoy.message import Schema
from pymosn.config.envoy.schemas import V2_TLS_CONTEXT

CLUSTER = Schema(
    "envoy.config.cluster.v3.Cluster",
    "transport_socket_matches transport_socket_matcher name alt_stat_name type cluster_type eds_cluster_config "
    "connect_timeout per_connection_buffer_limit_bytes lb_policy load_assignment health_checks "
    "max_requests_per_connection circuit_breakers upstream_http_protocol_options common_http_protocol_options "
    "http_protocol_options http2_protocol_options typed_extension_protocol_options dns_refresh_rate dns_jitter "
    "dns_failure_refresh_rate respect_dns_ttl dns_lookup_family dns_resolvers use_tcp_for_dns_lookups "
    "dns_resolution_config typed_dns_resolver_config wait_for_warm_on_init outlier_detection cleanup_interval "
    "upstream_bind_config lb_subset_config ring_hash_lb_config maglev_lb_config original_dst_lb_config "
    "least_request_lb_config round_robin_lb_config common_lb_config transport_socket metadata "
    "protocol_selection upstream_connection_options close_connections_on_host_health_failure "
    "ignore_health_on_host_removal filters load_balancing_policy lrs_server lrs_report_endpoint_metrics "
    "track_timeout_budgets upstream_config track_cluster_stats preconnect_policy "
    "connection_pool_per_downstream_connection",
    unsafe={
        "transport_socket_matches": "send plaintext to hosts it gives TLS",
        "transport_socket_matcher": "send plaintext to hosts it gives TLS",
        "filters": "send upstream bytes its filters would change",
        "upstream_config": "connect to the upstream differently than configured",
    },
    inert="alt_stat_name metadata",
    removed={"hosts": ("v2", "load_assignment"), "tls_context": V2_TLS_CONTEXT,
             "extension_protocol_options": ("v2", "typed_extension_protocol_options")},
)
CLUSTER_LOAD_ASSIGNMENT = Schema(
    "envoy.config.endpoint.v3.ClusterLoadAssignment", "cluster_name endpoints named_endpoints policy",
    inert="cluster_name",
)
LOCALITY_LB_ENDPOINTS = Schema(
    "envoy.config.endpoint.v3.LocalityLbEndpoints",
    "locality metadata lb_endpoints load_balancer_endpoints leds_cluster_locality_config load_balancing_weight "
    "priority proximity",
    unsafe={
        "load_balancer_endpoints": "leave the cluster without these hosts",
        "leds_cluster_locality_config": "leave the cluster without the hosts it discovers",
    },
    inert="locality metadata",
)
LB_ENDPOINT = Schema(
    "envoy.config.endpoint.v3.LbEndpoint", "endpoint endpoint_name health_status metadata load_balancing_weight",
    unsafe={"endpoint_name": "leave the cluster without this host"},
)
ENDPOINT = Schema(
    "envoy.config.endpoint.v3.Endpoint", "address health_check_config hostname additional_addresses",
)
CIRCUIT_BREAKERS = Schema("envoy.config.cluster.v3.CircuitBreakers", "thresholds per_host_thresholds")
THRESHOLDS = Schema(
    "envoy.config.cluster.v3.CircuitBreakers.Thresholds",
    "priority max_connections max_pending_requests max_requests max_retries retry_budget track_remaining "
    "max_connection_pools",
)
ORIGINAL_DST_LB_CONFIG = Schema(
    "envoy.config.cluster.v3.Cluster.OriginalDstLbConfig",
    "use_http_header http_header_name upstream_port_override metadata_key",
    unsafe={
        "upstream_port_override": "connect to the original port instead of the one it sets",
        "metadata_key": "connect where the metadata does not point",
    },
)
HEALTH_CHECK = Schema(
    "envoy.config.core.v3.HealthCheck",
    "timeout interval initial_jitter interval_jitter interval_jitter_percent unhealthy_threshold healthy_threshold "
    "alt_port reuse_connection http_health_check tcp_health_check grpc_health_check custom_health_check "
    "no_traffic_interval no_traffic_healthy_interval unhealthy_interval unhealthy_edge_interval "
    "healthy_edge_interval event_log_path event_logger event_service always_log_health_check_failures "
    "always_log_health_check_success tls_options transport_socket_match_criteria",
)
HTTP_HEALTH_CHECK = Schema(
    "envoy.config.core.v3.HealthCheck.HttpHealthCheck",
    "host path send receive response_buffer_size request_headers_to_add request_headers_to_remove "
    "expected_statuses retriable_statuses codec_client_type service_name_matcher method",
)
TCP_HEALTH_CHECK = Schema("envoy.config.core.v3.HealthCheck.TcpHealthCheck", "send receive proxy_protocol_config")
HTTP_PROTOCOL_OPTIONS = Schema(
    "envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
    "common_http_protocol_options upstream_http_protocol_options explicit_http_config use_downstream_protocol_config "
    "auto_config http_filters header_validation_config outlier_detection request_mirror_policies hash_policy "
    "retry_policy",
)
EXPLICIT_HTTP_CONFIG = Schema(
    "envoy.extensions.upstreams.http.v3.HttpProtocolOptions.ExplicitHttpConfig",
    "http_protocol_options http2_protocol_options http3_protocol_options",
)
