"""The rules of deciding: who may, when a request is approved, when its run resumes.

An approval rule may ask for several people (``approvers_required``): each approval is added
to ``approved_by`` under a row lock, the same identity counts once, and the request is
approved only with the last one needed; one denial denies it. When the last pending approval
of a step's batch is decided (or expires), the run goes back to ``pending`` in the same
transaction, so a decision and the run's resumption never drift apart. The store only
persists (``store.approval_decisions``, ``store.runs.release_waiting``).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from punching_fist.store import approval_decisions as rows
from punching_fist.store.alert_record import alert_of_run, append_human_action
from punching_fist.store.approval_rows import (
    ApprovalConflict,
    ApprovalStatus,
    Decision,
    Expiry,
    StoredApproval,
)
from punching_fist.store.database import Database
from punching_fist.store.runs import release_waiting
from punching_fist.store.tables import utcnow


async def decide(
    database: Database,
    approval_id: uuid.UUID,
    *,
    approved: bool,
    feedback: str | None,
    decided_by: str,
) -> Decision | None:
    """Record a person's decision; None if there is no such approval.

    Raises ``ApprovalConflict`` when it is no longer pending, or when ``decided_by`` has
    already approved a request that needs several people.
    """
    async with database.transaction() as conn:
        current = await rows.locked(conn, approval_id)
        if current is None:
            return None
        _check_decidable(current, approved=approved, decided_by=decided_by)
        values = decision_values(current, approved, feedback, decided_by)
        changed = await rows.update_pending(conn, approval_id, values)
        decided = await rows.locked(conn, approval_id)
        assert decided is not None  # locked above, so still there
        if not changed:
            raise ApprovalConflict(decided)
        await _on_alert(conn, decided, approved=approved, decided_by=decided_by)
        resumed = False
        if decided.status is not ApprovalStatus.PENDING:
            resumed = bool(await _resume_if_batch_decided(conn, decided))
    return Decision(approval=decided, run_resumed=resumed)


async def expire_due(database: Database, now: datetime | None = None) -> Expiry:
    """Deny every pending approval past its expiry; what expired and the runs resumed."""
    async with database.transaction() as conn:
        expired = await rows.expire_overdue(conn, now or utcnow())
        resumed: list[uuid.UUID] = []
        for approval in sorted(expired, key=lambda a: (a.run_id, a.step_name)):
            if approval.run_id not in resumed:
                resumed += await _resume_if_batch_decided(conn, approval)
    return Expiry(expired=expired, resumed=resumed)


async def resume_stranded(database: Database) -> list[uuid.UUID]:
    """Runs still parked although their batch is fully decided (a crash between the two),
    put back to ``pending``."""
    async with database.transaction() as conn:
        return await release_waiting(conn, await rows.decided_but_waiting(conn))


async def _on_alert(
    conn: AsyncConnection, approval: StoredApproval, *, approved: bool, decided_by: str
) -> None:
    """The decision joins the run's alert's ``human_actions``, in the decision's transaction."""
    alert_id = await alert_of_run(conn, approval.run_id)
    if alert_id is None:
        return
    now = utcnow()
    action = {
        "kind": "approval",
        "by": decided_by,
        "at": now.isoformat(),
        "approved": approved,
        "approvalId": str(approval.id),
        "tool": approval.action.get("tool"),
    }
    await append_human_action(conn, alert_id, action, now=now)


def _check_decidable(current: StoredApproval, *, approved: bool, decided_by: str) -> None:
    if current.status is not ApprovalStatus.PENDING:
        raise ApprovalConflict(current)
    if approved and decided_by in current.approved_by:
        needed = current.approvers_required - len(current.approved_by)
        raise ApprovalConflict(
            current,
            f"{decided_by} has already approved {current.id}; it needs {needed} more"
            " approval(s) from someone else",
        )


def decision_values(
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


async def _resume_if_batch_decided(conn: Any, approval: StoredApproval) -> list[uuid.UUID]:
    """The run back to ``pending`` when its step's batch has no pending approval left."""
    if await rows.pending_in_batch(conn, approval.run_id, approval.step_name):
        return []
    return await release_waiting(conn, [approval.run_id])
