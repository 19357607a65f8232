"""Fault injection (Envoy's `envoy.filters.http.fault`, MOSN's stream filter `fault`): delays
a percentage of requests by a fixed duration and aborts a percentage with an HTTP status or a
gRPC status, optionally only for one upstream cluster, requests whose headers match, or
downstream nodes; with `header_delay` / `header_abort` the client chooses the fault through
Envoy's `x-envoy-fault-*` request headers.

Semantics follow Envoy's filter: an active-fault limit (`max_active_faults`) is checked first
(over it: `faults_overflow`, no fault); then the target (cluster, nodes, headers); then a delay
(flag DI, the request is held with STOP and continued by a timer on the connection's loop);
then, immediately or when the delay ends, an abort (flag FI, a local reply with body
`fault filter abort` and details `fault_filter_abort`). A stream that ends during its delay
cancels its timer. Percentages are Envoy's FractionalPercent; a header's percentage is capped
by the configured numerator and uses its denominator.

Config shapes (decoded into one FaultConfig):
- Envoy `HTTPFault`: `delay {fixed_delay | header_delay, percentage}`, `abort {http_status |
  grpc_status | header_abort, percentage}`, `upstream_cluster`, `headers` (route
  HeaderMatchers), `downstream_nodes`, `max_active_faults`; runtime keys and
  `disable_downstream_cluster_stats` are read and have no effect (pymosn has no runtime and
  no per-downstream-cluster stats); `response_rate_limit` is not implemented (a warning).
- MOSN `stream_filters[].config`: `delay {fixed_delay: "1s", percentage: 0-100}`, `abort
  {status, percentage: 0-100}`, `upstream_cluster`, `headers [{name, value, regex}]`. MOSN runs
  its fault filter after routing; so does a MOSN-shaped config (`phase` AFTER_ROUTE).

Stats (a FaultStats on the FilterConfig; Envoy's names, in its `http.<stat_prefix>.fault.`
namespace): `delays_injected`, `aborts_injected`, `faults_overflow` (counters),
`active_faults` (gauge)."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import msgspec

from pymosn.api.flags import DELAY_INJECTED, FAULT_INJECTED
from pymosn.api.headers import HeaderMap, RequestHeaderMap
from pymosn.api.stream_filter import (
    CONTINUE,
    STOP,
    AnyFilter,
    DecoderFilter,
    FilterCallbacks,
    FilterPhase,
    HeadersStatus,
)
from pymosn.config.issues import IssueLog
from pymosn.filter.http import header_match
from pymosn.filter.http.fields import Fields, check_type_url
from pymosn.filter.http.header_match import CompiledMatch, HeaderMatch, all_match
from pymosn.metrics.stats import FilterStats

MOSN_NAME = "fault"
ENVOY_NAME = "envoy.filters.http.fault"
TYPE_URL = "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault"

ABORT_BODY = b"fault filter abort"
ABORT_DETAILS = "fault_filter_abort"

HEADER_ABORT = b"x-envoy-fault-abort-request"
HEADER_ABORT_GRPC = b"x-envoy-fault-abort-grpc-request"
HEADER_ABORT_PERCENTAGE = b"x-envoy-fault-abort-request-percentage"
HEADER_DELAY = b"x-envoy-fault-delay-request"
HEADER_DELAY_PERCENTAGE = b"x-envoy-fault-delay-request-percentage"
HEADER_DOWNSTREAM_NODE = b"x-envoy-downstream-service-node"

DENOMINATORS = {"HUNDRED": 100, "TEN_THOUSAND": 10_000, "MILLION": 1_000_000}
_UINT32_MAX = 2**32 - 1
_RUNTIME_KEYS = ("delay_percent_runtime abort_percent_runtime delay_duration_runtime abort_http_status_runtime "
                 "max_active_faults_runtime response_rate_limit_percent_runtime abort_grpc_status_runtime")


class Percent(msgspec.Struct, frozen=True):
    numerator: int = 0
    denominator: int = 100


class FaultDelay(msgspec.Struct, frozen=True):
    fixed_delay: float | None = None  # seconds; None: the delay comes from the request header
    percentage: Percent = Percent()


class FaultAbort(msgspec.Struct, frozen=True):
    http_status: int | None = None
    grpc_status: int | None = None  # neither: the status comes from the request headers
    percentage: Percent = Percent()


class FaultConfig(msgspec.Struct, frozen=True):
    delay: FaultDelay | None = None
    abort: FaultAbort | None = None
    upstream_cluster: str = ""
    headers: tuple[HeaderMatch, ...] = ()
    downstream_nodes: tuple[str, ...] = ()
    max_active_faults: int | None = None
    phase: FilterPhase = FilterPhase.BEFORE_ROUTE


# --- decoding ---------------------------------------------------------------------------------

def decode_envoy(raw: Any, path: str, log: IssueLog) -> FaultConfig | None:
    """Envoy's HTTPFault (the `typed_config` object at `path`); None after errors."""
    errors = len(log.errors)
    check_type_url(raw, path, log, TYPE_URL)
    top = Fields(raw, path, log, "delay abort upstream_cluster headers downstream_nodes max_active_faults "
                                 "response_rate_limit disable_downstream_cluster_stats filter_metadata "
                                 + _RUNTIME_KEYS, envoy=True)
    for key in _RUNTIME_KEYS.split():
        top.string(key)  # names of runtime keys whose defaults are the config's values
    top.boolean("disable_downstream_cluster_stats")
    if top.has("response_rate_limit"):
        log.warning(top.at("response_rate_limit"), "response rate limit faults are not implemented by pymosn; ignored")
    delay = _envoy_delay(top.object("delay", "fixed_delay header_delay percentage type", envoy=True))
    abort = _envoy_abort(top.object("abort", "http_status grpc_status header_abort percentage", envoy=True))
    headers = tuple(m for raw_match, where in top.items("headers")
                    if (m := header_match.decode_envoy(raw_match, where, log)) is not None)
    nodes = tuple(node for node, where in top.items("downstream_nodes") if _is_str(node, where, log))
    max_active = top.integer("max_active_faults", -1, 0, _UINT32_MAX) if top.has("max_active_faults") else -1
    config = FaultConfig(delay, abort, top.string("upstream_cluster"), headers, nodes,
                         None if max_active < 0 else max_active)
    return config if len(log.errors) == errors else None


