"""Header rewriting for one route, precomputed once as bytes so a request only loops once, and
the upstream request's and downstream response's header lists built with it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from pymosn.api.request_id import new_request_id
from pymosn.api.stream_info import StreamInfo
from pymosn.protocol.http1.head import RequestHead, ResponseHead
from pymosn.protocol.http1.hop_by_hop import HOP_BY_HOP

if TYPE_CHECKING:
    from pymosn.proxy.settings import ProxySettings

_REQUEST_DROP: Final = HOP_BY_HOP | {b"expect"}
_NOTED: Final = frozenset({b"host", b"x-forwarded-for", b"x-forwarded-proto", b"x-request-id", b"x-forwarded-client-cert"})


class HeaderPlan:
    __slots__ = ("request_drop", "request_add", "response_drop", "response_add", "host_rewrite")

    def __init__(self, route) -> None:
        self.request_drop = _REQUEST_DROP | {n.lower().encode() for n in route.request_headers_to_remove}
        self.request_add = tuple(
            (n.lower().encode(), v.encode(), append) for n, v, append in route.request_headers_to_add
        )
        self.response_drop = HOP_BY_HOP | {n.lower().encode() for n in route.response_headers_to_remove}
        self.response_add = tuple(
            (n.lower().encode(), v.encode(), append) for n, v, append in route.response_headers_to_add
        )
        host = route.host_rewrite
        self.host_rewrite = host.encode() if host else None


def apply_adds(headers: list[tuple[bytes, bytes]], adds: tuple) -> None:
    """Envoy semantics: append=true adds another value; append=false replaces existing ones."""
    for name, value, append in adds:
        if not append:
            headers[:] = [h for h in headers if h[0].lower() != name]
        headers.append((name, value))


def _named_by_connection(value: bytes, dropped: frozenset[bytes]) -> set[bytes] | None:
    """The fields a Connection header names, less those dropped anyway (None: no others)."""
    if value in dropped:  # `keep-alive`, `upgrade`: nearly every value seen, and one lookup
        return None
    return {t.strip().lower() for t in value.split(b",")} - dropped


def filter_response_headers(head: ResponseHead, plan: HeaderPlan | None) -> list:
    """The response headers to send downstream: hop-by-hop and removed ones dropped (also
    those the Connection header names), then the route's additions."""
    drop = plan.response_drop if plan is not None else HOP_BY_HOP
    out = []
    extra: set[bytes] | None = None
    for lname, header in zip(head.lower_names, head.headers):
        if lname in drop:
            if lname == b"connection":  # each Connection field names more
                named = _named_by_connection(header[1], drop)
                if named:
                    extra = named if extra is None else extra | named
            continue
        out.append(header)
    if extra:
        out = [h for n, h in zip(head.lower_names, head.headers) if n not in drop and n not in extra]
    if plan is not None and plan.response_add:
        apply_adds(out, plan.response_add)
    return out


def upstream_request_headers(head: RequestHead, plan: HeaderPlan, conn: Any, settings: ProxySettings,
                             info: StreamInfo) -> list:
    """The upstream request's header list, in one pass over the request's: hop-by-hop and
    removed ones dropped, Host rewritten, the forwarding headers we extend noted; then ours
    (X-Forwarded-For/-Proto, XFCC, X-Request-Id, recorded in `info`) and the route's added."""
    drop = plan.request_drop
    out = []
    conn_tokens: set[bytes] | None = None
    xff = xfp = request_id = upgrade = xfcc = None
    for lname, header in zip(head.lower_names, head.headers):
        if lname in drop:
            if lname == b"connection":
                named = _named_by_connection(header[1], drop)
                if named:
                    conn_tokens = named if conn_tokens is None else conn_tokens | named
            elif lname == b"upgrade":
                upgrade = header[1]
            continue
        if lname in _NOTED:
            if lname == b"host":
                if plan.host_rewrite is not None:
                    header = (header[0], plan.host_rewrite)
            elif lname == b"x-forwarded-for":
                xff = header[1] if xff is None else xff + b", " + header[1]
                continue
            elif lname == b"x-request-id":
                request_id = header[1]
            elif lname == b"x-forwarded-client-cert":
                # never passed on as received: client_cert decides (SANITIZE drops it)
                xfcc = header[1] if xfcc is None else xfcc + b"," + header[1]
                continue
            else:
                xfp = header[1]
        out.append(header)
    if conn_tokens:
        conn_tokens.discard(b"upgrade")
        out = [h for h in out if h[0].lower() not in conn_tokens]
    remote_ip = conn.remote[0].encode()
    out.append((b"x-forwarded-for", remote_ip if xff is None else xff + b", " + remote_ip))
    if xfp is None:
        out.append((b"x-forwarded-proto", settings.scheme))
    client_cert = settings.client_cert
    if client_cert is not None:
        xfcc = client_cert.header_value(xfcc, conn)
        if xfcc is not None:
            out.append((b"x-forwarded-client-cert", xfcc))
    if request_id is None:
        rid = new_request_id()
        out.append((b"x-request-id", rid))
        info.request_id = rid.decode("ascii")
    else:
        info.request_id = request_id.decode("latin-1")
    if head.upgrade:
        out.append((b"connection", b"upgrade"))
        out.append((b"upgrade", upgrade or b""))
    if plan.request_add:
        apply_adds(out, plan.request_add)
    return out
