"""The RBAC engine on its own: Envoy's header, path, address, port, server-name and peer
certificate semantics, the and/or/not trees, the actions and the policy order, what the network
filter's compilation makes of HTTP-only rules, and every refused field at its path."""

from __future__ import annotations

from typing import Any

import pytest

from pymosn.api.connection import ConnectionInfo
from pymosn.config.issues import IssueLog
from pymosn.filter.rbac.engine import RbacEngine, decode_rules, denied_details
from tests.support.fakes import fake_connection, request_headers

ANY = {"any": True}
P = "$.rules"


def _engine(policies: dict[str, Any], action: str = "ALLOW", http: bool = True) -> RbacEngine:
    log = IssueLog()
    engine = decode_rules({"action": action, "policies": policies}, P, log, http)
    assert log.errors == [] and engine is not None
    return engine


def _issues(rules: dict[str, Any], http: bool = True) -> tuple[list[str], list[str]]:
    log = IssueLog()
    engine = decode_rules(rules, P, log, http)
    assert (engine is None) == bool(log.errors)
    return [str(e) for e in log.errors], [str(w) for w in log.warnings]


def _errors(rules: dict[str, Any], http: bool = True) -> list[str]:
    return _issues(rules, http)[0]


def matches(permission: dict[str, Any] | None = None, principal: dict[str, Any] | None = None,
            headers: Any = None, info: ConnectionInfo | None = None, http: bool = True) -> bool:
    engine = _engine({"p": {"permissions": [permission or ANY], "principals": [principal or ANY]}}, http=http)
    request = headers if headers is not None else request_headers()
    return engine.first_match(info or fake_connection(), request if http else None) is not None


def _with(*extra: tuple[bytes, bytes], path: bytes = b"/", method: bytes = b"GET") -> Any:
    return request_headers(path, method, extra=list(extra))


# --- headers ---------------------------------------------------------------------------------

def header(**matcher: Any) -> dict[str, Any]:
    return {"header": {"name": "x-role", **matcher}}


def test_header_values_of_one_name_are_matched_joined_with_commas():
    exact = header(string_match={"exact": "a,b"})
    assert matches(exact, headers=_with((b"x-role", b"a"), (b"X-Role", b"b")))
    assert not matches(exact, headers=_with((b"x-role", b"a")))
    assert matches(header(exact_match="admin"), headers=_with((b"x-role", b"admin")))


@pytest.mark.parametrize(("matcher", "present", "missing"), [
    ({}, True, False),  # a name alone asks for presence
    ({"present_match": True}, True, False),
    ({"present_match": False}, False, True),
    ({"present_match": True, "invert_match": True}, False, True),
    ({"exact_match": "admin"}, True, False),
    ({"exact_match": "admin", "invert_match": True}, False, False),  # a missing header never matches an inverted value
    ({"exact_match": ""}, True, False),  # "" is any value, as Envoy
    ({"string_match": {"exact": ""}, "treat_missing_header_as_empty": True}, False, True),
    ({"string_match": {"exact": "admin"}, "invert_match": True, "treat_missing_header_as_empty": True}, False, True),
])
def test_a_missing_header_matches_as_envoy_decides(matcher, present, missing):
    assert matches(header(**matcher), headers=_with((b"x-role", b"admin"))) is present
    assert matches(header(**matcher), headers=_with()) is missing


@pytest.mark.parametrize(("matcher", "value", "expected"), [
    ({"prefix_match": "ad"}, b"admin", True), ({"suffix_match": "in"}, b"admin", True),
    ({"contains_match": "dm"}, b"admin", True), ({"contains_match": "x"}, b"admin", False),
    ({"safe_regex_match": {"regex": "a.*n"}}, b"admin", True),
    ({"safe_regex_match": {"google_re2": {}, "regex": "dmi"}}, b"admin", False),  # a full match
    ({"string_match": {"prefix": "AD", "ignore_case": True}}, b"admin", True),
    ({"string_match": {"exact": "ADMIN"}}, b"admin", False),
    ({"string_match": {"suffix": "MIN", "ignore_case": True}}, b"adMin", True),
    ({"string_match": {"contains": "DM", "ignore_case": True}}, b"admin", True),
    ({"string_match": {"safe_regex": {"regex": "[a-z]+"}}}, b"admin", True),
    ({"range_match": {"start": 40, "end": 50}}, b" 42 ", True),
    ({"range_match": {"start": 40, "end": 50}}, b"50", False),
    ({"range_match": {"start": -5, "end": 0}}, b"-5", True),
    ({"range_match": {"start": 0, "end": 10}}, b"4x", False),
    ({"prefix_match": "ad", "invert_match": True}, b"admin", False),
])
def test_header_value_matchers(matcher, value, expected):
    assert matches(header(**matcher), headers=_with((b"x-role", value))) is expected


