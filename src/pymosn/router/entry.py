"""A compiled route: its match and everything the proxy reads from it on the hot path.

Built once per config snapshot and shared by every request, so it refuses attribute writes."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pymosn.config import model
from pymosn.config.rate_limits import RateLimit
from pymosn.config.registries import HTTP_FILTERS
from pymosn.router import actions
from pymosn.router.matchers import HeaderCondition, QueryCondition, StringCondition
from pymosn.router.mirror_policy import MirrorPolicy, compile_policies

PATH_ANY, PATH_PREFIX, PATH_EXACT, PATH_REGEX = range(4)

KIND_CLUSTER, KIND_DIRECT, KIND_REDIRECT = "cluster", "direct_response", "redirect"


class RouteEntry:
    __slots__ = (
        "index",
        "name",
        "kind",
        "virtual_host",
        "path_kind",
        "path_value",
        "case_sensitive",
        "regex",
        "header_conditions",
        "query_conditions",
        "peer_condition",
        "conditional",
        "cluster_name",
        "cluster_header",
        "weighted_clusters",
        "metadata_match",
        "timeout",
        "retry_policy",
        "prefix_rewrite",
        "host_rewrite",
        "auto_host_rewrite",
        "request_headers_to_add",
        "request_headers_to_remove",
        "response_headers_to_add",
        "response_headers_to_remove",
        "direct_status",
        "direct_body",
        "redirect",
        "redirect_code",
        "filter_configs",
        "filters_off",
        "rate_limits",
        "vh_rate_limits",
        "include_vh_rate_limits",
        "mirror_policies",
    )
    # Declared for the type checker; __init__ sets every slot once through object.__setattr__.
    index: int
    name: str
    kind: str  # KIND_CLUSTER, KIND_DIRECT or KIND_REDIRECT
    virtual_host: str
    path_kind: int  # PATH_ANY, PATH_PREFIX, PATH_EXACT or PATH_REGEX
    path_value: str
    case_sensitive: bool
    regex: re.Pattern[str] | None
    header_conditions: tuple[HeaderCondition, ...]
    query_conditions: tuple[QueryCondition, ...]
    peer_condition: StringCondition | None
    conditional: bool
    cluster_name: str
    cluster_header: str
    weighted_clusters: actions.WeightedClusters | None
    metadata_match: dict[str, Any] | None
    timeout: float | None
    retry_policy: model.RetryPolicy | None
    prefix_rewrite: str | None
    host_rewrite: str | None
    auto_host_rewrite: bool
    request_headers_to_add: tuple[actions.HeaderAdd, ...]
    request_headers_to_remove: frozenset[str]
    response_headers_to_add: tuple[actions.HeaderAdd, ...]
    response_headers_to_remove: frozenset[str]
    direct_status: int
    direct_body: bytes
    redirect: model.Redirect | None
    redirect_code: int
    # stream filter name -> its per-route config: the route's, else the virtual host's, else the
    # route configuration's (most specific wins whole, as Envoy's typed_per_filter_config)
    filter_configs: Mapping[str, Any]
    # stream filters the most specific per-filter config turns off here (Envoy's FilterConfig.disabled)
    filters_off: frozenset[str]
    # Envoy's rate limit policies for the local rate limit filter: the route action's own and
    # its virtual host's (which of them apply is the filter's vh_rate_limits option)
    rate_limits: tuple[RateLimit, ...]
    vh_rate_limits: tuple[RateLimit, ...]
    include_vh_rate_limits: bool
    # the policies that may copy a request (proxy/mirror.py); () for most routes: one falsy test
    mirror_policies: tuple[MirrorPolicy, ...]

    def __init__(
        self, index: int, route: model.Route, vhost: model.VirtualHost, table: model.RouterConfig
    ) -> None:
        f: dict[str, Any] = {"index": index, "name": route.name, "virtual_host": vhost.name}
        f.update(_path_fields(route.match))
        f["header_conditions"] = tuple(HeaderCondition(h) for h in route.match.headers)
        f["query_conditions"] = tuple(QueryCondition(q) for q in route.match.query_parameters)
        peer = route.match.downstream_peer_uri_san
        f["peer_condition"] = StringCondition(peer) if peer is not None else None
        f["conditional"] = bool(f["header_conditions"] or f["query_conditions"] or peer is not None)
        f.update(_action_fields(route))
        action = route.route if f["kind"] == KIND_CLUSTER else None
        for field in ("request_headers_to_add", "request_headers_to_remove", "response_headers_to_add",
                      "response_headers_to_remove"):
            # the four levels, most specific first: route action, route entry, vhost, route config
            levels = [getattr(level, field) for level in (route, vhost, table)]
            levels.insert(0, getattr(action, field) if action else ())
            merge = actions.merge_header_adds if field.endswith("_add") else actions.merge_header_removes
            f[field] = merge(*levels)
        f["filter_configs"], f["filters_off"] = _filter_configs(route, vhost, table)
        f["rate_limits"] = action.rate_limits if action else ()
        f["vh_rate_limits"] = vhost.rate_limits
        f["include_vh_rate_limits"] = action.include_vh_rate_limits if action else False
        f["mirror_policies"] = compile_policies(route.request_mirror_policies) if action is not None else ()
        for name, value in f.items():
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"RouteEntry is immutable (tried to set {name!r})")

    def matches_path(self, path: str, lowered: str) -> bool:
        """`lowered` is path.lower(); the index only calls this for regex and path-less routes."""
        kind = self.path_kind
        if kind == PATH_REGEX:
            regex = self.regex
            assert regex is not None  # _path_fields compiles one for every regex route
            return regex.fullmatch(path) is not None
        if kind == PATH_ANY:
            return True
        subject = path if self.case_sensitive else lowered
        if kind == PATH_PREFIX:
            return subject.startswith(self.path_value)
        return subject == self.path_value

    def matches_conditions(self, headers: Mapping[str, str], params: Mapping[str, str], peer: str | None = None) -> bool:
        """`peer`: the downstream TLS client's verified URI SAN, None without one."""
        if self.peer_condition is not None and not self.peer_condition.matches(peer):
            return False
        for cond in self.header_conditions:
            if not cond.matches(headers):
                return False
        for param in self.query_conditions:
            if not param.matches(params):
                return False
        return True

    def pick_cluster(self, headers: Mapping[str, str], rand: float | None = None) -> str | None:
        """The upstream cluster for this request: the fixed name, the named request header's
        value, or a weighted random pick (`rand` in [0, 1) makes it deterministic)."""
        if self.cluster_name:
            return self.cluster_name
        if self.cluster_header:
            return headers.get(self.cluster_header) or None
        if self.weighted_clusters is not None:
            return self.weighted_clusters.pick(rand)
        return None

    def rewrite_path(self, path: str) -> str:
        """Envoy's prefix_rewrite: the matched prefix is replaced. An exact or regex route
        matched the whole path, so the whole path is replaced."""
        new = self.prefix_rewrite
        if new is None:
            return path
        if self.path_kind == PATH_PREFIX:
            return new + path[len(self.path_value) :]
        if self.path_kind == PATH_ANY:
            return new + path  # matched the empty prefix
        return new

    def redirect_location(self, scheme: str, host: str, path_and_query: str) -> str:
        redirect = self.redirect
        assert redirect is not None, "only a redirect route has a location"
        return actions.redirect_location(redirect, scheme, host, path_and_query)

    def __repr__(self) -> str:
        return f"RouteEntry({self.index}, {self.name!r}, {self.kind}, {self.path_value!r})"


