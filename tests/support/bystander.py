"""A well-behaved client that keeps sending requests while a test attacks the same listener:
the attack must not starve it. Used as `with Bystander(url) as b: ...attack...; b.check()`."""

from __future__ import annotations

import threading
import time

import httpx


class Bystander:
    """Sends one request at a time on a keep-alive connection (HTTP/1.1, or HTTP/2 prior
    knowledge with http2=True) until stopped, recording each outcome and latency."""

    def __init__(self, url: str, *, http2: bool = False, timeout: float = 5.0, pause: float = 0.02) -> None:
        self.url = url
        self.http2 = http2
        self.timeout = timeout
        self.pause = pause
        self.ok = 0
        self.failures: list[str] = []
        self.latencies: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Bystander:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=self.timeout + 5)

    def _run(self) -> None:
        with httpx.Client(http1=not self.http2, http2=self.http2, timeout=self.timeout) as client:
            while not self._stop.is_set():
                started = time.monotonic()
                try:
                    response = client.get(self.url)
                    if response.status_code == 200:
                        self.ok += 1
                        self.latencies.append(time.monotonic() - started)
                    else:
                        self.failures.append(f"status {response.status_code}")
                except httpx.HTTPError as error:
                    self.failures.append(f"{type(error).__name__}: {error}")
                self._stop.wait(self.pause)

    def check(self, min_ok: int = 5) -> None:
        """The bystander was served throughout: at least min_ok answers and no failure."""
        self.__exit__()
        assert not self.failures, f"bystander failed while the attack ran: {self.failures[:5]}"
        assert self.ok >= min_ok, f"bystander got only {self.ok} answers while the attack ran"
