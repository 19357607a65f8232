"""x-forwarded-client-cert (XFCC): what the upstream learns about the downstream's client
certificate, with Envoy's modes (forward_client_cert_details) and element format.

An element is `By=<our URI SAN>;Hash=<sha256 of the client certificate>` followed by what
set_current_client_cert_details asks for: `Cert="<URL-encoded PEM>"`, `Subject="<RFC 2253>"`,
`URI=<each URI SAN>`, `DNS=<each DNS SAN>`. Elements of successive proxies are joined by
commas. The default, SANITIZE, never lets a client's own XFCC through: without it any client
could claim any identity to the upstream."""

from __future__ import annotations

import hashlib
import ssl
from collections.abc import Iterator, Mapping
from typing import cast
from urllib.parse import quote

from pymosn.api.connection import ConnectionInfo
from pymosn.config import model
from pymosn.network.tls import local_uri_sans

HEADER = b"x-forwarded-client-cert"
HEADER_NAME = "x-forwarded-client-cert"
SANITIZE = "SANITIZE"
FORWARD_ONLY = "FORWARD_ONLY"
APPEND_FORWARD = "APPEND_FORWARD"
SANITIZE_SET = "SANITIZE_SET"
ALWAYS_FORWARD_ONLY = "ALWAYS_FORWARD_ONLY"

_NEEDS_QUOTES = frozenset(',;="')


class ClientCertForwarding:
    """One proxy filter's XFCC policy. `header_value` gives the header to send upstream (None:
    send none) from the incoming one (None if absent) and the downstream connection."""

    __slots__ = ("mode", "details")

    def __init__(self, mode: str, details: model.ClientCertDetails | None = None) -> None:
        self.mode = mode
        self.details = details or model.ClientCertDetails()

    @classmethod
    def from_config(cls, cfg: model.ProxyConfig) -> ClientCertForwarding | None:
        """None for SANITIZE: the proxy then only drops incoming XFCC headers."""
        if cfg.forward_client_cert_details == SANITIZE:
            return None
        return cls(cfg.forward_client_cert_details, cfg.set_current_client_cert_details)

    def header_value(self, incoming: bytes | None, conn: ConnectionInfo) -> bytes | None:
        mode = self.mode
        if mode == ALWAYS_FORWARD_ONLY:
            return incoming
        element = self._element(conn)
        if element is None:  # not mutual TLS: the other modes forward nothing
            return None
        if mode == FORWARD_ONLY:
            return incoming
        if mode == SANITIZE_SET or incoming is None:
            return element
        return incoming + b"," + element  # APPEND_FORWARD

    def _element(self, conn: ConnectionInfo) -> bytes | None:
        if not conn.tls:
            return None
        element = conn.memo.get(self)  # a connection's certificate never changes: built once
        if element is None:
            ssl_object = conn.ssl_object
            element = self._build(ssl_object) if ssl_object is not None else b""
            conn.memo[self] = element
        return element or None

    def _build(self, ssl_object: ssl.SSLObject) -> bytes:
        """b"" when the client sent no certificate."""
        der = ssl_object.getpeercert(binary_form=True)
        if not der:
            return b""
        parts = [f"By={_value(uri)}" for uri in local_uri_sans(ssl_object.context)]
        parts.append(f"Hash={hashlib.sha256(der).hexdigest()}")
        details = self.details
        if details.cert:
            parts.append(f'Cert="{quote(ssl.DER_cert_to_PEM_cert(der), safe="")}"')
        if details.subject:
            parts.append(f'Subject="{_escape(_subject(der))}"')
        # typeshed gives every value of the certificate dict one union type; this key's is pairs
        sans = cast("tuple[tuple[str, str], ...]", (ssl_object.getpeercert() or {}).get("subjectAltName", ()))
        if details.uri:
            parts += [f"URI={_value(v)}" for kind, v in sans if kind == "URI"]
        if details.dns:
            parts += [f"DNS={_value(v)}" for kind, v in sans if kind == "DNS"]
        return ";".join(parts).encode("latin-1", "replace")


def _subject(der: bytes) -> str:
    from cryptography import x509  # only when the subject is asked for

    return x509.load_der_x509_certificate(der).subject.rfc4514_string()


def _escape(value: str) -> str:
    return value.replace('"', '\\"')


def _value(value: str) -> str:
    """Quoted (with inner quotes escaped) when it holds a separator, as the format requires."""
    return f'"{_escape(value)}"' if any(c in _NEEDS_QUOTES for c in value) else value


class WithHeader(Mapping[str, str]):
    """Request headers as routing must see them when the proxy rewrites one header itself:
    `name` has `value` (None: absent); everything else is the request's."""

    __slots__ = ("headers", "name", "value")

    def __init__(self, headers: Mapping[str, str], name: str, value: str | None) -> None:
        self.headers = headers
        self.name = name
        self.value = value

    def __getitem__(self, key: str) -> str:
        if key == self.name:
            if self.value is None:
                raise KeyError(key)
            return self.value
        return self.headers[key]

    def get(self, key: str, default=None):
        if key == self.name:
            return default if self.value is None else self.value
        return self.headers.get(key, default)

    def __contains__(self, key: object) -> bool:
        return self.value is not None if key == self.name else key in self.headers

    def __iter__(self) -> Iterator[str]:
        yield from (k for k in self.headers if k != self.name)
        if self.value is not None:
            yield self.name

    def __len__(self) -> int:
        return sum(1 for _ in self)


def as_routed(headers: Mapping[str, str], forwarding: ClientCertForwarding | None, conn: ConnectionInfo) -> WithHeader:
    """`headers` with XFCC as it will be sent upstream: routes match what the upstream sees,
    never a value the client made up (Envoy rewrites XFCC before routing too)."""
    incoming = headers.get(HEADER_NAME)
    value = None
    if forwarding is not None:
        found = forwarding.header_value(incoming.encode("latin-1") if incoming is not None else None, conn)
        value = found.decode("latin-1") if found is not None else None
    return WithHeader(headers, HEADER_NAME, value)
