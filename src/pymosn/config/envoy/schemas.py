"""The Envoy v3 messages pymosn reads: their fields (as in Envoy's .proto files) and, for
those pymosn does not implement, what ignoring them would do when that is unsafe.

A field listed here but not read by a translator is a warning ("not implemented by pymosn
yet; ignored"), or an error when it is in `unsafe`; a name not listed is an unknown field."""

from __future__ import annotations

from pymosn.config.envoy.message import Schema

_MATCH_MORE = "make this match more than it asks for"
# v2's untyped extension config; Envoy removed it, and without its type the extension is unknown
_V2_CONFIG = {"config": ("v2", "typed_config with an \"@type\" naming the extension's v3 message")}
V2_TLS_CONTEXT = ("v2", "transport_socket (envoy.transport_sockets.tls with a typed_config)")
_ACCESS = "skip the access control it configures"
_LONGER = "let requests run longer than it allows"
_PATHS = "route requests on paths it would normalize (a route meant to refuse /a would miss /b/../a)"

# --- core ------------------------------------------------------------------------------------

ADDRESS = Schema("envoy.config.core.v3.Address", "socket_address pipe envoy_internal_address")
SOCKET_ADDRESS = Schema(
    "envoy.config.core.v3.SocketAddress",
    "protocol address port_value named_port resolver_name ipv4_compat network_namespace_filepath",
)
CIDR_RANGE = Schema("envoy.config.core.v3.CidrRange", "address_prefix prefix_len")
METADATA = Schema("envoy.config.core.v3.Metadata", "filter_metadata typed_filter_metadata")
HEADER_VALUE = Schema("envoy.config.core.v3.HeaderValue", "key value raw_value")
HEADER_VALUE_OPTION = Schema("envoy.config.core.v3.HeaderValueOption", "header append append_action keep_empty_value")
DATA_SOURCE = Schema(
    "envoy.config.core.v3.DataSource", "filename inline_bytes inline_string environment_variable watched_directory"
)
TRANSPORT_SOCKET = Schema("envoy.config.core.v3.TransportSocket", "name typed_config", removed=_V2_CONFIG)
INT64_RANGE = Schema("envoy.type.v3.Int64Range", "start end")

# --- bootstrap -------------------------------------------------------------------------------

BOOTSTRAP = Schema(
    "envoy.config.bootstrap.v3.Bootstrap",
    "node node_context_params static_resources dynamic_resources cluster_manager hds_config flags_path "
    "stats_sinks deferred_stat_options stats_config watchdog watchdogs tracing layered_runtime admin "
    "overload_manager enable_dispatcher_stats header_prefix stats_server_version_override "
    "use_tcp_for_dns_lookups dns_resolution_config typed_dns_resolver_config bootstrap_extensions "
    "fatal_actions config_sources default_config_source default_socket_interface "
    "certificate_provider_instances inline_headers perf_tracing_file_path default_regex_engine "
    "xds_delegate_extension xds_config_tracker_extension listener_manager application_log_config "
    "grpc_async_client_manager_config memory_allocator_manager stats_flush_interval stats_flush_on_admin "
    "stats_eviction_interval",
    # stats are allocated when first used or up front: pymosn's are the same either way
    inert="deferred_stat_options",
    removed={"runtime": ("v2", "layered_runtime"), "listeners": ("v1", "static_resources.listeners")},
)
CLUSTER_MANAGER = Schema(
    "envoy.config.bootstrap.v3.ClusterManager",
    "local_cluster_name outlier_detection upstream_bind_config load_stats_config enable_deferred_cluster_creation",
    removed={"clusters": ("v1", "static_resources.clusters"), "sds": ("v1", "EDS clusters")},
)
OVERLOAD_MANAGER = Schema(
    "envoy.config.overload.v3.OverloadManager",
    "refresh_interval resource_monitors actions buffer_factory_config loadshed_points",
    unsafe={
        "actions": "skip the load shedding it configures",
        "loadshed_points": "skip the load shedding it configures",
    },
)
RESOURCE_MONITOR = Schema("envoy.config.overload.v3.ResourceMonitor", "name typed_config")
LAYERED_RUNTIME = Schema("envoy.config.bootstrap.v3.LayeredRuntime", "layers")
RUNTIME_LAYER = Schema(
    "envoy.config.bootstrap.v3.RuntimeLayer", "name static_layer disk_layer admin_layer rtds_layer", inert="name",
)
STATIC_RESOURCES = Schema("envoy.config.bootstrap.v3.Bootstrap.StaticResources", "listeners clusters secrets")
ADMIN = Schema(
    "envoy.config.bootstrap.v3.Admin",
    "access_log access_log_path profile_path address socket_options ignore_global_conn_limit allow_paths",
)

