"""One writer at a time for SQLite, with the intake ahead of everything else.

SQLite has a single write lock. Left to itself, a connection that finds it taken sleeps and
retries (up to 100 ms per sleep), so a burst of workflow-run updates can stall the intake for
a long time. The gate queues this process's writers instead, and lets urgent writers (the
intake, whose callers are waiting for their 202) go before routine ones (run progress).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class WriteGate:
    """A lock handed over in order: urgent waiters first, then the rest, each FIFO."""

    def __init__(self) -> None:
        self._held = False
        self._urgent: deque[asyncio.Future[None]] = deque()
        self._routine: deque[asyncio.Future[None]] = deque()

    @asynccontextmanager
    async def hold(self, *, urgent: bool = False) -> AsyncIterator[None]:
        await self._acquire(urgent)
        try:
            yield
        finally:
            self._release()

    async def _acquire(self, urgent: bool) -> None:
        if not self._held and not self._urgent and not self._routine:
            self._held = True
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue = self._urgent if urgent else self._routine
        queue.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._release()  # the gate was handed to us just as we were cancelled
            else:
                queue.remove(waiter)
            raise

    def _release(self) -> None:
        for queue in (self._urgent, self._routine):
            while queue:
                waiter = queue.popleft()
                if not waiter.done():
                    waiter.set_result(None)  # hand the gate over; it stays held
                    return
        self._held = False
