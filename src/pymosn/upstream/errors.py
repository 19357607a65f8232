"""Errors of the upstream layer."""


class UpstreamConnectError(Exception):
    """Dialling a host failed; the message is the reason for logs and local replies."""


# Reasons that start with this are TLS handshakes the upstream failed (an untrusted or
# mismatched certificate, no shared protocol): the proxy answers those 503 UF, as Envoy does,
# where a refused or timed-out TCP connect answers 502.
TLS_FAILURE = "TLS handshake failed"