def _filter_configs(route: model.Route, vhost: model.VirtualHost,
                    table: model.RouterConfig) -> tuple[dict[str, Any], frozenset[str]]:
    merged: dict[str, model.RouteFilterConfig] = {**table.filter_configs, **vhost.filter_configs,
                                                  **route.filter_configs}
    configs = {name: _route_config(c) for name, c in merged.items() if not c.disabled and c.config is not None}
    return configs, frozenset(name for name, c in merged.items() if c.disabled)


def _route_config(c: model.RouteFilterConfig) -> Any:
    """What the filter reads per request: its kind's compiled form of the Struct, made here once."""
    declaration = HTTP_FILTERS.find(c.type)
    compile_route = None if declaration is None else getattr(HTTP_FILTERS.factory(declaration.name),
                                                               "create_route_config", None)
    return c.config if compile_route is None else compile_route(c.config)


def _path_fields(m: model.RouteMatch) -> dict[str, Any]:
    # MOSN's NewRouteBase precedence when several are set: prefix, then path, then regex.
    regex = None
    if m.prefix is not None:
        kind, value = PATH_PREFIX, m.prefix
    elif m.path is not None:
        kind, value = PATH_EXACT, m.path
    elif m.regex is not None:
        # case_sensitive does not apply to regexes, as in Envoy (and MOSN has no such flag).
        kind, value, regex = PATH_REGEX, m.regex, re.compile(m.regex)
    else:
        kind, value = PATH_ANY, ""
    if not m.case_sensitive and kind in (PATH_PREFIX, PATH_EXACT):
        value = value.lower()
    return {
        "path_kind": kind,
        "path_value": value,
        "case_sensitive": m.case_sensitive or kind not in (PATH_PREFIX, PATH_EXACT),
        "regex": regex,
    }


def _action_fields(route: model.Route) -> dict[str, Any]:
    f: dict[str, Any] = {
        "cluster_name": "",
        "cluster_header": "",
        "weighted_clusters": None,
        "metadata_match": None,
        "timeout": None,
        "retry_policy": None,
        "prefix_rewrite": None,
        "host_rewrite": None,
        "auto_host_rewrite": False,
        "direct_status": 0,
        "direct_body": b"",
        "redirect": None,
        "redirect_code": 0,
    }
    if route.direct_response is not None:
        f["kind"] = KIND_DIRECT
        f["direct_status"] = route.direct_response.status
        f["direct_body"] = route.direct_response.body.encode()
    elif route.redirect is not None:
        f["kind"] = KIND_REDIRECT
        f["redirect"] = route.redirect
        f["redirect_code"] = route.redirect.response_code
    else:
        f["kind"] = KIND_CLUSTER
        a = route.route or model.RouteAction()
        f["cluster_name"] = a.cluster_name
        f["cluster_header"] = a.cluster_header.lower()
        if a.weighted_clusters:
            f["weighted_clusters"] = actions.WeightedClusters(a.weighted_clusters)
        f["metadata_match"] = a.metadata_match
        f["timeout"] = a.timeout
        f["retry_policy"] = a.retry_policy
        f["prefix_rewrite"] = a.prefix_rewrite
        f["host_rewrite"] = a.host_rewrite
        f["auto_host_rewrite"] = a.auto_host_rewrite
    return f
