"""Reads the first bytes of a connection without consuming them: is it TLS, and if so, which
server name (SNI) and application protocols (ALPN) does its ClientHello ask for?

Sans-IO: `inspect(data)` looks at whatever prefix of the stream has arrived and answers with
one of five outcomes. The listener peeks at the socket, calls `inspect`, and waits for
`needed` bytes in total when told NEED_MORE. Nothing here raises on any input.

What counts as TLS follows Envoy's tls_inspector: a stream whose first record cannot be a TLS
handshake record is NOT_TLS (plaintext), and so is one that looks like TLS but whose ClientHello
does not parse (MALFORMED; the listener treats it as plaintext too). A ClientHello larger than
`max_bytes` is TOO_LARGE: the listener closes the connection rather than buffer it."""

from __future__ import annotations

import enum
from dataclasses import dataclass

MAX_CLIENT_HELLO = 16 * 1024  # bytes from the start of the stream, record headers included

_HANDSHAKE_RECORD = 0x16
_CLIENT_HELLO = 1
_RECORD_HEADER = 5
_MAX_RECORD = 16 * 1024  # TLSPlaintext.length limit (RFC 8446 5.1)
_SNI = 0
_ALPN = 16
_HOST_NAME = 0


class Outcome(enum.Enum):
    TLS = "tls"  # a complete ClientHello: server_name and alpn are set
    NOT_TLS = "not_tls"
    MALFORMED = "malformed"  # starts like TLS, but is not a ClientHello we can read
    TOO_LARGE = "too_large"
    NEED_MORE = "need_more"  # wait until `needed` bytes have arrived


@dataclass(frozen=True, slots=True)
class Inspection:
    outcome: Outcome
    needed: int = 0  # NEED_MORE: total bytes (from the start) the next step needs
    server_name: str = ""  # lowercased; "" when the client sent no SNI
    alpn: tuple[str, ...] = ()  # the client's protocols, in its order of preference

    @property
    def transport(self) -> str:
        """Envoy's transport protocol name for filter chain matching."""
        return "tls" if self.outcome is Outcome.TLS else "raw_buffer"


NOT_TLS = Inspection(Outcome.NOT_TLS)
MALFORMED = Inspection(Outcome.MALFORMED)
TOO_LARGE = Inspection(Outcome.TOO_LARGE)


class _Malformed(Exception):
    """Raised inside the parser on the first inconsistency; never escapes `inspect`."""


def inspect(data: bytes | bytearray | memoryview, max_bytes: int = MAX_CLIENT_HELLO) -> Inspection:
    data = bytes(data)
    if not data:
        return Inspection(Outcome.NEED_MORE, needed=1)
    if data[0] != _HANDSHAKE_RECORD:
        return NOT_TLS
    if len(data) >= 2 and data[1] != 3:  # record versions are 3.x (SSL 3.0 .. TLS 1.3)
        return NOT_TLS
    try:
        found = _handshake_message(data, max_bytes)
        if isinstance(found, Inspection):
            return found
        return _parse_client_hello(found)
    except _Malformed:
        return MALFORMED


def _need(total: int, max_bytes: int) -> Inspection:
    return TOO_LARGE if total > max_bytes else Inspection(Outcome.NEED_MORE, needed=total)


def _handshake_message(data: bytes, max_bytes: int) -> bytes | Inspection:
    """The ClientHello body (after its 4-byte handshake header), reassembled from as many
    handshake records as it spans, or what to wait for."""
    fragments = bytearray()
    message_end = 0  # 4 + the handshake length, once the handshake header is known
    pos = 0
    while True:
        if len(data) < pos + _RECORD_HEADER:
            return _need(pos + _RECORD_HEADER, max_bytes)
        if data[pos] != _HANDSHAKE_RECORD or data[pos + 1] != 3:
            raise _Malformed("a non-handshake record inside the ClientHello")
        length = int.from_bytes(data[pos + 3 : pos + 5], "big")
        if length == 0 or length > _MAX_RECORD:
            raise _Malformed("record length")
        end = pos + _RECORD_HEADER + length
        if end > max_bytes:
            return TOO_LARGE
        if len(data) < end:
            return _need(end, max_bytes)
        fragments += data[pos + _RECORD_HEADER : end]
        pos = end
        if not message_end and len(fragments) >= 4:
            if fragments[0] != _CLIENT_HELLO:
                raise _Malformed("first handshake message is not a ClientHello")
            message_end = 4 + int.from_bytes(fragments[1:4], "big")
        if message_end and len(fragments) >= message_end:
            return bytes(fragments[4:message_end])


class _Reader:
    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        end = self.pos + n
        if end > len(self.data):
            raise _Malformed("truncated")
        chunk = self.data[self.pos : end]
        self.pos = end
        return chunk

    def number(self, size: int) -> int:
        return int.from_bytes(self.take(size), "big")

    def vector(self, length_size: int) -> _Reader:
        return _Reader(self.take(self.number(length_size)))

    @property
    def done(self) -> bool:
        return self.pos == len(self.data)


def _parse_client_hello(body: bytes) -> Inspection:
    hello = _Reader(body)
    hello.take(2 + 32)  # legacy_version, random
    session_id = hello.vector(1)
    if len(session_id.data) > 32:
        raise _Malformed("session id")
    ciphers = hello.vector(2)
    if not ciphers.data or len(ciphers.data) % 2:
        raise _Malformed("cipher suites")
    if not hello.vector(1).data:
        raise _Malformed("compression methods")
    server_name, alpn = "", ()
    if hello.done:
        return Inspection(Outcome.TLS)  # no extensions at all (TLS 1.2 and below allow it)
    extensions = hello.vector(2)
    if not hello.done:
        raise _Malformed("bytes after the extensions")
    seen: set[int] = set()
    while not extensions.done:
        kind = extensions.number(2)
        content = extensions.vector(2)
        if kind in seen:
            raise _Malformed("duplicate extension")
        seen.add(kind)
        if kind == _SNI:
            server_name = _server_name(content)
        elif kind == _ALPN:
            alpn = _protocols(content)
    return Inspection(Outcome.TLS, server_name=server_name, alpn=alpn)


def _server_name(content: _Reader) -> str:
    names = content.vector(2)
    if not content.done or names.done:
        raise _Malformed("server_name extension")
    found = ""
    while not names.done:
        name_type = names.number(1)
        name = names.vector(2).data
        if name_type == _HOST_NAME and not found:
            if not name or not name.isascii():
                raise _Malformed("host_name")
            found = name.decode("ascii").lower()
    return found


def _protocols(content: _Reader) -> tuple[str, ...]:
    names = content.vector(2)
    if not content.done or names.done:
        raise _Malformed("application_layer_protocol_negotiation extension")
    found = []
    while not names.done:
        name = names.vector(1).data
        if not name:
            raise _Malformed("empty protocol name")
        found.append(name.decode("latin-1"))
    return tuple(found)
