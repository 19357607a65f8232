"""MOSN's "host:port" address strings, turned into (host, port)."""

from __future__ import annotations

import re

_BRACKETED_IPV6 = re.compile(r"\[([0-9A-Fa-f:.%\w-]+)\]:(\d+)")
_HOST_PORT = re.compile(r"([^\s:\[\]]*):(\d+)")


def parse_host_port(value: object) -> tuple[str, int]:
    """Parse "host:port" or "[v6]:port"; a [host, port] pair (as a config dump writes it) also works.

    The host may be empty (":8080"), meaning every interface, as with Go's net.Listen; callers
    that need a host say so themselves."""
    if isinstance(value, list | tuple) and len(value) == 2:
        host, port = value
        if isinstance(host, str) and isinstance(port, int) and not isinstance(port, bool):
            return host, _checked_port(port)
    if not isinstance(value, str):
        raise ValueError(f'expected "host:port", got {value!r}')
    text = value.strip()
    if text.startswith(("/", "unix:", "@")):
        # MOSN's network "unix" listeners and "unix:/path" hosts
        raise ValueError(f"{value!r} is a unix socket address; unix sockets are not implemented by pymosn yet")
    match = _BRACKETED_IPV6.fullmatch(text) or _HOST_PORT.fullmatch(text)
    if match is None:
        if text.count(":") > 1 and not text.startswith("["):
            raise ValueError(f'expected "host:port", got {value!r} (write IPv6 hosts as "[::1]:80")')
        raise ValueError(f'expected "host:port", got {value!r}')
    return match.group(1), _checked_port(int(match.group(2)))


def _checked_port(port: int) -> int:
    if not 0 <= port <= 65535:
        raise ValueError(f"port {port} out of range 0..65535")
    return port
