"""The HTTP RBAC filter through FilterHarness: allowed requests go on, denied ones get Envoy's
403 with the matched policy in the details and no flag, shadow rules only count, a route's
RBACPerRoute replaces the rules (or turns them off), counters carry Envoy's names in the
listener's StatsStore; both config shapes and refused ones with paths."""

from __future__ import annotations

from typing import Any

from pymosn.api.stream_filter import CONTINUE, STOP
from pymosn.config.issues import IssueLog
from pymosn.filter.http import rbac
from pymosn.metrics.store import StatsStore
from tests.support.fakes import FakeRoute, fake_connection, request_headers
from tests.support.filter_harness import FilterHarness

ANY = {"any": True}
GET = {"header": {"name": ":method", "string_match": {"exact": "GET"}}}
ADMIN = {"header": {"name": "x-admin-token"}}
PATH = "$.typed_config"


def _decoded(raw: dict[str, Any]) -> rbac.RbacConfig:
    log = IssueLog()
    decoded = rbac.decode_envoy(raw, PATH, log)
    assert log.errors == [] and decoded is not None
    return decoded


def _config(raw: dict[str, Any], store: StatsStore | None = None) -> rbac.RbacFilterConfig:
    """The config as a listener named "ingress" binds it (filter.registry's stats_for)."""
    config = rbac.FACTORY.create_config(_decoded(raw))
    listener_store = store or StatsStore()
    config.bind_stats(lambda scope, cls: listener_store.filter("ingress", scope, cls))
    return config


def _rules(policies: dict[str, Any], action: str = "ALLOW") -> dict[str, Any]:
    return {"action": action, "policies": policies}


ADMINS_ONLY = _rules({"admins": {"permissions": [ANY], "principals": [ADMIN]}})


def _counts(store: StatsStore) -> dict[str, int]:
    return {sample.name: sample.value for sample in store.samples() if ".rbac." in sample.name}


def _send(harness: FilterHarness, *extra: tuple[bytes, bytes], path: bytes = b"/") -> None:
    harness.request(request_headers(path, extra=list(extra)), end_stream=True)


def test_an_allowed_request_goes_on_and_counts():
    store = StatsStore()
    harness = FilterHarness(("rbac", _config({"rules": ADMINS_ONLY}, store)))
    _send(harness, (b"x-admin-token", b"t"))
    assert harness.statuses("rbac") == [("decode_headers", CONTINUE)]
    assert harness.owner.upstream_kinds() == ["headers"] and harness.owner.local_replies == []
    assert _counts(store) == {"http.ingress.rbac.allowed": 1, "http.ingress.rbac.denied": 0,
                              "http.ingress.rbac.shadow_allowed": 0, "http.ingress.rbac.shadow_denied": 0}
    harness.destroy()
    assert harness.destroyed("rbac") == 1


def test_a_request_no_allow_policy_matches_is_denied_with_details_none():
    store = StatsStore()
    harness = FilterHarness(("rbac", _config({"rules": ADMINS_ONLY}, store)))
    _send(harness)
    assert harness.statuses("rbac") == [("decode_headers", STOP)] and harness.owner.upstream == []
    reply = harness.owner.local_replies[0]
    assert (reply.status, reply.body, reply.flag, reply.details) == (
        403, b"RBAC: access denied", None, "rbac_access_denied_matched_policy[none]")
    denied = next(sample for sample in store.samples() if sample.name == "http.ingress.rbac.denied")
    assert (denied.value, denied.family, denied.labels) == (
        1, "envoy_http_rbac_denied", (("envoy_http_conn_manager_prefix", "ingress"),))


def test_a_deny_policy_names_itself_in_the_details():
    rules = _rules({"no admin path": {"permissions": [{"url_path": {"path": {"prefix": "/admin"}}}],
                                      "principals": [ANY]}}, "DENY")
    harness = FilterHarness(("rbac", _config({"rules": rules})))
    _send(harness, path=b"/admin/users?x=1")
    assert harness.owner.local_replies[0].details == "rbac_access_denied_matched_policy[no_admin_path]"
    other = FilterHarness(("rbac", _config({"rules": rules})))
    _send(other, path=b"/public")
    assert other.statuses("rbac") == [("decode_headers", CONTINUE)]


def test_principals_read_the_stream_connection():
    rules = _rules({"local": {"permissions": [GET], "principals": [{"direct_remote_ip": {
        "address_prefix": "127.0.0.0", "prefix_len": 8}}]}})
    config = _config({"rules": rules})
    local = FilterHarness(("rbac", config), connection=fake_connection(remote=("127.0.0.1", 5000)))
    _send(local)
    assert local.owner.local_replies == []
    remote = FilterHarness(("rbac", config), connection=fake_connection(remote=("192.0.2.1", 5000)))
    _send(remote)
    assert remote.owner.local_replies[0].status == 403


def test_shadow_rules_only_count():
    store = StatsStore()
    config = _config({"shadow_rules": ADMINS_ONLY, "shadow_rules_stat_prefix": "trial."}, store)
    harness = FilterHarness(("rbac", config))
    _send(harness)
    _send(FilterHarness(("rbac", config)), (b"x-admin-token", b"t"))
    assert harness.statuses("rbac") == [("decode_headers", CONTINUE)] and harness.owner.local_replies == []
    assert _counts(store) == {"http.ingress.rbac.allowed": 0, "http.ingress.rbac.denied": 0,
                              "http.ingress.rbac.trial.shadow_allowed": 1, "http.ingress.rbac.trial.shadow_denied": 1}


