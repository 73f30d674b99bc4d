"""Recording sink deliveries, so a resumed run never delivers the same result twice."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import and_, insert, select, update

from punching_fist.store.database import Database
from punching_fist.store.tables import sink_deliveries, utcnow

DONE = ("delivered", "skipped", "not_implemented")


class DeliveryStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def finished_sinks(self, run_id: uuid.UUID) -> set[str]:
        """Sinks this run already delivered to (or decided not to)."""
        async with self._db.connect() as conn:
            rows = await conn.execute(
                select(sink_deliveries.c.sink_name).where(
                    and_(sink_deliveries.c.run_id == run_id, sink_deliveries.c.status.in_(DONE))
                )
            )
            return {row.sink_name for row in rows}

    async def started(self, run_id: uuid.UUID, sink_name: str, sink_type: str) -> uuid.UUID:
        now = utcnow()
        async with self._db.transaction() as conn:
            existing = (
                await conn.execute(
                    select(sink_deliveries.c.id).where(
                        and_(
                            sink_deliveries.c.run_id == run_id,
                            sink_deliveries.c.sink_name == sink_name,
                        )
                    )
                )
            ).scalar_one_or_none()
            if existing is not None:
                await conn.execute(
                    update(sink_deliveries)
                    .where(sink_deliveries.c.id == existing)
                    .values(status="pending", started_at=now)
                )
                return uuid.UUID(str(existing))
            delivery_id = uuid.uuid4()
            await conn.execute(
                insert(sink_deliveries).values(
                    id=delivery_id,
                    run_id=run_id,
                    sink_name=sink_name,
                    sink_type=sink_type,
                    status="pending",
                    attempts=0,
                    created_at=now,
                    started_at=now,
                )
            )
            return delivery_id

    async def finished(
        self,
        delivery_id: uuid.UUID,
        *,
        status: str,
        attempts: int,
        response: dict[str, Any] | None,
        error: str | None,
        external_ref: str | None = None,
    ) -> None:
        async with self._db.transaction() as conn:
            await conn.execute(
                update(sink_deliveries)
                .where(sink_deliveries.c.id == delivery_id)
                .values(
                    status=status,
                    attempts=sink_deliveries.c.attempts + attempts,
                    response=response,
                    error=error,
                    external_ref=external_ref,
                    completed_at=utcnow(),
                )
            )
