"""A listener's filter chains: which connections each serves, its transport (TLS or
plaintext), and the per-connection builders of its read filters, in order."""

from __future__ import annotations

import ssl
from collections.abc import Callable, Sequence

from pymosn.config import model
from pymosn.network.connection import Connection


class FilterChainFactory:
    __slots__ = ("builders",)

    def __init__(self, builders: Sequence[Callable[[Connection], object]]) -> None:
        self.builders = tuple(builders)

    def __call__(self, conn: Connection) -> list:
        return [build(conn) for build in self.builders]


class FilterChain:
    """One filter chain of a listener. `index` is its position in the listener's
    `filter_chains` (the default chain comes after them); a connection records it as
    `filter_chain_index`. `plaintext_factory` builds the filters for a plaintext client of a TLS
    chain on an `inspector` listener (they must not believe the connection is secure)."""

    __slots__ = ("index", "match", "factory", "ssl_context", "handshake_timeout", "plaintext_factory", "idle_timeout")

    def __init__(
        self,
        index: int,
        factory: Callable[[Connection], list],
        *,
        match: model.FilterChainMatch | None = None,
        ssl_context: ssl.SSLContext | None = None,
        handshake_timeout: float = 10.0,
        plaintext_factory: Callable[[Connection], list] | None = None,
        idle_timeout: float | None = None,
    ) -> None:
        self.index = index
        self.match = match
        self.factory = factory
        self.ssl_context = ssl_context
        self.handshake_timeout = handshake_timeout
        self.plaintext_factory = plaintext_factory or factory
        self.idle_timeout = idle_timeout  # None: the listener's

    @property
    def matches_everything(self) -> bool:
        return self.match is None or self.match == model.FilterChainMatch()

    def __repr__(self) -> str:
        return f"FilterChain({self.index}, tls={self.ssl_context is not None})"
