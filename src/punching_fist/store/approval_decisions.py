"""The transactions that decide approvals: a person's decision, the expiry sweep, and the
repair of runs a crash left parked. Each changes approval rows and puts the run back to
``pending`` in the same commit, so a decision and the run's resumption never drift apart.

An approval rule may ask for several people (``approvers_required``): each approval is added
to ``approved_by`` under a row lock, the same identity counts once, and the request is
approved (and the run resumes) only with the last one needed. One denial denies it.
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
    ApprovalConflict,
    ApprovalStatus,
    Decision,
    Expiry,
    StoredApproval,
    live_batch_where,
    stored,
)
from punching_fist.store.tables import approvals, utcnow, workflow_runs


async def record_decision(
    conn: AsyncConnection,
    approval_id: uuid.UUID,
    *,
    approved: bool,
    feedback: str | None,
    decided_by: str,
) -> Decision | None:
    """Record a person's decision; None if there is no such approval.

    An approval that needs more people stays pending, with ``decided_by`` added to
    ``approved_by``; raises ``ApprovalConflict`` when it is no longer pending or when
    ``decided_by`` has already approved it.
    """
    current = await _locked(conn, approval_id)
    if current is None:
        return None
    if current.status is not ApprovalStatus.PENDING:
        raise ApprovalConflict(current)
    given = list(current.approved_by)
    if approved and decided_by in given:
        needed = current.approvers_required - len(given)
        raise ApprovalConflict(
            current,
            f"{decided_by} has already approved {current.id}; it needs {needed} more"
            " approval(s) from someone else",
        )
    values = _decision_values(current, approved, feedback, decided_by)
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
    decided = await _locked(conn, approval_id)
    assert decided is not None  # locked above, so still there
    if changed.rowcount != 1:
        raise ApprovalConflict(decided)
    resumed = False
    if decided.status is not ApprovalStatus.PENDING:
        resumed = await _resume_if_decided(conn, decided.run_id, decided.step_name)
    return Decision(approval=decided, run_resumed=resumed)


async def expire(conn: AsyncConnection, now: datetime) -> Expiry:
    """Deny every pending approval past its expiry; what expired and the runs resumed."""
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
    if not due:
        return Expiry(expired=[], resumed=[])
    await conn.execute(
        update(approvals)
        .where(approvals.c.id.in_([row.id for row in due]))
        .values(
            status=ApprovalStatus.EXPIRED.value,
            feedback="No decision before the approval expired; treated as denied.",
            decided_by="expiry",
            decided_at=now,
        )
    )
    resumed = []
    for run_id, step_name in sorted({(row.run_id, row.step_name) for row in due}):
        if await _resume_if_decided(conn, run_id, step_name):
            resumed.append(run_id)
    return Expiry(expired=[stored(row) for row in due], resumed=resumed)


async def resume_stranded(conn: AsyncConnection) -> list[uuid.UUID]:
    """Runs still parked although their batch is fully decided (a crash between the two),
    put back to ``pending``."""
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
        update(workflow_runs)
        .where(
            and_(
                workflow_runs.c.status == RunStatus.WAITING_APPROVAL.value,
                exists(decided),
                ~exists(pending),
            )
        )
        .values(status=RunStatus.PENDING.value, updated_at=utcnow())
        .returning(workflow_runs.c.id)
    )
    return [row.id for row in rows]


async def _locked(conn: AsyncConnection, approval_id: uuid.UUID) -> StoredApproval | None:
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


def _decision_values(
    current: StoredApproval, approved: bool, feedback: str | None, decided_by: str
) -> dict[str, Any]:
    """The columns one decision sets: a denial ends it, an approval counts until enough."""
    now = utcnow()
    if current.approvers_required > 1 and feedback:
        feedback = f"{decided_by}: {feedback}"  # several people may leave a note
        if current.feedback:
            feedback = f"{current.feedback}\n{feedback}"
    elif not feedback:
        feedback = current.feedback
    if not approved:
        return {
            "status": ApprovalStatus.DENIED.value,
            "feedback": feedback,
            "decided_by": decided_by,
            "decided_at": now,
        }
    given = [*current.approved_by, decided_by]
    if len(given) < current.approvers_required:
        return {"approved_by": given, "feedback": feedback}
    return {
        "status": ApprovalStatus.APPROVED.value,
        "feedback": feedback,
        "approved_by": given,
        "decided_by": ", ".join(given)[:255],
        "decided_at": now,
    }


async def _resume_if_decided(conn: AsyncConnection, run_id: uuid.UUID, step_name: str) -> bool:
    """Put the run back to ``pending`` when its step's batch has no pending approval left."""
    waiting = (
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
    if waiting:
        return False
    result = await conn.execute(
        update(workflow_runs)
        .where(
            and_(
                workflow_runs.c.id == run_id,
                workflow_runs.c.status == RunStatus.WAITING_APPROVAL.value,
            )
        )
        .values(status=RunStatus.PENDING.value, updated_at=utcnow())
    )
    return result.rowcount == 1
