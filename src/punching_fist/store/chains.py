"""Runs as the sinks see them: snapshots of finished runs, and runs that start runs.

The retrier and the manual retry endpoint deliver results of runs that finished earlier, so
they rebuild the template context from what the run stored (``run_snapshot``). The
``workflow`` sink starts child runs linked by ``parent_run_id`` (``ChainedRuns``), whose
chain is walked to refuse loops.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, insert, select

from punching_fist.engine.status import RunStatus
from punching_fist.store.database import Database
from punching_fist.store.notifications import select_runs, with_notification
from punching_fist.store.run_steps import StoredStep, load_steps
from punching_fist.store.tables import alerts, utcnow, workflow_runs, workflows


@dataclass(frozen=True, kw_only=True)
class RunSnapshot:
    """What a delivery of a finished run needs to rebuild its template context."""

    id: uuid.UUID
    workflow_name: str
    status: str
    source_context: dict[str, Any]
    outputs: dict[str, Any]
    started_at: datetime | None
    completed_at: datetime | None
    alert_id: uuid.UUID | None
    steps: dict[str, StoredStep]


async def run_snapshot(database: Database, run_id: uuid.UUID) -> RunSnapshot | None:
    async with database.connect() as conn:
        row = (await conn.execute(select_runs().where(workflow_runs.c.id == run_id))).one_or_none()
        if row is None:
            return None
        steps = await load_steps(conn, run_id)
    return RunSnapshot(
        id=row.id,
        workflow_name=row.workflow_name,
        status=row.status,
        source_context=with_notification(row.source_context or {}, row.notification_data),
        outputs=row.outputs or {},
        started_at=row.started_at,
        completed_at=row.completed_at,
        alert_id=row.alert_id,
        steps=steps,
    )


async def incident_of(database: Database, alert_id: uuid.UUID) -> uuid.UUID | None:
    """The incident an alert was grouped into, if any."""
    async with database.connect() as conn:
        value = (
            await conn.execute(select(alerts.c.incident_id).where(alerts.c.id == alert_id))
        ).scalar_one_or_none()
    return value if isinstance(value, uuid.UUID) else None


@dataclass(frozen=True, kw_only=True)
class RunLink:
    run_id: uuid.UUID
    workflow_name: str


class ChainedRuns:
    """Runs started by the ``workflow`` sink, linked to their parent through ``parent_run_id``."""

    def __init__(self, database: Database, *, max_lineage: int = 64) -> None:
        self._db = database
        self._max_lineage = max_lineage

    async def lineage(self, run_id: uuid.UUID) -> list[RunLink]:
        """This run, its parent, the parent's parent... (bounded, so a corrupt chain ends)."""
        links: list[RunLink] = []
        current: uuid.UUID | None = run_id
        async with self._db.connect() as conn:
            while current is not None and len(links) < self._max_lineage:
                row = (
                    await conn.execute(
                        select(
                            workflow_runs.c.id,
                            workflow_runs.c.workflow_name,
                            workflow_runs.c.parent_run_id,
                        ).where(workflow_runs.c.id == current)
                    )
                ).one_or_none()
                if row is None:
                    break
                links.append(RunLink(run_id=row.id, workflow_name=row.workflow_name))
                current = row.parent_run_id
        return links

    async def start(
        self,
        *,
        parent_run_id: uuid.UUID,
        workflow_name: str,
        source_name: str | None,
        source_context: dict[str, Any],
    ) -> tuple[uuid.UUID, bool]:
        """The child run of ``parent_run_id`` for ``workflow_name``: (id, newly created).

        A parent starts a given workflow at most once, so a retried or resumed delivery finds
        the child it already started instead of starting a second one.
        """
        now = utcnow()
        async with self._db.transaction() as conn:
            existing = (
                await conn.execute(
                    select(workflow_runs.c.id).where(
                        and_(
                            workflow_runs.c.parent_run_id == parent_run_id,
                            workflow_runs.c.workflow_name == workflow_name,
                        )
                    )
                )
            ).scalar_one_or_none()
            if existing is not None:
                return existing, False
            workflow_id = (
                await conn.execute(select(workflows.c.id).where(workflows.c.name == workflow_name))
            ).scalar_one_or_none()
            run_id = uuid.uuid4()
            await conn.execute(
                insert(workflow_runs).values(
                    id=run_id,
                    workflow_name=workflow_name,
                    workflow_id=workflow_id,
                    source_name=source_name,
                    parent_run_id=parent_run_id,
                    status=RunStatus.PENDING.value,
                    source_context=source_context,
                    created_at=now,
                    updated_at=now,
                )
            )
        return run_id, True
