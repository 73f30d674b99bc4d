"""``caused_by`` relationships an investigation finds (``incidents.causes`` decides which).

Reads what the matching needs (the investigated run's alert and the incident's other alerts)
and writes the links. The write is idempotent: a pair already linked ``caused_by`` is not
written again, so a re-run of the step (a restarted run, a retried commit) adds nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from punching_fist.store.tables import (
    alert_relationships,
    alerts,
    incidents,
    utcnow,
    workflow_runs,
)

CAUSED_BY = "caused_by"
CANDIDATES = 5000
"""An incident's alerts read for names, newest first: a storm's 10,000th pod is not worth
reading 10,000 label sets for at the end of every investigation."""


@dataclass(frozen=True, slots=True)
class IncidentAlert:
    """One alert of the incident, as the matching reads it."""

    alert_id: uuid.UUID
    alert_name: str | None
    labels: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Investigated:
    """The alert the investigation was about, and the incident's other alerts."""

    alert: IncidentAlert
    others: Sequence[IncidentAlert]


async def investigated(
    conn: AsyncConnection, incident_id: uuid.UUID, run_id: uuid.UUID
) -> Investigated | None:
    """None when ``run_id`` is not the incident's investigation or has no alert."""
    claimed = (
        await conn.execute(
            select(incidents.c.investigation_run_id).where(incidents.c.id == incident_id)
        )
    ).scalar()
    if claimed != run_id:
        return None
    parent = (
        await conn.execute(
            select(alerts.c.id, alerts.c.alert_name, alerts.c.labels)
            .join(workflow_runs, workflow_runs.c.alert_id == alerts.c.id)
            .where(workflow_runs.c.id == run_id)
        )
    ).one_or_none()
    if parent is None:
        return None
    rows = await conn.execute(
        select(alerts.c.id, alerts.c.alert_name, alerts.c.labels)
        .where(alerts.c.incident_id == incident_id, alerts.c.id != parent.id)
        .order_by(alerts.c.received_at.desc(), alerts.c.id)
        .limit(CANDIDATES)
    )
    return Investigated(
        alert=_alert(parent),
        others=[_alert(row) for row in rows],
    )


async def link(
    conn: AsyncConnection,
    *,
    incident_id: uuid.UUID,
    parent_alert_id: uuid.UUID,
    children: Sequence[uuid.UUID],
    confidence: float | None,
    reason: str,
) -> int:
    """Records ``children`` as ``caused_by`` the parent, skipping pairs already recorded.
    Returns how many rows it wrote."""
    if not children:
        return 0
    r = alert_relationships.c
    existing = set(
        (
            await conn.execute(
                select(r.child_alert_id).where(
                    r.parent_alert_id == parent_alert_id,
                    r.relationship_type == CAUSED_BY,
                    r.child_alert_id.in_(children),
                )
            )
        ).scalars()
    )
    new = [child for child in dict.fromkeys(children) if child not in existing]
    if not new:
        return 0
    now = utcnow()
    await conn.execute(
        insert(alert_relationships),
        [
            {
                "id": uuid.uuid4(),
                "parent_alert_id": parent_alert_id,
                "child_alert_id": child,
                "relationship_type": CAUSED_BY,
                "confidence": confidence,
                "incident_id": incident_id,
                "reason": reason[:255],
                "created_at": now,
            }
            for child in new
        ],
    )
    return len(new)


def _alert(row: Any) -> IncidentAlert:
    labels = row.labels if isinstance(row.labels, Mapping) else {}
    return IncidentAlert(alert_id=row.id, alert_name=row.alert_name, labels=labels)
