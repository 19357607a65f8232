"""The queue of requesters a pool cannot serve yet, shared by every pool kind.

While they wait, requesters count in the cluster's `pending` (the max_pending_requests circuit
breaker), so every way in and out of the queue goes through here to keep that count right."""

from __future__ import annotations

from collections import deque
from typing import Any


class WaitingRequesters:
    """Mixed into a pool that sets `self.cluster` and `self.waiters = deque()`."""

    cluster: Any
    waiters: deque

    def pending_full(self) -> bool:
        cluster = self.cluster
        return bool(cluster.max_pending) and cluster.pending >= cluster.max_pending

    def cancel(self, requester: Any) -> None:
        """The requester gave up (timeout, downstream reset) before it was served."""
        try:
            self.waiters.remove(requester)
        except ValueError:
            return
        self.cluster.pending -= 1

    def _queue(self, requester: Any) -> None:
        self.waiters.append(requester)
        self.cluster.pending += 1

    def _next_waiter(self) -> Any:
        self.cluster.pending -= 1
        return self.waiters.popleft()
