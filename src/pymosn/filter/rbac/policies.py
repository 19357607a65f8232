"""RBAC policies: Envoy's Permission and Principal trees decoded with paths and compiled into
one closure per policy (`permissions` any-of AND `principals` any-of).

Every rule Envoy has is either compiled with Envoy's semantics or refused with an error at its
path; none is read as "always" or "never" because pymosn lacks what it reads. Refused, for
lack of what they match against: `metadata` and `filter_state` (pymosn has no dynamic metadata
or filter state), `matcher` / `uri_template` / `custom` extensions, and CEL `condition`s.

What the connection-level rules read (pymosn has no PROXY protocol and takes no client
address from x-forwarded-for, so `source_ip`, `direct_remote_ip` and `remote_ip` are all the
peer's address):
- destination_ip / destination_port(_range): the address the client connected to, the original
  destination when the listener restored one (as Envoy's original_dst listener filter does);
- authenticated: a TLS connection; with `principal_name`, matched against each URI SAN of the
  peer certificate, then each DNS SAN, then its subject (RFC 4514), as Envoy;
- requested_server_name: the TLS server name the client asked for ("" without one)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from pymosn.api.connection import ConnectionInfo
from pymosn.config.issues import IssueLog, child
from pymosn.filter.http.fields import Fields
from pymosn.filter.http.header_match import STRING_FIELDS, decode_string_matcher, one_of
from pymosn.filter.rbac import inline
from pymosn.filter.rbac import matchers as m
from pymosn.filter.rbac.matchers import Match
from pymosn.router.string_match import str_test

PERMISSION_RULES = ("and_rules", "or_rules", "any", "header", "url_path", "destination_ip", "destination_port",
                    "destination_port_range", "metadata", "not_rule", "requested_server_name", "matcher",
                    "uri_template")
PRINCIPAL_IDS = ("and_ids", "or_ids", "any", "authenticated", "source_ip", "direct_remote_ip", "remote_ip", "header",
                 "url_path", "metadata", "filter_state", "not_id", "custom")
_REFUSED = {
    "metadata": "metadata matching is not implemented by pymosn (it keeps no dynamic metadata)",
    "filter_state": "filter state matching is not implemented by pymosn (it keeps no filter state)",
    "matcher": "RBAC matcher extensions are not implemented by pymosn",
    "uri_template": "URI template matching is not implemented by pymosn",
    "custom": "custom principal extensions are not implemented by pymosn",
}
_CIDR = "address_prefix prefix_len"
MAX_DEPTH = 64  # nesting of and/or/not: deeper is a config mistake, not a policy


@dataclass(frozen=True)
class _Tree:
    """The names one kind of node (Permission or Principal) gives its rules and combinators."""

    what: str
    rules: tuple[str, ...]
    all_of: str
    any_of: str
    negated: str
    set_key: str  # the repeated field inside all_of / any_of

    @property
    def nested(self) -> tuple[str, str, str]:
        return (self.all_of, self.any_of, self.negated)


_PERMISSION_TREE = _Tree("a permission", PERMISSION_RULES, "and_rules", "or_rules", "not_rule", "rules")
_PRINCIPAL_TREE = _Tree("a principal", PRINCIPAL_IDS, "and_ids", "or_ids", "not_id", "ids")


def _destination(info: ConnectionInfo) -> tuple[str, int]:
    return info.original_destination or info.local


_DESTINATION = "(info.original_destination or info.local)"  # _destination's inline form


class PolicyCompiler:
    """Compiles the policies of one RBAC message. `http`: for the HTTP filter (the network
    filter has no request headers, see matchers.py)."""

    def __init__(self, log: IssueLog, http: bool) -> None:
        self.log = log
        self.http = http

    def policy(self, raw: Any, path: str) -> Match:
        fields = Fields(raw, path, self.log, "permissions principals condition checked_condition", envoy=True)
        for key in ("condition", "checked_condition"):
            if fields.has(key):
                fields.error(key, "CEL conditions are not implemented by pymosn; refusing to match differently")
        permissions = [self.permission(item, where, 0) for item, where in fields.items("permissions")]
        principals = [self.principal(item, where, 0) for item, where in fields.items("principals")]
        if not permissions:
            fields.error("permissions", "a policy needs at least one permission (as in Envoy)")
        if not principals:
            fields.error("principals", "a policy needs at least one principal (as in Envoy)")
        return m.all_of((m.any_of(permissions), m.any_of(principals)))

    # --- permissions -------------------------------------------------------------------------

    def permission(self, raw: Any, path: str, depth: int) -> Match:
        fields, rule, tree = self._node(raw, path, depth, _PERMISSION_TREE, self.permission)
        if tree is not None:
            return tree
        if rule == "destination_ip":
            cidr = m.decode_cidr(self._object(fields, rule, _CIDR))
            if cidr is None:
                return m.NEVER
            test_ip = m.cidr_test(cidr)
            return lambda info, headers: test_ip(_destination(info)[0])
        if rule == "destination_port":
            port = fields.integer(rule, 0, 0, 65535)
            return inline.register(lambda info, headers: _destination(info)[1] == port,
                                   lambda source: f"({_DESTINATION}[1] == {port})")
        if rule == "destination_port_range":
            return self._port_range(self._object(fields, rule, "start end"))
        # requested_server_name
        spec = decode_string_matcher(self._object(fields, rule, STRING_FIELDS))
        if spec is None:
            return m.NEVER
        test_name = str_test(spec)
        return lambda info, headers: test_name(info.sni or "")

    def _port_range(self, fields: Fields) -> Match:
        """Envoy's Int32Range of ports: [start, end), both within 0..65536, start < end."""
        start = fields.integer("start", 0, 0, 65536)
        end = fields.integer("end", 0, 0, 65536)
        if start >= end:
            fields.error(None, f"range start {start} must be less than range end {end}")
            return m.NEVER
        return inline.register(lambda info, headers: start <= _destination(info)[1] < end,
                               lambda source: f"({start} <= {_DESTINATION}[1] < {end})")

    # --- principals --------------------------------------------------------------------------

    def principal(self, raw: Any, path: str, depth: int) -> Match:
        fields, rule, tree = self._node(raw, path, depth, _PRINCIPAL_TREE, self.principal)
        if tree is not None:
            return tree
        if rule == "authenticated":
            return self._authenticated(self._object(fields, rule, "principal_name"))
        # source_ip, direct_remote_ip, remote_ip: the peer's address (see the module docstring)
        cidr = m.decode_cidr(self._object(fields, rule, _CIDR))
        if cidr is None:
            return m.NEVER
        return m.peer_in(cidr)

    def _authenticated(self, fields: Fields) -> Match:
        if not fields.has("principal_name"):
            return lambda info, headers: info.tls
        spec = decode_string_matcher(fields.object("principal_name", STRING_FIELDS, envoy=True))
        if spec is None:
            return m.NEVER
        test = str_test(spec)

        def authenticated(info: ConnectionInfo, headers: Any) -> bool:
            if not info.tls:
                return False
            for uri in info.peer_uri_sans:
                if test(uri):
                    return True
            for dns in info.peer_dns_sans:
                if test(dns):
                    return True
            return test(peer_subject(info))
        return authenticated

    # --- shared ------------------------------------------------------------------------------

    def _node(self, raw: Any, path: str, depth: int, tree: _Tree,
              compile_child: Callable[[Any, str, int], Match]) -> tuple[Fields, str, Match | None]:
        """What a Permission and a Principal have alike: one rule of `tree.rules`, refused ones,
        the and/or/not combinators (bounded in depth) and the rules common to both (any,
        header, url_path). Returns the node's fields, its rule, and its compiled match when
        it was one of those (the caller compiles the others)."""
        fields = Fields(raw, path, self.log, " ".join(tree.rules), envoy=True)
        rule = one_of(fields, tree.rules, tree.what)
        if rule is None:
            return fields, "", m.NEVER
        if rule in _REFUSED:
            fields.error(rule, f"{_REFUSED[rule]}; refusing to match differently")
            return fields, rule, m.NEVER
        if rule in tree.nested and depth >= MAX_DEPTH:
            fields.error(rule, f"nested more than {MAX_DEPTH} deep")
            return fields, rule, m.NEVER
        if rule in (tree.all_of, tree.any_of):
            entries = self._set(fields, rule, tree.set_key, lambda item, where: compile_child(item, where, depth + 1))
            return fields, rule, m.all_of(entries) if rule == tree.all_of else m.any_of(entries)
        if rule == tree.negated:
            return fields, rule, m.negate(compile_child(fields.values[rule], fields.at(rule), depth + 1))
        if rule == "any":
            return fields, rule, self._any(fields)
        if rule == "header":
            return fields, rule, m.header_match(fields.values[rule], fields.at(rule), self.log, self.http)
        if rule == "url_path":
            return fields, rule, m.path_match(Fields(fields.values[rule], fields.at(rule), self.log, "path",
                                                     envoy=True), self.http)
        return fields, rule, None

    def _any(self, fields: Fields) -> Match:
        if fields.values["any"] is not True:
            fields.error("any", "must be true (as in Envoy)")
            return m.NEVER
        return m.ALWAYS

    def _object(self, fields: Fields, name: str, known: str) -> Fields:
        return Fields(fields.values[name], fields.at(name), self.log, known, envoy=True)

    def _set(self, fields: Fields, name: str, key: str, compile_one: Callable[[Any, str], Match]) -> list[Match]:
        inner = self._object(fields, name, key)
        compiled = [compile_one(item, where) for item, where in inner.items(key)]
        if not compiled:
            self.log.error(child(inner.path, key), f"{name} needs at least one entry (as in Envoy)")
        return compiled


_SUBJECT: Final = "rbac.peer_subject"  # its key in the connection's memo


def peer_subject(info: ConnectionInfo) -> str:
    """The TLS peer certificate's subject (RFC 4514), "" without one; read once per connection."""
    subject = info.memo.get(_SUBJECT)
    if subject is None:
        der = info.ssl_object.getpeercert(binary_form=True) if info.ssl_object is not None else None
        if der:
            from cryptography import x509  # only connections whose subject a policy reads

            subject = x509.load_der_x509_certificate(der).subject.rfc4514_string()
        else:
            subject = ""
        info.memo[_SUBJECT] = subject
    return subject
