"""Draining the run queue with a bounded pool of workers, and picking up runs nobody finished.

New runs arrive through the ``RunQueue`` (from the intake right after its commit, from
chained workflows, approvals and triggers). At start-up, and periodically
after that, the dispatcher also looks in the database for runs that are pending or whose
worker's lease lapsed (a crash, a dead replica) and runs them. And when runs wait in the
store because the bounded queue had no room, it queues more of them as soon as the queue
has drained enough (``RunQueue.wait_for_room``), without waiting for the next sweep.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Protocol

import structlog

from punching_fist.engine.queue import RunQueue
from punching_fist.store.runs import RunStore

log = structlog.get_logger(__name__)


class RunExecutor(Protocol):
    """What executes one run (``engine.runner.WorkflowRunner``)."""

    async def execute(self, run_id: uuid.UUID, /) -> object: ...


class Dispatcher:
    """``concurrency`` workers draining the ``RunQueue``, and a sweep that refills it."""

    def __init__(
        self,
        runner: RunExecutor,
        runs: RunStore,
        queue: RunQueue,
        *,
        concurrency: int = 16,
        sweep_interval: float = 10.0,
        single_writer: bool = True,
    ) -> None:
        self._runner = runner
        self._runs = runs
        self._concurrency = concurrency
        self._sweep_interval = sweep_interval
        # With SQLite only one server runs, so anything "running" at start-up is an orphan.
        self._single_writer = single_writer
        self.queue = queue
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        if self._single_writer:
            orphans = await self._runs.release_orphans()
            if orphans:
                log.warning("runs interrupted by a previous crash will restart", count=orphans)
        recovered = await self._fill(include_own_running=self._single_writer)
        if recovered:
            log.info("resuming unfinished runs", count=recovered)
        self._tasks = [
            asyncio.create_task(self._work(), name=f"run-worker-{n}")
            for n in range(self._concurrency)
        ]
        self._tasks.append(asyncio.create_task(self._sweep(), name="run-sweeper"))
        self._tasks.append(asyncio.create_task(self._refill(), name="run-refill"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    async def wait_idle(self) -> None:
        """Until nothing is queued or running (used by tests and graceful shutdown)."""
        await self.queue.wait_idle()

    async def _work(self) -> None:
        while True:
            run_id = await self.queue.take()
            try:
                await self._runner.execute(run_id)
            except Exception:  # keep the worker alive; the lease lets another attempt happen
                log.exception("run failed unexpectedly", run_id=str(run_id))
            finally:
                self.queue.done(run_id)

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(self._sweep_interval)
            try:
                await self._fill(include_own_running=False)
                self.queue.note_stored_pending(await self._runs.pending_count())
            except Exception:  # the database may be briefly away; try again next round
                log.exception("sweep for unfinished runs failed")

    async def _refill(self) -> None:
        while True:
            await self.queue.wait_for_room()
            try:
                await self._fill(include_own_running=False)
            except Exception:  # the database may be briefly away: try again in a second
                log.exception("queueing runs that waited in the store failed")
                await asyncio.sleep(1.0)

    async def _fill(self, *, include_own_running: bool) -> int:
        """Queue claimable runs from the store, as many as the queue holds; how many."""
        limit = self.queue.limits.max_queued
        self.queue.refill_starting()
        exhausted = False
        try:
            runs = await self._runs.claimable_runs(
                include_own_running=include_own_running, limit=limit
            )
            exhausted = len(runs) < limit
            return self.queue.offer(runs, from_store=True)
        finally:
            self.queue.refilled(exhausted=exhausted)
