"""Errors of the upstream layer."""


class UpstreamConnectError(Exception):
    """Dialling a host failed; the message is the reason for logs and local replies."""
