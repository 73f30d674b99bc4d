"""Approval requests: what an agent wants to do, who decided, and the state to resume from.

An agent step that needs a person stores one row per pending action (a *batch*: the tool
calls one model answer asked for) with the conversation so far in ``state``. Deciding the
last pending row of a batch puts the run back to ``pending`` in the same transaction (the
rules are ``approvals.decisions``, the row operations ``approval_decisions``). When the step
resumes it clears ``state`` (the batch is *consumed*); a row with ``state`` is therefore a
batch still waiting for its step to pick it up, which is how a restart or a sweep finds runs
to resume. The rows' types are in ``approval_rows``.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, func, insert, null, select, update
from sqlalchemy.engine import Connection

from punching_fist.store.approval_rows import (
    COLUMNS,
    ApprovalStatus,
    NewApproval,
    StoredApproval,
    live_batch_where,
    stored,
)
from punching_fist.store.database import Database
from punching_fist.store.tables import approvals, utcnow, workflow_runs


def _select_live_batch(conn: Connection, params: dict[str, Any]) -> list[StoredApproval]:
    return [stored(row, with_state=True) for row in conn.execute(_LIVE_BATCH, params)]


_LIVE_BATCH = (
    select(approvals)
    .where(live_batch_where(bindparam("b_run_id"), bindparam("b_step_name")))
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
                update(approvals).where(live_batch_where(run_id, step_name)).values(state=null())
            )

    async def get(self, approval_id: uuid.UUID) -> StoredApproval | None:
        async with self._db.connect() as conn:
            row = (
                await conn.execute(
                    select(*COLUMNS)
                    .select_from(approvals.outerjoin(workflow_runs))
                    .where(approvals.c.id == approval_id)
                )
            ).one_or_none()
        return None if row is None else stored(row)

    async def search(
        self, *, status: str | None, limit: int = 100, offset: int = 0
    ) -> tuple[list[StoredApproval], int]:
        where = approvals.c.status == status if status else and_(True)
        async with self._db.connect() as conn:
            rows = await conn.execute(
                select(*COLUMNS)
                .select_from(approvals.outerjoin(workflow_runs))
                .where(where)
                .order_by(approvals.c.requested_at.desc(), approvals.c.id)
                .limit(limit)
                .offset(offset)
            )
            items = [stored(row) for row in rows]
            total = (
                await conn.execute(select(func.count()).select_from(approvals).where(where))
            ).scalar_one()
        return items, int(total)