def test_pseudo_headers_are_the_request_line():
    get = {"header": {"name": ":method", "exact_match": "GET"}}
    assert matches(get) and not matches(get, headers=_with(method=b"POST"))
    full_path = {"header": {"name": ":path", "exact_match": "/a?b=1"}}
    assert matches(full_path, headers=_with(path=b"/a?b=1"))  # :path keeps the query, as Envoy's
    assert matches({"header": {"name": ":authority", "exact_match": "svc.local"}})
    assert matches({"header": {"name": ":scheme", "exact_match": "http"}})
    assert not matches({"header": {"name": ":protocol"}})
    # an empty request-line slot (an RPC request without a method) is a missing header
    assert matches({"header": {"name": ":method", "present_match": False}}, headers=_with(method=b""))
    assert not matches(get, headers=_with(method=b""))


def test_url_path_is_the_path_without_query_and_fragment():
    api = {"url_path": {"path": {"prefix": "/api/"}}}
    assert matches(api, headers=_with(path=b"/api/x?y=1"))
    assert not matches(api, headers=_with(path=b"/apix"))
    exact = {"url_path": {"path": {"exact": "/a"}}}
    assert matches(exact, headers=_with(path=b"/a?q#f")) and matches(exact, headers=_with(path=b"/a#f"))
    assert matches({"url_path": {"path": {"exact": "/A", "ignore_case": True}}}, headers=_with(path=b"/a?x"))
    assert matches({"url_path": {"path": {"safe_regex": {"regex": "/a.*"}}}}, headers=_with(path=b"/ab?x"))


# --- addresses, ports, server name -----------------------------------------------------------

def cidr(prefix: str, length: int | None = None) -> dict[str, Any]:
    return {"address_prefix": prefix} if length is None else {"address_prefix": prefix, "prefix_len": length}


@pytest.mark.parametrize("kind", ["source_ip", "direct_remote_ip", "remote_ip"])
def test_source_addresses_are_the_peer(kind):
    principal = {kind: cidr("10.0.0.0", 8)}
    assert matches(principal=principal, info=fake_connection(remote=("10.9.8.7", 1)))
    assert not matches(principal=principal, info=fake_connection(remote=("11.0.0.1", 1)))
    # an IPv4 client of a dual-stack socket, as Envoy reports it
    assert matches(principal=principal, info=fake_connection(remote=("::ffff:10.1.1.1", 1)))


def test_cidr_ranges_of_both_versions_and_host_bits():
    v6 = {"remote_ip": cidr("2001:db8::", 32)}
    assert matches(principal=v6, info=fake_connection(remote=("2001:db8:1::5", 1)))
    assert not matches(principal=v6, info=fake_connection(remote=("10.0.0.1", 1)))
    host_bits = {"remote_ip": cidr("10.1.2.3", 16)}  # as Envoy, the host bits are ignored
    assert matches(principal=host_bits, info=fake_connection(remote=("10.1.200.1", 1)))
    exact = {"remote_ip": cidr("10.1.2.3", 32)}
    assert not matches(principal=exact, info=fake_connection(remote=("10.1.2.4", 1)))
    assert not matches(principal=exact, info=fake_connection(remote=("", 0)))  # a Unix socket has no IP


def test_an_unset_prefix_len_is_zero_as_envoy_with_a_warning():
    rules = {"policies": {"p": {"permissions": [ANY], "principals": [{"remote_ip": cidr("10.0.0.1")}]}}}
    assert _issues(rules)[1] == [f"{P}.policies.p.principals[0].remote_ip.prefix_len: unset: 0, so this range holds "
                                 "every IPv4 address (as in Envoy)"]
    assert matches(principal={"remote_ip": cidr("10.0.0.1")}, info=fake_connection(remote=("192.168.0.1", 1)))


def test_destination_is_the_original_destination_when_there_is_one():
    port = {"destination_port": 8080}
    assert matches(port)  # fake_connection's local is 10.0.0.1:8080
    redirected = fake_connection(local=("127.0.0.1", 15006), original_destination=("10.0.0.5", 9090))
    assert matches({"destination_port": 9090}, info=redirected) and not matches({"destination_port": 15006},
                                                                                info=redirected)
    assert matches({"destination_ip": cidr("10.0.0.5", 32)}, info=redirected)
    in_range = {"destination_port_range": {"start": 8000, "end": 8081}}
    assert matches(in_range) and not matches({"destination_port_range": {"start": 8000, "end": 8080}})


