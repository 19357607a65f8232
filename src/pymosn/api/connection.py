"""What a stream (and its filters) may know of the connection it arrived on: one frozen record
per connection, made once when the connection is established (after its TLS handshake), so
reading it costs an attribute load and nothing on the request path can change it. Compiled
(build.py): the request path reads it several times per request.

What a consumer derives once per connection (a certificate's subject, a per-connection rate
limiter) it keeps in `memo`, under a key of its own: it lives as long as the connection, as a
weak-keyed table would (a compiled class takes no weak references)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any


# eq=False: one record per connection, compared (and hashed, as a cache key) by identity
@dataclass(frozen=True, slots=True, eq=False)
class ConnectionInfo:
    id: int
    loop: asyncio.AbstractEventLoop
    remote: tuple[str, int]  # the peer's (ip, port)
    local: tuple[str, int]  # our (ip, port) the peer connected to
    tls: bool = False
    peer_uri_san: str | None = None  # the TLS peer certificate's URI SAN (a SPIFFE ID in a mesh)
    sni: str | None = None  # the TLS server name: the client's (downstream), the one we sent (upstream)
    alpn: str | None = None  # the TLS application protocol agreed on
    # (ip, port) the client was going to before REDIRECT/TPROXY steered it here
    original_destination: tuple[str, int] | None = None
    # remote and local as the access log prints them ("ip:port", "[v6]:port"), formatted once
    remote_address: str = ""
    local_address: str = ""
    # the TLS session (an ssl.SSLObject), for what only it knows: the peer's certificate (XFCC)
    ssl_object: Any = None
    # every URI and DNS SAN of the TLS peer's certificate, in certificate order (RBAC principals)
    peer_uri_sans: tuple[str, ...] = ()
    peer_dns_sans: tuple[str, ...] = ()
    # per-connection values derived by others, by their own key (the record's fields stay frozen)
    memo: dict[object, Any] = field(default_factory=dict, repr=False)
