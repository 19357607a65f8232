"""A compiled route: its match and everything the proxy reads from it on the hot path."""

from __future__ import annotations

import random
import re
from collections.abc import Mapping

from pymosn.config import model
from pymosn.router.matchers import HeaderCondition, QueryCondition

PATH_ANY, PATH_PREFIX, PATH_EXACT, PATH_REGEX = range(4)


def _adds(*levels: tuple[model.HeaderValueOption, ...]) -> tuple[tuple[str, str, bool], ...]:
    # Envoy's default order: route, then virtual host, then route config; with append=false a
    # later (more general) level replaces what a more specific one set.
    return tuple((o.header.key.lower(), o.header.value, o.append) for level in levels for o in level)


def _removes(*levels: tuple[str, ...]) -> frozenset[str]:
    return frozenset(n.lower() for level in levels for n in level)


class RouteEntry:
    __slots__ = (
        "index",
        "name",
        "kind",
        "path_kind",
        "path_value",
        "case_sensitive",
        "regex",
        "header_conditions",
        "query_conditions",
        "cluster_name",
        "cluster_header",
        "weighted",
        "total_weight",
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
    )

    def __init__(self, index: int, route: model.Route, vhost: model.VirtualHost, table: model.RouterConfig) -> None:
        self.index = index
        self.name = route.name
        m = route.match
        self.case_sensitive = m.case_sensitive
        self.regex = None
        if m.path is not None:
            self.path_kind, self.path_value = PATH_EXACT, m.path
        elif m.prefix is not None:
            self.path_kind, self.path_value = PATH_PREFIX, m.prefix
        elif m.regex is not None:
            self.path_kind, self.path_value = PATH_REGEX, m.regex
            self.regex = re.compile(m.regex, 0 if m.case_sensitive else re.IGNORECASE)
        else:
            self.path_kind, self.path_value = PATH_ANY, ""
        if not self.case_sensitive and self.path_kind in (PATH_EXACT, PATH_PREFIX):
            self.path_value = self.path_value.lower()
        self.header_conditions = tuple(HeaderCondition(h) for h in m.headers)
        self.query_conditions = tuple(QueryCondition(q) for q in m.query_parameters)

        action = route.route
        self.cluster_name = ""
        self.cluster_header = ""
        self.weighted: tuple[tuple[int, str], ...] = ()
        self.total_weight = 0
        self.timeout = None
        self.retry_policy = None
        self.prefix_rewrite = None
        self.host_rewrite = None
        self.auto_host_rewrite = False
        self.direct_status = 0
        self.direct_body = b""
        self.redirect = None
        self.redirect_code = 0
        route_adds: tuple = ()
        route_removes: tuple = ()
        resp_adds: tuple = ()
        resp_removes: tuple = ()
        if route.direct_response is not None:
            self.kind = "direct_response"
            self.direct_status = route.direct_response.status
            self.direct_body = route.direct_response.body.encode()
        elif route.redirect is not None:
            self.kind = "redirect"
            self.redirect = route.redirect
            self.redirect_code = route.redirect.response_code
        else:
            self.kind = "cluster"
            action = action or model.RouteAction()
            self.cluster_name = action.cluster_name
            self.cluster_header = action.cluster_header.lower()
            acc = 0
            weighted = []
            for w in action.weighted_clusters:
                acc += w.cluster.weight
                weighted.append((acc, w.cluster.name))
            self.weighted = tuple(weighted)
            self.total_weight = acc
            self.timeout = action.timeout
            self.retry_policy = action.retry_policy
            self.prefix_rewrite = action.prefix_rewrite
            self.host_rewrite = action.host_rewrite
            self.auto_host_rewrite = action.auto_host_rewrite
            route_adds, route_removes = action.request_headers_to_add, action.request_headers_to_remove
            resp_adds, resp_removes = action.response_headers_to_add, action.response_headers_to_remove
        self.request_headers_to_add = _adds(
            route_adds, route.request_headers_to_add, vhost.request_headers_to_add, table.request_headers_to_add
        )
        self.request_headers_to_remove = _removes(
            route_removes, route.request_headers_to_remove, vhost.request_headers_to_remove, table.request_headers_to_remove
        )
        self.response_headers_to_add = _adds(
            resp_adds, route.response_headers_to_add, vhost.response_headers_to_add, table.response_headers_to_add
        )
        self.response_headers_to_remove = _removes(
            resp_removes,
            route.response_headers_to_remove,
            vhost.response_headers_to_remove,
            table.response_headers_to_remove,
        )

    @property
    def has_conditions(self) -> bool:
        """True if matching depends on more than host and path."""
        return bool(self.header_conditions or self.query_conditions)

    def matches_path(self, path: str, lowered: str) -> bool:
        kind = self.path_kind
        subject = path if self.case_sensitive else lowered
        if kind == PATH_PREFIX:
            return subject.startswith(self.path_value)
        if kind == PATH_EXACT:
            return subject == self.path_value
        if kind == PATH_REGEX:
            return self.regex.fullmatch(path) is not None
        return True

    def matches_conditions(self, headers: Mapping[str, str], params: dict[str, str] | None) -> bool:
        for cond in self.header_conditions:
            if not cond.matches(headers):
                return False
        for cond in self.query_conditions:
            if not cond.matches(params):
                return False
        return True

    def pick_cluster(self, headers: Mapping[str, str], rand: float | None = None) -> str | None:
        if self.cluster_name:
            return self.cluster_name
        if self.cluster_header:
            return headers.get(self.cluster_header)
        if self.weighted:
            point = (random.random() if rand is None else rand) * self.total_weight
            for upto, name in self.weighted:
                if point < upto:
                    return name
            return self.weighted[-1][1]
        return None

    def rewrite_path(self, path: str) -> str:
        new = self.prefix_rewrite
        if new is None:
            return path
        if self.path_kind == PATH_PREFIX:
            return new + path[len(self.path_value) :]
        return new  # exact and regex routes replace the whole matched path

    def redirect_location(self, scheme: str, host: str, path_and_query: str) -> str:
        r = self.redirect
        path, sep, query = path_and_query.partition("?")
        if r.path_redirect is not None:
            path = r.path_redirect
            if "?" in path:
                sep, query = "", ""
        return f"{r.scheme_redirect or scheme}://{r.host_redirect or host}{path}{sep}{query}"

    def __repr__(self) -> str:
        return f"RouteEntry({self.index}, {self.kind}, {self.path_value!r})"