def test_requested_server_name_is_the_tls_sni():
    named = {"requested_server_name": {"suffix": ".example.com"}}
    assert matches(named, info=fake_connection(tls=True, sni="api.example.com"))
    assert not matches(named)
    assert matches({"requested_server_name": {"exact": ""}})  # no SNI: the empty name, as Envoy


# --- authenticated ---------------------------------------------------------------------------

class FakeSsl:
    def __init__(self, der: bytes | None) -> None:
        self.der = der

    def getpeercert(self, binary_form: bool = False) -> bytes | None:
        assert binary_form
        return self.der


def _subject_der() -> bytes:
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Acme"),
                      x509.NameAttribute(NameOID.COMMON_NAME, "client")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    from cryptography.hazmat.primitives.serialization import Encoding

    return cert.public_bytes(Encoding.DER)


def authenticated(**matcher: Any) -> dict[str, Any]:
    return {"authenticated": {"principal_name": matcher} if matcher else {}}


def test_authenticated_without_a_name_is_any_tls_connection():
    assert matches(principal=authenticated(), info=fake_connection(tls=True))
    assert not matches(principal=authenticated(), info=fake_connection())


def test_authenticated_names_are_each_uri_san_then_each_dns_san_then_the_subject():
    spiffe = "spiffe://cluster.local/ns/default/sa/frontend"
    peer = fake_connection(tls=True, peer_uri_sans=("spiffe://other/x", spiffe), peer_dns_sans=("web.local",),
                           ssl_object=FakeSsl(_subject_der()))
    assert matches(principal=authenticated(exact=spiffe), info=peer)
    assert matches(principal=authenticated(safe_regex={"regex": ".*/ns/default/.*"}), info=peer)
    assert matches(principal=authenticated(exact="web.local"), info=peer)
    assert matches(principal=authenticated(exact="CN=client,O=Acme"), info=peer)  # RFC 4514, as Envoy's RFC 2253
    assert not matches(principal=authenticated(exact="spiffe://cluster.local/ns/default/sa/backend"), info=peer)
    assert not matches(principal=authenticated(exact=spiffe), info=fake_connection(peer_uri_sans=(spiffe,)))
    # a TLS client without a certificate has the empty subject
    bare = fake_connection(tls=True, ssl_object=FakeSsl(None))
    assert matches(principal=authenticated(exact=""), info=bare)
    assert not matches(principal=authenticated(prefix="spiffe://"), info=bare)


# --- trees -----------------------------------------------------------------------------------

def test_and_or_not_of_permissions_and_principals():
    get, post = ({"header": {"name": ":method", "exact_match": m}} for m in ("GET", "POST"))
    api = {"url_path": {"path": {"prefix": "/api"}}}
    assert matches({"and_rules": {"rules": [get, api]}}, headers=_with(path=b"/api/1"))
    assert not matches({"and_rules": {"rules": [get, api]}}, headers=_with(path=b"/x"))
    assert matches({"or_rules": {"rules": [post, api]}}, headers=_with(path=b"/api/1"))
    assert matches({"not_rule": post}) and not matches({"not_rule": get})
    local = {"remote_ip": cidr("10.0.0.0", 8)}
    tls = authenticated()
    assert matches(principal={"and_ids": {"ids": [local, {"not_id": tls}]}})
    assert not matches(principal={"and_ids": {"ids": [local, tls]}})
    assert matches(principal={"or_ids": {"ids": [tls, local]}})
    assert matches(principal={"not_id": {"not_id": local}})


def test_a_policy_needs_a_permission_and_a_principal_matching():
    engine = _engine({"p": {"permissions": [{"destination_port": 1}, {"destination_port": 8080}],
                            "principals": [{"remote_ip": cidr("1.2.3.4", 32)}, ANY]}})
    assert engine.first_match(fake_connection(), request_headers()) is not None
    engine = _engine({"p": {"permissions": [{"destination_port": 1}], "principals": [ANY]}})
    assert engine.first_match(fake_connection(), request_headers()) is None


# --- actions and order -----------------------------------------------------------------------

def test_policies_are_tried_in_name_order_and_the_first_match_is_effective():
    engine = _engine({"b-second": {"permissions": [ANY], "principals": [ANY]},
                      "a-first": {"permissions": [ANY], "principals": [ANY]}})
    matched = engine.first_match(fake_connection(), request_headers())
    assert matched is not None and matched.name == "a-first"
    assert matched.details == "rbac_access_denied_matched_policy[a-first]"


