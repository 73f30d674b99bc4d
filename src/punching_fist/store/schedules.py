"""What a schedule needs to know after downtime: since when its Source exists, when it last ran.

``sources.created_at`` is written when the Source is first synced and ``last_event_at`` each
time one of its runs is created (``store.triggers``), so a tick that was due while no replica
ran shows as a scheduled time after both.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from punching_fist.store.database import Database
from punching_fist.store.tables import sources


@dataclass(frozen=True, kw_only=True)
class SourceActivity:
    created_at: datetime | None
    last_event_at: datetime | None

    def missed(self, scheduled_at: datetime) -> bool:
        """Whether a tick due at ``scheduled_at`` found the Source existing and did not run."""
        if self.created_at is None or self.created_at > scheduled_at:
            return False
        return self.last_event_at is None or self.last_event_at < scheduled_at


async def source_activity(database: Database, source_name: str) -> SourceActivity | None:
    """The Source's row, or None before it is synced."""
    async with database.connect() as conn:
        row = (
            await conn.execute(
                select(sources.c.created_at, sources.c.last_event_at).where(
                    sources.c.name == source_name
                )
            )
        ).first()
    if row is None:
        return None
    return SourceActivity(created_at=row.created_at, last_event_at=row.last_event_at)
