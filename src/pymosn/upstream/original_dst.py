"""The ORIGINAL_DST cluster's hosts: one per original destination seen, made on first use.

A request (or TCP connection) goes where its client was going before iptables/TPROXY steered
it to the proxy: the downstream connection's original destination, or, with
`original_dst_lb_config.use_header`, the "ip:port" in a request header. Hosts nobody used for
`CLEANUP_INTERVAL` are dropped (Envoy's cleanup_interval default)."""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable, Mapping
from typing import Any

from pymosn.upstream.host import Host

CLEANUP_INTERVAL = 5.0
MAX_HOSTS = 4096


class OriginalDstHosts:
    def __init__(self, cluster_name: str, header: str | None, new_stats: Callable[[str], Any],
                 make_pool: Callable[[Host], Any]) -> None:
        self.cluster_name = cluster_name
        self.header = header.lower() if header else None
        self.new_stats = new_stats
        self.make_pool = make_pool
        self.hosts: dict[tuple[str, int], Host] = {}
        self.last_used: dict[tuple[str, int], float] = {}
        self.last_cleanup = time.monotonic()

    def host_for(self, conn: Any, headers: Mapping[str, str] | None) -> Host | None:
        address = None
        if self.header is not None and headers is not None:
            address = _parse(headers.get(self.header))
        if address is None and conn is not None:
            address = getattr(conn, "original_destination", None)
        if address is None:
            return None  # not an intercepted connection: nowhere to go that is not a loop
        now = time.monotonic()
        if now - self.last_cleanup > CLEANUP_INTERVAL:
            self._cleanup(now)
        host = self.hosts.get(address)
        if host is None:
            if len(self.hosts) >= MAX_HOSTS:
                self._cleanup(now, force=True)
            text = f"[{address[0]}]:{address[1]}" if ":" in address[0] else f"{address[0]}:{address[1]}"
            host = Host(address[0], address[1], 1, {}, "", self.new_stats(text))
            host.pool = self.make_pool(host)
            self.hosts[address] = host
        self.last_used[address] = now
        return host

    def _cleanup(self, now: float, force: bool = False) -> None:
        self.last_cleanup = now
        horizon = now - (0 if force else CLEANUP_INTERVAL)
        for address, used in list(self.last_used.items()):
            host = self.hosts[address]
            if used < horizon and not host.stats.cx_active:
                del self.hosts[address], self.last_used[address]
                if host.pool is not None:
                    host.pool.close()
                if host.h2_pool is not None:
                    host.h2_pool.close()

    def all(self) -> list[Host]:
        return list(self.hosts.values())


def _parse(value: str | None) -> tuple[str, int] | None:
    if not value:
        return None
    host, sep, port = value.strip().rpartition(":")
    if not sep or not port.isdigit():
        return None
    host = host.strip("[]")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return None  # only literal addresses: a header must not make the proxy resolve names
    return host, int(port)
