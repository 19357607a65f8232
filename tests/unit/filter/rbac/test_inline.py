"""The engine's generated first_match (filter/rbac/inline.py) against the policies' own closures:
on generated policy trees and requests, every policy's generated test agrees with its closure,
and the engine returns the first policy whose closure matches."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from pymosn.config.issues import IssueLog
from pymosn.filter.rbac import native
from pymosn.filter.rbac.engine import decode_rules
from pymosn.filter.rbac.inline import first_match_function
from pymosn.filter.rbac.matchers import NEVER
from tests.support.fakes import fake_connection, request_headers

_STRING = st.sampled_from(["exact", "prefix", "suffix", "contains"])
_TEXT = st.sampled_from(["GET", "G", "T", "/admin", "/a", "z", "healthz", "v"])


def _string_matcher() -> st.SearchStrategy[dict[str, Any]]:
    literal = st.builds(lambda kind, value, fold: {kind: value, **({"ignore_case": True} if fold else {})},
                        _STRING, _TEXT, st.booleans())
    regex = st.sampled_from([{"safe_regex": {"regex": "/a.*"}}, {"safe_regex": {"regex": "GET|PUT"}}])
    return st.one_of(literal, regex)


def _header() -> st.SearchStrategy[dict[str, Any]]:
    name = st.sampled_from([":method", ":path", ":scheme", "x-a", "host"])
    value = st.one_of(
        st.builds(lambda m: {"string_match": m}, _string_matcher()),
        st.builds(lambda v: {"exact_match": v}, st.sampled_from(["", "GET", "v"])),
        st.builds(lambda p: {"present_match": p}, st.booleans()),
        st.builds(lambda p: {"prefix_match": p}, st.sampled_from(["G", "/", "v"])),
    )
    return st.builds(lambda n, v, invert, empty: {"header": {"name": n, **v, "invert_match": invert,
                                                             "treat_missing_header_as_empty": empty}},
                     name, value, st.booleans(), st.booleans())


_CIDRS = st.sampled_from([("10.0.0.0", 8), ("10.0.0.2", 32), ("192.168.0.0", 16), ("2001:db8::", 32), ("0.0.0.0", 0)])


def _permission_leaf() -> st.SearchStrategy[dict[str, Any]]:
    return st.one_of(
        st.just({"any": True}),
        _header(),
        st.builds(lambda m: {"url_path": {"path": m}}, _string_matcher()),
        st.builds(lambda p: {"destination_port": p}, st.sampled_from([80, 8080])),
        st.builds(lambda c: {"destination_ip": {"address_prefix": c[0], "prefix_len": c[1]}}, _CIDRS),
    )


def _principal_leaf() -> st.SearchStrategy[dict[str, Any]]:
    return st.one_of(
        st.just({"any": True}),
        _header(),
        st.builds(lambda m: {"url_path": {"path": m}}, _string_matcher()),
        st.builds(lambda key, c: {key: {"address_prefix": c[0], "prefix_len": c[1]}},
                  st.sampled_from(["direct_remote_ip", "source_ip", "remote_ip"]), _CIDRS),
    )


def _tree(leaf: st.SearchStrategy[dict[str, Any]], all_of: str, any_of: str, negated: str,
          key: str) -> st.SearchStrategy[dict[str, Any]]:
    def extend(children: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
        group = st.lists(children, min_size=1, max_size=3)
        return st.one_of(st.builds(lambda rules: {all_of: {key: rules}}, group),
                         st.builds(lambda rules: {any_of: {key: rules}}, group),
                         st.builds(lambda rule: {negated: rule}, children))
    return st.recursive(leaf, extend, max_leaves=6)


_PERMISSIONS = _tree(_permission_leaf(), "and_rules", "or_rules", "not_rule", "rules")
_PRINCIPALS = _tree(_principal_leaf(), "and_ids", "or_ids", "not_id", "ids")
_POLICY = st.builds(lambda permissions, principals: {"permissions": permissions, "principals": principals},
                    st.lists(_PERMISSIONS, min_size=1, max_size=2), st.lists(_PRINCIPALS, min_size=1, max_size=2))

_REQUEST = st.builds(
    lambda method, path, extra, peer, port: (request_headers(path, method, extra=extra),
                                              fake_connection(remote=(peer, 40000), local=("10.0.0.1", port))),
    st.sampled_from([b"GET", b"POST", b"get", b""]),
    st.sampled_from([b"/", b"/admin", b"/admin/x?q=1", b"/a#frag", b"/healthz", b"/Z?a#b", b"/az"]),
    st.lists(st.sampled_from([(b"x-a", b"v"), (b"X-A", b"w"), (b"x-a", b""), (b"x-b", b"GET")]), max_size=3),
    st.sampled_from(["10.0.0.2", "10.1.2.3", "192.168.0.1", "::ffff:10.0.0.2", "2001:db8::1", ""]),
    st.sampled_from([80, 8080]),
)


@settings(max_examples=300, deadline=None)
@given(policies=st.lists(_POLICY, min_size=1, max_size=4), requests=st.lists(_REQUEST, min_size=1, max_size=4))
def test_the_generated_first_match_agrees_with_the_closures(policies, requests):
    log = IssueLog()
    engine = decode_rules({"action": "ALLOW", "policies": {f"p{i}": p for i, p in enumerate(policies)}}, "$", log,
                          http=True)
    assert engine is not None, log.errors
    singles = [(policy, first_match_function([(policy, policy.match)])) for policy in engine.policies
               if policy.match is not NEVER]
    for headers, info in requests:
        for policy, alone in singles:
            assert (alone(info, headers) is policy) == bool(policy.match(info, headers))
        expected = next((p for p in engine.policies if p.match(info, headers)), None)
        assert engine.first_match(info, headers) is expected


@settings(max_examples=300, deadline=None)
@given(policies=st.lists(_POLICY, min_size=1, max_size=4), requests=st.lists(_REQUEST, min_size=1, max_size=4))
def test_the_native_tree_agrees_with_the_closures(policies, requests):
    # what the compiled build checks with (native.py); built here in either build
    log = IssueLog()
    engine = decode_rules({"action": "ALLOW", "policies": {f"p{i}": p for i, p in enumerate(policies)}}, "$", log,
                          http=True)
    assert engine is not None, log.errors
    live = [(policy, policy.match) for policy in engine.policies if policy.match is not NEVER]
    singles = [(policy, native.tree(policy.match)) for policy, _ in live]
    both = native.PolicySet(live)
    for headers, info in requests:
        for policy, alone in singles:
            assert alone.matches(info, headers) == bool(policy.match(info, headers))
        expected = next((p for p in engine.policies if p.match(info, headers)), None)
        assert both.first_match(info, headers) is expected


def test_the_engine_checks_with_the_native_tree_in_the_compiled_build_only():
    engine = decode_rules({"policies": {"p": {"permissions": [{"header": {"name": ":method", "string_match": {
        "exact": "GET"}}}], "principals": [{"any": True}]}}}, "$", IssueLog(), http=True)
    assert engine is not None
    assert (engine.policy_set is not None) == native.COMPILED
    assert engine.first_match(fake_connection(), request_headers()) is engine.policies[0]
