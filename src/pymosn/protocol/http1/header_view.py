"""A read-only str view of a request's headers, decoded only if something asks.

Most requests are routed on host and path alone; decoding every header name and value to str
up front cost more than routing them. Duplicate headers are joined with "," (RFC 9110 5.3)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping


class HeaderView(Mapping[str, str]):
    __slots__ = ("_headers", "_lower_names", "_decoded")

    def __init__(self, headers: list[tuple[bytes, bytes]], lower_names: list[bytes]) -> None:
        self._headers = headers
        self._lower_names = lower_names
        self._decoded: dict[str, str] | None = None

    def _dict(self) -> dict[str, str]:
        decoded = self._decoded
        if decoded is None:
            decoded = self._decoded = {}
            for lname, (_, value) in zip(self._lower_names, self._headers):
                key = lname.decode("latin-1")
                text = value.decode("latin-1")
                decoded[key] = decoded[key] + "," + text if key in decoded else text
        return decoded

    def __getitem__(self, name: str) -> str:
        return self._dict()[name]

    def get(self, name: str, default=None):
        return self._dict().get(name, default)

    def __contains__(self, name: object) -> bool:
        return name in self._dict()

    def __iter__(self) -> Iterator[str]:
        return iter(self._dict())

    def __len__(self) -> int:
        return len(self._dict())