def test_allow_deny_and_log_actions():
    admins = {"admins": {"permissions": [ANY], "principals": [{"header": {"name": "x-admin"}}]}}
    admin, other = _with((b"x-admin", b"1")), _with()
    info = fake_connection()
    allow, deny = _engine(admins, "ALLOW"), _engine(admins, "DENY")
    assert allow.allows(info, admin) and not allow.allows(info, other)
    assert not deny.allows(info, admin) and deny.allows(info, other)
    log_rules = {"action": "LOG", "policies": admins}
    assert _issues(log_rules)[1] == [f"{P}.action: LOG rules allow every request and only count: pymosn keeps no "
                                     "access_log_hint metadata"]
    log_engine = decode_rules(log_rules, P, IssueLog(), True)
    assert log_engine is not None and log_engine.allows(info, admin) and log_engine.allows(info, other)
    assert not _engine({}, "ALLOW").allows(info, other) and _engine({}, "DENY").allows(info, other)
    assert _engine({}, "deny").action == "DENY" and _engine({}, 1).action == "DENY"  # Envoy's enum spellings


def test_denial_details_keep_the_access_log_field_count():
    assert denied_details("ns[a]-policy[b c]\t1") == "rbac_access_denied_matched_policy[ns[a]-policy[b_c]_1]"
    assert denied_details(None) == "rbac_access_denied_matched_policy[none]"


# --- the network filter's compilation --------------------------------------------------------

def test_without_request_headers_header_rules_are_constants_and_paths_never_match():
    assert not matches(principal={"header": {"name": "x-a"}}, http=False)
    assert matches(principal={"header": {"name": "x-a", "present_match": False}}, http=False)
    assert matches(principal={"header": {"name": "x-a", "exact_match": "1", "treat_missing_header_as_empty": True,
                                         "invert_match": True}}, http=False)
    assert not matches({"url_path": {"path": {"prefix": "/"}}}, http=False)
    assert matches({"not_rule": {"url_path": {"path": {"prefix": "/"}}}}, http=False)
    assert not matches({"header": {"name": ":method", "exact_match": "GET"}}, http=False)


# --- refused ---------------------------------------------------------------------------------

def _policy_errors(permission: Any = ANY, principal: Any = ANY, **policy: Any) -> list[str]:
    return _errors({"policies": {"p": {"permissions": [permission], "principals": [principal], **policy}}})


PP = f"{P}.policies.p"


@pytest.mark.parametrize(("permission", "error"), [
    ({"metadata": {"filter": "f"}}, "permissions[0].metadata: metadata matching is not implemented by pymosn (it "
                                    "keeps no dynamic metadata); refusing to match differently"),
    ({"matcher": {"name": "x"}}, "permissions[0].matcher: RBAC matcher extensions are not implemented by pymosn; "
                                 "refusing to match differently"),
    ({"uri_template": {"name": "x"}}, "permissions[0].uri_template: URI template matching is not implemented by "
                                      "pymosn; refusing to match differently"),
    ({"any": False}, "permissions[0].any: must be true (as in Envoy)"),
    ({"any": True, "destination_port": 80}, "permissions[0]: set one of any, destination_port, not several"),
    ({}, "permissions[0]: a permission needs one of and_rules, or_rules, any, header, url_path, destination_ip, "
         "destination_port, destination_port_range, metadata, not_rule, requested_server_name, matcher, uri_template"),
    ({"and_rules": {"rules": []}}, "permissions[0].and_rules.rules: and_rules needs at least one entry (as in Envoy)"),
    ({"destination_port": 70000}, "permissions[0].destination_port: 70000 is out of range [0, 65535]"),
    ({"destination_port_range": {"start": 90, "end": 80}},
     "permissions[0].destination_port_range: range start 90 must be less than range end 80"),
    ({"destination_ip": cidr("10.0.0.0", 33)}, "permissions[0].destination_ip.prefix_len: 33 is out of range [0, 32]"),
    ({"destination_ip": cidr("10.0.0", 8)}, "permissions[0].destination_ip.address_prefix: '10.0.0' is not an IP "
                                            "address"),
    ({"header": {"name": "x", "prefix_match": ""}}, "permissions[0].header.prefix_match: prefix_match must not be "
                                                    "empty (as in Envoy)"),
    ({"header": {"name": "x", "exact_match": "a", "prefix_match": "b"}},
     "permissions[0].header: set one of exact_match, prefix_match, not several"),
    ({"header": {"name": "bad name"}}, "permissions[0].header.name: 'bad name' is not a valid header name"),
    ({"header": {"name": "x", "safe_regex_match": {"regex": "("}}},
     "permissions[0].header.safe_regex_match.regex: invalid regular expression: missing ), unterminated subpattern "
     "at position 0"),
    ({"url_path": {"path": {"custom": {"name": "x"}}}},
     "permissions[0].url_path.path.custom: custom string matcher extensions are not implemented by pymosn; refusing "
     "to match differently"),
    ({"url_path": {"path": {"prefix": ""}}}, "permissions[0].url_path.path.prefix: prefix must not be empty (as in "
                                             "Envoy)"),
    ({"requested_server_name": {}}, "permissions[0].requested_server_name: a string matcher needs one of exact, "
                                    "prefix, suffix, contains, safe_regex"),
    ({"header": {"name": "x", "exactMatch": "a", "invertMatch": True, "bogus": 1}},
     "permissions[0].header.bogus: unknown field; known: name, exact_match, safe_regex_match, range_match, "
     "present_match, prefix_match, suffix_match, contains_match, string_match, invert_match, "
     "treat_missing_header_as_empty"),
])
def test_refused_permissions_name_their_path(permission, error):
    assert _policy_errors(permission) == [f"{PP}.{error}"]


