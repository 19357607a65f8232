"""Header conditions of filters: Envoy's HeaderMatcher and MOSN's, read from filter configs
and compiled with Envoy's semantics, tested on RequestHeaderMaps."""

from __future__ import annotations

from typing import Any

import pytest

from pymosn.config.issues import IssueLog
from pymosn.filter.http import header_match
from pymosn.router.header_match import RequestMatch, request_match
from tests.support.fakes import request_headers

HEADERS = request_headers(b"/api/v1", b"POST", extra=[(b"x-env", b"Staging"), (b"x-tag", b"a"), (b"x-tag", b"b")])


def _envoy(raw: dict[str, Any]) -> RequestMatch:
    log = IssueLog()
    decoded = header_match.decode_envoy(raw, "$", log)
    assert log.errors == [] and decoded is not None
    return request_match(decoded)


@pytest.mark.parametrize(("raw", "expected"), [
    ({"name": "x-env", "exact_match": "Staging"}, True),
    ({"name": "x-env", "exact_match": "staging"}, False),
    ({"name": "x-env", "string_match": {"exact": "staging", "ignore_case": True}}, True),
    ({"name": "x-env", "prefix_match": "Sta"}, True),
    ({"name": "x-env", "suffix_match": "ing"}, True),
    ({"name": "x-env", "contains_match": "agi"}, True),
    ({"name": "x-env", "safe_regex_match": {"regex": "S.*g"}}, True),
    ({"name": "x-env", "safe_regex_match": {"regex": "S"}}, False),  # a full match, as Envoy
    ({"name": "x-env"}, True),  # name only: present
    ({"name": "x-missing", "present_match": False}, True),
    ({"name": "x-missing", "exact_match": "a"}, False),
    ({"name": "x-missing", "exact_match": "a", "invert_match": True}, False),  # missing: never a value match
    ({"name": "x-missing", "present_match": True, "invert_match": True}, True),
    ({"name": "x-missing", "present_match": False, "invert_match": True}, False),
    ({"name": "x-env", "present_match": False}, False),
    ({"name": "x-env", "present_match": False, "invert_match": True}, True),
    ({"name": "x-env", "exact_match": ""}, True),  # "": any value, as Envoy
    ({"name": "x-missing", "exact_match": ""}, False),
    ({"name": "x-missing", "exact_match": "", "invert_match": True}, False),  # not a presence test
    ({"name": "x-env", "exact_match": "", "invert_match": True}, False),
    ({"name": "x-env", "string_match": {"exact": ""}}, False),  # a StringMatcher's "" is the empty value
    ({"name": "x-missing", "exact_match": "a", "invert_match": True, "treat_missing_header_as_empty": True}, True),
    ({"name": "x-missing", "string_match": {"exact": ""}, "treat_missing_header_as_empty": True}, True),
    ({"name": "x-missing", "present_match": True, "treat_missing_header_as_empty": True}, False),  # presence: as is
    ({"name": "x-missing", "range_match": {"start": 0, "end": 9}, "treat_missing_header_as_empty": True}, False),
    ({"name": "x-tag", "exact_match": "a,b"}, True),  # several fields: joined with ","
    ({"name": ":path", "prefix_match": "/api"}, True),
    ({"name": ":method", "exact_match": "POST"}, True),
    ({"name": ":authority", "exact_match": "svc.local"}, True),
])
def test_envoy_matchers(raw: dict[str, Any], expected: bool):
    assert _envoy(raw)(None, HEADERS) is expected


def test_mosn_matchers():
    log = IssueLog()
    exact = header_match.decode_mosn({"name": "X-Env", "value": "Staging"}, "$", log)
    regex = header_match.decode_mosn({"name": "x-env", "value": "St.*", "regex": True}, "$", log)
    assert exact is not None and regex is not None and log.errors == []
    assert request_match(exact)(None, HEADERS) and request_match(regex)(None, HEADERS)


def test_a_mosn_empty_value_asks_for_an_empty_header():
    log = IssueLog()
    empty = header_match.decode_mosn({"name": "x-env", "value": ""}, "$", log)
    assert empty is not None and log.errors == []
    assert not request_match(empty)(None, HEADERS)
    assert request_match(empty)(None, request_headers(extra=[(b"x-env", b"")]))


@pytest.mark.parametrize(("raw", "paths"), [
    ({"exact_match": "a"}, ["$.name"]),
    ({"name": "x", "exact_match": "a", "prefix_match": "b"}, ["$"]),
    ({"name": "x", "string_match": {}}, ["$.string_match"]),
    ({"name": "x", "prefix_match": ""}, ["$.prefix_match"]),  # Envoy: min_len 1
    ({"name": "x y", "exact_match": "a"}, ["$.name"]),
    ({"name": "x", "string_match": {"custom": {}}}, ["$.string_match.custom"]),
    ({"name": "x", "safe_regex_match": {"regex": "("}}, ["$.safe_regex_match.regex"]),
    ({"name": "x", "exact": "a"}, ["$.exact"]),
])
def test_bad_envoy_matchers(raw: dict[str, Any], paths: list[str]):
    log = IssueLog()
    assert header_match.decode_envoy(raw, "$", log) is None
    assert [issue.path for issue in log.errors] == paths
