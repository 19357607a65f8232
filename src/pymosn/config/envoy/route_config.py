"""An inline RouteConfiguration as a MOSN router config: virtual hosts, routes, matchers,
actions and header mutations. Envoy's defaults that differ from MOSN's (a 15 s route timeout,
header additions that append) are written out explicitly."""

from __future__ import annotations

import base64
import binascii
import re
from pathlib import Path

from pymosn.config.envoy import rate_limits as envoy_rate_limits
from pymosn.config.envoy import schemas as s
from pymosn.config.envoy.http_filters import route_filter_configs
from pymosn.config.envoy.message import Context, Message, data_source
from pymosn.config.envoy.mirror_policy import Inherited, mirror_policies, put_policies
from pymosn.config.envoy.protocol_options import upgrade_configs

ROUTE_TIMEOUT = 15.0  # Envoy's default when a route sets none
REDIRECT_CODES = {"MOVED_PERMANENTLY": 301, "FOUND": 302, "SEE_OTHER": 303, "TEMPORARY_REDIRECT": 307,
                  "PERMANENT_REDIRECT": 308}
_APPEND_ACTIONS = ("APPEND_IF_EXISTS_OR_ADD", "ADD_IF_ABSENT", "OVERWRITE_IF_EXISTS_OR_ADD", "OVERWRITE_IF_EXISTS")
_FORMAT_OPERATOR = re.compile(r"%[A-Z][A-Z0-9_]*(\([^)]*\))?%")
# retry_on conditions pymosn honours: it retries failed connections and 5xx answers
_RETRY_5XX = {"5xx", "gateway-error", "retriable-status-codes"}
_RETRY_CONNECT = {"connect-failure", "reset", "refused-stream", "reset-before-request", "http3-post-connect-failure"}
_RETRY_OTHER = {"retriable-4xx", "retriable-headers", "envoy-ratelimited", "cancelled", "deadline-exceeded",
                "internal", "resource-exhausted", "unavailable"}


def route_configuration(m: Message, ctx: Context) -> str:
    """Adds the router config to `ctx.routers`; returns the name it got."""
    name = ctx.router_name(m.str("name"))
    out = ctx.node({"router_config_name": name}, m.path)
    header_mutations(m, out, ctx)
    route_filter_configs(m, out, ctx)
    mirrors = mirror_policies(m, ctx, None)
    hosts = [virtual_host(v, ctx, mirrors) for v in m.messages("virtual_hosts", s.VIRTUAL_HOST)]
    ctx.put(out, "virtual_hosts", hosts, m.at("virtual_hosts"))
    m.finish()
    ctx.routers.append(out)
    return name


def virtual_host(m: Message, ctx: Context, default_mirrors: Inherited | None = None) -> dict:
    out = ctx.node({"name": m.str("name")}, m.path)
    domains = m.strings("domains")
    if not domains:
        m.error("domains", "a virtual host needs at least one domain (\"*\" for any)")
    ctx.put(out, "domains", domains, m.at("domains"))
    default_retry = m.message("retry_policy", s.RETRY_POLICY)
    retry = retry_policy(default_retry, ctx) if default_retry is not None else None
    mirrors = mirror_policies(m, ctx, default_mirrors)
    ctx.put(out, "routers", [route(r, ctx, retry, mirrors) for r in m.messages("routes", s.ROUTE)], m.at("routes"))
    header_mutations(m, out, ctx)
    route_filter_configs(m, out, ctx)
    if m.has("rate_limits"):
        ctx.put(out, "rate_limits", envoy_rate_limits.rate_limits(m, "rate_limits", ctx), m.at("rate_limits"))
    m.finish()
    return out


