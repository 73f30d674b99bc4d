"""Rows a store test needs in place before the rows it is about."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import insert

from punching_fist.store.database import Database
from punching_fist.store.tables import utcnow, workflow_runs


async def insert_run(
    db: Database, *, status: str, workflow_name: str = "wf", **values: Any
) -> uuid.UUID:
    """A ``workflow_runs`` row with no engine behind it (other columns from ``values``)."""
    run_id = uuid.uuid4()
    row = {
        "id": run_id,
        "workflow_name": workflow_name,
        "status": status,
        "source_context": {},
        "created_at": utcnow(),
        **values,
    }
    async with db.transaction() as conn:
        await conn.execute(insert(workflow_runs).values(**row))
    return run_id
