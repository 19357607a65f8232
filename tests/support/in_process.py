"""A pymosn Runtime on its own loop in a thread of the test process, for tests that look at the
proxy's own objects (what the garbage collector finds, for one), which a subprocess hides.

    with InProcessProxy(config_dict):
        ...  # the listeners of config_dict serve on their configured ports

The loop is uvloop's where it is installed, as `pymosn start` runs."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from pymosn.config.loader import load_config_dict
from pymosn.server.runtime import Runtime


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


class InProcessProxy:
    def __init__(self, raw_config: dict[str, Any]) -> None:
        self.config = load_config_dict(raw_config).config
        self._loop = _new_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="pymosn", daemon=True)
        self.runtime: Runtime | None = None

    def __enter__(self) -> InProcessProxy:
        self._thread.start()
        self.runtime = self._call(self._start())
        return self

    async def _start(self) -> Runtime:
        runtime = Runtime(self.config)  # its asyncio.Event belongs to this loop
        await runtime.start(with_admin=False)
        return runtime

    def _call(self, coroutine: Any, timeout: float = 10.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    def __exit__(self, *exc: object) -> None:
        runtime = self.runtime
        if runtime is not None:
            self._call(runtime.stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()
