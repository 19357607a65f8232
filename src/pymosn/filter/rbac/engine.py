"""An RBAC message (envoy.config.rbac.v3.RBAC: `action` and `policies`) compiled into an engine.

Envoy's semantics: policies are tried in the lexicographic order of their names and the first
that matches is the effective policy. ALLOW: a request is allowed iff a policy matched; DENY:
iff none did; LOG: always allowed (Envoy then sets its `access_log_hint` dynamic metadata,
which pymosn does not keep: LOG rules only count). An empty policy map is legal: under ALLOW
it denies everything, under DENY it allows everything."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from pymosn.api.connection import ConnectionInfo
from pymosn.config.issues import IssueLog, child
from pymosn.filter.http.fields import Fields
from pymosn.filter.rbac import native
from pymosn.filter.rbac.inline import first_match_function
from pymosn.filter.rbac.matchers import NEVER, Match
from pymosn.filter.rbac.policies import PolicyCompiler

ALLOW, DENY, LOG = "ALLOW", "DENY", "LOG"
ACTIONS = (ALLOW, DENY, LOG)
AUDIT_CONDITIONS = ("NONE", "ON_DENY", "ON_ALLOW", "ON_DENY_AND_ALLOW")
_WHITESPACE = re.compile(r"\s")


def denied_details(policy: str | None) -> str:
    """%RESPONSE_CODE_DETAILS% of a denial, as Envoy writes it (whitespace in the name as "_",
    so the access log keeps its field count)."""
    return f"rbac_access_denied_matched_policy[{_WHITESPACE.sub('_', policy) if policy else 'none'}]"


class Policy:
    """One compiled policy: its name, its matcher and what a denial it caused logs."""

    __slots__ = ("name", "match", "details")

    def __init__(self, name: str, match: Match) -> None:
        self.name = name
        self.match = match
        self.details = denied_details(name)


NO_POLICY_DETAILS = denied_details(None)


class RbacEngine:
    """`first_match(connection, headers)`: the effective Policy or None. Whether that allows
    the request: `allow_matched` / `allow_unmatched` (ALLOW: True/False, DENY: False/True,
    LOG: True/True)."""

    __slots__ = ("action", "policies", "allow_matched", "allow_unmatched", "first_match", "policy_set")

    def __init__(self, action: str, policies: tuple[Policy, ...]) -> None:
        self.action = action
        self.policies = policies
        self.allow_matched = action != DENY
        self.allow_unmatched = action != ALLOW
        live = tuple((policy, policy.match) for policy in policies if policy.match is not NEVER)
        # compiled build: the native tree, which compiled filters call directly (native.py)
        self.policy_set = native.PolicySet(live) if native.COMPILED and live else None
        self.first_match = _first_match(live) if self.policy_set is None else self.policy_set.first_match

    def allows(self, info: ConnectionInfo, headers: Any) -> bool:
        """The verdict alone (tests, tools); the filters read first_match and the two flags."""
        return self.allow_matched if self.first_match(info, headers) is not None else self.allow_unmatched


def _first_match(live: tuple[tuple[Policy, Match], ...]) -> Callable[[ConnectionInfo, Any], Policy | None]:
    if not live:
        return lambda info, headers: None
    return first_match_function(live)  # every policy's rules in one call (inline.py)


def decode_rules(raw: Any, path: str, log: IssueLog, http: bool) -> RbacEngine | None:
    """An envoy.config.rbac.v3.RBAC object at `path` compiled for the HTTP (`http`) or the
    network filter; None after errors."""
    errors = len(log.errors)
    fields = Fields(raw, path, log, "action policies audit_condition audit_log", envoy=True)
    action = fields.enum("action", ACTIONS, ALLOW)
    if fields.enum("audit_condition", AUDIT_CONDITIONS, "NONE") != "NONE" or fields.has("audit_log"):
        log.warning(fields.at("audit_log" if fields.has("audit_log") else "audit_condition"),
                    "RBAC audit loggers are not implemented by pymosn (Envoy's are not either); no audit is logged")
    if action == LOG:
        log.warning(fields.at("action"), "LOG rules allow every request and only count: pymosn keeps no "
                                         "access_log_hint metadata")
    compiler = PolicyCompiler(log, http)
    raw_policies = fields.values.get("policies")
    policies: list[Policy] = []
    if raw_policies is not None and not isinstance(raw_policies, dict):
        fields.error("policies", "expected an object of policies by name")
    elif raw_policies:
        for name in sorted(raw_policies):  # Envoy: lexicographic order of the names
            policies.append(Policy(name, compiler.policy(raw_policies[name], child(fields.at("policies"), name))))
    if len(log.errors) != errors:
        return None
    return RbacEngine(action, tuple(policies))
