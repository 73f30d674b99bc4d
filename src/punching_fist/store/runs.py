"""Persisting workflow runs as they progress: the runner's and dispatcher's store API.

A run is claimed by one worker at a time through a lease in the database, so a crashed
process (or, with PostgreSQL, a dead replica) leaves runs that another worker can take over
once the lease expires (the claim and fence transactions: ``store.run_claims``). Step
results are written as each step finishes, which is what lets a restarted run skip the
steps it already completed (read back through ``store.run_steps``). Here: the async API
over both, the step and outcome writes, and the dispatcher's queries for claimable runs.

Every write of a claimed run is fenced: it lands only while the run's ``lease_owner`` is
this worker and its ``attempt`` (incremented by every claim) is the one claimed, checked in
the write's own transaction (``LeaseLost`` otherwise). A worker that lost its lease, say
through a database outage longer than the lease, cannot overwrite what the run's new owner
records. Database errors come out as ``StoreUnavailable``.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, delete, func, insert, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import Executable

from punching_fist.engine.status import RunStatus, StepStatus
from punching_fist.errors import StoreUnavailable
from punching_fist.store.alert_record import triaged_status
from punching_fist.store.database import Database
from punching_fist.store.run_claims import (
    ALERT_BY_ID,
    ClaimedRun,
    claim_run,
    owned_then,
    renew_run,
    update_owned_run,
)
from punching_fist.store.run_steps import StoredStep, load_steps
from punching_fist.store.tables import alerts, step_results, utcnow, workflow_runs

__all__ = ["UNFINISHED", "ClaimedRun", "RunStore", "release_waiting"]

UNFINISHED = (RunStatus.PENDING.value, RunStatus.RUNNING.value)


class RunStore:
    """Database operations on runs and their steps."""

    def __init__(self, database: Database, *, owner: str, lease: timedelta) -> None:
        self._db = database
        self.owner = owner
        self.lease = lease

    async def claim(self, run_id: uuid.UUID) -> ClaimedRun | None:
        """Take a pending run, or a running one whose lease expired; None if someone has it.

        The claimed run comes with its stored step results, read in the same transaction.
        """
        now = utcnow()
        params = {
            "b_id": run_id,
            "b_owner": self.owner,
            "b_now": now,
            "status": RunStatus.RUNNING.value,
            "lease_owner": self.owner,
            "lease_expires_at": now + self.lease,
            "updated_at": now,
        }
        return await self._db.run_transaction(claim_run, params)

    async def renew_lease(self, run: ClaimedRun) -> bool:
        """Extend our lease on ``run``; False when it is no longer ours (taken over, finished).

        The new expiry counts from before the request was sent, so a caller that timed the
        request knows the lease lasts at least ``lease`` from then.
        """
        params = {**self._fence(run), "lease_expires_at": utcnow() + self.lease}
        with _unavailable():
            return await self._db.run_transaction(renew_run, params)

    async def release_orphans(self) -> int:
        """Hand every running run back to the queue: for a store only this process writes."""
        async with self._db.transaction() as conn:
            result = await conn.execute(
                update(workflow_runs)
                .where(workflow_runs.c.status == RunStatus.RUNNING.value)
                .values(status=RunStatus.PENDING.value, lease_owner=None, lease_expires_at=None)
            )
        return int(result.rowcount)

    async def claimable_runs(
        self, *, include_own_running: bool, limit: int
    ) -> list[tuple[uuid.UUID, str]]:
        """Runs that need a worker, with their workflow: pending ones and running ones whose
        lease lapsed; at most ``limit``, the fairest first.

        Fairest: every notification's first run before any notification's second, then by
        age. So the runs of a 10,000-alert notification that waited for room in the run queue
        do not all go before an alert another sender posted after it.
        """
        now = utcnow()
        runs = workflow_runs.c
        lapsed = or_(runs.lease_expires_at.is_(None), runs.lease_expires_at < now)
        if include_own_running:
            lapsed = or_(lapsed, runs.lease_owner == self.owner)
        turn = func.row_number().over(
            partition_by=func.coalesce(runs.notification_id, runs.id), order_by=runs.created_at
        )
        claimable = (
            select(runs.id, runs.workflow_name, runs.created_at, turn.label("turn"))
            .where(
                or_(
                    runs.status == RunStatus.PENDING.value,
                    and_(runs.status == RunStatus.RUNNING.value, lapsed),
                )
            )
            .subquery()
        )
        async with self._db.connect() as conn:
            rows = await conn.execute(
                select(claimable.c.id, claimable.c.workflow_name)
                .order_by(claimable.c.turn, claimable.c.created_at)
                .limit(limit)
            )
            return [(row.id, row.workflow_name) for row in rows]

    async def pending_count(self) -> int:
        """Runs stored ``pending``: queued, or waiting in the store for room in the queue."""
        async with self._db.connect() as conn:
            count = await conn.execute(
                select(func.count())
                .select_from(workflow_runs)
                .where(workflow_runs.c.status == RunStatus.PENDING.value)
            )
            return int(count.scalar_one())

    async def steps(self, run_id: uuid.UUID) -> dict[str, StoredStep]:
        async with self._db.connect() as conn:
            return await load_steps(conn, run_id)

    async def step_started(
        self,
        run: ClaimedRun,
        *,
        position: int,
        name: str,
        step_type: str,
        attempts: int,
        attempt_log: list[dict[str, Any]],
        started_at: datetime,
    ) -> None:
        """Record that the step starts (committed before this returns, so before it runs)."""
        params = {
            "b_run_id": run.id,
            "b_name": name,
            "id": uuid.uuid4(),
            "run_id": run.id,
            "position": position,
            "name": name,
            "type": step_type,
            "status": StepStatus.RUNNING.value,
            "started_at": started_at,
            "attempts": attempts,
            "attempt_log": attempt_log,
        }
        await self._fenced(_step_started, run, params)

    async def step_attempt_failed(
        self, run: ClaimedRun, *, name: str, error: str | None, attempt_log: list[dict[str, Any]]
    ) -> None:
        """Record a failed attempt that will be retried; the step stays ``running``."""
        params = {"b_run_id": run.id, "b_name": name, "error": error, "attempt_log": attempt_log}
        await self._fenced(_execute, run, (_STEP_FINISHED, params))

    async def step_finished(
        self,
        run: ClaimedRun,
        *,
        name: str,
        status: StepStatus,
        result: Any,
        error: str | None,
        attempt_log: list[dict[str, Any]],
        completed_at: datetime,
    ) -> None:
        params = {
            "b_run_id": run.id,
            "b_name": name,
            "status": status.value,
            "result": result,
            "error": error,
            "completed_at": completed_at,
            "attempt_log": attempt_log,
        }
        await self._fenced(_execute, run, (_STEP_FINISHED, params))

    async def set_status(self, run: ClaimedRun, status: RunStatus) -> None:
        params = {**self._fence(run), "status": status.value, "updated_at": utcnow()}
        with _unavailable():
            await self._db.run_transaction(update_owned_run, params)

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
        run_values = {
            **self._fence(run),
            "status": status.value,
            "outputs": outputs,
            "error": error,
            "completed_at": now,
            "updated_at": now,
            "lease_owner": None,
            "lease_expires_at": None,
        }
        alert_values: dict[str, Any] | None = None
        if run.alert_id is not None:
            # An agent step recorded triage as it ran (incidents.alert_record); a run without
            # one triaged its alert from its start to its end. The first triage stays.
            alert_values = {
                "b_id": run.alert_id,
                "b_done": now,
                "b_started": run.started_at or now,
                "updated_at": now,
            }
            if analysis is not None:
                alert_values.update(ai_analysis=analysis, ai_confidence=confidence)
        with _unavailable():
            await self._db.run_transaction(_finish, (run_values, alert_values))
        return now

    def _fence(self, run: ClaimedRun) -> dict[str, Any]:
        return {"b_id": run.id, "b_owner": self.owner, "b_attempt": run.attempt}

    async def _fenced(self, work: Any, run: ClaimedRun, args: Any) -> None:
        """Run ``work(conn, args)`` in a transaction that first checks the run is still ours.

        The check is an UPDATE of the run's row, so on PostgreSQL it also holds the row's
        lock until the commit: a claim by another worker waits for it, then fails or wins.
        """
        fence = {**self._fence(run), "updated_at": utcnow()}
        with _unavailable():
            await self._db.run_transaction(owned_then, (fence, work, args))


@contextlib.contextmanager
def _unavailable() -> Iterator[None]:
    """Database errors as ``StoreUnavailable``: the connection, not the request, failed."""
    try:
        yield
    except (OperationalError, InterfaceError, PoolTimeout, OSError) as exc:
        raise StoreUnavailable(f"the database did not answer: {exc}") from exc
    except DBAPIError as exc:
        if exc.connection_invalidated:
            raise StoreUnavailable(f"the database connection broke: {exc}") from exc
        raise


# --- write transactions: synchronous, each run in one hop by ``Database.run_transaction`` --
# The statements are built once; values travel as parameters. ``b_*`` names are WHERE
# parameters; every other key of a parameter dict is a column SET by the UPDATE.

_TRIAGE_COMPLETED = (
    update(alerts)
    .where(ALERT_BY_ID)
    .values(
        status=triaged_status(),
        triage_completed_at=func.coalesce(
            alerts.c.triage_completed_at,
            bindparam("b_done", type_=alerts.c.triage_completed_at.type),
        ),
        triage_started_at=func.coalesce(
            alerts.c.triage_started_at,
            bindparam("b_started", type_=alerts.c.triage_started_at.type),
        ),
    )
)
_STEP_OF_RUN = and_(
    step_results.c.run_id == bindparam("b_run_id"), step_results.c.name == bindparam("b_name")
)
_DELETE_STEP = delete(step_results).where(_STEP_OF_RUN)
_INSERT_STEP = insert(step_results)
_STEP_FINISHED = update(step_results).where(_STEP_OF_RUN)


def _step_started(conn: Connection, params: dict[str, Any]) -> None:
    conn.execute(_DELETE_STEP, {"b_run_id": params["b_run_id"], "b_name": params["b_name"]})
    conn.execute(_INSERT_STEP, {k: v for k, v in params.items() if not k.startswith("b_")})


def _execute(conn: Connection, statement: tuple[Executable, dict[str, Any]]) -> None:
    conn.execute(*statement)


def _finish(conn: Connection, values: tuple[dict[str, Any], dict[str, Any] | None]) -> None:
    run_values, alert_values = values
    update_owned_run(conn, run_values)
    if alert_values is not None:
        conn.execute(_TRIAGE_COMPLETED, alert_values)


async def release_waiting(conn: AsyncConnection, run_ids: Iterable[uuid.UUID]) -> list[uuid.UUID]:
    """Put runs that wait for approval back to ``pending``; the ones that were waiting."""
    ids = list(run_ids)
    if not ids:
        return []
    rows = await conn.execute(
        update(workflow_runs)
        .where(
            and_(
                workflow_runs.c.id.in_(ids),
                workflow_runs.c.status == RunStatus.WAITING_APPROVAL.value,
            )
        )
        .values(status=RunStatus.PENDING.value, updated_at=utcnow())
        .returning(workflow_runs.c.id)
    )
    return [row.id for row in rows]
