"""The request headers as route conditions see them, when a route tests one the proxy makes.

Routes match the decoded header view (HeaderView) as is; only when some route of the table
tests a header the proxy makes or rewrites before routing (RouteTable.routes_on_proxy_made)
does the stream hand routing this adjusted view instead:

- `x-forwarded-client-cert` as it will be sent upstream (proxy/client_cert.py);
- the request line as Envoy's pseudo-headers (RouteMatch.headers on `:method`, `:path`,
  `:scheme`, as Envoy configs route): `:method` the method, `:path` the target (path and query,
  origin-form), `:scheme` Envoy's downstream scheme (`downstream_scheme`). `:authority` needs
  nothing here: route conditions read it as the Host header (router/matchers.py).

MOSN exposes only the method to its route header matchers (as the variable x-mosn-method, for
a condition named `method`); its xDS converter strips the ":" of Envoy's pseudo-header names."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pymosn.api.connection import ConnectionInfo
from pymosn.protocol.http1 import RequestHead
from pymosn.proxy.client_cert import HEADER_NAME as XFCC
from pymosn.proxy.client_cert import as_routed
from pymosn.proxy.settings import ProxySettings
from pymosn.router.route_table import RouteTable

_SCHEMES = {b"http": b"http", b"https": b"https"}


def downstream_scheme(head: RequestHead, listener_scheme: bytes) -> bytes:
    """Envoy's `:scheme` of a request: the one it names (HTTP/2's :scheme, an absolute-form
    target's), else, for HTTP/1, x-forwarded-proto when it is exactly http or https, else the
    listener's (https with TLS). "http" and "https" in any case are lower-cased, as Envoy."""
    named = head.scheme
    if named:
        return _SCHEMES.get(named.lower(), named)
    lower = head.lower_names
    if b"x-forwarded-proto" in lower:
        forwarded = head.headers[lower.index(b"x-forwarded-proto")][1].strip().lower()
        if forwarded in _SCHEMES:
            return _SCHEMES[forwarded]
    return listener_scheme


class WithPseudoHeaders(Mapping[str, str]):
    """`headers` and the request-line pseudo-headers `pseudo` (name -> str value)."""

    __slots__ = ("headers", "pseudo")

    def __init__(self, headers: Mapping[str, str], pseudo: dict[str, str]) -> None:
        self.headers = headers
        self.pseudo = pseudo

    def __getitem__(self, key: str) -> str:
        value = self.pseudo.get(key)
        return self.headers[key] if value is None else value

    def get(self, key: str, default: Any = None) -> Any:
        value = self.pseudo.get(key)
        return self.headers.get(key, default) if value is None else value

    def __contains__(self, key: object) -> bool:
        return key in self.pseudo or key in self.headers

    def __iter__(self) -> Iterator[str]:
        yield from self.pseudo
        yield from self.headers

    def __len__(self) -> int:
        return len(self.pseudo) + len(self.headers)


def for_routing(headers: Mapping[str, str], table: RouteTable, head: RequestHead, settings: ProxySettings,
                conn: ConnectionInfo, scheme: bytes | None = None) -> Mapping[str, str]:
    """`headers` as routing sees them, for a table whose routes test a header the proxy makes
    (`table.routes_on_proxy_made`). `scheme`: the request's as the filters left it; None works
    it out from `head` and the listener."""
    if XFCC in table.condition_headers:
        headers = as_routed(headers, settings.client_cert, conn)
    if table.request_line_conditions:
        tested = table.condition_headers  # only those some route tests are made
        pseudo = {}
        if ":method" in tested:
            pseudo[":method"] = head.method.decode("latin-1")
        if ":path" in tested:
            pseudo[":path"] = head.target.decode("latin-1")
        if ":scheme" in tested:
            pseudo[":scheme"] = (downstream_scheme(head, settings.scheme) if scheme is None else scheme).decode("latin-1")
        headers = WithPseudoHeaders(headers, pseudo)
    return headers