def route(m: Message, ctx: Context, default_retry: dict | None, default_mirrors: Inherited | None = None) -> dict:
    out = ctx.node({}, m.path)
    if m.has("name"):
        out["name"] = m.str("name")
    match = m.message("match", s.ROUTE_MATCH)
    if match is None:
        m.error("match", "missing: a route needs a match")
    else:
        ctx.put(out, "match", route_match(match, ctx), match.path)
    action = m.one_of("route", "redirect", "direct_response", "filter_action", "non_forwarding_action")
    if action == "route":
        sub = m.message("route", s.ROUTE_ACTION)
        if sub is not None:
            put_policies(out, mirror_policies(sub, ctx, default_mirrors), ctx)
            ctx.put(out, "route", route_action(sub, ctx, default_retry), sub.path)
    elif action == "redirect":
        sub = m.message("redirect", s.REDIRECT)
        if sub is not None:
            ctx.put(out, "redirect", redirect(sub, ctx), sub.path)
    elif action == "direct_response":
        sub = m.message("direct_response", s.DIRECT_RESPONSE)
        if sub is not None:
            ctx.put(out, "direct_response", direct_response(sub, ctx), sub.path)
    elif action is None:
        m.error(None, "a route needs one of route, redirect, direct_response")
    header_mutations(m, out, ctx)
    route_filter_configs(m, out, ctx)
    m.finish()
    return out


# --- matching ------------------------------------------------------------------------------------


def route_match(m: Message, ctx: Context) -> dict:
    out = ctx.node({}, m.path)
    kind = m.one_of("prefix", "path", "safe_regex", "connect_matcher", "path_separated_prefix", "path_match_policy")
    if kind in ("prefix", "path"):
        ctx.put(out, kind, m.str(kind), m.at(kind))
    elif kind == "safe_regex":
        pattern = regex(m.message("safe_regex", s.REGEX_MATCHER))
        if pattern is not None:
            ctx.put(out, "regex", pattern, m.at("safe_regex"))
    elif kind == "path_separated_prefix":
        # the prefix as whole path segments: "/api" matches /api and /api/x, not /apix
        prefix = m.str(kind)
        if prefix.endswith("/") or not prefix.startswith("/"):
            m.error(kind, f"must start with '/' and not end with one, got {prefix!r}")
        flags = "" if m.bool("case_sensitive", True) else "(?i)"
        ctx.put(out, "regex", f"{flags}{re.escape(prefix)}(?:/.*)?", m.at(kind))
    elif kind is None and not m.removed:  # a v2 regex was reported as such
        m.error(None, "a route match needs one of prefix, path, safe_regex, path_separated_prefix")
    if m.raw("case_sensitive") is not None:
        ctx.put(out, "case_sensitive", m.bool("case_sensitive", True), m.at("case_sensitive"))
    headers = [header_matcher(h, ctx) for h in m.messages("headers", s.HEADER_MATCHER)]
    if headers:
        ctx.put(out, "headers", headers, m.at("headers"))
    params = [query_matcher(q, ctx) for q in m.messages("query_parameters", s.QUERY_PARAMETER_MATCHER)]
    if params:
        ctx.put(out, "query_parameters", params, m.at("query_parameters"))
    m.finish()
    return out


def regex(m: Message | None) -> str | None:
    """A RegexMatcher's pattern (RE2 syntax; Python's re reads the common subset the same way)."""
    if m is None:
        return None
    m.ignore("google_re2")  # the engine: pymosn has one
    pattern = m.raw("regex")
    m.finish()
    if not isinstance(pattern, str):
        m.error("regex", "missing: a regex matcher needs a regex")
        return None
    return pattern


def string_matcher(m: Message) -> tuple[str, bool] | None:
    """A StringMatcher as pymosn's (value, regex) pair; prefix/suffix/contains and ignore_case
    become regexes (full match, like Envoy's)."""
    kind = m.one_of("exact", "prefix", "suffix", "contains", "safe_regex", "custom")
    ignore_case = m.bool("ignore_case")
    if kind == "safe_regex" and ignore_case:
        m.error("ignore_case", "has no effect on safe_regex (as in Envoy); put (?i) in the regex")
    result: tuple[str, bool] | None = None
    if kind == "safe_regex":
        pattern = regex(m.message(kind, s.REGEX_MATCHER))
        result = (pattern, True) if pattern is not None else None
    elif kind in ("exact", "prefix", "suffix", "contains"):
        value = m.str(kind)
        if kind == "exact" and not ignore_case:
            result = (value, False)
        else:
            escaped = re.escape(value)
            body = {"exact": escaped, "prefix": escaped + ".*", "suffix": ".*" + escaped,
                    "contains": ".*" + escaped + ".*"}[kind]
            result = (("(?is)" if ignore_case else "(?s)") + body, True)
    elif kind is None:
        m.error(None, "a string matcher needs one of exact, prefix, suffix, contains, safe_regex")
    m.finish()
    return result


