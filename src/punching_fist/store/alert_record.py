"""The alert's record of what happened to it: triage times, the AI's analysis, escalation, the
people who acted (``human_actions``), and whether it resolved on its own fix.

Persisting only; when each is written is decided by ``incidents.alert_record`` and the hooks
of the engine (agent steps, deliveries) and of approvals.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, case, exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from punching_fist.engine.status import AlertStatus
from punching_fist.store.database import Database
from punching_fist.store.tables import alerts, approvals, incidents, utcnow, workflow_runs

_KEPT = (AlertStatus.RESOLVED.value, AlertStatus.ESCALATED.value)


def auto_resolved_now() -> ColumnElement[bool]:
    """For an alert being resolved: an approved write in a run of it or of its incident (the
    incident is investigated once), and no escalation yet.

    Evaluated inside the resolving UPDATE, so it is decided with the resolution itself.
    """
    # Two EXISTS rather than one with OR: each follows an index (runs by alert, alerts by
    # incident, approvals by run) instead of scanning every approved approval per alert.
    own_fix = exists(
        select(approvals.c.id)
        .select_from(approvals.join(workflow_runs, approvals.c.run_id == workflow_runs.c.id))
        .where(and_(workflow_runs.c.alert_id == alerts.c.id, approvals.c.status == "approved"))
    )
    fixed = alerts.alias("fixed_alert")
    incident_fix = exists(
        select(approvals.c.id)
        .select_from(
            fixed.join(workflow_runs, workflow_runs.c.alert_id == fixed.c.id).join(
                approvals, approvals.c.run_id == workflow_runs.c.id
            )
        )
        .where(and_(fixed.c.incident_id == alerts.c.incident_id, approvals.c.status == "approved"))
    )
    approved_fix = or_(own_fix, and_(alerts.c.incident_id.is_not(None), incident_fix))
    return and_(alerts.c.escalated_at.is_(None), approved_fix)


def triaged_status() -> ColumnElement[str]:
    """``triaged``, unless the alert resolved or was escalated meanwhile."""
    return case((alerts.c.status.in_(_KEPT), alerts.c.status), else_=AlertStatus.TRIAGED.value)


async def append_human_action(
    conn: AsyncConnection,
    alert_id: uuid.UUID,
    action: dict[str, Any],
    *,
    now: datetime | None = None,
) -> None:
    """Add ``action`` ({kind, by, at, ...}) to the alert's ``human_actions``, under a row lock."""
    found = await conn.execute(
        select(alerts.c.human_actions).where(alerts.c.id == alert_id).with_for_update()
    )
    row = found.first()
    if row is None:
        return
    actions = [*(row.human_actions or []), action]
    await conn.execute(
        update(alerts)
        .where(alerts.c.id == alert_id)
        .values(human_actions=actions, updated_at=now or utcnow())
    )


async def alert_of_run(conn: AsyncConnection, run_id: uuid.UUID) -> uuid.UUID | None:
    found = await conn.execute(select(workflow_runs.c.alert_id).where(workflow_runs.c.id == run_id))
    value = found.scalar()
    return value if isinstance(value, uuid.UUID) else None


async def triage_started(database: Database, alert_id: uuid.UUID, now: datetime) -> None:
    """The first investigation of the alert starts (a resumed one keeps its first start)."""
    async with database.transaction() as conn:
        await conn.execute(
            update(alerts)
            .where(and_(alerts.c.id == alert_id, alerts.c.triage_started_at.is_(None)))
            .values(triage_started_at=now, updated_at=now)
        )


async def triage_completed(
    database: Database,
    alert_id: uuid.UUID,
    now: datetime,
    *,
    analysis: dict[str, Any] | None,
    confidence: float | None,
) -> float | None:
    """The first investigation ended; the seconds since the alert arrived, if this was the
    first (later investigations of the alert keep their first triage time)."""
    async with database.transaction() as conn:
        found = await conn.execute(
            select(alerts.c.received_at, alerts.c.triage_completed_at)
            .where(alerts.c.id == alert_id)
            .with_for_update()
        )
        row = found.first()
        if row is None:
            return None
        first = row.triage_completed_at is None
        values: dict[str, Any] = {}
        if analysis is not None:  # a failure without a result keeps what an earlier one said
            values.update(ai_analysis=analysis, ai_confidence=confidence)
        if first:
            values.update(triage_completed_at=now, status=triaged_status())
        await conn.execute(
            update(alerts).where(alerts.c.id == alert_id).values(**values, updated_at=now)
        )
    return (now - row.received_at).total_seconds() if first else None


async def escalated(database: Database, run_id: uuid.UUID, sink_name: str, now: datetime) -> bool:
    """The run's alert was escalated to ``sink_name``; False when it already was (or has none)."""
    async with database.transaction() as conn:
        alert_id = await alert_of_run(conn, run_id)
        if alert_id is None:
            return False
        status = case(
            (alerts.c.status == AlertStatus.RESOLVED.value, alerts.c.status),
            else_=AlertStatus.ESCALATED.value,
        )
        result = await conn.execute(
            update(alerts)
            .where(and_(alerts.c.id == alert_id, alerts.c.escalated_at.is_(None)))
            .values(escalated_at=now, escalated_to=sink_name[:255], status=status, updated_at=now)
        )
        return bool(result.rowcount == 1)


async def incident_of_run(database: Database, run_id: uuid.UUID) -> uuid.UUID | None:
    """The incident the run's alert belongs to, if it has one."""
    async with database.connect() as conn:
        found = await conn.execute(
            select(alerts.c.incident_id)
            .select_from(workflow_runs.join(alerts, workflow_runs.c.alert_id == alerts.c.id))
            .where(workflow_runs.c.id == run_id)
        )
        value = found.scalar()
    return value if isinstance(value, uuid.UUID) else None


async def resolution_figures(
    database: Database, alert_ids: Collection[uuid.UUID]
) -> tuple[int, list[tuple[uuid.UUID, float]]]:
    """After alerts resolved: how many of them auto-resolved, and the incidents they closed
    with each one's time to resolve (``mttr_seconds``, else opening to resolution)."""
    ids = sorted(alert_ids)
    async with database.connect() as conn:
        auto = await conn.execute(
            select(func.count()).where(and_(alerts.c.id.in_(ids), alerts.c.auto_resolved))
        )
        closed = await conn.execute(
            select(
                incidents.c.id,
                incidents.c.mttr_seconds,
                incidents.c.created_at,
                incidents.c.resolved_at,
            )
            .distinct()
            .select_from(incidents.join(alerts, alerts.c.incident_id == incidents.c.id))
            .where(and_(alerts.c.id.in_(ids), incidents.c.status == "resolved"))
        )
        figures = [
            (row.id, float(row.mttr_seconds))
            if row.mttr_seconds is not None
            else (row.id, (row.resolved_at - row.created_at).total_seconds())
            for row in closed.all()
            if row.mttr_seconds is not None or row.resolved_at is not None
        ]
        return int(auto.scalar_one()), figures


async def triaged_since(database: Database, alert_id: uuid.UUID, since: datetime) -> float | None:
    """Seconds from arrival to triage, if the alert's triage completed at ``since`` or later."""
    async with database.connect() as conn:
        found = await conn.execute(
            select(alerts.c.received_at, alerts.c.triage_completed_at).where(
                and_(alerts.c.id == alert_id, alerts.c.triage_completed_at >= since)
            )
        )
        row = found.first()
    return None if row is None else (row.triage_completed_at - row.received_at).total_seconds()
