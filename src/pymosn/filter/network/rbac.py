"""Role-based access control for connections (Envoy's `envoy.filters.network.rbac`; the
network filter `rbac` in a MOSN-shaped config, which MOSN itself does not have): a denied
connection is closed, dropping what was queued for it, before any later filter (tcp_proxy,
the HTTP proxy) sees it. The rules are filter/rbac/'s, compiled for a connection: there are no
request headers, so header rules match as for a request without the header and url_path rules
never match, as in Envoy.

When the check runs: at connection start (after the TLS handshake), for every
`enforcement_type`. Envoy's default, ONE_TIME_ON_FIRST_BYTE, checks when the first byte
arrives; pymosn cannot wait for it, because its tcp_proxy may hand both sockets to the kernel's
zero-copy relay as soon as the upstream connects, and a byte spliced past the filters is never
checked. What the rules read (addresses, the peer certificate, the server name) is fixed when
the connection starts, so the verdict is the one Envoy reaches; only a connection that never
sends a byte is counted (and closed, when denied) where Envoy would not. CONTINUOUS re-checks
on every read in Envoy for protocol filters' dynamic metadata, which pymosn does not have: it
is accepted and checked once too. `delay_deny` stops reading and closes after the delay.

Config (Envoy's RBAC fields, either spelling): `stat_prefix` (required), `rules`,
`shadow_rules`, `shadow_rules_stat_prefix`, `enforcement_type`, `delay_deny`,
`enforce_on_transport_ready`; `matcher` / `shadow_matcher` are refused.
Stats: `<stat_prefix>rbac.allowed`, `denied`, `shadow_allowed`, `shadow_denied`."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec

from pymosn.api.filter import FilterStatus
from pymosn.config.issues import IssueLog
from pymosn.filter.http.fields import Fields, check_type_url
from pymosn.filter.rbac.engine import RbacEngine, decode_rules
from pymosn.filter.rbac.stats import ConnectionRbacStats
from pymosn.metrics.store import StatsStore
from pymosn.network.connection import Connection

NAME = "rbac"
ENVOY_NAME = "envoy.filters.network.rbac"
TYPE_URL = "envoy.extensions.filters.network.rbac.v3.RBAC"
ENFORCEMENT_TYPES = ("ONE_TIME_ON_FIRST_BYTE", "CONTINUOUS")

_FIELDS = ("rules matcher shadow_rules shadow_matcher shadow_rules_stat_prefix stat_prefix enforcement_type "
           "delay_deny enforce_on_transport_ready")


class RbacNetworkConfig(msgspec.Struct, frozen=True):
    """The rules as written (checked when decoded, compiled when a listener is built)."""

    stat_prefix: str
    rules: dict[str, Any] | None = None
    shadow_rules: dict[str, Any] | None = None
    shadow_rules_stat_prefix: str = ""
    enforcement_type: str = "ONE_TIME_ON_FIRST_BYTE"
    delay_deny: float = 0.0  # seconds; 0: close at once
    enforce_on_transport_ready: bool = False


def decode(raw: Any, path: str, log: IssueLog) -> RbacNetworkConfig | None:
    """The filter's config at `path` (Envoy's typed_config fields); None after errors."""
    errors = len(log.errors)
    check_type_url(raw, path, log, "type.googleapis.com/" + TYPE_URL)
    fields = Fields(raw, path, log, _FIELDS, envoy=True)
    for key in ("matcher", "shadow_matcher"):
        if fields.has(key):
            fields.error(key, "the RBAC matcher tree is not implemented by pymosn; use rules / shadow_rules")
    stat_prefix = fields.string("stat_prefix")
    if not stat_prefix:
        fields.error("stat_prefix", "missing: the network RBAC filter needs a stat_prefix (as in Envoy)")
    rules = _rules(fields, "rules", log)
    shadow = _rules(fields, "shadow_rules", log)
    enforcement = fields.enum("enforcement_type", ENFORCEMENT_TYPES, "ONE_TIME_ON_FIRST_BYTE")
    if enforcement == "CONTINUOUS":
        log.warning(fields.at("enforcement_type"), "CONTINUOUS: what pymosn's rules read cannot change during a "
                                                   "connection (it has no protocol metadata), so each connection is "
                                                   "checked once, when it starts")
    delay = fields.duration("delay_deny") or 0.0
    config = RbacNetworkConfig(stat_prefix, rules, shadow, fields.string("shadow_rules_stat_prefix"), enforcement,
                               delay, fields.boolean("enforce_on_transport_ready"))
    return config if len(log.errors) == errors else None


def _rules(fields: Fields, key: str, log: IssueLog) -> dict[str, Any] | None:
    raw = fields.values.get(key)
    if raw is None:  # absent (or null, as a dumped config writes it)
        return None
    decode_rules(raw, fields.at(key), log, http=False)
    return raw if isinstance(raw, dict) else None


def _compiled(raw: dict[str, Any] | None, where: str) -> RbacEngine | None:
    if raw is None:
        return None
    log = IssueLog()
    engine = decode_rules(raw, where, log, http=False)
    if engine is None:  # decode() checked these rules: a config built past them is a bug
        raise ValueError(f"invalid RBAC rules reached the network filter: {log.errors}")
    return engine


class RbacConnectionRules:
    """Shared by every connection of a filter chain: the compiled rules and the counters."""

    __slots__ = ("engine", "shadow", "stats", "delay_deny")

    def __init__(self, config: RbacNetworkConfig, stats: ConnectionRbacStats) -> None:
        self.engine = _compiled(config.rules, "rules")
        self.shadow = _compiled(config.shadow_rules, "shadow_rules")
        self.stats = stats
        self.delay_deny = config.delay_deny

    def allows(self, conn: Connection) -> bool:
        """Checks (and counts) one connection."""
        info = conn.info
        stats = self.stats
        shadow = self.shadow
        if shadow is not None:
            matched = shadow.first_match(info, None)
            allowed = shadow.allow_matched if matched is not None else shadow.allow_unmatched
            (stats.shadow_allowed if allowed else stats.shadow_denied).value += 1  # NamedCounters
        engine = self.engine
        if engine is None:
            return True
        matched = engine.first_match(info, None)
        if engine.allow_matched if matched is not None else engine.allow_unmatched:
            stats.allowed.value += 1
            return True
        stats.denied.value += 1
        return False


class RbacReadFilter:
    """The read filter of one connection: checks it when it starts; a denied one reads no
    further and is closed (after `delay_deny`)."""

    __slots__ = ("_rules", "_conn", "_denied", "_timer")

    def __init__(self, rules: RbacConnectionRules, conn: Connection) -> None:
        self._rules = rules
        self._conn = conn
        self._denied = False
        self._timer: asyncio.TimerHandle | None = None

    def on_new_connection(self) -> FilterStatus:
        if self._rules.allows(self._conn):
            return FilterStatus.CONTINUE
        self._denied = True
        conn = self._conn
        delay = self._rules.delay_deny
        if delay > 0:
            conn.pause_reading()
            conn.close_callbacks.append(self._on_close)
            self._timer = conn.loop.call_later(delay, self._close)
        else:
            conn.abort()
        return FilterStatus.STOP

    def on_data(self, data: bytes) -> FilterStatus:
        return FilterStatus.STOP if self._denied else FilterStatus.CONTINUE

    def _close(self) -> None:
        self._timer = None
        self._conn.abort()

    def _on_close(self, conn: Connection, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


class RbacNetworkFilterFactory:
    """What NETWORK_FILTERS holds for `rbac`: called with (decoded config, the listener's
    filter.registry.ListenerContext), it returns the per-connection builder; `decode` is the
    config reader the config rules run at load."""

    name = NAME
    type_url = TYPE_URL
    config_type = RbacNetworkConfig
    decode = staticmethod(decode)

    def __call__(self, config: RbacNetworkConfig, ctx: Any):
        store = getattr(ctx, "stats_store", None) or StatsStore()
        stats = ConnectionRbacStats(store, config.stat_prefix, config.shadow_rules_stat_prefix)
        rules = RbacConnectionRules(config, stats)

        def build(conn: Connection) -> RbacReadFilter:
            return RbacReadFilter(rules, conn)

        return build


FACTORY = RbacNetworkFilterFactory()
