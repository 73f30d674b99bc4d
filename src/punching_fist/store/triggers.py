"""Starting a run without an alert: schedules and Kubernetes object events.

Every replica runs the same schedules and watches, so every replica sees the same tick or
object event. The run's id is derived from what triggered it (``trigger_key``), and the
primary key lets exactly one replica's insert win: the others learn the run already exists.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from punching_fist.engine.status import RunStatus
from punching_fist.store.database import Database
from punching_fist.store.tables import sources, utcnow, workflow_runs

_TRIGGER_NAMESPACE = uuid.UUID("7d7f4a52-52a8-4c5e-9f3e-3f0c1c6f1a11")


def trigger_run_id(trigger_key: str) -> uuid.UUID:
    """The run id every replica computes for the same trigger."""
    return uuid.uuid5(_TRIGGER_NAMESPACE, trigger_key)


async def create_triggered_run(
    database: Database,
    *,
    trigger_key: str,
    source_name: str,
    workflow_name: str,
    source_context: dict[str, Any],
) -> uuid.UUID | None:
    """Insert a pending run for this trigger; None when another replica already did."""
    run_id = trigger_run_id(trigger_key)
    try:
        async with database.transaction() as conn:
            exists = await conn.execute(
                select(workflow_runs.c.id).where(workflow_runs.c.id == run_id)
            )
            if exists.first() is not None:
                return None
            await insert_source_run(
                conn,
                run_id=run_id,
                source_name=source_name,
                workflow_name=workflow_name,
                source_context=source_context,
            )
    except IntegrityError:
        return None  # a concurrent replica inserted the same run first
    return run_id


async def insert_source_run(
    conn: AsyncConnection,
    *,
    run_id: uuid.UUID,
    source_name: str,
    workflow_name: str,
    source_context: dict[str, Any],
) -> None:
    """Insert a pending run a Source started, and count the event on the Source's row."""
    now = utcnow()
    await conn.execute(
        insert(workflow_runs).values(
            id=run_id,
            workflow_name=workflow_name,
            source_name=source_name,
            status=RunStatus.PENDING.value,
            source_context=source_context,
            created_at=now,
            updated_at=now,
        )
    )
    await conn.execute(
        update(sources)
        .where(sources.c.name == source_name)
        .values(events_processed=sources.c.events_processed + 1, last_event_at=now)
    )