def header_matcher(m: Message, ctx: Context) -> dict:
    out = ctx.node({"name": m.str("name")}, m.path)
    kind = m.one_of("exact_match", "safe_regex_match", "range_match", "present_match", "prefix_match",
                    "suffix_match", "contains_match", "string_match")
    value: tuple[str, bool] | None = None
    if kind == "exact_match":
        value = (m.str(kind), False)
    elif kind == "safe_regex_match":
        pattern = regex(m.message(kind, s.REGEX_MATCHER))
        value = (pattern, True) if pattern is not None else None
    elif kind in ("prefix_match", "suffix_match", "contains_match"):
        escaped = re.escape(m.str(kind))
        value = ({"prefix_match": escaped + ".*", "suffix_match": ".*" + escaped,
                  "contains_match": ".*" + escaped + ".*"}[kind], True)
    elif kind == "string_match":
        sub = m.message(kind, s.STRING_MATCHER)
        value = string_matcher(sub) if sub is not None else None
    elif kind == "present_match":
        ctx.put(out, "present_match", m.bool(kind), m.at(kind))
    elif kind == "range_match":
        m.refuse(kind, "make this match more than it asks for")
    if value is not None:
        _put_value(out, value, m.at(kind), ctx)
    if m.bool("invert_match"):
        ctx.put(out, "invert_match", True, m.at("invert_match"))
    m.finish()
    return out


def query_matcher(m: Message, ctx: Context) -> dict:
    out = ctx.node({"name": m.str("name")}, m.path)
    kind = m.one_of("string_match", "present_match")
    if kind == "string_match":
        sub = m.message(kind, s.STRING_MATCHER)
        value = string_matcher(sub) if sub is not None else None
        if value is not None:
            _put_value(out, value, m.at(kind), ctx)
    elif kind == "present_match":
        ctx.put(out, "present_match", m.bool(kind), m.at(kind))
    m.finish()
    return out


def _put_value(out: dict, value: tuple[str, bool], source: str, ctx: Context) -> None:
    text, is_regex = value
    if text == "" and not is_regex:
        is_regex = True  # pymosn reads a bare name as "present"; an exact empty value must stay exact
    ctx.put(out, "value", text, source)
    if is_regex:
        ctx.put(out, "regex", True, source)


# --- actions -------------------------------------------------------------------------------------


