"""Read-side queries of the incidents API: a filtered, paginated list, and one incident with
its alerts, relationships, runs, feedback and a timeline."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.engine import RowMapping

from punching_fist.store.database import Database
from punching_fist.store.feedback import feedback_of
from punching_fist.store.pages import jsonable, page
from punching_fist.store.tables import (
    alert_relationships,
    alerts,
    incidents,
    step_results,
    workflow_runs,
)

DETAIL_ALERTS = 500
"""Alerts listed in one incident's detail; ``alertsCount`` says how many it has in all."""
_ALERT_COLUMNS = (
    alerts.c.id,
    alerts.c.fingerprint,
    alerts.c.alert_name,
    alerts.c.severity,
    alerts.c.status,
    alerts.c.labels,
    alerts.c.source_name,
    alerts.c.received_at,
    alerts.c.resolved_at,
    alerts.c.active,
)
_RUN_COLUMNS = (
    workflow_runs.c.id,
    workflow_runs.c.workflow_name,
    workflow_runs.c.alert_id,
    workflow_runs.c.status,
    workflow_runs.c.created_at,
    workflow_runs.c.started_at,
    workflow_runs.c.completed_at,
)


async def list_incidents(
    db: Database,
    *,
    status: str | None,
    severity: str | None,
    since: datetime | None,
    limit: int,
    offset: int,
) -> dict[str, Any]:
    """Newest first. ``since``: opened, or still taking alerts, at or after it."""
    c = incidents.c
    conditions: list[Any] = []
    if status is not None:
        conditions.append(c.status == status)
    if severity is not None:
        conditions.append(c.severity == severity)
    if since is not None:
        conditions.append(or_(c.created_at >= since, c.last_alert_at >= since))
    where = and_(True, *conditions)
    order = [c.created_at.desc(), c.id]
    return await page(db, incidents, where, order, limit=limit, offset=offset)


async def incident_detail(db: Database, incident_id: uuid.UUID) -> dict[str, Any] | None:
    async with db.connect() as conn:
        row = (
            (await conn.execute(select(incidents).where(incidents.c.id == incident_id)))
            .mappings()
            .one_or_none()
        )
        if row is None:
            return None
        detail = jsonable(row)
        alert_rows = (
            (
                await conn.execute(
                    select(*_ALERT_COLUMNS)
                    .where(alerts.c.incident_id == incident_id)
                    .order_by(alerts.c.received_at, alerts.c.id)
                    .limit(DETAIL_ALERTS)
                )
            )
            .mappings()
            .all()
        )
        relationships = (
            (
                await conn.execute(
                    select(alert_relationships)
                    .join(alerts, alerts.c.id == alert_relationships.c.child_alert_id)
                    .where(
                        alerts.c.incident_id == incident_id,
                        alert_relationships.c.incident_id == incident_id,
                    )
                    .order_by(alert_relationships.c.created_at, alert_relationships.c.id)
                    .limit(DETAIL_ALERTS)
                )
            )
            .mappings()
            .all()
        )
        runs = (
            (
                await conn.execute(
                    select(*_RUN_COLUMNS)
                    .join(alerts, alerts.c.id == workflow_runs.c.alert_id)
                    .where(alerts.c.incident_id == incident_id)
                    .order_by(workflow_runs.c.created_at, workflow_runs.c.id)
                    .limit(DETAIL_ALERTS)
                )
            )
            .mappings()
            .all()
        )
        investigation = row["investigation_run_id"]
        steps: Sequence[RowMapping] = []
        if investigation is not None:
            steps = (
                (
                    await conn.execute(
                        select(
                            step_results.c.name,
                            step_results.c.type,
                            step_results.c.status,
                            step_results.c.started_at,
                            step_results.c.completed_at,
                        )
                        .where(step_results.c.run_id == investigation)
                        .order_by(step_results.c.position)
                    )
                )
                .mappings()
                .all()
            )
    feedback = await feedback_of(db, incident_id)
    detail["alerts"] = [jsonable(a) for a in alert_rows]
    detail["relationships"] = [jsonable(r) for r in relationships]
    detail["runs"] = [{**jsonable(r), "investigation": r["id"] == investigation} for r in runs]
    detail["feedback"] = [f.as_json() for f in feedback]
    detail["timeline"] = _timeline(row, alert_rows, steps, feedback)
    return detail


def _timeline(
    incident: RowMapping, alert_rows: Any, steps: Any, feedback: Any
) -> list[dict[str, Any]]:
    """What happened, in order: opened, alerts joined and ended, the investigation,
    feedback, resolved."""
    events: list[tuple[datetime, str, dict[str, Any]]] = [(incident["created_at"], "opened", {})]
    for alert in alert_rows:
        about = {"alertId": str(alert["id"]), "alertname": alert["alert_name"]}
        events.append((alert["received_at"], "alert_joined", about))
        if alert["resolved_at"] is not None:
            events.append((alert["resolved_at"], "alert_resolved", about))
    run = str(incident["investigation_run_id"])
    for step in steps:
        if step["type"] not in ("agent", "conditional"):
            continue
        about = {"runId": run, "step": step["name"], "status": step["status"]}
        if step["started_at"] is not None:
            events.append((step["started_at"], "investigation_started", about))
        if step["completed_at"] is not None:
            events.append((step["completed_at"], "investigation_completed", about))
    for given in feedback:
        events.append((given.given_at, "feedback", {"rootCauseCorrect": given.root_cause_correct}))
    if incident["resolved_at"] is not None:
        events.append(
            (incident["resolved_at"], "resolved", {"mttrSeconds": incident["mttr_seconds"]})
        )
    order = {"opened": 0, "alert_joined": 1}
    events.sort(key=lambda e: (e[0], order.get(e[1], 2)))
    return [{"at": at.isoformat(), "event": kind, **about} for at, kind, about in events]
