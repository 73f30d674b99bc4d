"""An incident's status as a delivery sees it: whether every alert of it has resolved.

Read when a run's result goes to its sinks, so a sink about the whole incident (PagerDuty's
``resolve``) can tell the last alert's resolution from the first one's.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select

from punching_fist.store.database import Database
from punching_fist.store.tables import incidents


async def incident_status(database: Database, incident_id: uuid.UUID) -> str | None:
    """``open``, ``investigating``, ``resolved``...; None when there is no such incident."""
    async with database.connect() as conn:
        status = await conn.scalar(select(incidents.c.status).where(incidents.c.id == incident_id))
    return None if status is None else str(status)