def route_action(m: Message, ctx: Context, default_retry: dict | None) -> dict:
    out = ctx.node({}, m.path)
    kind = m.one_of("cluster", "cluster_header", "weighted_clusters", "cluster_specifier_plugin",
                    "inline_cluster_specifier_plugin")
    if kind == "cluster":
        if not m.str(kind):
            m.error(kind, "must not be empty")
        ctx.put(out, "cluster_name", m.str(kind), m.at(kind))
    elif kind == "cluster_header":
        ctx.put(out, "cluster_header", m.str(kind), m.at(kind))
    elif kind == "weighted_clusters":
        weighted = m.message(kind, s.WEIGHTED_CLUSTER)
        if weighted is not None:
            ctx.put(out, "weighted_clusters", weighted_clusters(weighted, ctx), weighted.at("clusters"))
    elif kind is None:
        m.error(None, "a route action needs one of cluster, cluster_header, weighted_clusters")
    metadata = metadata_match(m, "metadata_match")
    if metadata:
        ctx.put(out, "metadata_match", metadata, m.at("metadata_match"))
    for field, key in (("prefix_rewrite", "prefix_rewrite"), ("host_rewrite_literal", "host_rewrite")):
        if m.has(field):
            ctx.put(out, key, m.str(field), m.at(field))
    if m.bool("auto_host_rewrite"):
        ctx.put(out, "auto_host_rewrite", True, m.at("auto_host_rewrite"))
    timeout = m.duration("timeout")
    ctx.put(out, "timeout", ROUTE_TIMEOUT if timeout is None else timeout, m.at("timeout"))
    upgrade_configs(m, "upgrade_configs", s.ROUTE_UPGRADE_CONFIG)
    if m.has("rate_limits"):
        ctx.put(out, "rate_limits", envoy_rate_limits.rate_limits(m, "rate_limits", ctx), m.at("rate_limits"))
    if m.bool("include_vh_rate_limits"):
        ctx.put(out, "include_vh_rate_limits", True, m.at("include_vh_rate_limits"))
    retry = m.message("retry_policy", s.RETRY_POLICY)
    policy = retry_policy(retry, ctx) if retry is not None else default_retry
    if policy is not None:
        ctx.put(out, "retry_policy", policy, retry.path if retry is not None else m.path)
    m.finish()
    return out


def weighted_clusters(m: Message, ctx: Context) -> list[dict]:
    out, switched_off = [], []
    for weight in m.messages("clusters", s.CLUSTER_WEIGHT):
        if weight.has("cluster_header"):
            weight.refuse("cluster_header", "send requests to a cluster the header does not name")
        entry = ctx.node({"name": weight.str("name"), "weight": weight.int("weight", 0)}, weight.path)
        ctx.origins.field(entry, "weight", weight.at("weight"))
        metadata = metadata_match(weight, "metadata_match")
        if metadata:
            ctx.put(entry, "metadata_match", metadata, weight.at("metadata_match"))
        weight.finish()
        # Envoy takes weight 0 (a canary switched off) while another weight is not: such a
        # cluster is never picked, so it is left out; if all are 0 the MOSN checks say so
        (out if entry["weight"] != 0 else switched_off).append(ctx.node({"cluster": entry}, weight.path))
    m.finish()
    return out or switched_off


def metadata_match(m: Message, field: str) -> dict:
    """The envoy.lb section of a Metadata: what subset load balancing matches hosts on."""
    metadata = m.message(field, s.METADATA)
    if metadata is None:
        return {}
    sections = metadata.map("filter_metadata")
    metadata.finish()
    lb = sections.get("envoy.lb", {})
    if not isinstance(lb, dict):
        metadata.error("filter_metadata", "envoy.lb must be an object")
        return {}
    return lb


def retry_policy(m: Message, ctx: Context) -> dict:
    conditions = [c.strip() for c in m.str("retry_on").split(",") if c.strip()]
    out = ctx.node({"retry_on": bool(conditions)}, m.path)
    ctx.origins.field(out, "retry_on", m.at("retry_on"))
    ctx.put(out, "num_retries", m.int("num_retries", 1), m.at("num_retries"))
    per_try = m.duration("per_try_timeout")
    if per_try is not None:
        ctx.put(out, "retry_timeout", per_try, m.at("per_try_timeout"))
    codes = set(m.ints("retriable_status_codes"))
    for condition in conditions:
        if condition not in _RETRY_5XX | _RETRY_CONNECT | _RETRY_OTHER:
            m.warn("retry_on", f"unknown retry condition {condition!r}; ignored")
        elif condition in _RETRY_OTHER:
            m.warn("retry_on", f"retry condition {condition!r} is not implemented by pymosn yet; ignored")
    honoured = set(conditions)
    if "5xx" not in honoured and honoured & _RETRY_5XX:
        statuses = {502, 503, 504} if "gateway-error" in honoured else set()
        if "retriable-status-codes" in honoured:
            statuses |= {code for code in codes if code >= 500}
            if any(code < 500 for code in codes):
                m.warn("retriable_status_codes", "pymosn retries 5xx answers only; lower codes are ignored")
        if statuses:
            ctx.put(out, "status_codes", sorted(statuses), m.at("retry_on"))
    elif conditions and not honoured & _RETRY_5XX and honoured & _RETRY_CONNECT:
        m.warn("retry_on", "pymosn retries 5xx answers too whenever it retries failed connections")
    m.finish()
    return out


