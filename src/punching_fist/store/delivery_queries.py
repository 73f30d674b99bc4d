"""The read side of deliveries: the API's listing and detail, and each sink's counters.

Kept apart from ``deliveries`` (which owns and settles rows through leases) because these
queries only read, never take a lease, and answer the API and the operator, not the engine.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.engine import RowMapping

from punching_fist.resources.sink import SinkStatus
from punching_fist.store.database import Database
from punching_fist.store.pages import jsonable, page
from punching_fist.store.tables import sink_deliveries, sink_status


async def sink_statuses(database: Database) -> dict[str, SinkStatus]:
    """The ``status`` of every sink that delivered or failed, by name, for the operator."""
    async with database.connect() as conn:
        rows = await conn.execute(select(sink_status))
        return {
            row.sink_name: SinkStatus(
                messages_sent=row.messages_sent,
                last_sent_time=row.last_sent_time.isoformat() if row.last_sent_time else None,
                last_error=row.last_error,
            )
            for row in rows
        }


def _jsonable(row: RowMapping) -> dict[str, Any]:
    out = jsonable(row)
    out.pop("lease_owner", None)  # internal: which process holds it
    return out


async def delivery_page(
    database: Database, filters: Mapping[str, Any], *, limit: int, offset: int
) -> dict[str, Any]:
    conditions = [sink_deliveries.c[k] == v for k, v in filters.items() if v is not None]
    where = and_(True, *conditions)
    order = [sink_deliveries.c.created_at.desc()]
    return await page(
        database, sink_deliveries, where, order, limit=limit, offset=offset, shown=_jsonable
    )


async def delivery_detail(database: Database, delivery_id: uuid.UUID) -> dict[str, Any] | None:
    async with database.connect() as conn:
        row = (
            (await conn.execute(select(sink_deliveries).where(sink_deliveries.c.id == delivery_id)))
            .mappings()
            .one_or_none()
        )
    return _jsonable(row) if row is not None else None
