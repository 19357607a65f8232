"""envoy.config.core.v3.HttpProtocolOptions, which a listener's connection manager and a cluster
both carry: what pymosn checks the same way in both."""

from __future__ import annotations

from pymosn.config.envoy.message import Message

UNDERSCORES_ACTIONS = ("ALLOW", "REJECT_REQUEST", "DROP_HEADER")


def underscores(options: Message) -> None:
    """headers_with_underscores_action: pymosn passes such headers (ALLOW); refusing or dropping
    them is a check it does not make."""
    options.refuse_unless("headers_with_underscores_action", UNDERSCORES_ACTIONS, ("ALLOW",),
                          "pass headers with underscores it would refuse or drop")
