"""MOSN's flow control (stream filter `flowControlFilter`, pkg/filter/stream/flowcontrol) in its
QPS form: sentinel-golang flow rules of the Direct / Reject kind, one per resource, on the
token buckets of the local rate limit (shared by every worker, token_bucket.py).

Config (MOSN's keys): `global_switch` (false: every request passes, as MOSN), `limit_key_type`
(the resource a request is: `PATH`, its path, percent-decoded and normalized as MOSN's HTTP
codec reads it; `URI`, the request target as sent; `ARG`, the query string), `action {status,
body}` (default 509 and "current request is limited", MOSN's), `rules [{resource, threshold,
statIntervalInMs, ...}]`, and `app_name`, `log_path`, `monitor`, `direction` (sentinel's
logging and traffic type: no effect here). A rule admits `threshold` requests per
`statIntervalInMs` (default 1000 ms): a bucket of floor(threshold) tokens refilled each
interval, the same rate as sentinel's sliding window, with bursts of up to twice the threshold
across an interval boundary. Every rule of a resource must admit the request.

Refused, each at its path: `tokenCalculateStrategy` WarmUp, `controlBehavior` Throttling,
`relationStrategy` AssociatedResource, `adaptiveConfigName`, `callback_name` (custom Go
callbacks), `dynamic_data_resources` (rules from Nacos), an unknown `limit_key_type`. The older
rule keys MOSN's samples carry (`grade`, `limitApp`, `strategy`, `controlBehavior` spelt
`control_behavior`) are not fields of sentinel-golang's rule: MOSN ignores them, and so does
pymosn, with a warning. A request refused gets the action's status and body, flag RL, details
`flow_control_limited`. MOSN runs the filter after routing; so does pymosn."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote_to_bytes

import msgspec

from pymosn.api.flags import RATE_LIMITED
from pymosn.api.headers import RequestHeaderMap
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
from pymosn.filter.http.fields import Fields
from pymosn.filter.token_bucket import TokenBucket, process_bucket
from pymosn.metrics.stats import FilterStats

MOSN_NAME = "flowControlFilter"
DETAILS = "flow_control_limited"
DEFAULT_STATUS = 509  # mosn.io/api LimitExceededCode
DEFAULT_BODY = "current request is limited"
KEY_TYPES = ("PATH", "URI", "ARG")

_RULE_FIELDS = ("id resource tokenCalculateStrategy controlBehavior threshold relationStrategy refResource "
                "maxQueueingTimeMs warmUpPeriodSec warmUpColdFactor statIntervalInMs adaptiveConfigName "
                "grade limitApp strategy control_behavior")
_LEGACY_RULE_KEYS = ("grade", "limitApp", "strategy", "control_behavior")
_REFUSING = "refusing to run without the limits it asks for"


class FlowRule(msgspec.Struct, frozen=True):
    resource: str
    tokens: int  # requests admitted per interval (floor of the threshold)
    interval: float  # seconds


class FlowControlConfig(msgspec.Struct, frozen=True):
    identity: str
    enabled: bool = False  # global_switch
    key_type: str = "PATH"
    status: int = DEFAULT_STATUS
    body: str = DEFAULT_BODY
    rules: tuple[FlowRule, ...] = ()
    phase: FilterPhase = FilterPhase.AFTER_ROUTE


def decode_mosn(raw: Any, path: str, log: IssueLog) -> FlowControlConfig | None:
    """The `config` of a MOSN `stream_filters` entry of type flowControlFilter."""
    errors = len(log.errors)
    top = Fields(raw, path, log, "app_name callback_name log_path global_switch monitor limit_key_type action rules "
                                 "dynamic_data_resources direction")
    top.string("app_name")
    top.boolean("monitor")  # MOSN's config has it; nothing in MOSN reads it
    if top.string("log_path"):
        log.warning(top.at("log_path"), "sentinel's logs are not written by pymosn; ignored")
    if top.string("callback_name"):
        top.error("callback_name", f"not implemented by pymosn: custom flow control callbacks (Go code registered in "
                                   f"MOSN); {_REFUSING}")
    if any(True for _ in top.items("dynamic_data_resources")):
        top.error("dynamic_data_resources", f"not implemented by pymosn: rules from a dynamic data source; {_REFUSING}")
    direction = top.string("direction", "inbound")
    if direction.lower() not in ("inbound", "outbound"):
        top.error("direction", f"expected inbound or outbound, got {direction!r}")
    status, body = DEFAULT_STATUS, DEFAULT_BODY
    action = top.object("action", "status body")
    if action is not None:
        status = action.integer("status", DEFAULT_STATUS, 100, 599)
        body = action.string("body", DEFAULT_BODY)
    rules = tuple(rule for raw_rule, where in top.items("rules") if (rule := _rule(raw_rule, where, log)) is not None)
    config = FlowControlConfig(path, top.boolean("global_switch"), top.enum("limit_key_type", KEY_TYPES, "PATH"),
                               status, body, rules)
    return config if len(log.errors) == errors else None


def _rule(raw: Any, path: str, log: IssueLog) -> FlowRule | None:
    errors = len(log.errors)
    fields = Fields(raw, path, log, _RULE_FIELDS)
    for key in _LEGACY_RULE_KEYS:
        if fields.has(key):
            log.warning(fields.at(key), f"{key!r} is not a field of sentinel-golang's flow rule: MOSN ignores it, "
                                        "and so does pymosn (rules limit QPS)")
    fields.string("id")
    resource = fields.string("resource")
    if not resource:
        fields.error("resource", "missing: the resource (a path, URI or query string) the rule limits")
    for key, meaning in (("tokenCalculateStrategy", "WarmUp"), ("controlBehavior", "Throttling"),
                         ("relationStrategy", "AssociatedResource")):
        value = fields.integer(key, 0, 0, 1)
        if value == 1:
            fields.error(key, f"not implemented by pymosn: {meaning} (only 0: Direct, Reject, CurrentResource); "
                              f"{_REFUSING}")
    if fields.string("adaptiveConfigName"):
        fields.error("adaptiveConfigName", f"not implemented by pymosn: adaptive thresholds; {_REFUSING}")
    fields.string("refResource")  # read by AssociatedResource only
    for key in ("maxQueueingTimeMs", "warmUpPeriodSec", "warmUpColdFactor"):  # Throttling's and WarmUp's
        fields.integer(key, 0, 0)
    threshold = fields.values.get("threshold")
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not math.isfinite(threshold) \
            or threshold < 0:
        fields.error("threshold", f"expected a number >= 0, got {threshold!r}")
        threshold = 0
    interval_ms = fields.integer("statIntervalInMs", 0, 0, 2**32 - 1) or 1000
    if len(log.errors) > errors:
        return None
    return FlowRule(resource, int(threshold), interval_ms / 1000)


# --- running ----------------------------------------------------------------------------------

_DOT_SEGMENT = re.compile(rb"/\.\.?(?:/|$)")


def normalized_path(target: bytes) -> bytes:
    """A request target's path as MOSN's HTTP codec (fasthttp) reads it: without the query,
    percent-decoded, repeated slashes collapsed, `.` and `..` segments resolved."""
    path = target.partition(b"?")[0]
    if b"%" not in path and b"//" not in path and not _DOT_SEGMENT.search(path):
        return path
    path = unquote_to_bytes(path)
    segments: list[bytes] = []
    for segment in path.split(b"/")[1:]:
        if segment == b"..":
            if segments:
                segments.pop()
        elif segment not in (b".", b""):
            segments.append(segment)
    trailing = path.endswith((b"/", b"/.", b"/..")) and segments
    return b"/" + b"/".join(segments) + (b"/" if trailing else b"")


class FlowControlStats(FilterStats):
    """pymosn's (MOSN's are sentinel's metric logs): http.<listener>.flow_control.*"""

    COUNTERS = ("passed", "blocked")  # requests a rule admitted, and refused
    __slots__ = COUNTERS
    passed: int
    blocked: int


