"""Who owns a run: the claim, the lease and the fence on every write.

A run is claimed by one worker at a time through a lease in the database, so a crashed
process (or, with PostgreSQL, a dead replica) leaves runs that another worker can take over
once the lease expires. Every write of a claimed run first checks, in its own transaction,
that the run's ``lease_owner`` is still this worker and its ``attempt`` (incremented by
every claim) the one claimed (``LeaseLost`` otherwise).

These are the synchronous transactions ``Database.run_transaction`` runs in one hop; the
statements are built once and values travel as parameters (``b_*`` names are WHERE
parameters, every other key is a column SET by the UPDATE). ``store.runs.RunStore`` is the
async API over them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, case, func, or_, update
from sqlalchemy.engine import Connection

from punching_fist.engine.status import RunStatus
from punching_fist.errors import LeaseLost
from punching_fist.store.notifications import select_runs, with_notification
from punching_fist.store.run_steps import SELECT_STEPS, StoredStep, stored_steps
from punching_fist.store.tables import alerts, workflow_runs


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
    steps: dict[str, StoredStep] | None = None
    """The run's stored step results, read in the claiming transaction (None: not read)."""


def unless_resolved(current: Any, status: str) -> Any:
    # An alert that resolved while its run was going stays resolved.
    return case((current == "resolved", "resolved"), else_=status)


RUN_BY_ID = workflow_runs.c.id == bindparam("b_id")
_CLAIM = (
    update(workflow_runs)
    .where(
        and_(
            RUN_BY_ID,
            or_(
                workflow_runs.c.status == RunStatus.PENDING.value,
                and_(
                    workflow_runs.c.status == RunStatus.RUNNING.value,
                    or_(
                        workflow_runs.c.lease_expires_at.is_(None),
                        workflow_runs.c.lease_expires_at < bindparam("b_now"),
                        workflow_runs.c.lease_owner == bindparam("b_owner"),
                    ),
                ),
            ),
        )
    )
    .values(
        attempt=workflow_runs.c.attempt + 1,
        started_at=func.coalesce(
            workflow_runs.c.started_at,
            bindparam("b_now", type_=workflow_runs.c.started_at.type),
        ),
    )
)
_SELECT_RUN = select_runs().where(RUN_BY_ID)
ALERT_BY_ID = alerts.c.id == bindparam("b_id")
# The claim marks the alert triaging; ``triage_started_at`` is the agent step's start.
_TRIAGE_STARTED = (
    update(alerts)
    .where(
        and_(
            ALERT_BY_ID,
            alerts.c.triage_started_at.is_(None),
            alerts.c.triage_completed_at.is_(None),
        )
    )
    .values(status=unless_resolved(alerts.c.status, "triaging"))
)
_OWNED_RUN = update(workflow_runs).where(
    and_(
        RUN_BY_ID,
        workflow_runs.c.lease_owner == bindparam("b_owner"),
        workflow_runs.c.attempt == bindparam("b_attempt"),
    )
)


def claim_run(conn: Connection, params: dict[str, Any]) -> ClaimedRun | None:
    """Take the run (pending, or its lease lapsed, or already ours); None if someone has it."""
    if conn.execute(_CLAIM, params).rowcount != 1:
        return None
    row = conn.execute(_SELECT_RUN, {"b_id": params["b_id"]}).one()
    now = params["b_now"]
    if row.alert_id is not None:
        conn.execute(_TRIAGE_STARTED, {"b_id": row.alert_id, "updated_at": now})
    steps = stored_steps(conn.execute(SELECT_STEPS, {"b_run_id": row.id}))
    return ClaimedRun(
        id=row.id,
        workflow_name=row.workflow_name,
        source_name=row.source_name,
        alert_id=row.alert_id,
        source_context=with_notification(row.source_context, row.notification_data),
        attempt=row.attempt,
        created_at=row.created_at,
        started_at=row.started_at,
        steps=steps,
    )


def renew_run(conn: Connection, params: dict[str, Any]) -> bool:
    return bool(conn.execute(_OWNED_RUN, params).rowcount == 1)


def update_owned_run(conn: Connection, params: dict[str, Any]) -> None:
    """The run's row updated with ``params``; ``LeaseLost`` when it is no longer ours."""
    if conn.execute(_OWNED_RUN, params).rowcount != 1:
        raise LeaseLost(f"run {params['b_id']} is no longer this worker's")


def owned_then(conn: Connection, args: tuple[dict[str, Any], Any, Any]) -> None:
    """The fence, then ``work(conn, work_args)`` in the same transaction."""
    fence, work, work_args = args
    update_owned_run(conn, fence)
    work(conn, work_args)