# --- listeners -------------------------------------------------------------------------------

LISTENER = Schema(
    "envoy.config.listener.v3.Listener",
    "name address additional_addresses stat_prefix filter_chains fcds_config filter_chain_matcher "
    "use_original_dst default_filter_chain per_connection_buffer_limit_bytes metadata deprecated_v1 "
    "drain_type listener_filters listener_filters_timeout continue_on_listener_filters_timeout "
    "transparent freebind socket_options tcp_fast_open_queue_length traffic_direction "
    "udp_listener_config api_listener connection_balance_config reuse_port enable_reuse_port access_log "
    "tcp_backlog_size max_connections_to_accept_per_socket_event bind_to_port internal_listener "
    "enable_mptcp ignore_global_conn_limit bypass_overload_manager tcp_keepalive",
    unsafe={
        "filter_chain_matcher": "serve connections with chains their matcher does not pick",
        "additional_addresses": "leave addresses the listener should serve unserved",
        "api_listener": "serve an API listener as a network one",
        "udp_listener_config": "serve a UDP listener as TCP",
        "fcds_config": "serve without the filter chains it discovers",
    },
    # pymosn's stats are named after the listener; traffic direction and metadata only inform
    # other extensions; pymosn has no global connection limit or overload manager to exempt it
    # from (both are refused where they are configured)
    inert="stat_prefix traffic_direction metadata ignore_global_conn_limit bypass_overload_manager",
)
FILTER_CHAIN = Schema(
    "envoy.config.listener.v3.FilterChain",
    "filter_chain_match filters use_proxy_proto metadata transport_socket transport_socket_connect_timeout name",
    unsafe={"use_proxy_proto": "read a PROXY protocol header as application data"},
    inert="name metadata", removed={"tls_context": V2_TLS_CONTEXT},
)
FILTER_CHAIN_MATCH = Schema(
    "envoy.config.listener.v3.FilterChainMatch",
    "destination_port prefix_ranges address_suffix suffix_len direct_source_prefix_ranges source_type "
    "source_prefix_ranges source_ports server_names transport_protocol application_protocols",
    unsafe={
        "address_suffix": _MATCH_MORE,
        "suffix_len": _MATCH_MORE,
        "direct_source_prefix_ranges": _MATCH_MORE,
        "source_type": _MATCH_MORE,
    },
)
NETWORK_FILTER = Schema("envoy.config.listener.v3.Filter", "name typed_config config_discovery", removed=_V2_CONFIG)
LISTENER_FILTER = Schema(
    "envoy.config.listener.v3.ListenerFilter", "name typed_config config_discovery filter_disabled",
    unsafe={"filter_disabled": "run the filter on connections it is disabled for"}, removed=_V2_CONFIG,
)
ORIGINAL_DST = Schema("envoy.extensions.filters.listener.original_dst.v3.OriginalDst", "")
TLS_INSPECTOR = Schema(
    "envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector",
    "enable_ja3_fingerprinting enable_ja4_fingerprinting initial_read_buffer_size",
)

# --- TLS ---------------------------------------------------------------------------------------