@pytest.mark.parametrize(("principal", "error"), [
    ({"metadata": {}}, "principals[0].metadata: metadata matching is not implemented by pymosn (it keeps no dynamic "
                       "metadata); refusing to match differently"),
    ({"filter_state": {}}, "principals[0].filter_state: filter state matching is not implemented by pymosn (it keeps "
                           "no filter state); refusing to match differently"),
    ({"custom": {}}, "principals[0].custom: custom principal extensions are not implemented by pymosn; refusing to "
                     "match differently"),
    ({"authenticated": {"principal_name": {"safe_regex": {}}}},
     "principals[0].authenticated.principal_name.safe_regex.regex: missing required field"),
    ({"authenticated": {"name": "x"}}, "principals[0].authenticated.name: unknown field; known: principal_name"),
    ({"or_ids": {"ids": []}}, "principals[0].or_ids.ids: or_ids needs at least one entry (as in Envoy)"),
])
def test_refused_principals_name_their_path(principal, error):
    assert _policy_errors(principal=principal) == [f"{PP}.{error}"]


def test_refused_policies_and_rules():
    assert _policy_errors(condition={"const_expr": {"bool_value": True}}) == [
        f"{PP}.condition: CEL conditions are not implemented by pymosn; refusing to match differently"]
    assert _errors({"policies": {"p": {"principals": [ANY]}}}) == [
        f"{PP}.permissions: a policy needs at least one permission (as in Envoy)"]
    assert _errors({"policies": []}) == [f"{P}.policies: expected an object of policies by name"]
    assert _errors({"action": "ALLOWED"}) == [f"{P}.action: unknown value 'ALLOWED'; known: ALLOW, DENY, LOG"]
    deep: dict[str, Any] = ANY
    for _ in range(70):
        deep = {"not_rule": deep}
    assert _policy_errors(deep) == [f"{PP}.permissions[0]" + ".not_rule" * 65 + ": nested more than 64 deep"]


def test_audit_loggers_warn():
    assert _issues({"audit_condition": "ON_DENY", "policies": {}})[1] == [
        f"{P}.audit_condition: RBAC audit loggers are not implemented by pymosn (Envoy's are not either); no audit is "
        "logged"]


def test_an_rpc_requests_header_map_is_matched_too():
    from pymosn.protocol.xprotocol.header_map import RpcHeaderMap

    request = RpcHeaderMap({"service": "com.acme.Echo", "x-tenant": "a"}, {"service": "com.acme.Echo", "X-Tenant": "a"},
                           method=b"echo", path=b"com.acme.Echo", scheme=b"bolt")
    assert matches({"header": {"name": "x-tenant", "exact_match": "a"}}, headers=request)
    assert not matches({"header": {"name": "x-other"}}, headers=request)
    assert matches({"header": {"name": ":authority", "exact_match": "com.acme.Echo"}}, headers=request)
    assert matches({"header": {"name": ":method", "prefix_match": "ec"}}, headers=request)
    assert matches({"url_path": {"path": {"exact": "com.acme.Echo"}}}, headers=request)
    no_method = RpcHeaderMap({}, {}, path=b"svc")
    assert matches({"header": {"name": ":method", "present_match": False}}, headers=no_method)
