"""What the KPIs are computed from, read for one window and filter (``incidents.kpis``).

Alerts are in the window by ``received_at``, incidents by ``created_at``; ``source`` keeps
alerts of that Source and incidents with at least one of them, ``severity`` alerts and
incidents of that severity. Only plain columns are read (sums of JSON token counts are
added up in Python), so the same queries serve SQLite and PostgreSQL.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, exists, func, select

from punching_fist.store.database import Database
from punching_fist.store.tables import (
    alerts,
    audit_events,
    incident_feedback,
    incidents,
    step_results,
    workflow_runs,
)

INVESTIGATED = ("succeeded", "failed")
"""Agent steps that ran to an end; skipped ones (attached to their incident's) did not."""


@dataclass(frozen=True, kw_only=True)
class KpiFilter:
    since: datetime
    until: datetime
    source: str | None = None
    severity: str | None = None


@dataclass(frozen=True, kw_only=True)
class AlertTimes:
    received_at: datetime
    triage_completed_at: datetime | None
    resolved: bool
    auto_resolved: bool


@dataclass(frozen=True, kw_only=True)
class IncidentTimes:
    id: uuid.UUID
    created_at: datetime
    resolved_at: datetime | None
    mttr_seconds: int | None
    escalated: bool


@dataclass(frozen=True, kw_only=True)
class FeedbackRow:
    incident_id: uuid.UUID
    root_cause_correct: bool
    human_needed: bool | None
    given_at: datetime


@dataclass(frozen=True, kw_only=True)
class KpiRows:
    alerts: list[AlertTimes]
    incidents: list[IncidentTimes]
    feedback: list[FeedbackRow]
    investigations: int
    tokens: dict[str, tuple[int, int]]
    """Per model: input and output tokens of the incidents' investigations."""


def _alert_filter(window: KpiFilter) -> list[Any]:
    where: list[Any] = [alerts.c.received_at >= window.since, alerts.c.received_at < window.until]
    if window.source is not None:
        where.append(alerts.c.source_name == window.source)
    if window.severity is not None:
        where.append(alerts.c.severity == window.severity)
    return where


def _incident_ids(window: KpiFilter) -> Select[tuple[uuid.UUID]]:
    where: list[Any] = [
        incidents.c.created_at >= window.since,
        incidents.c.created_at < window.until,
    ]
    if window.severity is not None:
        where.append(incidents.c.severity == window.severity)
    if window.source is not None:
        where.append(
            exists().where(
                and_(alerts.c.incident_id == incidents.c.id, alerts.c.source_name == window.source)
            )
        )
    return select(incidents.c.id).where(and_(*where))


async def kpi_rows(database: Database, window: KpiFilter) -> KpiRows:
    chosen = _incident_ids(window)
    escalated = exists().where(
        and_(alerts.c.incident_id == incidents.c.id, alerts.c.escalated_at.is_not(None))
    )
    async with database.connect() as conn:
        alert_rows = await conn.execute(
            select(
                alerts.c.received_at,
                alerts.c.triage_completed_at,
                alerts.c.resolved_at,
                alerts.c.status,
                alerts.c.auto_resolved,
            ).where(and_(*_alert_filter(window)))
        )
        incident_rows = await conn.execute(
            select(
                incidents.c.id,
                incidents.c.created_at,
                incidents.c.resolved_at,
                incidents.c.mttr_seconds,
                escalated.label("escalated"),
            ).where(incidents.c.id.in_(chosen))
        )
        feedback_rows = await conn.execute(
            select(incident_feedback).where(incident_feedback.c.incident_id.in_(chosen))
        )
        runs_of_incidents = workflow_runs.join(alerts, workflow_runs.c.alert_id == alerts.c.id)
        investigations = await conn.execute(
            select(func.count())
            .select_from(
                step_results.join(runs_of_incidents, step_results.c.run_id == workflow_runs.c.id)
            )
            .where(
                and_(
                    alerts.c.incident_id.in_(chosen),
                    step_results.c.type == "agent",
                    step_results.c.status.in_(INVESTIGATED),
                )
            )
        )
        usage_rows = await conn.execute(
            select(audit_events.c.name, audit_events.c.usage)
            .select_from(
                audit_events.join(runs_of_incidents, audit_events.c.run_id == workflow_runs.c.id)
            )
            .where(
                and_(
                    alerts.c.incident_id.in_(chosen),
                    audit_events.c.kind == "llm",
                    audit_events.c.usage.is_not(None),
                )
            )
        )
        return KpiRows(
            alerts=[
                AlertTimes(
                    received_at=row.received_at,
                    triage_completed_at=row.triage_completed_at,
                    resolved=row.resolved_at is not None or row.status == "resolved",
                    auto_resolved=bool(row.auto_resolved),
                )
                for row in alert_rows
            ],
            incidents=[
                IncidentTimes(
                    id=row.id,
                    created_at=row.created_at,
                    resolved_at=row.resolved_at,
                    mttr_seconds=row.mttr_seconds,
                    escalated=bool(row.escalated),
                )
                for row in incident_rows
            ],
            feedback=[
                FeedbackRow(
                    incident_id=row.incident_id,
                    root_cause_correct=row.root_cause_correct,
                    human_needed=row.human_needed,
                    given_at=row.given_at,
                )
                for row in feedback_rows
            ],
            investigations=int(investigations.scalar_one()),
            tokens=_tokens(usage_rows),
        )


def _tokens(rows: Any) -> dict[str, tuple[int, int]]:
    totals: dict[str, tuple[int, int]] = {}
    for row in rows:
        usage = row.usage if isinstance(row.usage, dict) else {}
        spent_in, spent_out = _count(usage.get("input_tokens")), _count(usage.get("output_tokens"))
        before_in, before_out = totals.get(row.name, (0, 0))
        totals[row.name] = (before_in + spent_in, before_out + spent_out)
    return totals


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0
