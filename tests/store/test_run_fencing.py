"""Fenced run writes, on SQLite and PostgreSQL: once another claim took a run over, nothing
the previous claim still tries to write lands, and its lease renewals say it is not its own.

The fencing token is the run's ``attempt`` (every claim increments it) with the lease owner,
checked in each write's own transaction.
"""

from __future__ import annotations

import socket
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from punching_fist.engine.status import RunStatus, StepStatus
from punching_fist.errors import LeaseLost, StoreUnavailable
from punching_fist.store.database import Database
from punching_fist.store.runs import ClaimedRun, RunStore
from punching_fist.store.tables import utcnow, workflow_runs
from tests.support.store_rows import insert_run


async def pending_run(db: Database) -> uuid.UUID:
    return await insert_run(db, status=RunStatus.PENDING.value)


async def every_write_is_refused(store: RunStore, run: ClaimedRun) -> None:
    now = utcnow()
    with pytest.raises(LeaseLost):
        await store.step_started(
            run,
            position=1,
            name="later",
            step_type="cli",
            attempts=1,
            attempt_log=[],
            started_at=now,
        )
    with pytest.raises(LeaseLost):
        await store.step_attempt_failed(run, name="first", error="late", attempt_log=[])
    with pytest.raises(LeaseLost):
        await store.step_finished(
            run,
            name="first",
            status=StepStatus.SUCCEEDED,
            result={"stdout": "late"},
            error=None,
            attempt_log=[{"attempt": 1, "status": "succeeded"}],
            completed_at=now,
        )
    with pytest.raises(LeaseLost):
        await store.set_status(run, RunStatus.WAITING_APPROVAL)
    with pytest.raises(LeaseLost):
        await store.finish(run, status=RunStatus.SUCCEEDED, outputs={"late": True}, error=None)
    assert await store.renew_lease(run) is False


async def test_a_claim_taken_over_after_its_lease_lapsed_writes_nothing(
    database: Database,
) -> None:
    lapsing = RunStore(database, owner="replica-a", lease=timedelta(seconds=0))
    holding = RunStore(database, owner="replica-b", lease=timedelta(seconds=60))
    run_id = await pending_run(database)
    old = await lapsing.claim(run_id)
    assert old is not None
    await lapsing.step_started(
        old,
        position=0,
        name="first",
        step_type="cli",
        attempts=1,
        attempt_log=[{"attempt": 1, "status": "running"}],
        started_at=utcnow(),
    )
    new = await holding.claim(run_id)
    assert new is not None
    assert (old.attempt, new.attempt) == (1, 2)
    assert new.steps is not None
    assert new.steps["first"].status == StepStatus.RUNNING.value

    await every_write_is_refused(lapsing, old)

    steps = await holding.steps(run_id)
    assert list(steps) == ["first"]
    assert steps["first"].status == StepStatus.RUNNING.value
    assert steps["first"].result is None
    async with database.connect() as conn:
        row = (await conn.execute(select(workflow_runs).where(workflow_runs.c.id == run_id))).one()
    assert (row.status, row.lease_owner, row.attempt, row.outputs) == (
        RunStatus.RUNNING.value,
        "replica-b",
        2,
        None,
    )
    # The new owner's writes land.
    assert await holding.renew_lease(new) is True
    await holding.step_finished(
        new,
        name="first",
        status=StepStatus.SUCCEEDED,
        result={"stdout": "ok"},
        error=None,
        attempt_log=[{"attempt": 2, "status": "succeeded"}],
        completed_at=utcnow(),
    )
    await holding.finish(new, status=RunStatus.SUCCEEDED, outputs={"said": "ok"}, error=None)
    finished = await holding.steps(run_id)
    assert finished["first"].result == {"stdout": "ok"}
    assert finished["first"].attempt_log == [{"attempt": 2, "status": "succeeded"}]
    assert await holding.renew_lease(new) is False  # finished: nobody's any more


async def test_a_stale_claim_of_the_same_worker_is_fenced_by_its_attempt(
    database: Database,
) -> None:
    store = RunStore(database, owner="replica-a", lease=timedelta(seconds=60))
    run_id = await pending_run(database)
    stale = await store.claim(run_id)
    current = await store.claim(run_id)  # this worker again, after a restart of the run
    assert stale is not None
    assert current is not None
    await every_write_is_refused(store, stale)
    assert await store.renew_lease(current) is True


async def test_an_unreachable_database_is_a_temporary_failure() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    database = Database(f"postgresql+asyncpg://postgres@127.0.0.1:{port}/none")
    store = RunStore(database, owner="replica-a", lease=timedelta(seconds=60))
    now = utcnow()
    run = ClaimedRun(
        id=uuid.uuid4(),
        workflow_name="wf",
        source_name=None,
        alert_id=None,
        source_context={},
        attempt=1,
        created_at=now,
        started_at=now,
    )
    try:
        with pytest.raises(StoreUnavailable):
            await store.renew_lease(run)
        with pytest.raises(StoreUnavailable):
            await store.set_status(run, RunStatus.RUNNING)
    finally:
        await database.close()
