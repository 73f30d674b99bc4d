"""Approval requests: what an agent wants to do, who decided, and the state to resume from.

An agent step that needs a person stores one row per pending action (a *batch*: the tool
calls one model answer asked for) with the conversation so far in ``state``. Deciding the
last pending row of a batch puts the run back to ``pending`` in the same transaction, so a
decision and the run's resumption can never drift apart. When the step resumes it clears
``state`` (the batch is *consumed*); a row with ``state`` is therefore a batch still waiting
for its step to pick it up, which is how a restart or a sweep finds runs to resume.

An approval rule may ask for several people (``approvers_required``): each approval is added
to ``approved_by`` under a row lock, the same identity counts once, and the request is
approved (and the run resumes) only with the last one needed. One denial denies it.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import and_, bindparam, exists, func, insert, null, select, update
from sqlalchemy.engine import Connection, Row
from sqlalchemy.ext.asyncio import AsyncConnection

from punching_fist.engine.status import RunStatus
from punching_fist.errors import Conflict
from punching_fist.store.database import Database
from punching_fist.store.tables import approvals, utcnow, workflow_runs


class ApprovalStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"
    EXPIRED = "expired"


@dataclass(frozen=True, kw_only=True)
class NewApproval:
    action: dict[str, Any]
    reason: str
    risk: str
    approvers: int = 1
    """How many different people must approve (an approval rule may ask for more than one)."""
    rule: dict[str, Any] | None = None
    """The approval rule that applied, as shown to the people deciding."""


@dataclass(frozen=True, kw_only=True)
class StoredApproval:
    id: uuid.UUID
    run_id: uuid.UUID
    step_name: str
    status: ApprovalStatus
    action: dict[str, Any]
    reason: str | None
    risk: str | None
    feedback: str | None
    decided_by: str | None
    requested_at: datetime | None
    decided_at: datetime | None
    expires_at: datetime | None
    workflow_name: str | None = None
    state: Any = None
    approvers_required: int = 1
    approved_by: tuple[str, ...] = field(default_factory=tuple)
    """Who approved so far, in order; the request is approved once there are enough."""
    rule: dict[str, Any] | None = None

    def as_json(self) -> dict[str, Any]:
        """The public view: never the saved conversation."""
        return {
            "id": str(self.id),
            "run_id": str(self.run_id),
            "workflow": self.workflow_name,
            "step_name": self.step_name,
            "status": self.status.value,
            "action": self.action,
            "reason": self.reason,
            "risk": self.risk,
            "feedback": self.feedback,
            "decided_by": self.decided_by,
            "approvers_required": self.approvers_required,
            "approved_by": list(self.approved_by),
            "rule": self.rule,
            "requested_at": _iso(self.requested_at),
            "decided_at": _iso(self.decided_at),
            "expires_at": _iso(self.expires_at),
        }


@dataclass(frozen=True, kw_only=True)
class Decision:
    approval: StoredApproval
    run_resumed: bool
    """True when this decision was the batch's last and the run went back to ``pending``."""


@dataclass(frozen=True, kw_only=True)
class Expiry:
    expired: list[StoredApproval]
    """As they were before expiring (status still pending)."""
    resumed: list[uuid.UUID]
    """Runs put back to ``pending`` because nothing else held them."""


class ApprovalConflict(Conflict):
    """The approval exists but cannot take this decision: no longer pending, or the same
    person approving twice."""

    def __init__(self, approval: StoredApproval, reason: str | None = None) -> None:
        self.approval = approval
        super().__init__(reason or f"approval {approval.id} is already {approval.status.value}")


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


_COLUMNS = (*approvals.c, workflow_runs.c.workflow_name)


def _stored(row: Row[Any], *, with_state: bool = False) -> StoredApproval:
    return StoredApproval(
        id=row.id,
        run_id=row.run_id,
        step_name=row.step_name,
        status=ApprovalStatus(row.status),
        action=row.action,
        reason=row.reason,
        risk=row.risk,
        feedback=row.feedback,
        decided_by=row.decided_by,
        requested_at=row.requested_at,
        decided_at=row.decided_at,
        expires_at=row.expires_at,
        workflow_name=getattr(row, "workflow_name", None),
        state=row.state if with_state else None,
        approvers_required=row.approvers_required,
        approved_by=tuple(row.approved_by or ()),
        rule=row.rule,
    )


def _select_live_batch(conn: Connection, params: dict[str, Any]) -> list[StoredApproval]:
    return [_stored(row, with_state=True) for row in conn.execute(_LIVE_BATCH, params)]


def _live_batch(run_id: Any, step_name: Any) -> Any:
    return and_(
        approvals.c.run_id == run_id,
        approvals.c.step_name == step_name,
        approvals.c.state.is_not(None),
    )


_LIVE_BATCH = (
    select(approvals)
    .where(_live_batch(bindparam("b_run_id"), bindparam("b_step_name")))
    .order_by(approvals.c.requested_at, approvals.c.id)
)


