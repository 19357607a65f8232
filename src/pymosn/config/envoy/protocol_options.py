"""HTTP protocol settings read the same way wherever they sit: core.v3.HttpProtocolOptions (a
listener's connection manager and a cluster both carry it) and the upgrade configs of a manager
and of a route."""

from __future__ import annotations

from pymosn.config.envoy.message import Message, Schema

UNDERSCORES_ACTIONS = ("ALLOW", "REJECT_REQUEST", "DROP_HEADER")


def underscores(options: Message) -> None:
    """headers_with_underscores_action: pymosn passes such headers (ALLOW); refusing or dropping
    them is a check it does not make."""
    options.refuse_unless("headers_with_underscores_action", UNDERSCORES_ACTIONS, ("ALLOW",),
                          "pass headers with underscores it would refuse or drop")


def upgrade_configs(m: Message, field: str, schema: Schema) -> None:
    """pymosn tunnels every upgrade a client asks for (Upgrade is passed through) and answers
    CONNECT with 405: turning an upgrade on needs nothing, turning one off is not implemented."""
    for upgrade in m.messages(field, schema):
        kind = upgrade.str("upgrade_type")
        if upgrade.raw("enabled") is False:
            upgrade.error("enabled", f"pymosn tunnels every upgrade a client asks for; refusing to run with {kind!r} "
                                     "turned off")
        upgrade.ignore("enabled")
        if kind.upper() == "CONNECT":
            upgrade.warn("upgrade_type", "CONNECT is not implemented by pymosn yet: it answers 405")
            upgrade.ignore("connect_config")
        upgrade.finish()
