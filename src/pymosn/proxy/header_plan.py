"""Header rewriting for one route, precomputed once as bytes so a request only loops once."""

from __future__ import annotations

from pymosn.protocol.http1.hop_by_hop import HOP_BY_HOP

_REQUEST_DROP = HOP_BY_HOP | {b"expect"}


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


def filter_response_headers(head, plan: HeaderPlan | None) -> list:
    """The response headers to send downstream: hop-by-hop and removed ones dropped (also
    those the Connection header names), then the route's additions."""
    drop = plan.response_drop if plan is not None else HOP_BY_HOP
    out = []
    extra: set[bytes] | None = None
    for lname, header in zip(head.lower_names, head.headers):
        if lname in drop:
            if lname == b"connection":
                extra = {t.strip().lower() for t in header[1].split(b",")}
            continue
        out.append(header)
    if extra:
        out = [h for h in out if h[0].lower() not in extra]
    if plan is not None and plan.response_add:
        apply_adds(out, plan.response_add)
    return out
