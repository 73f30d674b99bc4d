"""The run queue: where everything that starts or resumes a run hands over its id.

Created first by the composition root and handed to each producer (the intake after its
commit, chained workflows, approvals that resume runs, schedules and cluster events) and to
the dispatcher, its one consumer. So no part needs the dispatcher, and nothing is wired up
after the fact. The database stays the source of truth: an id lost with the process is found
again by the dispatcher's sweep for claimable runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from punching_fist.engine.status import RunId


class RunQueue:
    """Run ids waiting for a worker, each queued at most once until it was taken and done."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[RunId] = asyncio.Queue()
        self._queued: set[RunId] = set()
        self._busy = 0
        self._idle = asyncio.Event()
        self._idle.set()

    def submit(self, run_ids: Iterable[RunId]) -> None:
        """Queue runs to be executed; an id already waiting or running is not queued twice."""
        for run_id in run_ids:
            if run_id not in self._queued:
                self._queued.add(run_id)
                self._idle.clear()
                self._queue.put_nowait(run_id)

    async def take(self) -> RunId:
        """The next run to execute; call ``done`` with it when its attempt ended."""
        run_id = await self._queue.get()
        self._busy += 1
        return run_id

    def done(self, run_id: RunId) -> None:
        self._busy -= 1
        self._queued.discard(run_id)
        self._queue.task_done()
        if self._queue.empty() and self._busy == 0:
            self._idle.set()

    def __len__(self) -> int:
        """Runs waiting for a worker (not those being executed)."""
        return self._queue.qsize()

    async def wait_idle(self) -> None:
        """Until nothing is queued or running (tests and graceful shutdown)."""
        await self._idle.wait()