def direct_response(m: Message, ctx: Context) -> dict:
    out = ctx.node({}, m.path)
    ctx.put(out, "status", m.int("status", 0), m.at("status"))
    body = m.message("body", s.DATA_SOURCE)
    if body is not None:
        filename = body.raw("filename")
        text = data_source(body, ctx)
        if isinstance(filename, str) and text == filename:
            try:
                text = Path(filename).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as error:
                ctx.log.error(body.at("filename"), f"cannot read {filename!r}: {error}")
                text = None
        if text is not None:
            ctx.put(out, "body", text, body.path)
    m.finish()
    return out


def redirect(m: Message, ctx: Context) -> dict:
    out = ctx.node({}, m.path)
    scheme = m.one_of("https_redirect", "scheme_redirect")
    if scheme == "https_redirect" and m.bool(scheme):
        ctx.put(out, "scheme_redirect", "https", m.at(scheme))
    elif scheme == "scheme_redirect":
        ctx.put(out, "scheme_redirect", m.str(scheme), m.at(scheme))
    if m.has("host_redirect"):
        ctx.put(out, "host_redirect", m.str("host_redirect"), m.at("host_redirect"))
    if m.has("path_redirect"):
        ctx.put(out, "path_redirect", m.str("path_redirect"), m.at("path_redirect"))
    code = m.enum("response_code", tuple(REDIRECT_CODES))
    if code is not None:
        ctx.put(out, "response_code", REDIRECT_CODES[code], m.at("response_code"))
    m.finish()
    return out


# --- header mutations ----------------------------------------------------------------------------


def header_mutations(m: Message, out: dict, ctx: Context) -> None:
    for field in ("request_headers_to_add", "response_headers_to_add"):
        options = [header_option(o, ctx) for o in m.messages(field, s.HEADER_VALUE_OPTION)]
        options = [o for o in options if o is not None]
        if options:
            ctx.put(out, field, options, m.at(field))
    for field in ("request_headers_to_remove", "response_headers_to_remove"):
        names = m.strings(field)
        if names:
            ctx.put(out, field, names, m.at(field))


def header_option(m: Message, ctx: Context) -> dict | None:
    header = m.message("header", s.HEADER_VALUE)
    if header is None:
        m.error("header", "missing: a header to add needs a header")
        m.finish()
        return None
    value = header.str("value")
    if header.has("raw_value"):
        try:
            value = base64.b64decode(header.str("raw_value"), validate=True).decode("latin-1")
        except binascii.Error as error:
            header.error("raw_value", f"expected base64: {error}")
    if _FORMAT_OPERATOR.search(value):
        header.warn("value", "pymosn sends header values as written; %...% operators are not expanded")
    out = ctx.node({"header": ctx.node({"key": header.str("key"), "value": value}, header.path)}, m.path)
    header.finish()
    # Envoy appends unless told otherwise; MOSN's default is to replace.
    append = True
    if m.raw("append") is not None and m.raw("append_action") is not None:
        m.error(None, "set only one of append, append_action")
    elif m.raw("append") is not None:
        append = m.bool("append", True)
    elif m.raw("append_action") is not None:
        action = m.enum("append_action", _APPEND_ACTIONS)
        if action in ("ADD_IF_ABSENT", "OVERWRITE_IF_EXISTS"):
            m.warn("append_action", f"{action} is not implemented by pymosn yet; the header is set as with "
                                    "OVERWRITE_IF_EXISTS_OR_ADD")
        append = action in ("APPEND_IF_EXISTS_OR_ADD", None)
    ctx.put(out, "append", append, m.at("append_action") if m.raw("append_action") is not None else m.at("append"))
    m.finish()
    return out
