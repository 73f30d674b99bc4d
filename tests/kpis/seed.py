"""Incidents for the KPI and feedback tests, written as the incidents code (part A) writes them:
an ``incidents`` row and its alerts' ``incident_id``."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import insert, update

from punching_fist.store.database import Database
from punching_fist.store.tables import alerts, incidents, utcnow


async def open_incident(
    db: Database,
    alert_ids: Sequence[uuid.UUID] = (),
    *,
    created_at: datetime | None = None,
    resolved_at: datetime | None = None,
    severity: str = "critical",
    title: str = "PodCrashLooping in shop",
) -> uuid.UUID:
    incident_id = uuid.uuid4()
    created = created_at or utcnow()
    mttr = int((resolved_at - created).total_seconds()) if resolved_at else None
    async with db.transaction() as conn:
        await conn.execute(
            insert(incidents).values(
                id=incident_id,
                title=title,
                status="resolved" if resolved_at else "open",
                severity=severity,
                alerts_count=len(alert_ids),
                created_at=created,
                resolved_at=resolved_at,
                mttr_seconds=mttr,
                updated_at=created,
            )
        )
        for alert_id in alert_ids:
            await conn.execute(
                update(alerts).where(alerts.c.id == alert_id).values(incident_id=incident_id)
            )
    return incident_id
