"""Feedback on an incident's investigation, persisted with what it changes in one transaction.

A row in ``incident_feedback``; the incident's ``lessons_learned`` gets the answer appended
(several people may answer, none overwrites another); each of its alerts gets a
``feedback`` entry in ``human_actions`` and the resolution, if given, in ``resolution_notes``.
Who gave it comes from the caller's credential, never from what they sent.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from punching_fist.store.alert_record import append_human_action
from punching_fist.store.database import Database
from punching_fist.store.tables import alerts, incident_feedback, incidents, utcnow

SOURCES = ("api", "slack", "cli")


@dataclass(frozen=True, kw_only=True)
class NewFeedback:
    incident_id: uuid.UUID
    root_cause_correct: bool
    given_by: str
    source: str
    """``api``, ``slack`` or ``cli`` (the CLI calls the API and says so)."""
    human_needed: bool | None = None
    """Whether a person was needed to resolve it; escalation accuracy counts this."""
    notes: str | None = None
    resolution: str | None = None


@dataclass(frozen=True, kw_only=True)
class StoredFeedback:
    id: uuid.UUID
    incident_id: uuid.UUID
    root_cause_correct: bool
    human_needed: bool | None
    notes: str | None
    resolution: str | None
    given_by: str
    source: str
    given_at: datetime

    def as_json(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "incidentId": str(self.incident_id),
            "rootCauseCorrect": self.root_cause_correct,
            "humanNeeded": self.human_needed,
            "notes": self.notes,
            "resolution": self.resolution,
            "givenBy": self.given_by,
            "source": self.source,
            "givenAt": self.given_at.isoformat(),
        }


async def record_feedback(
    database: Database, feedback: NewFeedback, *, now: datetime | None = None
) -> StoredFeedback | None:
    """Store ``feedback``; ``None`` when the incident does not exist."""
    if feedback.source not in SOURCES:
        raise ValueError(f"feedback source {feedback.source!r} is not one of {SOURCES}")
    now = now or utcnow()
    async with database.transaction() as conn:
        found = await conn.execute(
            select(incidents.c.lessons_learned)
            .where(incidents.c.id == feedback.incident_id)
            .with_for_update()
        )
        incident = found.first()
        if incident is None:
            return None
        stored = StoredFeedback(
            id=uuid.uuid4(),
            incident_id=feedback.incident_id,
            root_cause_correct=feedback.root_cause_correct,
            human_needed=feedback.human_needed,
            notes=feedback.notes,
            resolution=feedback.resolution,
            given_by=feedback.given_by,
            source=feedback.source,
            given_at=now,
        )
        await conn.execute(
            insert(incident_feedback).values(
                id=stored.id,
                incident_id=stored.incident_id,
                root_cause_correct=stored.root_cause_correct,
                human_needed=stored.human_needed,
                notes=stored.notes,
                resolution=stored.resolution,
                given_by=stored.given_by,
                source=stored.source,
                given_at=now,
            )
        )
        lessons = _lesson(stored)
        if incident.lessons_learned:
            lessons = f"{incident.lessons_learned}\n{lessons}"
        await conn.execute(
            update(incidents)
            .where(incidents.c.id == feedback.incident_id)
            .values(lessons_learned=lessons, updated_at=now)
        )
        await _on_alerts(conn, stored)
    return stored


async def feedback_of(database: Database, incident_id: uuid.UUID) -> list[StoredFeedback]:
    """Every answer about one incident, oldest first."""
    async with database.connect() as conn:
        rows = await conn.execute(
            select(incident_feedback)
            .where(incident_feedback.c.incident_id == incident_id)
            .order_by(incident_feedback.c.given_at, incident_feedback.c.id)
        )
        return [_stored(row) for row in rows]


async def _on_alerts(conn: AsyncConnection, feedback: StoredFeedback) -> None:
    rows = await conn.execute(
        select(alerts.c.id, alerts.c.resolution_notes)
        .where(alerts.c.incident_id == feedback.incident_id)
        .order_by(alerts.c.id)
    )
    action = {
        "kind": "feedback",
        "by": feedback.given_by,
        "at": feedback.given_at.isoformat(),
        "source": feedback.source,
        "rootCauseCorrect": feedback.root_cause_correct,
        "humanNeeded": feedback.human_needed,
    }
    for row in rows.all():
        await append_human_action(conn, row.id, action, now=feedback.given_at)
        if feedback.resolution:
            notes = feedback.resolution
            if row.resolution_notes:
                notes = f"{row.resolution_notes}\n{notes}"
            await conn.execute(
                update(alerts).where(alerts.c.id == row.id).values(resolution_notes=notes)
            )


def _lesson(feedback: StoredFeedback) -> str:
    verdict = "root cause right" if feedback.root_cause_correct else "root cause wrong"
    parts = [f"[{feedback.given_at:%Y-%m-%d %H:%M} UTC] {feedback.given_by}: {verdict}"]
    if feedback.human_needed is not None:
        parts.append("a person was needed" if feedback.human_needed else "no person was needed")
    if feedback.notes:
        parts.append(feedback.notes)
    if feedback.resolution:
        parts.append(f"resolution: {feedback.resolution}")
    return "; ".join(parts)


def _stored(row: Any) -> StoredFeedback:
    return StoredFeedback(
        id=row.id,
        incident_id=row.incident_id,
        root_cause_correct=row.root_cause_correct,
        human_needed=row.human_needed,
        notes=row.notes,
        resolution=row.resolution,
        given_by=row.given_by,
        source=row.source,
        given_at=row.given_at,
    )
