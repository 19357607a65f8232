"""Virtual host selection by the Host header.

Precedence, as Envoy and MOSN: an exact domain, then the longest `*.suffix`, then the longest
`prefix.*`, then `*`. Domains compare case-insensitively. A domain may name a port
("api.com:8443", "*.api.com:8443"); a request's "host:port" tries those first and then the bare
host, so a domain without a port serves every port ("host:*" is the same as "host").

All lookups are dict probes: one per distinct wildcard length, never a scan over domains."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Generic, TypeVar

T = TypeVar("T")


def split_port(host: str) -> tuple[str, str]:
    """("name", "port") of a lowercased Host value; port "" when absent. "[::1]:80" keeps its
    brackets; an unbracketed IPv6 literal is left whole."""
    if host.endswith("]"):
        return host, ""
    name, sep, port = host.rpartition(":")
    if not sep or not port.isdigit() or (":" in name and not name.endswith("]")):
        return host, ""
    return name, port


class _Wildcards(Generic[T]):
    """Suffix (or prefix) wildcards grouped by length; the longest matching one wins."""

    __slots__ = ("by_length", "suffix")

    def __init__(self, suffix: bool) -> None:
        self.by_length: dict[int, dict[str, T]] = {}
        self.suffix = suffix

    def add(self, key: str, value: T) -> None:
        self.by_length.setdefault(len(key), {}).setdefault(key, value)

    def freeze(self) -> None:
        self.by_length = dict(sorted(self.by_length.items(), reverse=True))

    def find(self, host: str) -> T | None:
        size = len(host)
        for n, table in self.by_length.items():
            if n < size:  # the wildcard must stand for at least one character
                value = table.get(host[-n:] if self.suffix else host[:n])
                if value is not None:
                    return value
        return None


class DomainIndex(Generic[T]):
    def __init__(self, entries: Iterable[tuple[Iterable[str], T]]) -> None:
        self._exact: dict[str, T] = {}
        self._suffix: _Wildcards[T] = _Wildcards(suffix=True)
        self._prefix: _Wildcards[T] = _Wildcards(suffix=False)
        self.default: T | None = None
        for domains, value in entries:
            for domain in domains:
                self._add(domain.lower(), value)
        self._suffix.freeze()
        self._prefix.freeze()

    def _add(self, domain: str, value: T) -> None:
        # The first virtual host to claim a domain keeps it (config validation reports duplicates).
        if domain.endswith(":*"):
            domain = domain[:-2]
        if domain == "*":
            if self.default is None:
                self.default = value
        elif domain.startswith("*"):
            self._suffix.add(domain[1:], value)
        elif domain.endswith("*"):
            self._prefix.add(domain[:-1], value)
        else:
            self._exact.setdefault(domain, value)

    def select(self, host: str) -> T | None:
        """`host` is the Host header as received: any case, maybe with a port."""
        host = host.lower()
        value = self._exact.get(host)
        if value is not None:
            return value
        bare, port = split_port(host)
        if port:
            value = self._exact.get(bare)
            if value is not None:
                return value
            value = self._suffix.find(host)  # "*.api.com:8443" and "*:8443"
            if value is not None:
                return value
        value = self._suffix.find(bare)
        if value is not None:
            return value
        value = self._prefix.find(bare)
        if value is not None:
            return value
        return self.default