class FlowControlFilterConfig:
    def __init__(self, config: FlowControlConfig, clock: Callable[[], float] | None = None) -> None:
        self.config = config
        self.phase = config.phase
        self.clock = clock
        self.stats = FlowControlStats()
        self.status = config.status
        self.body = config.body.encode()
        self.key_type = config.key_type
        by_resource: dict[bytes, list[TokenBucket]] = {}
        for index, rule in enumerate(config.rules):
            bucket = process_bucket(rule.tokens, rule.tokens, rule.interval, f"{config.identity}.rules[{index}]")
            by_resource.setdefault(rule.resource.encode(), []).append(bucket)
        self.buckets = {resource: tuple(buckets) for resource, buckets in by_resource.items()}

    def resource(self, headers: RequestHeaderMap) -> bytes:
        target = headers.path or b""
        if self.key_type == "PATH":
            return normalized_path(target)
        if self.key_type == "URI":
            return target
        return target.partition(b"?")[2]

    def create_filter(self, callbacks: FilterCallbacks) -> AnyFilter:
        return FlowControlFilter(self, callbacks)


class FlowControlFilter(DecoderFilter):
    __slots__ = ("_config", "_callbacks")

    def __init__(self, config: FlowControlFilterConfig, callbacks: FilterCallbacks) -> None:
        self._config = config
        self._callbacks = callbacks

    def decode_headers(self, headers: RequestHeaderMap, end_stream: bool) -> HeadersStatus:
        config = self._config
        if not config.config.enabled:
            return CONTINUE
        buckets = config.buckets.get(config.resource(headers))
        if buckets is None:
            return CONTINUE
        clock = config.clock
        if clock is None:
            clock = config.clock = self._callbacks.connection.loop.time
        now = clock()
        for bucket in buckets:
            if not bucket.consume(now):
                config.stats.blocked += 1
                self._callbacks.send_local_reply(config.status, config.body, RATE_LIMITED, DETAILS)
                return STOP
        config.stats.passed += 1
        return CONTINUE


class FlowControlFactory:
    mosn_name = MOSN_NAME
    config_type = FlowControlConfig
    stats_scope = "flow_control"  # the listener's FlowControlStats
    decode_mosn = staticmethod(decode_mosn)

    @staticmethod
    def decode_envoy(raw: Any, path: str, log: IssueLog) -> FlowControlConfig | None:
        """MOSN's filter has no Envoy form: an http_filters entry naming it takes MOSN's JSON."""
        return decode_mosn(raw, path, log)

    def create_config(self, config: FlowControlConfig) -> FlowControlFilterConfig:
        return FlowControlFilterConfig(config)


FACTORY = FlowControlFactory()
