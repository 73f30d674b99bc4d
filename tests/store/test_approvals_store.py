"""Approvals that need several people, on SQLite and PostgreSQL: counted once each, under a lock
(the rules of ``approvals.decisions`` over the rows of the store).

Two approvers deciding at the same moment must both be counted (neither overwrites the
other), the same identity must not count twice, and the run resumes only with the last
approval needed.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from punching_fist.approvals.decisions import decide
from punching_fist.store.approval_rows import ApprovalConflict, ApprovalStatus, NewApproval
from punching_fist.store.approvals import ApprovalStore
from punching_fist.store.database import Database
from punching_fist.store.tables import metadata, utcnow, workflow_runs
from tests.support.store_rows import insert_run

RULE = {"name": "prod", "origin": "Workflow/wf", "approvers": 3}


async def waiting_run(db: Database) -> uuid.UUID:
    return await insert_run(db, status="waiting_approval")


async def request(db: Database, approvers: int) -> tuple[uuid.UUID, uuid.UUID]:
    run_id = await waiting_run(db)
    [approval_id] = await ApprovalStore(db).create_batch(
        run_id=run_id,
        step_name="investigate",
        requests=[
            NewApproval(
                action={"tool": "kubectl", "command": "delete pod web-0 -n prod"},
                reason="a write",
                risk="high",
                approvers=approvers,
                rule=RULE,
            )
        ],
        state={"messages": []},
        expires_at=utcnow() + timedelta(hours=1),
    )
    return run_id, approval_id


async def run_status(db: Database, run_id: uuid.UUID) -> str:
    async with db.connect() as conn:
        status: str = (
            await conn.execute(select(workflow_runs.c.status).where(workflow_runs.c.id == run_id))
        ).scalar_one()
    return status


async def test_three_people_approve_at_once_and_each_is_counted(database: Database) -> None:
    store = ApprovalStore(database)
    run_id, approval_id = await request(database, approvers=3)
    decisions = await asyncio.gather(
        *(
            decide(database, approval_id, approved=True, feedback=f"ok from {who}", decided_by=who)
            for who in ("alice", "bob", "carol")
        )
    )
    assert sum(d is not None and d.run_resumed for d in decisions) == 1
    approval = await store.get(approval_id)
    assert approval is not None
    assert approval.status is ApprovalStatus.APPROVED
    assert sorted(approval.approved_by) == ["alice", "bob", "carol"]
    assert approval.decided_by == ", ".join(approval.approved_by)
    assert approval.rule == RULE
    assert approval.feedback is not None
    assert "alice: ok from alice" in approval.feedback
    assert "carol: ok from carol" in approval.feedback
    assert await run_status(database, run_id) == "pending"


async def test_the_same_identity_counts_once_and_one_denial_ends_it(database: Database) -> None:
    run_id, approval_id = await request(database, approvers=2)
    first = await decide(database, approval_id, approved=True, feedback=None, decided_by="alice")
    assert first is not None
    assert first.approval.status is ApprovalStatus.PENDING
    assert not first.run_resumed
    with pytest.raises(ApprovalConflict, match="alice has already approved"):
        await decide(database, approval_id, approved=True, feedback=None, decided_by="alice")
    assert await run_status(database, run_id) == "waiting_approval"
    denied = await decide(database, approval_id, approved=False, feedback="no", decided_by="alice")
    assert denied is not None
    assert denied.approval.status is ApprovalStatus.DENIED
    assert denied.approval.decided_by == "alice"
    assert denied.run_resumed
    with pytest.raises(ApprovalConflict, match="already denied"):
        await decide(database, approval_id, approved=True, feedback=None, decided_by="bob")


async def test_a_request_of_one_person_is_decided_as_before(database: Database) -> None:
    _, approval_id = await request(database, approvers=1)
    decided = await decide(database, approval_id, approved=True, feedback="go", decided_by="alice")
    assert decided is not None
    assert decided.approval.as_json()["approved_by"] == ["alice"]
    assert decided.approval.as_json()["decided_by"] == "alice"
    assert decided.approval.feedback == "go"
    assert decided.run_resumed


async def test_the_migration_creates_the_columns_the_code_uses(database: Database) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    def differences(connection: Any) -> list[Any]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))

    async with database.connect() as conn:
        found = await conn.run_sync(differences)
    assert [d for d in found if "approvals" in repr(d)] == []
