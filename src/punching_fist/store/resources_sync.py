"""Mirroring Source and Workflow resources into their tables (alerts and runs point at them)."""

from __future__ import annotations

import uuid

from sqlalchemy import insert, select, update

from punching_fist.resources.loader import ResourceSet, model_dump_wire
from punching_fist.store.database import Database
from punching_fist.store.tables import sources, utcnow, workflows


async def sync_resources(database: Database, resources: ResourceSet) -> None:
    """Insert or update one row per Source and Workflow, keyed by name."""
    now = utcnow()
    async with database.transaction() as conn:
        existing_sources = {
            row.name: row.id for row in await conn.execute(select(sources.c.name, sources.c.id))
        }
        for name, source in resources.sources.items():
            values = {
                "type": source.spec.type,
                "spec": model_dump_wire(source.spec),
                "updated_at": now,
            }
            if name in existing_sources:
                await conn.execute(update(sources).where(sources.c.name == name).values(values))
            else:
                await conn.execute(
                    insert(sources).values(id=uuid.uuid4(), name=name, created_at=now, **values)
                )
        existing_workflows = {row.name for row in await conn.execute(select(workflows.c.name))}
        for name, workflow in resources.workflows.items():
            spec = model_dump_wire(workflow.spec)
            if name in existing_workflows:
                await conn.execute(
                    update(workflows)
                    .where(workflows.c.name == name)
                    .values(spec=spec, updated_at=now)
                )
            else:
                await conn.execute(
                    insert(workflows).values(
                        id=uuid.uuid4(), name=name, spec=spec, created_at=now, updated_at=now
                    )
                )
