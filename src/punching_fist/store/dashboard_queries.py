"""Reads for the dashboard's lists: runs with the alert that started them, newest first."""

from __future__ import annotations

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
