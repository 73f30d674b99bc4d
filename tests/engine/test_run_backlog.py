"""Runs that wait in the store for room in the run queue: found fairly, queued within bounds.

On SQLite and PostgreSQL: the dispatcher reads at most a queue's worth of claimable runs,
every notification's first run before any notification's second, and executes every one
without the queue ever holding more than its limits.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import insert

from punching_fist.engine.dispatcher import Dispatcher
from punching_fist.engine.queue import QueueLimits, RunQueue
from punching_fist.engine.status import RunStatus
from punching_fist.store.database import Database
from punching_fist.store.runs import RunStore
from punching_fist.store.tables import notifications, utcnow, workflow_runs


async def store_runs(
    db: Database, count: int, *, workflow: str, notification: uuid.UUID | None, start: int
) -> list[uuid.UUID]:
    """``count`` pending runs, created one second apart from ``start`` seconds on."""
    base = utcnow() - timedelta(hours=1)
    ids = [uuid.uuid4() for _ in range(count)]
    rows: list[dict[str, Any]] = [
        {
            "id": run_id,
            "workflow_name": workflow,
            "status": RunStatus.PENDING.value,
            "source_context": {},
            "notification_id": notification,
            "created_at": base + timedelta(seconds=start + n),
        }
        for n, run_id in enumerate(ids)
    ]
    async with db.transaction() as conn:
        if notification is not None:
            await conn.execute(
                insert(notifications),
                {"id": notification, "source_name": "am", "alert_count": count, "data": {}},
            )
        await conn.execute(insert(workflow_runs), rows)
    return ids


async def test_each_notification_gets_a_turn_before_any_gets_a_second(
    database: Database,
) -> None:
    big = await store_runs(database, 10, workflow="wf", notification=uuid.uuid4(), start=0)
    later = await store_runs(database, 2, workflow="wf", notification=uuid.uuid4(), start=100)
    scheduled = await store_runs(database, 1, workflow="cron", notification=None, start=200)
    runs = RunStore(database, owner="me", lease=timedelta(seconds=30))

    first = await runs.claimable_runs(include_own_running=False, limit=5)

    assert [run_id for run_id, _ in first] == [big[0], later[0], scheduled[0], big[1], later[1]]
    assert [workflow for _, workflow in first] == ["wf", "wf", "cron", "wf", "wf"]
    assert len(await runs.claimable_runs(include_own_running=False, limit=100)) == 13
    assert await runs.pending_count() == 13


class RecordingRunner:
    """Executes a run by finishing it, noting how full the queue was each time."""

    def __init__(self, runs: RunStore, queue: RunQueue) -> None:
        self.runs = runs
        self.queue = queue
        self.executed: list[uuid.UUID] = []
        self.most_queued = 0
        self.most_per_workflow = 0

    async def execute(self, run_id: uuid.UUID, /) -> object:
        state = self.queue.state()
        self.most_queued = max(self.most_queued, state.queued)
        self.most_per_workflow = max([self.most_per_workflow, *state.by_workflow.values()])
        claimed = await self.runs.claim(run_id)
        assert claimed is not None
        await asyncio.sleep(0.001)
        await self.runs.finish(claimed, status=RunStatus.SUCCEEDED, outputs={}, error=None)
        self.executed.append(run_id)
        return None


async def test_a_backlog_larger_than_the_queue_runs_to_the_end_within_its_limits(
    database: Database,
) -> None:
    stored = await store_runs(database, 40, workflow="a", notification=uuid.uuid4(), start=0)
    stored += await store_runs(database, 15, workflow="b", notification=None, start=50)
    runs = RunStore(database, owner="me", lease=timedelta(seconds=30))
    queue = RunQueue(lambda: QueueLimits(max_queued=8, max_queued_per_workflow=4))
    runner = RecordingRunner(runs, queue)
    dispatcher = Dispatcher(runner, runs, queue, concurrency=3, sweep_interval=3600)
    await dispatcher.start()
    try:
        await asyncio.wait_for(dispatcher.wait_idle(), 30)
    finally:
        await dispatcher.stop()

    assert sorted(runner.executed) == sorted(stored)  # every one, each once
    assert runner.most_queued <= 8
    assert runner.most_per_workflow <= 4
    assert queue.state().deferred == 0  # these waited in the store from the start
    assert await runs.pending_count() == 0