class ApprovalStore:
    """Database operations on approvals."""

    def __init__(self, database: Database) -> None:
        self._db = database

    async def create_batch(
        self,
        *,
        run_id: uuid.UUID,
        step_name: str,
        requests: Sequence[NewApproval],
        state: Any,
        expires_at: datetime,
    ) -> list[uuid.UUID]:
        now = utcnow()
        ids = [uuid.uuid4() for _ in requests]
        async with self._db.transaction() as conn:
            await conn.execute(
                insert(approvals),
                [
                    {
                        "id": approval_id,
                        "run_id": run_id,
                        "step_name": step_name,
                        "status": ApprovalStatus.PENDING.value,
                        "action": request.action,
                        "reason": request.reason,
                        "risk": request.risk,
                        "state": state,
                        "requested_at": now,
                        "expires_at": expires_at,
                        "approvers_required": request.approvers,
                        "rule": request.rule,
                    }
                    for approval_id, request in zip(ids, requests, strict=True)
                ],
            )
        return ids

    async def live_batch(self, run_id: uuid.UUID, step_name: str) -> list[StoredApproval]:
        """The step's unconsumed batch (with its saved state), oldest first.

        Every agent step asks this before it starts, nearly always to find nothing, so it is
        one prebuilt statement in one hop (``run_transaction``).
        """
        params = {"b_run_id": run_id, "b_step_name": step_name}
        return await self._db.run_transaction(_select_live_batch, params)

    async def consume_batch(self, run_id: uuid.UUID, step_name: str) -> None:
        """Mark the batch as picked up by its step (its state is no longer needed)."""
        async with self._db.transaction() as conn:
            await conn.execute(
                # SQL NULL, not JSON null: "state IS NOT NULL" is what marks a live batch.
                update(approvals).where(_live_batch(run_id, step_name)).values(state=null())
            )

    async def get(self, approval_id: uuid.UUID) -> StoredApproval | None:
        async with self._db.connect() as conn:
            row = (
                await conn.execute(
                    select(*_COLUMNS)
                    .select_from(approvals.outerjoin(workflow_runs))
                    .where(approvals.c.id == approval_id)
                )
            ).one_or_none()
        return None if row is None else _stored(row)

    async def search(
        self, *, status: str | None, limit: int = 100, offset: int = 0
    ) -> tuple[list[StoredApproval], int]:
        where = approvals.c.status == status if status else and_(True)
        async with self._db.connect() as conn:
            rows = await conn.execute(
                select(*_COLUMNS)
                .select_from(approvals.outerjoin(workflow_runs))
                .where(where)
                .order_by(approvals.c.requested_at.desc(), approvals.c.id)
                .limit(limit)
                .offset(offset)
            )
            items = [_stored(row) for row in rows]
            total = (
                await conn.execute(select(func.count()).select_from(approvals).where(where))
            ).scalar_one()
        return items, int(total)

    async def decide(
        self, approval_id: uuid.UUID, *, approved: bool, feedback: str | None, decided_by: str
    ) -> Decision | None:
        """Record a person's decision; None if there is no such approval.

        An approval that needs more people stays pending, with ``decided_by`` added to
        ``approved_by``; raises ``ApprovalConflict`` when it is no longer pending or when
        ``decided_by`` has already approved it.
        """
        async with self._db.transaction() as conn:
            stored = await _locked(conn, approval_id)
            if stored is None:
                return None
            if stored.status is not ApprovalStatus.PENDING:
                raise ApprovalConflict(stored)
            given = list(stored.approved_by)
            if approved and decided_by in given:
                needed = stored.approvers_required - len(given)
                raise ApprovalConflict(
                    stored,
                    f"{decided_by} has already approved {stored.id}; it needs {needed} more"
                    " approval(s) from someone else",
                )
            values = _decision_values(stored, approved, feedback, decided_by)
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

    async def expire_due(self, *, now: datetime | None = None) -> Expiry:
        """Deny every pending approval past its expiry; what expired and the runs resumed."""
        now = now or utcnow()
        async with self._db.transaction() as conn:
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
        return Expiry(expired=[_stored(row) for row in due], resumed=resumed)

    async def stranded_runs(self) -> list[uuid.UUID]:
        """Runs still parked although their batch is fully decided (a crash between the two)."""
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
        async with self._db.transaction() as conn:
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
            select(*_COLUMNS)
            .select_from(approvals.outerjoin(workflow_runs))
            .where(approvals.c.id == approval_id)
            .with_for_update(of=approvals)
        )
    ).one_or_none()
    return None if row is None else _stored(row)


def _decision_values(
    stored: StoredApproval, approved: bool, feedback: str | None, decided_by: str
) -> dict[str, Any]:
    """The columns one decision sets: a denial ends it, an approval counts until enough."""
    now = utcnow()
    if stored.approvers_required > 1 and feedback:
        feedback = f"{decided_by}: {feedback}"  # several people may leave a note
        if stored.feedback:
            feedback = f"{stored.feedback}\n{feedback}"
    elif not feedback:
        feedback = stored.feedback
    if not approved:
        return {
            "status": ApprovalStatus.DENIED.value,
            "feedback": feedback,
            "decided_by": decided_by,
            "decided_at": now,
        }
    given = [*stored.approved_by, decided_by]
    if len(given) < stored.approvers_required:
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
                    _live_batch(run_id, step_name),
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
