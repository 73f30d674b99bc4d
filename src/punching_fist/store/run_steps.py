"""A run's stored step results, as they are read back.

What lets a restarted run skip the steps it already completed (the claim reads them in its
own transaction, ``store.run_claims``) and what a workflow chain hands the next workflow
(``store.chains``). The writes are ``store.runs.RunStore``'s.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from punching_fist.store.tables import step_results


@dataclass(frozen=True, kw_only=True)
class StoredStep:
    name: str
    type: str
    status: str
    result: Any
    error: str | None
    started_at: datetime | None
    completed_at: datetime | None
    attempts: int = 1
    """How often the step was started (retries and re-runs after a crash included)."""
    attempt_log: list[dict[str, Any]] = field(default_factory=list)
    """One entry per start: why it started, when, and how it ended."""


SELECT_STEPS = (
    select(step_results)
    .where(step_results.c.run_id == bindparam("b_run_id"))
    .order_by(step_results.c.position)
)
"""A run's steps in workflow order; parameter ``b_run_id``."""


def stored_steps(rows: Iterable[Row[Any]]) -> dict[str, StoredStep]:
    """``SELECT_STEPS``' rows by step name."""
    return {
        row.name: StoredStep(
            name=row.name,
            type=row.type,
            status=row.status,
            result=row.result,
            error=row.error,
            started_at=row.started_at,
            completed_at=row.completed_at,
            attempts=row.attempts,
            attempt_log=list(row.attempt_log or ()),
        )
        for row in rows
    }


async def load_steps(conn: AsyncConnection, run_id: uuid.UUID) -> dict[str, StoredStep]:
    return stored_steps(await conn.execute(SELECT_STEPS, {"b_run_id": run_id}))
