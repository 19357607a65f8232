"""The config of the local rate limit filter (Envoy's LocalRateLimit), read with paths.

Envoy's shape (`typed_config` of envoy.filters.http.local_ratelimit, and per route in
`typed_per_filter_config`, where `token_bucket` is required); MOSN has no such filter, so
`{"type": "local_ratelimit", "config": {...}}` takes the same JSON with proto field names.

Refused, each at its path: a `fill_interval` under 50 ms (Envoy's floor), a descriptor entry
without a value (Envoy's dynamic descriptors, not implemented), a duplicate descriptor,
`local_cluster_rate_limit` (dividing the limit among the local cluster's members),
`rate_limits` actions pymosn cannot evaluate (config/envoy/rate_limits.py). Runtime keys are
read and have no effect (pymosn has no runtime); `max_dynamic_descriptors` is accepted (it
only sizes the dynamic descriptors, which are refused)."""

from __future__ import annotations

from typing import Any

import msgspec

from pymosn.config.envoy.message import Context, Message, Schema
from pymosn.config.envoy.rate_limits import rate_limits as read_rate_limits
from pymosn.config.issues import IssueLog
from pymosn.config.rate_limits import RateLimit
from pymosn.filter.http.fault import DENOMINATORS, Percent
from pymosn.filter.http.fields import Fields, check_type_url
from pymosn.filter.http.header_mutation import HeaderMutationRule, header_value_option

MOSN_NAME = "local_ratelimit"
ENVOY_NAME = "envoy.filters.http.local_ratelimit"
TYPE_URL = "type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit"

MIN_FILL_INTERVAL = 0.05  # seconds: Envoy refuses shorter ones
_UINT32_MAX = 2**32 - 1
VH_OVERRIDE, VH_INCLUDE, VH_IGNORE = "OVERRIDE", "INCLUDE", "IGNORE"
_VH_OPTIONS = (VH_OVERRIDE, VH_INCLUDE, VH_IGNORE)
_X_RATELIMIT = ("OFF", "DRAFT_VERSION_03")

# envoy.type.v3.StatusCode, the names its JSON form may use
STATUS_CODES = {
    "Continue": 100, "OK": 200, "Created": 201, "Accepted": 202, "NonAuthoritativeInformation": 203,
    "NoContent": 204, "ResetContent": 205, "PartialContent": 206, "MultiStatus": 207, "AlreadyReported": 208,
    "IMUsed": 226, "MultipleChoices": 300, "MovedPermanently": 301, "Found": 302, "SeeOther": 303,
    "NotModified": 304, "UseProxy": 305, "TemporaryRedirect": 307, "PermanentRedirect": 308, "BadRequest": 400,
    "Unauthorized": 401, "PaymentRequired": 402, "Forbidden": 403, "NotFound": 404, "MethodNotAllowed": 405,
    "NotAcceptable": 406, "ProxyAuthenticationRequired": 407, "RequestTimeout": 408, "Conflict": 409, "Gone": 410,
    "LengthRequired": 411, "PreconditionFailed": 412, "PayloadTooLarge": 413, "URITooLong": 414,
    "UnsupportedMediaType": 415, "RangeNotSatisfiable": 416, "ExpectationFailed": 417, "MisdirectedRequest": 421,
    "UnprocessableEntity": 422, "Locked": 423, "FailedDependency": 424, "UpgradeRequired": 426,
    "PreconditionRequired": 428, "TooManyRequests": 429, "RequestHeaderFieldsTooLarge": 431,
    "InternalServerError": 500, "NotImplemented": 501, "BadGateway": 502, "ServiceUnavailable": 503,
    "GatewayTimeout": 504, "HTTPVersionNotSupported": 505, "VariantAlsoNegotiates": 506, "InsufficientStorage": 507,
    "LoopDetected": 508, "NotExtended": 510, "NetworkAuthenticationRequired": 511,
}
_BY_UPPER = {name.upper(): code for name, code in STATUS_CODES.items()}
_CODES = frozenset(STATUS_CODES.values())

_FIELDS = ("stat_prefix status token_bucket filter_enabled filter_enforced request_headers_to_add_when_not_enforced "
           "response_headers_to_add descriptors stage local_rate_limit_per_downstream_connection "
           "local_cluster_rate_limit enable_x_ratelimit_headers vh_rate_limits always_consume_default_token_bucket "
           "rate_limited_as_resource_exhausted rate_limits max_dynamic_descriptors")
# the filter's own rate_limits, read by the route config's reader
_FILTER_RATE_LIMITS = Schema("envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit", "rate_limits")


class TokenBucketSpec(msgspec.Struct, frozen=True):
    max_tokens: int
    tokens_per_fill: int = 1
    fill_interval: float = 1.0  # seconds


