"""Retention on SQLite and PostgreSQL: what is old goes, what is recent or still going stays,
and never more than the batch size of rows changes in one transaction.

Time is a fake clock: every row is dated relative to ``NOW`` and the purge computes its
cutoffs from the clock, so "40 days ago" means exactly that.
"""

from __future__ import annotations

import asyncio
import math
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Table, event, func, insert, select

from punching_fist.observability.metrics import Metrics
from punching_fist.resources.loader import ResourceSet, build_resource_set, parse_yaml
from punching_fist.resources.operator_config import RetentionSettings
from punching_fist.server.retention import Retention, cutoffs
from punching_fist.store.database import Database
from punching_fist.store.retention import delete_batch
from punching_fist.store.tables import (
    alert_relationships,
    alerts,
    approvals,
    audit_events,
    incidents,
    notifications,
    sink_deliveries,
    step_results,
    workflow_runs,
)
from tests.support.fake_clock import FakeClock

NOW = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)


def ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


class Rows:
    """Inserts rows dated relative to ``NOW``; returns their ids."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def _insert(self, table: Table, **values: Any) -> uuid.UUID:
        row_id = uuid.uuid4()
        async with self.db.transaction() as conn:
            await conn.execute(insert(table).values(id=row_id, **values))
        return row_id

    async def incident(self) -> uuid.UUID:
        return await self._insert(
            incidents, title="disk full", status="resolved", severity="critical"
        )

    async def alert(
        self, *, resolved_days: float | None, incident: uuid.UUID | None = None
    ) -> uuid.UUID:
        """Resolved that many days ago; ``None``: still active (received 100 days ago)."""
        active = resolved_days is None
        return await self._insert(
            alerts,
            fingerprint=uuid.uuid4().hex,
            status="triaged" if active else "resolved",
            severity="critical",
            alert_name="DiskFull",
            source_name="am",
            received_at=ago(100),
            last_seen_at=ago(100) if active else ago(resolved_days or 0),
            resolved_at=None if active else ago(resolved_days or 0),
            active=active,
            incident_id=incident,
        )

    async def run(
        self,
        status: str,
        *,
        finished_days: float | None = None,
        alert: uuid.UUID | None = None,
        parent: uuid.UUID | None = None,
        notification: uuid.UUID | None = None,
        steps: int = 0,
        delivery: str | None = None,
        approval: bool = False,
        audit_days: tuple[float, ...] = (),
    ) -> uuid.UUID:
        run_id = await self._insert(
            workflow_runs,
            workflow_name="wf",
            status=status,
            source_context={},
            alert_id=alert,
            parent_run_id=parent,
            notification_id=notification,
            created_at=ago(100),
            updated_at=ago(finished_days if finished_days is not None else 100),
            completed_at=None if finished_days is None else ago(finished_days),
        )
        for n in range(steps):
            await self._insert(
                step_results,
                run_id=run_id,
                position=n,
                name=f"s{n}",
                type="cli",
                status="succeeded",
            )
        if delivery is not None:
            await self._insert(
                sink_deliveries, run_id=run_id, sink_name="out", sink_type="stdout", status=delivery
            )
        if approval:
            await self._insert(
                approvals, run_id=run_id, step_name="s0", status="approved", action={"tool": "x"}
            )
        for days in audit_days:
            await self.audit(days, run_id)
        return run_id

    async def notification(self, days: float) -> uuid.UUID:
        return await self._insert(
            notifications, source_name="am", alert_count=2, data={}, received_at=ago(days)
        )

    async def audit(self, days: float, run_id: uuid.UUID | None = None) -> uuid.UUID:
        return await self._insert(
            audit_events, run_id=run_id, kind="tool", name="kubectl", created_at=ago(days)
        )


async def ids(db: Database, table: Table) -> set[uuid.UUID]:
    async with db.connect() as conn:
        return set((await conn.execute(select(table.c.id))).scalars())


async def count(db: Database, table: Table) -> int:
    async with db.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())


def config(yaml_spec: str) -> ResourceSet:
    return build_resource_set(
        parse_yaml(
            "apiVersion: punchingfist.io/v1alpha1\nkind: OperatorConfig\n"
            f"metadata: {{name: c}}\nspec: {yaml_spec}\n",
            origin="test.yaml",
        )
    )


def retention(db: Database, resources: ResourceSet | None = None, **kwargs: Any) -> Retention:
    current = resources or ResourceSet()
    return Retention(db, lambda: current, Metrics(), clock=FakeClock(NOW), pause=0, **kwargs)


async def test_old_rows_go_recent_and_unfinished_ones_stay(database: Database) -> None:
    rows = Rows(database)
    incident = await rows.incident()
    # Alerts: resolved long ago (one with a run, one in an incident, one linked to another).
    lone_alert = await rows.alert(resolved_days=40, incident=incident)
    linked_alert = await rows.alert(resolved_days=45)
    run_alert = await rows.alert(resolved_days=40)
    recent_run_alert = await rows.alert(resolved_days=40)
    recent_alert = await rows.alert(resolved_days=10)
    active_alert = await rows.alert(resolved_days=None)
    link = await rows._insert(
        alert_relationships,
        parent_alert_id=lone_alert,
        child_alert_id=linked_alert,
        relationship_type="same-cause",
    )
    # Runs: finished long ago (with everything a run has), recent, and unfinished ones.
    old_run = await rows.run(
        "succeeded",
        finished_days=40,
        alert=run_alert,
        steps=2,
        delivery="delivered",
        approval=True,
        audit_days=(40, 100),
    )
    failed_run = await rows.run("failed", finished_days=31, steps=1)
    recent_run = await rows.run("succeeded", finished_days=10, alert=recent_run_alert, steps=1)
    pending = await rows.run("pending", audit_days=(100,))
    running = await rows.run("running", steps=1)
    waiting = await rows.run("waiting_approval", steps=1, approval=True, audit_days=(100,))
    in_flight = await rows.run("failed", finished_days=40, delivery="deferred")
    parent = await rows.run("succeeded", finished_days=40, steps=1)
    child = await rows.run("pending", parent=parent)
    old_orphan_audit = await rows.audit(100)
    recent_orphan_audit = await rows.audit(10)

    purged = await retention(database).purge()

    assert await ids(database, workflow_runs) == {
        recent_run,
        pending,
        running,
        waiting,
        in_flight,
        parent,
        child,
    }
    assert await ids(database, alerts) == {recent_run_alert, recent_alert, active_alert}
    assert await ids(database, incidents) == {incident}
    assert link not in await ids(database, alert_relationships)
    async with database.connect() as conn:
        kept = {
            row.id: row.run_id
            for row in await conn.execute(select(audit_events.c.id, audit_events.c.run_id))
        }
        step_runs = set((await conn.execute(select(step_results.c.run_id))).scalars())
        approval_runs = set((await conn.execute(select(approvals.c.run_id))).scalars())
        delivery_runs = set((await conn.execute(select(sink_deliveries.c.run_id))).scalars())
    # The 40-day-old audit row of the deleted run stays (90 days), unlinked; unfinished runs
    # keep even their old ones; orphans go by age.
    assert old_orphan_audit not in kept
    assert kept[recent_orphan_audit] is None
    assert sorted(str(run) for run in kept.values()) == sorted(
        ["None", "None", str(pending), str(waiting)]
    )
    assert step_runs == {recent_run, running, waiting, parent}
    assert approval_runs == {waiting}
    assert delivery_runs == {in_flight}
    assert purged == {
        "audit_events": 2,
        "audit_events_detached": 1,
        "step_results": 3,
        "sink_deliveries": 1,
        "approvals": 1,
        "workflow_runs": 2,
        "alert_relationships": 1,
        "alerts": 3,
    }
    assert old_run not in await ids(database, workflow_runs)
    assert failed_run not in await ids(database, workflow_runs)


async def test_a_notification_goes_once_no_run_refers_to_it(database: Database) -> None:
    rows = Rows(database)
    # A webhook request's group fields, stored once for the runs its alerts started.
    with_old_runs = await rows.notification(40)
    with_a_pending_run = await rows.notification(40)
    unused_recent = await rows.notification(10)
    unused_old = await rows.notification(40)
    for _ in range(2):
        await rows.run("succeeded", finished_days=35, notification=with_old_runs)
    await rows.run("succeeded", finished_days=35, notification=with_a_pending_run)
    pending = await rows.run("pending", notification=with_a_pending_run)

    purged = await retention(database).purge()

    assert await ids(database, notifications) == {with_a_pending_run, unused_recent}
    assert unused_old not in await ids(database, notifications)
    assert await ids(database, workflow_runs) == {pending}
    assert purged["notifications"] == 2


async def test_the_operator_config_sets_the_periods(database: Database) -> None:
    rows = Rows(database)
    week_old = await rows.run("succeeded", finished_days=8, steps=1)
    day_old = await rows.run("succeeded", finished_days=1)
    old_alert = await rows.alert(resolved_days=3)
    audit = await rows.audit(20)
    resources = config("{retention: {finishedRuns: 7d, resolvedAlerts: 2d12h, auditEvents: 2w}}")

    await retention(database, resources).purge()

    assert await ids(database, workflow_runs) == {day_old}
    assert week_old not in await ids(database, workflow_runs)
    assert old_alert not in await ids(database, alerts)
    assert audit not in await ids(database, audit_events)


async def test_nothing_is_deleted_when_retention_is_off(database: Database) -> None:
    rows = Rows(database)
    run = await rows.run("succeeded", finished_days=400, steps=1)
    alert = await rows.alert(resolved_days=400)

    purged = await retention(database, config("{retention: {enabled: false}}")).purge()

    assert purged == {}
    assert await ids(database, workflow_runs) == {run}
    assert await ids(database, alerts) == {alert}


async def test_each_transaction_changes_at_most_a_batch_of_rows(database: Database) -> None:
    rows = Rows(database)
    for _ in range(25):
        await rows.run("succeeded", finished_days=40, steps=3)
    for _ in range(7):
        await rows.alert(resolved_days=40)
    commits: list[int] = []
    event.listen(database.engine.sync_engine, "commit", lambda _conn: commits.append(1))
    limits = cutoffs(RetentionSettings(), NOW)

    batches = []
    while (batch := await delete_batch(database, limits, limit=10)).total:
        batches.append(batch)

    assert all(batch.total <= 10 for batch in batches)
    total_rows = 25 * 3 + 25 + 7
    assert sum(batch.total for batch in batches) == total_rows
    assert len(batches) == math.ceil(total_rows / 10)  # every batch but the last one is full
    assert len(commits) == len(batches) + 1  # one transaction each, and the empty last one
    assert await count(database, workflow_runs) == 0
    assert await count(database, step_results) == 0
    assert await count(database, alerts) == 0


async def test_the_background_task_purges_soon_after_start_then_every_interval(
    database: Database,
) -> None:
    rows = Rows(database)
    clock = FakeClock(NOW)
    metrics = Metrics()
    resources = config("{retention: {finishedRuns: 30d, interval: 6h}}")
    task = Retention(
        database,
        lambda: resources,
        metrics,
        clock=clock,
        first_delay=timedelta(minutes=1),
        pause=0,
    )
    first = await rows.run("succeeded", finished_days=31, steps=2)
    task.start()
    try:
        await clock.wait_for_sleepers(1)
        await clock.advance(59)
        assert first in await ids(database, workflow_runs)
        await clock.advance(1)
        assert first not in await ids(database, workflow_runs)

        # Becomes 30 days old 3 hours from now: gone at the next pass, 6 hours after the first.
        second = await rows.run("succeeded", finished_days=30 - 3 / 24)
        await clock.advance(5 * 3600)
        assert second in await ids(database, workflow_runs)
        await clock.advance(3600)
        assert second not in await ids(database, workflow_runs)
    finally:
        await task.stop()

    def deleted(table: str) -> float | None:
        return metrics.registry.get_sample_value(
            "punchingfist_retention_rows_total", {"table": table}
        )

    assert deleted("workflow_runs") == 2
    assert deleted("step_results") == 2


async def test_a_failing_pass_does_not_stop_the_task(database: Database) -> None:
    clock = FakeClock(NOW)
    calls: list[int] = []

    def resources() -> ResourceSet:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("resources unavailable")
        return ResourceSet()

    task = Retention(database, resources, Metrics(), clock=clock, first_delay=timedelta(0))
    run = await Rows(database).run("succeeded", finished_days=40)
    task.start()
    try:
        await clock.wait_for_sleepers(1)
        await clock.advance(3600)
        await asyncio.sleep(0)
        assert run not in await ids(database, workflow_runs)
    finally:
        await task.stop()