_TLS_COMMON_UNSAFE = {
    "tls_certificate_provider_instance": "serve without the certificate it provides",
    "tls_certificate_certificate_provider": "serve without the certificate it provides",
    "tls_certificate_certificate_provider_instance": "serve without the certificate it provides",
    "custom_tls_certificate_selector": "serve certificates it would not select",
    "combined_validation_context": "skip the peer certificate validation it configures",
    "validation_context_certificate_provider": "skip the peer certificate validation it configures",
    "validation_context_certificate_provider_instance": "skip the peer certificate validation it configures",
    "custom_handshaker": "handshake differently than configured",
}
SECRET = Schema(
    "envoy.extensions.transport_sockets.tls.v3.Secret",
    "name tls_certificate session_ticket_keys validation_context generic_secret",
)
SDS_SECRET_CONFIG = Schema("envoy.extensions.transport_sockets.tls.v3.SdsSecretConfig", "name sds_config")
COMMON_TLS_CONTEXT = Schema(
    "envoy.extensions.transport_sockets.tls.v3.CommonTlsContext",
    "tls_params tls_certificates tls_certificate_sds_secret_configs tls_certificate_provider_instance "
    "custom_tls_certificate_selector tls_certificate_certificate_provider "
    "tls_certificate_certificate_provider_instance validation_context validation_context_sds_secret_config "
    "combined_validation_context validation_context_certificate_provider "
    "validation_context_certificate_provider_instance alpn_protocols custom_handshaker key_log",
    unsafe=_TLS_COMMON_UNSAFE,
)
TLS_PARAMETERS = Schema(
    "envoy.extensions.transport_sockets.tls.v3.TlsParameters",
    "tls_minimum_protocol_version tls_maximum_protocol_version cipher_suites ecdh_curves signature_algorithms "
    "compliance_policies",
    unsafe={"compliance_policies": "allow TLS parameters the compliance policy forbids"},
)
TLS_CERTIFICATE = Schema(
    "envoy.extensions.transport_sockets.tls.v3.TlsCertificate",
    "certificate_chain private_key pkcs12 watched_directory private_key_provider password ocsp_staple "
    "signed_certificate_timestamp",
    unsafe={
        "pkcs12": "serve without the certificate it holds",
        "private_key_provider": "serve without the key it provides",
        "password": "fail to read the encrypted key",
    },
)
_PEER_CHECK = "accept peer certificates it would refuse"
CERTIFICATE_VALIDATION_CONTEXT = Schema(
    "envoy.extensions.transport_sockets.tls.v3.CertificateValidationContext",
    "trusted_ca ca_certificate_provider_instance system_root_certs watched_directory verify_certificate_spki "
    "verify_certificate_hash match_typed_subject_alt_names match_subject_alt_names "
    "require_signed_certificate_timestamp crl allow_expired_certificate trust_chain_verification "
    "custom_validator_config only_verify_leaf_cert_crl max_verify_depth",
    unsafe={
        "ca_certificate_provider_instance": _PEER_CHECK,
        "verify_certificate_spki": _PEER_CHECK,
        "verify_certificate_hash": _PEER_CHECK,
        "match_typed_subject_alt_names": _PEER_CHECK,
        "match_subject_alt_names": _PEER_CHECK,
        "require_signed_certificate_timestamp": _PEER_CHECK,
        "crl": _PEER_CHECK,
        "custom_validator_config": _PEER_CHECK,
        "only_verify_leaf_cert_crl": _PEER_CHECK,
        "max_verify_depth": _PEER_CHECK,
    },
)
DOWNSTREAM_TLS_CONTEXT = Schema(
    "envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
    "common_tls_context require_client_certificate require_sni session_ticket_keys "
    "session_ticket_keys_sds_secret_config disable_stateless_session_resumption "
    "disable_stateful_session_resumption session_timeout ocsp_staple_policy full_scan_certs_on_sni_mismatch "
    "prefer_client_ciphers",
    unsafe={"require_sni": "accept clients that send no SNI"},
)
UPSTREAM_TLS_CONTEXT = Schema(
    "envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
    "common_tls_context sni auto_host_sni auto_sni_san_validation allow_renegotiation max_session_keys "
    "enforce_rsa_key_usage",
    unsafe={"auto_sni_san_validation": _PEER_CHECK, "enforce_rsa_key_usage": _PEER_CHECK},
)

# --- HTTP connection manager and routes --------------------------------------------------------

