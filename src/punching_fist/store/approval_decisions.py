"""Persisting decisions on approvals: the row operations the approval service composes.

The rules (who may decide, when a request is approved, when its run resumes) are in
``approvals.decisions``; it calls these inside one transaction, so a decision and the run's
resumption are committed together.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import and_, exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from punching_fist.engine.status import RunStatus
from punching_fist.store.approval_rows import (
    COLUMNS,
    ApprovalStatus,
    StoredApproval,
    live_batch_where,
    stored,
)
from punching_fist.store.tables import approvals, workflow_runs

EXPIRED_NOTE = "No decision before the approval expired; treated as denied."


async def locked(conn: AsyncConnection, approval_id: uuid.UUID) -> StoredApproval | None:
    """The approval, its row locked for this transaction (PostgreSQL; SQLite has one writer)."""
    row = (
        await conn.execute(
            select(*COLUMNS)
            .select_from(approvals.outerjoin(workflow_runs))
            .where(approvals.c.id == approval_id)
            .with_for_update(of=approvals)
        )
    ).one_or_none()
    return None if row is None else stored(row)


async def update_pending(
    conn: AsyncConnection, approval_id: uuid.UUID, values: dict[str, Any]
) -> bool:
    """Write ``values`` to the approval if it is still pending; whether it was."""
    changed = await conn.execute(
        update(approvals)
        .where(
            and_(
                approvals.c.id == approval_id,
                approvals.c.status == ApprovalStatus.PENDING.value,
            )
        )
        .values(**values)
    )
    return bool(changed.rowcount == 1)


async def pending_in_batch(conn: AsyncConnection, run_id: uuid.UUID, step_name: str) -> int:
    """How many approvals of the step's live batch are still pending."""
    count = (
        await conn.execute(
            select(func.count())
            .select_from(approvals)
            .where(
                and_(
                    live_batch_where(run_id, step_name),
                    approvals.c.status == ApprovalStatus.PENDING.value,
                )
            )
        )
    ).scalar_one()
    return int(count)


async def expire_overdue(conn: AsyncConnection, now: datetime) -> list[StoredApproval]:
    """Mark every pending approval past its expiry as expired; them, as they were before."""
    due = (
        await conn.execute(
            select(approvals).where(
                and_(
                    approvals.c.status == ApprovalStatus.PENDING.value,
                    approvals.c.expires_at < now,
                )
            )
        )
    ).all()
    if due:
        await conn.execute(
            update(approvals)
            .where(approvals.c.id.in_([row.id for row in due]))
            .values(
                status=ApprovalStatus.EXPIRED.value,
                feedback=EXPIRED_NOTE,
                decided_by="expiry",
                decided_at=now,
            )
        )
    return [stored(row) for row in due]


async def decided_but_waiting(conn: AsyncConnection) -> list[uuid.UUID]:
    """Runs still waiting for approval although their live batch has no pending approval."""
    pending = select(approvals.c.id).where(
        and_(
            approvals.c.run_id == workflow_runs.c.id,
            approvals.c.state.is_not(None),
            approvals.c.status == ApprovalStatus.PENDING.value,
        )
    )
    decided = select(approvals.c.id).where(
        and_(approvals.c.run_id == workflow_runs.c.id, approvals.c.state.is_not(None))
    )
    rows = await conn.execute(
        select(workflow_runs.c.id).where(
            and_(
                workflow_runs.c.status == RunStatus.WAITING_APPROVAL.value,
                exists(decided),
                ~exists(pending),
            )
        )
    )
    return [row.id for row in rows]
