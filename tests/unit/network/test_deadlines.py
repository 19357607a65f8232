from __future__ import annotations

import asyncio

from pymosn.network.deadlines import Deadlines


class Owner:
    def __init__(self, loop):
        self.loop = loop
        self.fired_at = None

    def on_deadline(self):
        self.fired_at = self.loop.time()


def test_deadlines_fire_late_never_early_and_cancel():
    async def main():
        loop = asyncio.get_running_loop()
        d = Deadlines(loop, resolution=0.01)
        start = loop.time()
        a, b, c = Owner(loop), Owner(loop), Owner(loop)
        d.add(0.05, a)
        key_b = d.add(0.05, b)
        d.add(0.12, c)
        d.cancel(key_b, b)
        for _ in range(500):  # a busy machine fires them late; wait for both, never by the clock
            if c.fired_at is not None:
                break
            await asyncio.sleep(0.01)
        # never early (1 µs slack: the two loop times subtract in floating point), in order
        assert a.fired_at is not None and a.fired_at - start >= 0.05 - 1e-6
        assert b.fired_at is None
        assert c.fired_at is not None and c.fired_at - start >= 0.12 - 1e-6 and c.fired_at >= a.fired_at
        assert not d._ticking and d._count == 0

    asyncio.run(main())
