"""What the KPIs are computed from, read for one window and filter (``incidents.kpis``).

Alerts are in the window by ``received_at``, incidents by ``created_at``; ``source`` keeps
alerts of that Source and incidents with at least one of them, ``severity`` alerts and
incidents of that severity. The same queries serve SQLite and PostgreSQL: durations are the
one expression that differs (``seconds_between``), and JSON token counts are added up in
Python rather than with either database's JSON functions.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, case, exists, func, or_, select

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
class IncidentFigures:
    id: uuid.UUID
    resolve_seconds: float | None
    """Opening to resolution (``mttr_seconds``); ``None`` while open."""
    escalated: bool


@dataclass(frozen=True, kw_only=True)
class FeedbackRow:
    incident_id: uuid.UUID
    root_cause_correct: bool
    human_needed: bool | None
    given_at: datetime


@dataclass(frozen=True, kw_only=True)
class KpiRows:
    alerts: int
    triage_seconds: list[float]
    """Per triaged alert: arrival to the end of its triage."""
    resolved_alerts: int
    auto_resolved_alerts: int
    incidents: list[IncidentFigures]
    feedback: list[FeedbackRow]
    investigations: int
    tokens: dict[str, tuple[int, int]]
    """Per model: input and output tokens of the incidents' investigations."""


def seconds_between(later: Any, earlier: Any, *, sqlite: bool) -> Any:
    """``later - earlier`` in seconds, computed by the database: only a number per row
    travels, not two timestamps to parse (most of the time on a month of alerts)."""
    if sqlite:
        return (func.julianday(later) - func.julianday(earlier)) * 86_400.0
    return func.extract("epoch", later - earlier)


def _alert_filter(window: KpiFilter) -> list[Any]:
    where: list[Any] = [alerts.c.received_at >= window.since, alerts.c.received_at < window.until]
    if window.source is not None:
        where.append(alerts.c.source_name == window.source)
    if window.severity is not None:
        where.append(alerts.c.severity == window.severity)
    return where


def _incident_where(window: KpiFilter) -> ColumnElement[bool]:
    where: list[Any] = [
        incidents.c.created_at >= window.since,
        incidents.c.created_at < window.until,
    ]
    if window.severity is not None:
        where.append(incidents.c.severity == window.severity)
    if window.source is not None:
        member = alerts.alias("member")  # not the alerts some queries join themselves
        where.append(
            exists().where(
                and_(member.c.incident_id == incidents.c.id, member.c.source_name == window.source)
            )
        )
    return and_(*where)


async def kpi_rows(database: Database, window: KpiFilter) -> KpiRows:
    # Joined to incidents rather than ``IN (their ids)``: SQLite then walks the joined rows by
    # primary keys, several times faster over a month (bench/kpis.py).
    chosen = _incident_where(window)
    escalated = exists().where(
        and_(alerts.c.incident_id == incidents.c.id, alerts.c.escalated_at.is_not(None))
    )
    sqlite = database.is_sqlite
    resolved = or_(alerts.c.resolved_at.is_not(None), alerts.c.status == "resolved")
    alert_where = and_(*_alert_filter(window))
    async with database.connect() as conn:
        counts = (
            await conn.execute(
                select(
                    func.count(),
                    func.count(case((resolved, 1))),
                    func.count(case((and_(resolved, alerts.c.auto_resolved), 1))),
                ).where(alert_where)
            )
        ).one()
        triage = await conn.scalars(
            select(
                seconds_between(alerts.c.triage_completed_at, alerts.c.received_at, sqlite=sqlite)
            ).where(and_(alert_where, alerts.c.triage_completed_at.is_not(None)))
        )
        resolve_seconds = case(
            (incidents.c.mttr_seconds.is_not(None), incidents.c.mttr_seconds),
            (
                incidents.c.resolved_at.is_not(None),
                seconds_between(incidents.c.resolved_at, incidents.c.created_at, sqlite=sqlite),
            ),
        )
        incident_rows = await conn.execute(
            select(
                incidents.c.id,
                resolve_seconds.label("resolve_seconds"),
                escalated.label("escalated"),
            ).where(chosen)
        )
        feedback_rows = await conn.execute(
            select(incident_feedback)
            .join(incidents, incident_feedback.c.incident_id == incidents.c.id)
            .where(chosen)
        )
        investigations = await conn.execute(
            select(func.count())
            .select_from(step_results)
            .join(workflow_runs, step_results.c.run_id == workflow_runs.c.id)
            .join(alerts, workflow_runs.c.alert_id == alerts.c.id)
            .join(incidents, alerts.c.incident_id == incidents.c.id)
            .where(
                and_(
                    chosen,
                    step_results.c.type == "agent",
                    step_results.c.status.in_(INVESTIGATED),
                )
            )
        )
        usage_rows = await conn.execute(
            select(audit_events.c.name, audit_events.c.usage)
            .select_from(audit_events)
            .join(workflow_runs, audit_events.c.run_id == workflow_runs.c.id)
            .join(alerts, workflow_runs.c.alert_id == alerts.c.id)
            .join(incidents, alerts.c.incident_id == incidents.c.id)
            .where(
                and_(
                    chosen,
                    audit_events.c.kind == "llm",
                    audit_events.c.usage.is_not(None),
                )
            )
        )
        return KpiRows(
            alerts=int(counts[0]),
            triage_seconds=[float(value) for value in triage],
            resolved_alerts=int(counts[1]),
            auto_resolved_alerts=int(counts[2]),
            incidents=[
                IncidentFigures(
                    id=row.id,
                    resolve_seconds=(
                        float(row.resolve_seconds) if row.resolve_seconds is not None else None
                    ),
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
