"""Persisting workflow runs as they progress: claims with leases, step results, outcomes.

A run is claimed by one worker at a time through a lease in the database, so a crashed
process (or, with PostgreSQL, a dead replica) leaves runs that another worker can take over
once the lease expires. Step results are written as each step finishes, which is what lets
a restarted run skip the steps it already completed.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import and_, case, delete, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from punching_fist.store.database import Database
from punching_fist.store.tables import alerts, step_results, utcnow, workflow_runs


class RunStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    WAITING_APPROVAL = "waiting_approval"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


UNFINISHED = (RunStatus.PENDING.value, RunStatus.RUNNING.value)


class StepStatus(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    WAITING_APPROVAL = "waiting_approval"


FINISHED_STEP = (StepStatus.SUCCEEDED.value, StepStatus.FAILED.value, StepStatus.SKIPPED.value)


@dataclass(frozen=True, kw_only=True)
class ClaimedRun:
    """A run this worker now owns."""

    id: uuid.UUID
    workflow_name: str
    source_name: str | None
    alert_id: uuid.UUID | None
    source_context: dict[str, Any]
    attempt: int
    created_at: datetime
    started_at: datetime


@dataclass(frozen=True, kw_only=True)
class StoredStep:
    name: str
    type: str
    status: str
    result: Any
    error: str | None
    started_at: datetime | None
    completed_at: datetime | None


class RunStore:
    """Database operations on runs and their steps."""

    def __init__(self, database: Database, *, owner: str, lease: timedelta) -> None:
        self._db = database
        self.owner = owner
        self.lease = lease

    async def claim(self, run_id: uuid.UUID) -> ClaimedRun | None:
        """Take a pending run, or a running one whose lease expired; None if someone has it."""
        now = utcnow()
        async with self._db.transaction() as conn:
            claimed = await conn.execute(
                update(workflow_runs)
                .where(
                    and_(
                        workflow_runs.c.id == run_id,
                        or_(
                            workflow_runs.c.status == RunStatus.PENDING.value,
                            and_(
                                workflow_runs.c.status == RunStatus.RUNNING.value,
                                or_(
                                    workflow_runs.c.lease_expires_at.is_(None),
                                    workflow_runs.c.lease_expires_at < now,
                                    workflow_runs.c.lease_owner == self.owner,
                                ),
                            ),
                        ),
                    )
                )
                .values(
                    status=RunStatus.RUNNING.value,
                    lease_owner=self.owner,
                    lease_expires_at=now + self.lease,
                    attempt=workflow_runs.c.attempt + 1,
                    started_at=func.coalesce(workflow_runs.c.started_at, now),
                    updated_at=now,
                )
            )
            if claimed.rowcount != 1:
                return None
            row = (
                await conn.execute(select(workflow_runs).where(workflow_runs.c.id == run_id))
            ).one()
            if row.alert_id is not None:
                await conn.execute(
                    update(alerts)
                    .where(and_(alerts.c.id == row.alert_id, alerts.c.triage_started_at.is_(None)))
                    .values(
                        triage_started_at=now,
                        status=_unless_resolved(alerts.c.status, "triaging"),
                        updated_at=now,
                    )
                )
        return ClaimedRun(
            id=row.id,
            workflow_name=row.workflow_name,
            source_name=row.source_name,
            alert_id=row.alert_id,
            source_context=row.source_context,
            attempt=row.attempt,
            created_at=row.created_at,
            started_at=row.started_at,
        )

    async def renew_lease(self, run_id: uuid.UUID) -> bool:
        """Extend our lease; False when the run is no longer ours."""
        now = utcnow()
        async with self._db.transaction() as conn:
            result = await conn.execute(
                update(workflow_runs)
                .where(
                    and_(workflow_runs.c.id == run_id, workflow_runs.c.lease_owner == self.owner)
                )
                .values(lease_expires_at=now + self.lease)
            )
        return result.rowcount == 1

    async def release_orphans(self) -> int:
        """Hand every running run back to the queue: for a store only this process writes."""
        async with self._db.transaction() as conn:
            result = await conn.execute(
                update(workflow_runs)
                .where(workflow_runs.c.status == RunStatus.RUNNING.value)
                .values(status=RunStatus.PENDING.value, lease_owner=None, lease_expires_at=None)
            )
        return int(result.rowcount)

    async def claimable_run_ids(self, *, include_own_running: bool) -> list[uuid.UUID]:
        """Runs that need a worker: pending ones and running ones whose lease lapsed."""
        now = utcnow()
        lapsed = or_(
            workflow_runs.c.lease_expires_at.is_(None), workflow_runs.c.lease_expires_at < now
        )
        if include_own_running:
            lapsed = or_(lapsed, workflow_runs.c.lease_owner == self.owner)
        async with self._db.connect() as conn:
            rows = await conn.execute(
                select(workflow_runs.c.id)
                .where(
                    or_(
                        workflow_runs.c.status == RunStatus.PENDING.value,
                        and_(workflow_runs.c.status == RunStatus.RUNNING.value, lapsed),
                    )
                )
                .order_by(workflow_runs.c.created_at)
            )
            return [row.id for row in rows]

    async def steps(self, run_id: uuid.UUID) -> dict[str, StoredStep]:
        async with self._db.connect() as conn:
            return await load_steps(conn, run_id)

    async def step_started(
        self, run_id: uuid.UUID, *, position: int, name: str, step_type: str
    ) -> None:
        now = utcnow()
        async with self._db.transaction() as conn:
            await conn.execute(
                delete(step_results).where(
                    and_(step_results.c.run_id == run_id, step_results.c.name == name)
                )
            )
            await conn.execute(
                insert(step_results).values(
                    id=uuid.uuid4(),
                    run_id=run_id,
                    position=position,
                    name=name,
                    type=step_type,
                    status=StepStatus.RUNNING.value,
                    started_at=now,
                )
            )

    async def step_finished(
        self, run_id: uuid.UUID, *, name: str, status: StepStatus, result: Any, error: str | None
    ) -> None:
        async with self._db.transaction() as conn:
            await conn.execute(
                update(step_results)
                .where(and_(step_results.c.run_id == run_id, step_results.c.name == name))
                .values(status=status.value, result=result, error=error, completed_at=utcnow())
            )

    async def set_status(self, run_id: uuid.UUID, status: RunStatus) -> None:
        async with self._db.transaction() as conn:
            await conn.execute(
                update(workflow_runs)
                .where(workflow_runs.c.id == run_id)
                .values(status=status.value, updated_at=utcnow())
            )

    async def finish(
        self,
        run: ClaimedRun,
        *,
        status: RunStatus,
        outputs: dict[str, Any],
        error: str | None,
        analysis: dict[str, Any] | None = None,
        confidence: float | None = None,
    ) -> datetime:
        now = utcnow()
        async with self._db.transaction() as conn:
            await conn.execute(
                update(workflow_runs)
                .where(workflow_runs.c.id == run.id)
                .values(
                    status=status.value,
                    outputs=outputs,
                    error=error,
                    completed_at=now,
                    updated_at=now,
                    lease_owner=None,
                    lease_expires_at=None,
                )
            )
            if run.alert_id is not None:
                await conn.execute(
                    update(alerts)
                    .where(alerts.c.id == run.alert_id)
                    .values(
                        triage_completed_at=now,
                        ai_analysis=analysis,
                        ai_confidence=confidence,
                        status=_unless_resolved(alerts.c.status, "triaged"),
                        updated_at=now,
                    )
                )
        return now


def _unless_resolved(current: Any, status: str) -> Any:
    # An alert that resolved while its run was going stays resolved.
    return case((current == "resolved", "resolved"), else_=status)


async def load_steps(conn: AsyncConnection, run_id: uuid.UUID) -> dict[str, StoredStep]:
    rows = await conn.execute(
        select(step_results)
        .where(step_results.c.run_id == run_id)
        .order_by(step_results.c.position)
    )
    return {
        row.name: StoredStep(
            name=row.name,
            type=row.type,
            status=row.status,
            result=row.result,
            error=row.error,
            started_at=row.started_at,
            completed_at=row.completed_at,
        )
        for row in rows
    }