def test_shadow_and_enforced_rules_both_run():
    store = StatsStore()
    deny_all = _rules({}, "ALLOW")
    config = _config({"rules": ADMINS_ONLY, "shadow_rules": deny_all}, store)
    harness = FilterHarness(("rbac", config))
    _send(harness, (b"x-admin-token", b"t"))
    assert harness.owner.local_replies == []
    counts = _counts(store)
    assert (counts["http.ingress.rbac.allowed"], counts["http.ingress.rbac.shadow_denied"]) == (1, 1)


def test_rule_prefixes_and_per_policy_counters():
    store = StatsStore()
    config = _config({"rules": ADMINS_ONLY, "rules_stat_prefix": "edge", "track_per_rule_stats": True,
                      "shadow_rules": ADMINS_ONLY, "shadow_rules_stat_prefix": "next"}, store)
    _send(FilterHarness(("rbac", config)), (b"x-admin-token", b"t"))
    _send(FilterHarness(("rbac", config)))
    assert _counts(store) == {
        "http.ingress.rbac.edge.allowed": 1, "http.ingress.rbac.edge.denied": 1,
        "http.ingress.rbac.edge.next.shadow_allowed": 1, "http.ingress.rbac.edge.next.shadow_denied": 1,
        "http.ingress.rbac.edge.next.policy.admins.shadow_allowed": 1,
        "http.ingress.rbac.edge.policy.admins.allowed": 1, "http.ingress.rbac.edge.policy.admins.denied": 0,
        "http.ingress.rbac.edge.next.policy.admins.shadow_denied": 0,
    }


def test_a_route_config_replaces_the_rules_or_turns_them_off():
    store = StatsStore()
    config = _config({"rules": ADMINS_ONLY}, store)
    log = IssueLog()
    open_route = rbac.decode_envoy_route({"rbac": {"rules": _rules({"all": {"permissions": [ANY],
                                                                            "principals": [ANY]}})}}, PATH, log)
    off_route = rbac.decode_envoy_route({}, PATH, log)
    assert log.errors == [] and open_route is not None and off_route is not None
    opened = FilterHarness(("rbac", config),
                           route=FakeRoute("r", {"rbac": rbac.FACTORY.create_route_config(open_route)}))
    _send(opened)
    assert opened.owner.local_replies == []
    turned_off = FilterHarness(("rbac", config), route=FakeRoute("r", {"rbac": rbac.FACTORY.create_route_config(off_route)}))
    _send(turned_off)
    assert turned_off.owner.local_replies == []
    assert (_counts(store)["http.ingress.rbac.allowed"], _counts(store)["http.ingress.rbac.denied"]) == (1, 0)
    elsewhere = FilterHarness(("rbac", config), route=FakeRoute("other"))
    _send(elsewhere)
    assert elsewhere.owner.local_replies[0].status == 403


def test_no_rules_no_checks():
    store = StatsStore()
    harness = FilterHarness(("rbac", _config({}, store)))
    _send(harness)
    assert harness.owner.local_replies == [] and sum(_counts(store).values()) == 0


def test_unbound_counters_are_the_configs_own():
    config = rbac.FACTORY.create_config(_decoded({"rules": ADMINS_ONLY}))
    _send(FilterHarness(("rbac", config)))
    assert config.stats.enforced.denied == 1


# --- config shapes ---------------------------------------------------------------------------

def test_the_mosn_shape_is_envoys_message_with_a_version():
    log = IssueLog()
    decoded = rbac.decode_mosn({"version": "1", "shadowRules": ADMINS_ONLY}, "$.config", log)
    assert log.errors == [] and decoded == rbac.RbacConfig(shadow_rules=ADMINS_ONLY)
    log = IssueLog()
    assert rbac.decode_mosn({"rules": ADMINS_ONLY}, "$.config", log) is None
    assert [str(e) for e in log.errors] == [
        "$.config.version: missing required field (MOSN refuses an rbac config without one)"]


def test_refused_envoy_configs_name_their_paths():
    log = IssueLog()
    raw = {"@type": "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC", "matcher": {},
           "rules": {"policies": {"p": {"permissions": [{"metadata": {}}], "principals": [ANY]}}}}
    assert rbac.decode_envoy(raw, PATH, log) is None
    assert [str(e) for e in log.errors] == [
        f"{PATH}.matcher: the RBAC matcher tree is not implemented by pymosn; use rules / shadow_rules",
        f"{PATH}.rules.policies.p.permissions[0].metadata: metadata matching is not implemented by pymosn (it keeps "
        "no dynamic metadata); refusing to match differently"]
    log = IssueLog()
    assert rbac.decode_envoy({"@type": "type.googleapis.com/x.Y"}, PATH, log) is None
    assert [str(e) for e in log.errors] == [f"{PATH}.@type: expected {rbac.TYPE_URL!r}, got 'type.googleapis.com/x.Y'"]
    log = IssueLog()
    assert rbac.decode_envoy_route({"rbac": {"shadow_rules": {"action": "NOPE"}}}, PATH, log) is None
    assert [str(e) for e in log.errors] == [f"{PATH}.rbac.shadow_rules.action: unknown value 'NOPE'; known: ALLOW, "
                                            "DENY, LOG"]


def test_a_dumped_config_reads_back():
    import msgspec

    decoded = _decoded({"rules": ADMINS_ONLY, "track_per_rule_stats": True})
    assert msgspec.convert(msgspec.to_builtins(decoded), rbac.RbacConfig) == decoded
    log = IssueLog()
    assert rbac.decode_envoy(msgspec.to_builtins(decoded), PATH, log) == decoded and log.errors == []
