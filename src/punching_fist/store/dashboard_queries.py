"""Reads for the dashboard's lists: runs with the alert that started them, newest first."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import and_, select

from punching_fist.store.database import Database
from punching_fist.store.tables import alerts, workflow_runs


async def recent_runs(
    db: Database,
    *,
    status: str | None = None,
    workflow: str | None = None,
    since: datetime | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Runs (without their large source context) joined with their alert's name and text."""
    conditions = []
    if status:
        conditions.append(workflow_runs.c.status == status)
    if workflow:
        conditions.append(workflow_runs.c.workflow_name == workflow)
    if since is not None:
        conditions.append(workflow_runs.c.created_at >= since)
    query = (
        select(
            workflow_runs.c.id,
            workflow_runs.c.workflow_name,
            workflow_runs.c.source_name,
            workflow_runs.c.status,
            workflow_runs.c.created_at,
            workflow_runs.c.completed_at,
            workflow_runs.c.error,
            workflow_runs.c.alert_id,
            alerts.c.alert_name,
            alerts.c.severity,
            alerts.c.summary,
        )
        .select_from(workflow_runs.outerjoin(alerts, workflow_runs.c.alert_id == alerts.c.id))
        .where(and_(True, *conditions))
        .order_by(workflow_runs.c.created_at.desc(), workflow_runs.c.id)
        .limit(limit)
    )
    async with db.connect() as conn:
        rows = (await conn.execute(query)).mappings().all()
    return [dict(row) for row in rows]


async def workflow_names(db: Database) -> list[str]:
    """Workflows that have runs, for the filter."""
    query = select(workflow_runs.c.workflow_name).distinct().order_by(workflow_runs.c.workflow_name)
    async with db.connect() as conn:
        return [str(name) for name in (await conn.execute(query)).scalars()]


async def alert_as_notification(
    db: Database, alert_id: uuid.UUID
) -> tuple[dict[str, Any], str | None] | None:
    """A stored alert as the Alertmanager notification that brought it (one alert, format 4),
    and the workflow its latest run ran; ``None`` for no such alert."""
    async with db.connect() as conn:
        row = (
            (await conn.execute(select(alerts).where(alerts.c.id == alert_id)))
            .mappings()
            .one_or_none()
        )
        if row is None:
            return None
        workflow = (
            await conn.execute(
                select(workflow_runs.c.workflow_name)
                .where(workflow_runs.c.alert_id == alert_id)
                .order_by(workflow_runs.c.created_at.desc())
                .limit(1)
            )
        ).scalar_one_or_none()
    status = "resolved" if row["resolved_at"] is not None else "firing"
    ends = row["ends_at"] or row["resolved_at"]
    labels = dict(row["labels"] or {})
    notification = {
        "version": "4",
        "status": status,
        "receiver": "replay",
        "groupLabels": {"alertname": row["alert_name"]},
        "commonLabels": labels,
        "commonAnnotations": dict(row["annotations"] or {}),
        "externalURL": "",
        "alerts": [
            {
                "status": status,
                "labels": labels,
                "annotations": dict(row["annotations"] or {}),
                "startsAt": _iso(row["starts_at"] or row["received_at"]),
                "endsAt": _iso(ends) if ends is not None else "0001-01-01T00:00:00Z",
                "generatorURL": row["generator_url"] or "",
                "fingerprint": row["fingerprint"] or "",
            }
        ],
    }
    return notification, workflow


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")
