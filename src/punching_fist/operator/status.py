"""What the controller writes into the ``status`` of each resource, read from the database.

The database is the record shared by every replica: whichever replica processed an event or
ran a workflow, the elected controller reads the counters here and publishes them.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from punching_fist.engine.status import RunStatus
from punching_fist.resources.base import Condition
from punching_fist.resources.sink import SinkStatus
from punching_fist.resources.source import SourceStatus
from punching_fist.resources.workflow import WorkflowStatus
from punching_fist.store.database import Database
from punching_fist.store.delivery_queries import sink_statuses
from punching_fist.store.tables import sources, step_results, utcnow, workflow_runs

PHASES = {
    RunStatus.PENDING.value: "Pending",
    RunStatus.RUNNING.value: "Running",
    RunStatus.WAITING_APPROVAL.value: "WaitingApproval",
    RunStatus.WAITING_LIMIT.value: "WaitingLimit",
    RunStatus.SUCCEEDED.value: "Succeeded",
    RunStatus.FAILED.value: "Failed",
}
MAX_VALUE_CHARS = 1024


def _time(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def _text(value: Any) -> str:
    text = value if isinstance(value, str) else _json_text(value)
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 1] + "…"


def _json_text(value: Any) -> str:
    return json.dumps(value, default=str, sort_keys=True)


def ready_condition(problems: list[str], *, since: str | None = None) -> Condition:
    """The ``Ready`` condition: True, or False with the first problem as its message."""
    return Condition(
        type="Ready",
        status="False" if problems else "True",
        reason="Invalid" if problems else "Accepted",
        message="; ".join(problems)[:MAX_VALUE_CHARS] if problems else "serving",
        last_transition_time=since or _time(utcnow()),
    )


async def source_status(database: Database, name: str) -> SourceStatus:
    async with database.connect() as conn:
        row = (
            await conn.execute(
                select(sources.c.events_processed, sources.c.last_event_at).where(
                    sources.c.name == name
                )
            )
        ).first()
    if row is None:
        return SourceStatus()
    return SourceStatus(
        events_processed=int(row.events_processed or 0), last_event_time=_time(row.last_event_at)
    )


async def workflow_status(database: Database, name: str) -> WorkflowStatus:
    async with database.connect() as conn:
        total = (
            await conn.execute(select(func.count()).where(workflow_runs.c.workflow_name == name))
        ).scalar_one()
        latest = (
            await conn.execute(
                select(workflow_runs)
                .where(workflow_runs.c.workflow_name == name)
                .order_by(workflow_runs.c.created_at.desc(), workflow_runs.c.id)
                .limit(1)
            )
        ).first()
        if latest is None:
            return WorkflowStatus(runs_total=int(total))
        steps = await conn.execute(
            select(step_results.c.name, step_results.c.status)
            .where(step_results.c.run_id == latest.id)
            .order_by(step_results.c.position)
        )
        step_phases = {row.name: row.status for row in steps}
    outputs = {key: _text(value) for key, value in (latest.outputs or {}).items()}
    return WorkflowStatus(
        phase=PHASES.get(latest.status, latest.status),
        last_run_id=str(latest.id),
        last_run_time=_time(latest.completed_at or latest.started_at or latest.created_at),
        steps=step_phases,
        outputs=outputs,
        runs_total=int(total),
    )


async def sink_status(database: Database, name: str) -> SinkStatus:
    """The sink's delivery counters, kept by the delivery store as deliveries settle."""
    return (await sink_statuses(database)).get(name) or SinkStatus()
