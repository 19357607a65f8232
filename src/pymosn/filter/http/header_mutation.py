"""The header mutation filter (Envoy's `envoy.filters.http.header_mutation`): adds, overwrites
and removes request and response headers and trailers, in configured order.

Config, Envoy (`typed_config` of type TYPE_URL) and MOSN (`{"type": "header_mutation",
"config": {...}}`, MOSN has no such filter, so its config is Envoy's JSON):

    {"mutations": {"request_mutations": [
        {"append": {"header": {"key": "x-peer", "value": "%DOWNSTREAM_REMOTE_ADDRESS%"},
                    "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"}},
        {"remove": "x-debug"}],
      "response_mutations": [...], "request_trailers_mutations": [...],
      "response_trailers_mutations": [...]}}

Actions (Envoy's HeaderValueOption.append_action): APPEND_IF_EXISTS_OR_ADD (default: one more
field of that name), ADD_IF_ABSENT, OVERWRITE_IF_EXISTS_OR_ADD, OVERWRITE_IF_EXISTS. A value
that renders empty is not added unless `keep_empty_value`. Values may hold the access log's
command operators (`%DOWNSTREAM_REMOTE_ADDRESS%`, `%REQ(x-id)%`, ...; `%%` is a literal `%`),
evaluated against the stream's StreamInfo; a value that is unavailable (the access log's `-`)
renders empty, as in Envoy's header formatter. Each value is compiled once per config: a
literal value costs nothing per request, a formatted one one str.format call.

Refused at load, with the field's path: pseudo-headers and `host` in `remove` (Envoy never
removes them), a second `host` (APPEND_IF_EXISTS_OR_ADD), `content-length` and
`transfer-encoding` (the codec frames the message), pseudo-headers other than the request's `:path`, `:method`, `:scheme`,
`:authority` (and those only overwritten), field names that are not HTTP tokens, values with
CR, LF or NUL, and `query_parameter_mutations` (not implemented; ignoring it would forward
requests the config means to rewrite)."""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

import msgspec

from pymosn.accesslog.variables import FormatError
from pymosn.api.headers import HeaderSide
from pymosn.config.http_filters import HeaderChanges
from pymosn.config.issues import IssueLog
from pymosn.filter.http.fields import Fields, check_type_url
from pymosn.filter.http.header_rules import (
    ADD_IF_ABSENT,
    APPEND_IF_EXISTS_OR_ADD,
    OVERWRITE_IF_EXISTS,
    OVERWRITE_IF_EXISTS_OR_ADD,
    REMOVE,
    HeaderMutationFilterConfig,
    Mutation,
    apply_mutations,
    compile_rules,
    compile_value,
)

# the rules as they run, and the filter: header_rules.py (compiled); re-exported for the other
# filters that apply rules of their own (local rate limit's headers)
__all__ = ["ADD_IF_ABSENT", "APPEND_ACTIONS", "APPEND_IF_EXISTS_OR_ADD", "FACTORY", "OVERWRITE_IF_EXISTS",
           "OVERWRITE_IF_EXISTS_OR_ADD", "REMOVE", "HeaderMutationConfig", "HeaderMutationFilterConfig",
           "HeaderMutationRule", "Mutation", "apply_mutations", "compile_rules", "decode_envoy", "decode_mosn",
           "header_value_option"]

MOSN_NAME = "header_mutation"
ENVOY_NAME = "envoy.filters.http.header_mutation"
TYPE_URL = "type.googleapis.com/envoy.extensions.filters.http.header_mutation.v3.HeaderMutation"

APPEND_ACTIONS = (APPEND_IF_EXISTS_OR_ADD, ADD_IF_ABSENT, OVERWRITE_IF_EXISTS_OR_ADD, OVERWRITE_IF_EXISTS)

_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9a-z]+")
_REQUEST_PSEUDO = frozenset({b":path", b":method", b":scheme", b":authority"})
_FRAMING = frozenset({"content-length", "transfer-encoding"})
_LISTS = ("request_mutations", "response_mutations", "request_trailers_mutations", "response_trailers_mutations")


class HeaderMutationRule(msgspec.Struct, frozen=True):
    action: str  # REMOVE or one of APPEND_ACTIONS
    name: str  # lower case
    value: str = ""  # a format: literal text and %OPERATORS%
    keep_empty_value: bool = False


class HeaderMutationConfig(msgspec.Struct, frozen=True):
    request: tuple[HeaderMutationRule, ...] = ()
    response: tuple[HeaderMutationRule, ...] = ()
    request_trailers: tuple[HeaderMutationRule, ...] = ()
    response_trailers: tuple[HeaderMutationRule, ...] = ()


# --- decoding ---------------------------------------------------------------------------------

def decode_envoy(raw: Any, path: str, log: IssueLog) -> HeaderMutationConfig | None:
    """Envoy's HeaderMutation message (the `typed_config` object at `path`); None after errors."""
    errors = len(log.errors)
    check_type_url(raw, path, log, TYPE_URL)
    decoded = _decode(raw, path, log, envoy=True)
    return decoded if len(log.errors) == errors else None


def decode_mosn(raw: Any, path: str, log: IssueLog) -> HeaderMutationConfig | None:
    """The `config` object of a MOSN `stream_filters` entry (Envoy's JSON, proto names)."""
    return _decode(raw, path, log, envoy=False)