def _envoy_percent(fields: Fields) -> Percent:
    percentage = fields.object("percentage", "numerator denominator", envoy=True)
    if percentage is None:
        return Percent()  # Envoy's default FractionalPercent: 0%
    denominator = DENOMINATORS[percentage.enum("denominator", tuple(DENOMINATORS), "HUNDRED")]
    return Percent(percentage.integer("numerator", 0, 0, _UINT32_MAX), denominator)


def _envoy_delay(fields: Fields | None) -> FaultDelay | None:
    if fields is None:
        return None
    if fields.has("fixed_delay") == fields.has("header_delay"):
        fields.error(None, "set exactly one of fixed_delay, header_delay")
    fields.enum("type", ("FIXED",), "FIXED")  # deprecated: FIXED is the only delay type
    fields.object("header_delay", "", envoy=True)  # an empty message: only its presence counts
    fixed = fields.duration("fixed_delay") if fields.has("fixed_delay") else None
    return FaultDelay(fixed, _envoy_percent(fields))


def _envoy_abort(fields: Fields | None) -> FaultAbort | None:
    if fields is None:
        return None
    given = [key for key in ("http_status", "grpc_status", "header_abort") if fields.has(key)]
    if len(given) != 1:
        fields.error(None, "set exactly one of http_status, grpc_status, header_abort")
    fields.object("header_abort", "", envoy=True)  # an empty message: only its presence counts
    http = fields.integer("http_status", 0, 200, 599) if fields.has("http_status") else None
    grpc = fields.integer("grpc_status", 0, 0, _UINT32_MAX) if fields.has("grpc_status") else None
    return FaultAbort(http, grpc, _envoy_percent(fields))


def _is_str(value: Any, path: str, log: IssueLog) -> bool:
    if not isinstance(value, str):
        log.error(path, "expected str")
        return False
    return True