HTTP_CONNECTION_MANAGER = Schema(
    "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
    "codec_type stat_prefix rds route_config scoped_routes http_filters add_user_agent tracing "
    "common_http_protocol_options http1_safe_max_connection_duration http_protocol_options "
    "http2_protocol_options http3_protocol_options server_name server_header_transformation "
    "scheme_header_transformation max_request_headers_kb stream_idle_timeout stream_flush_timeout "
    "request_timeout request_headers_timeout drain_timeout delayed_close_timeout access_log "
    "access_log_flush_interval flush_access_log_on_new_request access_log_options use_remote_address "
    "xff_num_trusted_hops original_ip_detection_extensions early_header_mutation_extensions "
    "internal_address_config skip_xff_append via generate_request_id preserve_external_request_id "
    "always_set_request_id_in_response forward_client_cert_details set_current_client_cert_details "
    "forward_client_cert_matcher proxy_100_continue represent_ipv4_remote_address_as_ipv4_mapped_ipv6 "
    "upgrade_configs normalize_path merge_slashes path_with_escaped_slashes_action request_id_extension "
    "local_reply_config strip_matching_host_port strip_any_host_port stream_error_on_invalid_http_message "
    "path_normalization_options strip_trailing_host_dot proxy_status_config typed_header_validation_config "
    "append_x_forwarded_port append_local_overload add_proxy_protocol_connection_state forward_proto_config",
    unsafe={
        "rds": "serve without the routes it discovers",
        "scoped_routes": "serve without the routes it discovers",
        "forward_client_cert_matcher": "forward client certificate details it would not",
        "request_timeout": "let clients take longer to send a request than it allows",
        "request_headers_timeout": "let clients take longer to send request headers than it allows",
        "normalize_path": _PATHS,
        "merge_slashes": _PATHS,
        "path_normalization_options": _PATHS,
        "typed_header_validation_config": "accept requests its header validation refuses",
        "early_header_mutation_extensions": "route requests by headers it would change first",
    },
    inert="stat_prefix", removed={"idle_timeout": ("v2", "common_http_protocol_options.idle_timeout")},
)
UPGRADE_CONFIG = Schema(
    "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager.UpgradeConfig",
    "upgrade_type filters enabled", unsafe={"filters": "tunnel upgrades without the filters it runs on them"},
)
ROUTE_UPGRADE_CONFIG = Schema("envoy.config.route.v3.RouteAction.UpgradeConfig", "upgrade_type enabled connect_config")
SET_CURRENT_CLIENT_CERT_DETAILS = Schema(
    "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager."
    "SetCurrentClientCertDetails", "subject cert chain dns uri",
)
HTTP_FILTER = Schema(
    "envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter",
    "name typed_config config_discovery is_optional disabled", removed=_V2_CONFIG,
)
FILTER_CONFIG = Schema("envoy.config.route.v3.FilterConfig", "config is_optional disabled")
ROUTER = Schema(
    "envoy.extensions.filters.http.router.v3.Router",
    "dynamic_stats start_child_span upstream_log upstream_log_options suppress_envoy_headers "
    "strict_check_headers respect_expected_rq_timeout suppress_grpc_request_failure_code_stats "
    "upstream_http_filters reject_connect_request_early_data",
)
HTTP_PROTOCOL_OPTIONS_CORE = Schema(
    "envoy.config.core.v3.HttpProtocolOptions",
    "idle_timeout max_connection_duration max_headers_count max_response_headers_kb max_stream_duration "
    "headers_with_underscores_action max_requests_per_connection",
    unsafe={
        "max_connection_duration": "keep connections open longer than it allows",
        "max_response_headers_kb": "accept larger response headers than it allows",
        "max_stream_duration": _LONGER,
        "max_requests_per_connection": "serve more requests on a connection than it allows",
    },
)
HTTP1_PROTOCOL_OPTIONS = Schema(
    "envoy.config.core.v3.Http1ProtocolOptions",
    "allow_absolute_url accept_http_10 default_host_for_http_10 header_key_format enable_trailers "
    "allow_chunked_length override_stream_error_on_invalid_http_message send_fully_qualified_url "
    "use_balsa_parser allow_custom_methods ignore_http_11_upgrade",
)
HTTP2_PROTOCOL_OPTIONS = Schema(
    "envoy.config.core.v3.Http2ProtocolOptions",
    "hpack_table_size max_concurrent_streams initial_stream_window_size initial_connection_window_size "
    "allow_connect allow_metadata max_outbound_frames max_outbound_control_frames "
    "max_consecutive_inbound_frames_with_empty_payload max_inbound_priority_frames_per_stream "
    "max_inbound_window_update_frames_per_data_frame_sent stream_error_on_invalid_http_messaging "
    "override_stream_error_on_invalid_http_message custom_settings_parameters connection_keepalive "
    "use_oghttp2_codec max_metadata_size enable_huffman_encoding",
)
ROUTE_CONFIGURATION = Schema(
    "envoy.config.route.v3.RouteConfiguration",
    "name virtual_hosts vhds internal_only_headers response_headers_to_add response_headers_to_remove "
    "request_headers_to_add request_headers_to_remove most_specific_header_mutations_wins validate_clusters "
    "max_direct_response_body_size_bytes cluster_specifier_plugins request_mirror_policies "
    "ignore_port_in_host_matching vhost_header ignore_path_parameters_in_path_matching typed_per_filter_config "
    "metadata",
    unsafe={
        "vhds": "serve without the virtual hosts it discovers",
        "internal_only_headers": "pass external requests headers meant for internal ones",
        "vhost_header": "pick virtual hosts by a different header",
    },
    inert="name metadata validate_clusters",
)
VIRTUAL_HOST = Schema(
    "envoy.config.route.v3.VirtualHost",
    "name domains routes matcher require_tls virtual_clusters rate_limits request_headers_to_add "
    "request_headers_to_remove response_headers_to_add response_headers_to_remove cors "
    "typed_per_filter_config include_request_attempt_count include_attempt_count_in_response retry_policy "
    "retry_policy_typed_config hedge_policy include_is_timeout_retry_header per_request_buffer_limit_bytes "
    "request_body_buffer_limit request_mirror_policies metadata",
    unsafe={
        "matcher": "route requests its matcher does not pick",
        "require_tls": "serve plaintext requests it requires TLS for",
    },
    inert="name metadata",
)
ROUTE = Schema(
    "envoy.config.route.v3.Route",
    "name match route redirect direct_response filter_action non_forwarding_action metadata decorator "
    "typed_per_filter_config request_headers_to_add request_headers_to_remove response_headers_to_add "
    "response_headers_to_remove tracing per_request_buffer_limit_bytes stat_prefix request_body_buffer_limit",
    unsafe={"filter_action": "route requests it hands to a filter", "non_forwarding_action": "forward requests"},
    inert="metadata stat_prefix",
)
ROUTE_MATCH = Schema(
    "envoy.config.route.v3.RouteMatch",
    "prefix path safe_regex connect_matcher path_separated_prefix path_match_policy case_sensitive "
    "runtime_fraction headers query_parameters cookies grpc tls_context dynamic_metadata filter_state",
    unsafe={name: _MATCH_MORE for name in (
        "connect_matcher", "path_match_policy", "runtime_fraction", "cookies", "grpc",
        "tls_context", "dynamic_metadata", "filter_state")},
    removed={"regex": ("v2", "safe_regex")},
)
HEADER_MATCHER = Schema(
    "envoy.config.route.v3.HeaderMatcher",
    "name exact_match safe_regex_match range_match present_match prefix_match suffix_match contains_match "
    "string_match invert_match treat_missing_header_as_empty",
    removed={"regex_match": ("v2", "safe_regex_match")},
)
QUERY_PARAMETER_MATCHER = Schema("envoy.config.route.v3.QueryParameterMatcher", "name string_match present_match")
STRING_MATCHER = Schema(
    "envoy.type.matcher.v3.StringMatcher", "exact prefix suffix safe_regex contains custom ignore_case",
    unsafe={"custom": _MATCH_MORE},
)
REGEX_MATCHER = Schema("envoy.type.matcher.v3.RegexMatcher", "google_re2 regex")
ROUTE_ACTION = Schema(
    "envoy.config.route.v3.RouteAction",
    "cluster cluster_header weighted_clusters cluster_specifier_plugin inline_cluster_specifier_plugin "
    "cluster_not_found_response_code metadata_match prefix_rewrite regex_rewrite path_rewrite_policy "
    "path_rewrite host_rewrite_literal auto_host_rewrite host_rewrite_header host_rewrite_path_regex "
    "host_rewrite append_x_forwarded_host timeout idle_timeout flush_timeout early_data_policy retry_policy "
    "retry_policy_typed_config request_mirror_policies priority rate_limits include_vh_rate_limits "
    "hash_policy cors max_grpc_timeout grpc_timeout_offset upgrade_configs internal_redirect_policy "
    "internal_redirect_action max_internal_redirects hedge_policy max_stream_duration",
    unsafe={
        "cluster_specifier_plugin": "send requests to a cluster the plugin would not pick",
        "inline_cluster_specifier_plugin": "send requests to a cluster the plugin would not pick",
        "max_stream_duration": _LONGER,
    },
)
WEIGHTED_CLUSTER = Schema(
    "envoy.config.route.v3.WeightedCluster", "clusters total_weight runtime_key_prefix header_name use_hash_policy",
    inert="total_weight",
)
CLUSTER_WEIGHT = Schema(
    "envoy.config.route.v3.WeightedCluster.ClusterWeight",
    "name cluster_header weight metadata_match request_headers_to_add request_headers_to_remove "
    "response_headers_to_add response_headers_to_remove typed_per_filter_config host_rewrite_literal",
)
RETRY_POLICY = Schema(
    "envoy.config.route.v3.RetryPolicy",
    "retry_on num_retries per_try_timeout per_try_idle_timeout retry_priority retry_host_predicate "
    "retry_options_predicates host_selection_retry_max_attempts retriable_status_codes retry_back_off "
    "rate_limited_retry_back_off retriable_headers retriable_request_headers",
)
REQUEST_MIRROR_POLICY = Schema(
    "envoy.config.route.v3.RouteAction.RequestMirrorPolicy",
    "cluster cluster_header runtime_fraction trace_sampled disable_shadow_host_suffix_append "
    "request_headers_mutations host_rewrite_literal",
    unsafe={
        "request_headers_mutations": "send copies with other headers than it asks for",
        "host_rewrite_literal": "send copies with another Host than it asks for",
    },
    removed={"runtime_key": ("v2", "runtime_fraction")},
)
RUNTIME_FRACTIONAL_PERCENT = Schema("envoy.config.core.v3.RuntimeFractionalPercent", "default_value runtime_key")
FRACTIONAL_PERCENT = Schema("envoy.type.v3.FractionalPercent", "numerator denominator")
DIRECT_RESPONSE = Schema("envoy.config.route.v3.DirectResponseAction", "status body body_format")
REDIRECT = Schema(
    "envoy.config.route.v3.RedirectAction",
    "https_redirect scheme_redirect host_redirect port_redirect path_redirect prefix_rewrite regex_rewrite "
    "response_code strip_query",
)

