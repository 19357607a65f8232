"""Hop-by-hop headers (RFC 9110 section 7.6.1) that a proxy must not forward."""

HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    }
)


def connection_tokens(value: bytes) -> set[bytes]:
    """Header names listed in a Connection header are hop-by-hop too."""
    return {t.strip().lower() for t in value.split(b",") if t.strip()}