def decode_mosn(raw: Any, path: str, log: IssueLog) -> FaultConfig | None:
    """The `config` object of a MOSN `stream_filters` entry of type `fault`."""
    errors = len(log.errors)
    top = Fields(raw, path, log, "delay abort upstream_cluster headers")
    delay = abort = None
    delay_fields = top.object("delay", "fixed_delay percentage")
    if delay_fields is not None:
        if not delay_fields.has("fixed_delay"):
            delay_fields.error("fixed_delay", "missing required field")
        delay = FaultDelay(delay_fields.duration("fixed_delay"),
                           Percent(delay_fields.integer("percentage", 0, 0, 100)))
    abort_fields = top.object("abort", "status percentage")
    if abort_fields is not None:
        if not abort_fields.has("status"):
            abort_fields.error("status", "missing required field")
        abort = FaultAbort(abort_fields.integer("status", 0, 200, 599),
                           percentage=Percent(abort_fields.integer("percentage", 0, 0, 100)))
    headers = tuple(m for raw_match, where in top.items("headers")
                    if (m := header_match.decode_mosn(raw_match, where, log)) is not None)
    config = FaultConfig(delay, abort, top.string("upstream_cluster"), headers, phase=FilterPhase.AFTER_ROUTE)
    return config if len(log.errors) == errors else None


# --- running ----------------------------------------------------------------------------------

class FaultStats(FilterStats):
    COUNTERS = ("delays_injected", "aborts_injected", "faults_overflow")
    GAUGES = ("active_faults",)
    __slots__ = COUNTERS + GAUGES
    delays_injected: int
    aborts_injected: int
    faults_overflow: int
    active_faults: int


def _header_int(headers: HeaderMap, name: bytes) -> int | None:
    value = headers.get(name)
    if value is None or not value.isdigit():
        return None
    return int(value)


class FaultFilterConfig:
    """Shared by every stream of a listener: the config, its compiled conditions, the stats,
    and the random source (`randrange(n)` in [0, n); tests inject their own)."""

    def __init__(self, config: FaultConfig, randrange: Callable[[int], int] = random.randrange) -> None:
        self.config = config
        self.phase = config.phase
        self.stats = FaultStats()
        self.randrange = randrange
        self.conditions = tuple(CompiledMatch(m) for m in config.headers)
        self.nodes = frozenset(node.encode() for node in config.downstream_nodes)

    def create_filter(self, callbacks: FilterCallbacks) -> AnyFilter:
        return FaultFilter(self, callbacks)

    def hit(self, numerator: int, denominator: int) -> bool:
        if numerator <= 0:
            return False
        return numerator >= denominator or self.randrange(denominator) < numerator

    def targets(self, callbacks: FilterCallbacks, headers: RequestHeaderMap) -> bool:
        config = self.config
        if config.upstream_cluster:
            # The route's fixed cluster (a router RouteEntry's cluster_name); a route that picks
            # its cluster per request (weighted, from a header) is not a target.
            if getattr(callbacks.route, "cluster_name", None) != config.upstream_cluster:
                return False
        if self.nodes and headers.get(HEADER_DOWNSTREAM_NODE) not in self.nodes:
            return False
        return not self.conditions or all_match(self.conditions, headers)

    def delay_seconds(self, headers: RequestHeaderMap) -> float | None:
        delay = self.config.delay
        if delay is None:
            return None
        percent = delay.percentage
        if delay.fixed_delay is not None:
            seconds: float | None = delay.fixed_delay
            numerator = percent.numerator
        else:
            ms = _header_int(headers, HEADER_DELAY)
            seconds = None if ms is None else ms / 1000
            numerator = self._header_numerator(headers, HEADER_DELAY_PERCENTAGE, percent.numerator)
        if not seconds or not self.hit(numerator, percent.denominator):
            return None
        return seconds

    def abort_status(self, headers: RequestHeaderMap) -> tuple[int, int | None] | None:
        """(HTTP status, gRPC status or None) of an abort to inject now, or None."""
        abort = self.config.abort
        if abort is None:
            return None
        percent = abort.percentage
        if abort.http_status is not None or abort.grpc_status is not None:
            http, grpc, numerator = abort.http_status, abort.grpc_status, percent.numerator
        else:
            http = _header_int(headers, HEADER_ABORT)
            if http is not None and not 200 <= http < 600:
                http = None
            grpc = _header_int(headers, HEADER_ABORT_GRPC)
            if grpc is not None and grpc > 16:
                grpc = None
            numerator = self._header_numerator(headers, HEADER_ABORT_PERCENTAGE, percent.numerator)
        if (http is None and grpc is None) or not self.hit(numerator, percent.denominator):
            return None
        # A gRPC abort answers 200 with the status in grpc-status (Envoy).
        return (200 if http is None else http), grpc

    @staticmethod
    def _header_numerator(headers: RequestHeaderMap, name: bytes, configured: int) -> int:
        asked = _header_int(headers, name)
        return configured if asked is None else min(asked, configured)