# --- access logs -------------------------------------------------------------------------------

ACCESS_LOG = Schema("envoy.config.accesslog.v3.AccessLog", "name filter typed_config", removed=_V2_CONFIG)
FILE_ACCESS_LOG = Schema(
    "envoy.extensions.access_loggers.file.v3.FileAccessLog", "path format json_format typed_json_format log_format"
)
STREAM_ACCESS_LOG = Schema("envoy.extensions.access_loggers.stream.v3.StdoutAccessLog", "log_format")
SUBSTITUTION_FORMAT_STRING = Schema(
    "envoy.config.core.v3.SubstitutionFormatString",
    "text_format json_format text_format_source omit_empty_values content_type formatters json_format_options",
)

# --- TCP and Dubbo proxies -----------------------------------------------------------------------

TCP_PROXY = Schema(
    "envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
    "stat_prefix cluster weighted_clusters on_demand metadata_match idle_timeout downstream_idle_timeout "
    "upstream_idle_timeout access_log max_connect_attempts backoff_options hash_policy tunneling_config "
    "max_downstream_connection_duration max_downstream_connection_duration_jitter_percentage "
    "access_log_flush_interval flush_access_log_on_connected access_log_options proxy_protocol_tlvs "
    "upstream_connect_mode max_early_data_bytes",
    unsafe={
        "tunneling_config": "send the raw stream where it asks for an HTTP tunnel",
        "on_demand": "fail connections to the clusters it discovers",
        "proxy_protocol_tlvs": "send no PROXY protocol header where one is expected",
        "max_downstream_connection_duration": "keep connections open longer than it allows",
    },
)
TCP_WEIGHTED_CLUSTER = Schema("envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy.WeightedCluster", "clusters")
TCP_CLUSTER_WEIGHT = Schema(
    "envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy.WeightedCluster.ClusterWeight",
    "name weight metadata_match",
)
DUBBO_PROXY = Schema(
    "envoy.extensions.filters.network.dubbo_proxy.v3.DubboProxy",
    "stat_prefix protocol_type serialization_type route_config drds multiple_route_config dubbo_filters",
    unsafe={"drds": "serve without the routes it discovers"},
    inert="stat_prefix",
)
DUBBO_ROUTE_CONFIGURATION = Schema(
    "envoy.extensions.filters.network.dubbo_proxy.v3.RouteConfiguration", "name interface group version routes",
    inert="name",
)
DUBBO_MULTIPLE_ROUTE_CONFIGURATION = Schema(
    "envoy.extensions.filters.network.dubbo_proxy.v3.MultipleRouteConfiguration", "name route_config", inert="name",
)
DUBBO_ROUTE = Schema("envoy.extensions.filters.network.dubbo_proxy.v3.Route", "match route")
DUBBO_ROUTE_MATCH = Schema("envoy.extensions.filters.network.dubbo_proxy.v3.RouteMatch", "method headers")
DUBBO_METHOD_MATCH = Schema(
    "envoy.extensions.filters.network.dubbo_proxy.v3.MethodMatch", "name params_match",
    unsafe={"params_match": _MATCH_MORE},
)
DUBBO_ROUTE_ACTION = Schema(
    "envoy.extensions.filters.network.dubbo_proxy.v3.RouteAction", "cluster weighted_clusters metadata_match"
)
DUBBO_FILTER = Schema("envoy.extensions.filters.network.dubbo_proxy.v3.DubboFilter", "name config")
