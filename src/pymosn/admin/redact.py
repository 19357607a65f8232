"""Scrub secrets from a config dump before it leaves the process (MOSN #2433, Envoy redacts
secrets in /config_dump the same way)."""

from __future__ import annotations

REDACTED = "[redacted]"

# Key names whose whole value is secret, wherever they appear in the tree.
_SECRET_KEYS = frozenset({"private_key", "privatekey", "password", "private_key_provider", "secret_key"})


def redact(value):
    """A copy of `value` with every secret-named key's value replaced."""
    if isinstance(value, dict):
        return {
            k: (REDACTED if isinstance(k, str) and k.lower() in _SECRET_KEYS and v else redact(v))
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value
