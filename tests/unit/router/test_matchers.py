from __future__ import annotations

import pytest

from pymosn.config import model
from pymosn.router.matchers import HeaderCondition, QueryCondition, parse_query

from .builders import picked, routes_table, to


def test_prefix():
    t = routes_table([to("api", prefix="/api/"), to("root", prefix="/")])
    assert picked(t, "/api/x") == "api"
    assert picked(t, "/api/") == "api"
    assert picked(t, "/api") == "root"
    assert picked(t, "/API/x") == "root"  # case-sensitive by default


def test_empty_prefix_matches_everything():
    t = routes_table([to("all", prefix="")])
    assert picked(t, "/anything") == "all"
    assert picked(t, "") == "all"


def test_exact_path():
    t = routes_table([to("exact", path="/a/b")])
    assert picked(t, "/a/b") == "exact"
    assert picked(t, "/a/b/") is None
    assert picked(t, "/a") is None
    assert picked(t, "/A/B") is None


def test_regex_is_a_full_match():
    t = routes_table([to("num", regex="/users/[0-9]+"), to("partial", regex="b")])
    assert picked(t, "/users/42") == "num"
    assert picked(t, "/users/42/x") is None
    assert picked(t, "/x/users/42") is None
    assert picked(t, "b") == "partial"
    assert picked(t, "abc") is None


def test_no_path_rule_matches_any_path():
    t = routes_table([{"name": "any", "match": {}, "route": {"cluster_name": "c"}}])
    assert picked(t, "/whatever") == "any"


def test_case_insensitive_prefix_and_path():
    t = routes_table(
        [
            to("ci-prefix", prefix="/API/", case_sensitive=False),
            to("ci-exact", path="/Exact", case_sensitive=False),
            to("cs-exact", path="/Other"),
        ]
    )
    assert picked(t, "/api/x") == "ci-prefix"
    assert picked(t, "/Api/X") == "ci-prefix"
    assert picked(t, "/EXACT") == "ci-exact"
    assert picked(t, "/exact") == "ci-exact"
    assert picked(t, "/Other") == "cs-exact"
    assert picked(t, "/other") is None


def test_case_sensitive_flag_does_not_apply_to_regex():
    # As in Envoy (and MOSN, which has no such flag): the regex decides its own case handling.
    t = routes_table([to("r", regex="/abc", case_sensitive=False), to("ri", regex="(?i)/def")])
    assert picked(t, "/abc") == "r"
    assert picked(t, "/ABC") is None
    assert picked(t, "/DEF") == "ri"


def header_route(route_name, matcher):
    return {
        "name": route_name,
        "match": {"prefix": "/", "headers": [matcher]},
        "route": {"cluster_name": "c"},
    }


@pytest.mark.parametrize(
    "matcher, headers, want",
    [
        ({"name": "X-Env", "value": "prod"}, {"x-env": "prod"}, True),
        ({"name": "x-env", "value": "prod"}, {"x-env": "Prod"}, False),
        ({"name": "x-env", "value": "prod"}, {}, False),
        ({"name": "x-env", "value": "pr.d", "regex": True}, {"x-env": "prod"}, True),
        ({"name": "x-env", "value": "pr", "regex": True}, {"x-env": "prod"}, False),  # full match
        ({"name": "x-env", "value": ".*", "regex": True}, {}, False),  # absent never matches a value
        ({"name": "x-env", "present_match": True}, {"x-env": ""}, True),
        ({"name": "x-env", "present_match": True}, {}, False),
        ({"name": "x-env", "present_match": False}, {}, True),
        ({"name": "x-env", "present_match": False}, {"x-env": "1"}, False),
        ({"name": "x-env"}, {"x-env": "any"}, True),  # name only: presence, as Envoy
        ({"name": "x-env"}, {}, False),
        ({"name": "x-env", "value": "prod", "invert_match": True}, {"x-env": "dev"}, True),
        ({"name": "x-env", "value": "prod", "invert_match": True}, {"x-env": "prod"}, False),
        ({"name": "x-env", "value": "prod", "invert_match": True}, {}, False),  # missing: never a value match
        ({"name": "x-env", "present_match": False, "invert_match": True}, {}, False),
        ({"name": "x-env", "present_match": False, "invert_match": True}, {"x-env": ""}, True),
        ({"name": "x-env", "value": "p.*", "regex": True, "invert_match": True}, {"x-env": "prod"}, False),
        ({"name": "x-env", "present_match": True, "invert_match": True}, {}, True),
        ({"name": ":authority", "value": "a.com"}, {"host": "a.com"}, True),
    ],
)
def test_header_matchers(matcher, headers, want):
    t = routes_table([header_route("hit", matcher)])
    assert (picked(t, "/", headers=headers) == "hit") is want
    assert HeaderCondition(model.HeaderMatcher(**matcher)).matches(headers) is want


def test_all_header_conditions_must_hold():
    t = routes_table(
        [
            {
                "name": "both",
                "match": {
                    "prefix": "/",
                    "headers": [{"name": "a", "value": "1"}, {"name": "b", "value": "2"}],
                },
                "route": {"cluster_name": "c"},
            }
        ]
    )
    assert picked(t, headers={"a": "1", "b": "2"}) == "both"
    assert picked(t, headers={"a": "1"}) is None


@pytest.mark.parametrize(
    "matcher, query, want",
    [
        ({"name": "v", "value": "2"}, "v=2", True),
        ({"name": "v", "value": "2"}, "a=1&v=2&x", True),
        ({"name": "v", "value": "2"}, "v=3", False),
        ({"name": "v", "value": "2"}, "v=2&v=3", True),  # the first value counts
        ({"name": "v", "value": "2"}, "v=3&v=2", False),
        ({"name": "v", "value": "a b"}, "v=a%20b", True),  # percent-decoded
        ({"name": "v", "value": "a b"}, "v=a+b", True),
        ({"name": "v", "value": "[0-9]+", "regex": True}, "v=123", True),
        ({"name": "v", "value": "[0-9]+", "regex": True}, "v=12a", False),
        ({"name": "debug", "present_match": True}, "debug", True),
        ({"name": "debug", "present_match": True}, "debug=", True),
        ({"name": "debug", "present_match": True}, "nodebug=1", False),
        ({"name": "debug", "present_match": False}, "", True),
        ({"name": "debug"}, "debug=true", True),  # name only: presence
        ({"name": "debug"}, "", False),
    ],
)
def test_query_matchers(matcher, query, want):
    t = routes_table(
        [
            {
                "name": "hit",
                "match": {"prefix": "/", "query_parameters": [matcher]},
                "route": {"cluster_name": "c"},
            }
        ]
    )
    assert (picked(t, "/", query) == "hit") is want
    assert QueryCondition(model.QueryParameterMatcher(**matcher)).matches(parse_query(query)) is want


def test_parse_query():
    assert parse_query("") == {}
    assert parse_query("a=1&&b&a=2&c%20d=e%2Bf") == {"a": "1", "b": "", "c d": "e+f"}