class LocalDescriptor(msgspec.Struct, frozen=True):
    entries: tuple[tuple[str, str], ...]
    token_bucket: TokenBucketSpec


class LocalRateLimitConfig(msgspec.Struct, frozen=True):
    identity: str  # where in the config it was read: names its buckets, shared by every worker
    stat_prefix: str
    status: int = 429
    token_bucket: TokenBucketSpec | None = None
    filter_enabled: Percent = Percent()  # unset: 0%, as Envoy
    filter_enforced: Percent = Percent()
    request_headers_to_add_when_not_enforced: tuple[HeaderMutationRule, ...] = ()
    response_headers_to_add: tuple[HeaderMutationRule, ...] = ()
    descriptors: tuple[LocalDescriptor, ...] = ()
    stage: int = 0
    per_connection: bool = False  # local_rate_limit_per_downstream_connection
    x_ratelimit_headers: bool = False  # enable_x_ratelimit_headers: DRAFT_VERSION_03
    vh_rate_limits: str = VH_OVERRIDE
    always_consume_default_token_bucket: bool = True
    rate_limited_as_resource_exhausted: bool = False
    rate_limits: tuple[RateLimit, ...] = ()  # set: the route's and virtual host's are not read


def decode_envoy(raw: Any, path: str, log: IssueLog) -> LocalRateLimitConfig | None:
    """The LocalRateLimit `typed_config` of an http_filters entry; None after errors."""
    errors = len(log.errors)
    check_type_url(raw, path, log, TYPE_URL)
    decoded = _decode(raw, path, log, envoy=True, per_route=False)
    return decoded if len(log.errors) == errors else None


def decode_envoy_route(raw: Any, path: str, log: IssueLog) -> LocalRateLimitConfig | None:
    """A LocalRateLimit in typed_per_filter_config: its bucket is that route's own."""
    errors = len(log.errors)
    check_type_url(raw, path, log, TYPE_URL)
    decoded = _decode(raw, path, log, envoy=True, per_route=True)
    return decoded if len(log.errors) == errors else None


def decode_mosn(raw: Any, path: str, log: IssueLog) -> LocalRateLimitConfig | None:
    return _decode(raw, path, log, envoy=False, per_route=False)


def decode_mosn_route(raw: Any, path: str, log: IssueLog) -> LocalRateLimitConfig | None:
    return _decode(raw, path, log, envoy=False, per_route=True)


def _decode(raw: Any, path: str, log: IssueLog, *, envoy: bool, per_route: bool) -> LocalRateLimitConfig | None:
    errors = len(log.errors)
    top = Fields(raw, path, log, _FIELDS, envoy=envoy)
    prefix = top.string("stat_prefix")
    if not prefix:
        top.error("stat_prefix", "missing: Envoy requires a stat_prefix")
    bucket = _token_bucket(top.object("token_bucket", "max_tokens tokens_per_fill fill_interval", envoy=envoy))
    if per_route and bucket is None and not top.has("token_bucket"):
        top.error("token_bucket", "missing: a per-route local rate limit needs its own token bucket")
    if top.has("local_cluster_rate_limit"):
        top.error("local_cluster_rate_limit", "not implemented by pymosn; refusing to admit more than the share of "
                                              "the limit it asks for")
    top.integer("max_dynamic_descriptors", 20, 1, _UINT32_MAX)
    x_headers = top.enum("enable_x_ratelimit_headers", _X_RATELIMIT, "OFF") == "DRAFT_VERSION_03"
    response = _header_options(top, "response_headers_to_add", envoy, request_side=False)
    request = _header_options(top, "request_headers_to_add_when_not_enforced", envoy, request_side=True)
    config = LocalRateLimitConfig(
        identity=path,
        stat_prefix=prefix,
        status=_status(top.object("status", "code", envoy=envoy)),
        token_bucket=bucket,
        filter_enabled=_runtime_percent(top.object("filter_enabled", "default_value runtime_key", envoy=envoy)),
        filter_enforced=_runtime_percent(top.object("filter_enforced", "default_value runtime_key", envoy=envoy)),
        request_headers_to_add_when_not_enforced=request,
        response_headers_to_add=response,
        descriptors=_descriptors(top, envoy),
        stage=top.integer("stage", 0, 0, 10),
        per_connection=top.boolean("local_rate_limit_per_downstream_connection"),
        x_ratelimit_headers=x_headers,
        vh_rate_limits=top.enum("vh_rate_limits", _VH_OPTIONS, VH_OVERRIDE),
        always_consume_default_token_bucket=top.boolean("always_consume_default_token_bucket", True),
        rate_limited_as_resource_exhausted=top.boolean("rate_limited_as_resource_exhausted"),
        rate_limits=_rate_limits(raw, path, log) if top.has("rate_limits") else (),
    )
    return config if len(log.errors) == errors else None