class FaultFilter(DecoderFilter):
    __slots__ = ("_config", "_rules", "_callbacks", "_timer", "_active", "_headers")

    def __init__(self, config: FaultFilterConfig, callbacks: FilterCallbacks) -> None:
        self._config = config
        self._rules = config  # the route's own fault config replaces it (Envoy, MOSN): see decode_headers
        self._callbacks = callbacks
        self._timer: Any = None
        self._active = False  # this stream counts in active_faults
        self._headers: RequestHeaderMap | None = None

    def decode_headers(self, headers: RequestHeaderMap, end_stream: bool) -> HeadersStatus:
        config = self._config
        rules = self._callbacks.per_filter_config()
        if isinstance(rules, FaultFilterConfig):
            self._rules = rules
        else:
            rules = config
        limit = rules.config.max_active_faults
        if limit is not None and config.stats.active_faults >= limit:
            config.stats.faults_overflow += 1
            return CONTINUE
        if not rules.targets(self._callbacks, headers):
            return CONTINUE
        seconds = rules.delay_seconds(headers)
        if seconds is not None:
            config.stats.delays_injected += 1
            self._activate()
            self._callbacks.stream_info.response_flags.append(DELAY_INJECTED)
            self._headers = headers
            self._timer = self._callbacks.connection.loop.call_later(seconds, self._delay_over)
            return STOP
        return STOP if self._abort(headers) else CONTINUE

    def _delay_over(self) -> None:
        self._timer = None
        headers, self._headers = self._headers, None
        if headers is None or not self._abort(headers):
            self._callbacks.continue_decoding()

    def _abort(self, headers: RequestHeaderMap) -> bool:
        status = self._rules.abort_status(headers)
        if status is None:
            return False
        http, grpc = status
        self._config.stats.aborts_injected += 1
        self._activate()
        extra = None if grpc is None else {b"grpc-status": str(grpc).encode(), b"grpc-message": ABORT_BODY}
        self._callbacks.send_local_reply(http, b"" if grpc is not None else ABORT_BODY, FAULT_INJECTED,
                                         ABORT_DETAILS, extra)
        return True

    def _activate(self) -> None:
        if not self._active:
            self._active = True
            self._config.stats.active_faults += 1

    def on_destroy(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._headers = None
        if self._active:
            self._active = False
            self._config.stats.active_faults -= 1


class FaultFactory:
    name = ENVOY_NAME
    mosn_name = MOSN_NAME
    type_url = TYPE_URL
    config_type = FaultConfig
    decode_envoy = staticmethod(decode_envoy)
    decode_mosn = staticmethod(decode_mosn)
    # a route's config is a whole fault config of the same shape, replacing the filter's there
    route_type_urls = (TYPE_URL,)
    stats_scope = "fault"  # the listener's FaultStats: http.<listener>.fault.*
    decode_envoy_route = staticmethod(decode_envoy)
    decode_mosn_route = staticmethod(decode_mosn)

    def create_config(self, config: FaultConfig) -> FaultFilterConfig:
        return FaultFilterConfig(config)

    def create_route_config(self, config: FaultConfig) -> FaultFilterConfig:
        """Its conditions compiled; the filter's stats and active-fault count stay the filter's."""
        return FaultFilterConfig(config)


FACTORY = FaultFactory()
