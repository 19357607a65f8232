"""Envoy-style response flags recorded in the access log (%RESPONSE_FLAGS%)."""

NO_ROUTE = "NR"  # no route matched: 404
NO_HEALTHY_UPSTREAM = "UH"  # cluster has no host: 503
UPSTREAM_OVERFLOW = "UO"  # pool or circuit breaker overflow: 503
UPSTREAM_CONNECTION_FAILURE = "UF"  # connect failed or timed out: 502 (Envoy answers 503)
UPSTREAM_CONNECTION_TERMINATION = "UC"  # upstream closed or reset mid-request: 502
UPSTREAM_REQUEST_TIMEOUT = "UT"  # route timeout expired: 504
DOWNSTREAM_CONNECTION_TERMINATION = "DC"  # client went away mid-request
REQUEST_ENTITY_TOO_LARGE = "RT"  # not an Envoy code; MOSN's ReqEntityTooLarge
DOWNSTREAM_REMOTE_RESET = "DR"  # the client reset its stream (HTTP/2 RST_STREAM) mid-request
DURATION_TIMEOUT = "DT"  # the request's own deadline (grpc-timeout) expired
DOWNSTREAM_PROTOCOL_ERROR = "DPE"  # the request broke its protocol or a codec limit
UPSTREAM_PROTOCOL_ERROR = "UPE"  # the response broke its protocol or a codec limit: 502
DELAY_INJECTED = "DI"  # the fault filter delayed the request
FAULT_INJECTED = "FI"  # the fault filter aborted the request
RATE_LIMITED = "RL"  # a rate limit filter refused the request: 429
FILTER_FAILED = "FF"  # a stream filter raised: 500 (neither Envoy nor MOSN has one; pymosn's own)
