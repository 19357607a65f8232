"""Envoy's Address / SocketAddress as the (host, port) pair MOSN's model holds."""

from __future__ import annotations

import ipaddress

from pymosn.config.envoy import schemas as s
from pymosn.config.envoy.message import Message


def socket_address(m: Message | None, what: str) -> tuple[str, int, str] | None:
    """(host, port, path of the socket_address) of an Address, or None after an error."""
    if m is None:
        return None
    kind = m.one_of("socket_address", "pipe", "envoy_internal_address")
    if kind != "socket_address":
        if kind is None:
            m.error(None, f"{what} needs a socket_address")
        else:
            m.error(kind, f"{kind} addresses are not implemented by pymosn yet; known: socket_address")
            m.ignore(kind)
        m.finish()
        return None
    sa = m.message("socket_address", s.SOCKET_ADDRESS)
    m.finish()
    if sa is None:
        return None
    protocol = sa.enum("protocol", ("TCP", "UDP"))
    if protocol == "UDP":
        sa.error("protocol", "UDP is not implemented by pymosn yet; known: TCP")
        sa.drop()
        return None
    host = sa.str("address")
    if not host:
        sa.error("address", "missing: a socket address needs an address")
    if sa.has("named_port"):
        sa.refuse("named_port", "use another port than the one it names")
    port = sa.int("port_value", 0)
    # pymosn binds and connects with the OS resolver, which maps IPv4 onto IPv6 sockets itself
    sa.ignore("ipv4_compat")
    sa.finish()
    if not host:
        return None
    return host, port, sa.path


def is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