def _decode(raw: Any, path: str, log: IssueLog, *, envoy: bool) -> HeaderMutationConfig | None:
    errors = len(log.errors)
    top = Fields(raw, path, log, "mutations most_specific_header_mutations_wins", envoy=envoy)
    top.boolean("most_specific_header_mutations_wins")  # orders per-route layers, which pymosn does not merge yet
    lists: dict[str, tuple[HeaderMutationRule, ...]] = {}
    mutations = top.object("mutations", " ".join(_LISTS) + " query_parameter_mutations", envoy=envoy)
    if mutations is not None:
        if mutations.values.get("query_parameter_mutations"):
            mutations.error("query_parameter_mutations", "query parameter mutations are not implemented by pymosn; "
                                                         "refusing to forward requests unrewritten")
        for field in _LISTS:
            request_side = field == "request_mutations"
            rules = (_rule(element, where, log, envoy, request_side) for element, where in mutations.items(field))
            lists[field] = tuple(rule for rule in rules if rule is not None)
    if len(log.errors) > errors:
        return None
    return HeaderMutationConfig(*(lists.get(field, ()) for field in _LISTS))


def _rule(raw: Any, path: str, log: IssueLog, envoy: bool, request_side: bool) -> HeaderMutationRule | None:
    fields = Fields(raw, path, log, "remove append", envoy=envoy)
    if fields.has("remove") == fields.has("append"):
        fields.error(None, "set exactly one of remove, append")
        return None
    if fields.has("remove"):
        name = fields.string("remove")
        if not _valid_name(fields, "remove", name):
            return None
        if name.startswith(":") or name == "host":
            fields.error("remove", f"{name!r} cannot be removed (pseudo-headers and host never are)")
            return None
        if name in _FRAMING:
            fields.error("remove", f"{name!r} frames the message: the codec sets it, a filter cannot")
            return None
        return HeaderMutationRule(REMOVE, name)
    option = fields.object("append", "header append append_action keep_empty_value", envoy=envoy)
    assert option is not None
    return header_value_option(option, envoy, request_side)


def header_value_option(option: Fields, envoy: bool, request_side: bool) -> HeaderMutationRule | None:
    """An Envoy HeaderValueOption (`header {key, value | raw_value}`, `append_action`, the
    deprecated `append`, `keep_empty_value`) as one rule, or None after errors."""
    action = option.enum("append_action", APPEND_ACTIONS, APPEND_IF_EXISTS_OR_ADD)
    if option.has("append"):  # the deprecated BoolValue form
        if option.has("append_action"):
            option.error("append", "set append or append_action, not both")
        action = APPEND_IF_EXISTS_OR_ADD if option.boolean("append", True) else OVERWRITE_IF_EXISTS_OR_ADD
    header = option.object("header", "key value raw_value", envoy=envoy)
    if header is None:
        option.error(None, "missing required field header")
        return None
    name = header.string("key")
    if not _valid_name(header, "key", name):
        return None
    if name in _FRAMING:
        header.error("key", f"{name!r} frames the message: the codec sets it, a filter cannot")
        return None
    if name == "host" and action == APPEND_IF_EXISTS_OR_ADD:
        header.error("key", "a request has one host: use ADD_IF_ABSENT or an OVERWRITE action")
        return None
    if name.startswith(":"):
        if not (request_side and name.encode() in _REQUEST_PSEUDO):
            header.error("key", f"{name!r} cannot be mutated here; request mutations may overwrite "
                                f"{', '.join(sorted(p.decode() for p in _REQUEST_PSEUDO))}")
            return None
        if action not in (OVERWRITE_IF_EXISTS_OR_ADD, OVERWRITE_IF_EXISTS):
            header.error("key", f"pseudo-header {name!r} has one value: use OVERWRITE_IF_EXISTS_OR_ADD or "
                                "OVERWRITE_IF_EXISTS")
            return None
    value = _value(header)
    if value is None:
        return None
    if re.search("[\r\n\0]", value):
        header.error("value", "a header value cannot hold CR, LF or NUL")
        return None
    try:
        compile_value(value)
    except FormatError as e:
        header.error("value", str(e))
        return None
    return HeaderMutationRule(action, name, value, option.boolean("keep_empty_value"))


def _value(header: Fields) -> str | None:
    if header.has("value") and header.has("raw_value"):
        header.error(None, "set value or raw_value, not both")
        return None
    if not header.has("raw_value"):
        return header.string("value")
    try:
        return base64.b64decode(header.string("raw_value"), validate=True).decode("latin-1")
    except (binascii.Error, ValueError):
        header.error("raw_value", "raw_value is base64 (proto3 JSON bytes)")
        return None


def _valid_name(fields: Fields, key: str, name: str) -> bool:
    raw = name[1:] if name.startswith(":") else name
    if not _TOKEN.fullmatch(raw.encode("latin-1", "replace")):
        fields.error(key, f"{name!r} is not a lower-case HTTP field name")
        return False
    return True


class HeaderMutationFactory:
    name = ENVOY_NAME
    mosn_name = MOSN_NAME
    type_url = TYPE_URL
    config_type = HeaderMutationConfig
    decode_envoy = staticmethod(decode_envoy)
    decode_mosn = staticmethod(decode_mosn)

    def create_config(self, config: HeaderMutationConfig) -> HeaderMutationFilterConfig:
        return HeaderMutationFilterConfig(config)

    @staticmethod
    def header_changes(config: HeaderMutationConfig) -> HeaderChanges:
        """Its request and response rules change those header maps (config/http_filters.py)."""
        changes: list[tuple[HeaderSide, str]] = []
        if config.request:
            changes.append((HeaderSide.REQUEST, "mutations.request_mutations"))
        if config.response:
            changes.append((HeaderSide.RESPONSE, "mutations.response_mutations"))
        return tuple(changes)


FACTORY = HeaderMutationFactory()
