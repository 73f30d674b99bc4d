"""Deleting what outlived its retention, a bounded batch per transaction.

One ``delete_batch`` changes at most ``limit`` rows in one transaction: a purge of millions
of rows then never holds locks (or SQLite's one writer) for long, and the caller pauses
between batches so the intake and the runs go on meanwhile. In each batch, in this order:

1. audit events older than their cutoff, unless their run is still unfinished;
2. finished runs (succeeded, failed) older than theirs: first their step results, sink
   deliveries and approvals; their audit rows stay, with ``run_id`` cleared, until the audit
   cutoff (the trail is kept longer than the runs); then the runs themselves;
3. resolved alerts older than theirs that no remaining run and no other alert refers to,
   with their ``alert_relationships`` rows;
4. notifications (a webhook request's group fields, stored once for its runs) that no run
   refers to any more, received before the runs' cutoff.

Never touched: active alerts; unfinished runs (pending, running, waiting for approval), a
run with a delivery still in flight, a run another run was chained from; the ``incidents``
table, the long-term record of what happened, kept whatever the alerts' retention.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Select, Table, delete, exists, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from punching_fist.engine.status import DeliveryStatus, RunStatus
from punching_fist.store.database import Database
from punching_fist.store.tables import (
    alert_relationships,
    alerts,
    approvals,
    audit_events,
    notifications,
    sink_deliveries,
    step_results,
    workflow_runs,
)

FINISHED = (RunStatus.SUCCEEDED.value, RunStatus.FAILED.value)
IN_FLIGHT = (DeliveryStatus.PENDING.value, DeliveryStatus.DEFERRED.value)
RUN_CHILDREN: tuple[Table, ...] = (step_results, sink_deliveries, approvals)


@dataclass(frozen=True, kw_only=True)
class Cutoffs:
    """Rows from before these moments go."""

    resolved_alerts: datetime
    finished_runs: datetime
    audit_events: datetime


@dataclass(kw_only=True)
class Batch:
    """What one transaction changed: rows per table (``audit_events_detached``: kept, unlinked)."""

    limit: int
    rows: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.rows.values())

    @property
    def budget(self) -> int:
        return self.limit - self.total

    def add(self, table: str, count: int) -> None:
        if count:
            self.rows[table] = self.rows.get(table, 0) + count


async def delete_batch(database: Database, cutoffs: Cutoffs, *, limit: int) -> Batch:
    """One transaction changing at most ``limit`` rows; an empty batch means nothing is left."""
    batch = Batch(limit=limit)
    async with database.transaction() as conn:
        await _audit_events(conn, cutoffs.audit_events, batch)
        if batch.budget:
            await _finished_runs(conn, cutoffs.finished_runs, batch)
        if batch.budget:
            await _resolved_alerts(conn, cutoffs.resolved_alerts, batch)
        if batch.budget:
            await _unused_notifications(conn, cutoffs.finished_runs, batch)
    return batch


async def _audit_events(conn: AsyncConnection, cutoff: datetime, batch: Batch) -> None:
    unfinished_run = exists().where(
        workflow_runs.c.id == audit_events.c.run_id, workflow_runs.c.status.not_in(FINISHED)
    )
    old = select(audit_events.c.id).where(audit_events.c.created_at < cutoff, ~unfinished_run)
    result = await conn.execute(
        delete(audit_events).where(audit_events.c.id.in_(_limited(old, batch)))
    )
    batch.add("audit_events", result.rowcount)


async def _finished_runs(conn: AsyncConnection, cutoff: datetime, batch: Batch) -> None:
    run = workflow_runs
    chained = run.alias("chained")
    # Uncorrelated, so each is read once per batch (parent_run_id has no index).
    parents = select(chained.c.parent_run_id).where(chained.c.parent_run_id.is_not(None))
    candidates = select(run.c.id).where(
        run.c.completed_at < cutoff,
        run.c.status.in_(FINISHED),
        run.c.id.not_in(parents),
        ~exists().where(
            sink_deliveries.c.run_id == run.c.id, sink_deliveries.c.status.in_(IN_FLIGHT)
        ),
    )
    ids = list((await conn.execute(_locked(candidates, batch, conn))).scalars())
    if not ids:
        return
    for child in RUN_CHILDREN:
        mine = select(child.c.id).where(child.c.run_id.in_(ids))
        result = await conn.execute(delete(child).where(child.c.id.in_(_limited(mine, batch))))
        batch.add(child.name, result.rowcount)
        if not batch.budget:
            return  # the rest of their rows, and the runs, in the next batch
    trail = select(audit_events.c.id).where(audit_events.c.run_id.in_(ids))
    detached = await conn.execute(
        update(audit_events)
        .where(audit_events.c.id.in_(_limited(trail, batch)))
        .values(run_id=None)
    )
    batch.add("audit_events_detached", detached.rowcount)
    if not batch.budget:
        return
    # Every child row is gone: each statement above changed fewer rows than it was allowed.
    result = await conn.execute(delete(run).where(run.c.id.in_(ids[: batch.budget])))
    batch.add("workflow_runs", result.rowcount)


async def _resolved_alerts(conn: AsyncConnection, cutoff: datetime, batch: Batch) -> None:
    child = alerts.alias("child")
    parents = select(child.c.parent_alert_id).where(child.c.parent_alert_id.is_not(None))
    candidates = select(alerts.c.id).where(
        alerts.c.resolved_at < cutoff,
        alerts.c.active.is_(False),
        ~exists().where(workflow_runs.c.alert_id == alerts.c.id),
        alerts.c.id.not_in(parents),
    )
    ids = list((await conn.execute(_locked(candidates, batch, conn))).scalars())
    if not ids:
        return
    links = select(alert_relationships.c.id).where(
        or_(
            alert_relationships.c.parent_alert_id.in_(ids),
            alert_relationships.c.child_alert_id.in_(ids),
        )
    )
    result = await conn.execute(
        delete(alert_relationships).where(alert_relationships.c.id.in_(_limited(links, batch)))
    )
    batch.add("alert_relationships", result.rowcount)
    if not batch.budget:
        return
    result = await conn.execute(delete(alerts).where(alerts.c.id.in_(ids[: batch.budget])))
    batch.add("alerts", result.rowcount)


async def _unused_notifications(conn: AsyncConnection, cutoff: datetime, batch: Batch) -> None:
    # Runs are written in the transaction that stores their notification: an old one that no
    # run refers to gains none later.
    unused = select(notifications.c.id).where(
        notifications.c.received_at < cutoff,
        ~exists().where(workflow_runs.c.notification_id == notifications.c.id),
    )
    result = await conn.execute(
        delete(notifications).where(notifications.c.id.in_(_limited(unused, batch)))
    )
    batch.add("notifications", result.rowcount)


def _limited(query: Select[tuple[uuid.UUID]], batch: Batch) -> Select[tuple[uuid.UUID]]:
    return query.limit(batch.budget)


def _locked(
    query: Select[tuple[uuid.UUID]], batch: Batch, conn: AsyncConnection
) -> Select[tuple[uuid.UUID]]:
    """The first candidates, locked on PostgreSQL so replicas purging at once split the work."""
    limited = _limited(query, batch)
    if conn.dialect.name == "postgresql":
        return limited.with_for_update(skip_locked=True)
    return limited
