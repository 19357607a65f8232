"""Transparent interception: where a redirected connection was really going.

- iptables/nftables REDIRECT rewrites the destination to the proxy's port; the kernel keeps the
  original, read with getsockopt(SO_ORIGINAL_DST) (IP6T_SO_ORIGINAL_DST for IPv6).
- TPROXY delivers the connection unchanged to a listening socket with IP_TRANSPARENT: the
  accepted socket's own address is the original destination.
"""

from __future__ import annotations

import socket
import struct

SO_ORIGINAL_DST = 80  # linux/netfilter_ipv4.h; IP6T_SO_ORIGINAL_DST has the same number
IP_TRANSPARENT = 19  # linux/in.h
IPV6_TRANSPARENT = 75  # linux/in6.h
SOL_IPV6 = 41

REDIRECT = "redirect"
TPROXY = "tproxy"


def original_destination(sock: socket.socket, mode: str) -> tuple[str, int] | None:
    """The (ip, port) the client connected to before interception, or None when the
    connection was not redirected (it came to the proxy's own address: proxying it to its
    "original destination" would loop back into the proxy)."""
    local = sock.getsockname()[:2]
    if mode == TPROXY:
        return local
    try:
        if sock.family == socket.AF_INET6:
            raw = sock.getsockopt(SOL_IPV6, SO_ORIGINAL_DST, 28)
            port = struct.unpack_from("!H", raw, 2)[0]
            found = (socket.inet_ntop(socket.AF_INET6, raw[8:24]), port)
        else:
            raw = sock.getsockopt(socket.SOL_IP, SO_ORIGINAL_DST, 16)
            port = struct.unpack_from("!H", raw, 2)[0]
            found = (socket.inet_ntop(socket.AF_INET, raw[4:8]), port)
    except OSError:
        return None  # no conntrack entry: not a redirected connection
    return None if found == local else found


def make_transparent(sock: socket.socket) -> None:
    """IP_TRANSPARENT on a listening socket, before bind: it may accept connections for any
    address TPROXY rules steer to it (needs CAP_NET_ADMIN)."""
    if sock.family == socket.AF_INET6:
        sock.setsockopt(SOL_IPV6, IPV6_TRANSPARENT, 1)
    else:
        sock.setsockopt(socket.SOL_IP, IP_TRANSPARENT, 1)