def _token_bucket(fields: Fields | None) -> TokenBucketSpec | None:
    if fields is None:
        return None
    if not fields.has("max_tokens"):
        fields.error("max_tokens", "missing required field")
    if not fields.has("fill_interval"):
        fields.error("fill_interval", "missing required field")
    interval = fields.duration("fill_interval")
    if interval is not None and interval < MIN_FILL_INTERVAL:
        fields.error("fill_interval", "a local rate limit's fill interval must be at least 50ms")
    return TokenBucketSpec(fields.integer("max_tokens", 1, 1, _UINT32_MAX), fields.integer("tokens_per_fill", 1, 1,
                           _UINT32_MAX), interval or 1.0)


def _status(fields: Fields | None) -> int:
    """HttpStatus {code}: a StatusCode by name or number; under 400 means 429, as Envoy."""
    if fields is None:
        return 429
    value = fields.values.get("code")
    code = None
    if isinstance(value, str):
        code = int(value) if value.isdigit() else _BY_UPPER.get(value.upper())
    elif isinstance(value, int) and not isinstance(value, bool):
        code = value
    if code not in _CODES:
        fields.error("code", f"{value!r} is not an envoy.type.v3.StatusCode")
        return 429
    assert code is not None
    return code if code >= 400 else 429


def _runtime_percent(fields: Fields | None) -> Percent:
    """RuntimeFractionalPercent: its default_value (pymosn has no runtime to override it)."""
    if fields is None:
        return Percent()
    fields.string("runtime_key")
    value = fields.object("default_value", "numerator denominator", envoy=fields.envoy)
    if value is None:
        return Percent()
    denominator = DENOMINATORS[value.enum("denominator", tuple(DENOMINATORS), "HUNDRED")]
    return Percent(value.integer("numerator", 0, 0, _UINT32_MAX), denominator)


def _header_options(top: Fields, name: str, envoy: bool, *, request_side: bool) -> tuple[HeaderMutationRule, ...]:
    rules = []
    for raw, where in top.items(name):
        option = Fields(raw, where, top.log, "header append append_action keep_empty_value", envoy=envoy)
        if not option.has("header"):
            option.error("header", "missing required field")
            continue
        rule = header_value_option(option, envoy, request_side)
        if rule is not None:
            rules.append(rule)
    if len(rules) > 10:
        top.error(name, "at most 10 headers (Envoy's limit)")
    return tuple(rules)


def _descriptors(top: Fields, envoy: bool) -> tuple[LocalDescriptor, ...]:
    found: list[LocalDescriptor] = []
    seen: set[tuple[tuple[str, str], ...]] = set()
    for raw, where in top.items("descriptors"):
        fields = Fields(raw, where, top.log, "entries token_bucket", envoy=envoy)
        entries = []
        for raw_entry, entry_path in fields.items("entries"):
            entry = Fields(raw_entry, entry_path, top.log, "key value", envoy=envoy)
            key, value = entry.string("key"), entry.string("value")
            if not key:
                entry.error("key", "missing: a descriptor entry needs a key")
            if not value:
                entry.error("value", "an entry without a value (a dynamic descriptor) is not implemented by pymosn; "
                                     "refusing to leave those requests unlimited")
            entries.append((key, value))
        if not entries:
            fields.error("entries", "a descriptor needs at least one entry")
        bucket = _token_bucket(fields.object("token_bucket", "max_tokens tokens_per_fill fill_interval", envoy=envoy))
        if bucket is None:
            fields.error("token_bucket", "missing required field")
            continue
        key_tuple = tuple(entries)
        if key_tuple in seen:
            fields.error(None, f"duplicate descriptor {key_tuple}")
        seen.add(key_tuple)
        found.append(LocalDescriptor(key_tuple, bucket))
    return tuple(found)


def _rate_limits(raw: dict, path: str, log: IssueLog) -> tuple[RateLimit, ...]:
    """The filter's own `rate_limits`, read as a route's are (the same message)."""
    errors = len(log.errors)
    ctx = Context(log=log)
    # only this field: Fields already checked the others
    message = Message({k: v for k, v in raw.items() if k in ("rate_limits", "rateLimits")}, path, _FILTER_RATE_LIMITS,
                      ctx)
    policies = read_rate_limits(message, "rate_limits", ctx)
    message.finish()
    if len(log.errors) > errors:
        return ()
    return tuple(msgspec.convert(p, RateLimit) for p in policies)
