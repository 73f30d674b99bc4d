"""Which run investigates an incident: claimed once, released if it fails, its result kept.

``incidents.investigation_run_id`` is set by a conditional ``UPDATE ... WHERE
investigation_run_id IS NULL``: of two runs that start their agent steps at once, on either
database, exactly one sees its update take; the other reads who has it and attaches.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, select, update
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from punching_fist.errors import StoreUnavailable
from punching_fist.store.database import Database
from punching_fist.store.incident_causes import Investigated, investigated, link
from punching_fist.store.incidents import INVESTIGATING, OPEN
from punching_fist.store.tables import incidents, utcnow

CAUSE_CHARS = 4000


@dataclass(frozen=True, slots=True)
class Investigator:
    """The run that investigates the incident, and what it concluded if it has."""

    run_id: uuid.UUID
    summary: dict[str, Any] | None


class IncidentRunStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def claim(self, incident_id: uuid.UUID, run_id: uuid.UUID) -> Investigator | None:
        """None: ``run_id`` investigates (now, or already did: a restarted run); else the
        run that does. An incident gone (retention, or never stored) is investigated."""
        c = incidents.c
        now = utcnow()
        with _unavailable():
            async with self._db.transaction() as conn:
                took = await conn.execute(
                    update(incidents)
                    .where(c.id == incident_id, c.investigation_run_id.is_(None))
                    .values(
                        investigation_run_id=run_id,
                        status=case((c.status == OPEN, INVESTIGATING), else_=c.status),
                        updated_at=now,
                    )
                )
                if took.rowcount:
                    return None
                found = (
                    await conn.execute(
                        select(c.investigation_run_id, c.ai_summary).where(c.id == incident_id)
                    )
                ).one_or_none()
        if found is None or found.investigation_run_id in (None, run_id):
            return None
        return Investigator(run_id=found.investigation_run_id, summary=found.ai_summary)

    async def release(self, incident_id: uuid.UUID, run_id: uuid.UUID) -> None:
        """The investigation failed: the next alert's run may investigate instead."""
        c = incidents.c
        with _unavailable():
            async with self._db.transaction() as conn:
                await conn.execute(
                    update(incidents)
                    .where(c.id == incident_id, c.investigation_run_id == run_id)
                    .values(
                        investigation_run_id=None,
                        status=case((c.status == INVESTIGATING, OPEN), else_=c.status),
                        updated_at=utcnow(),
                    )
                )

    async def record(
        self, incident_id: uuid.UUID, run_id: uuid.UUID, result: dict[str, Any]
    ) -> None:
        """The investigation's result: ``ai_summary`` (the whole result) and the root cause."""
        cause = result.get("root_cause") or result.get("rootCause")
        with _unavailable():
            async with self._db.transaction() as conn:
                await conn.execute(
                    update(incidents)
                    .where(
                        incidents.c.id == incident_id, incidents.c.investigation_run_id == run_id
                    )
                    .values(
                        ai_summary=result,
                        root_cause_analysis=str(cause)[:CAUSE_CHARS] if cause else None,
                        updated_at=utcnow(),
                    )
                )

    async def link_causes(
        self,
        incident_id: uuid.UUID,
        run_id: uuid.UUID,
        named: Callable[[Investigated], Sequence[uuid.UUID]],
        *,
        confidence: float | None,
        reason: str,
    ) -> int:
        """``caused_by`` rows for the alerts ``named`` picks among the incident's others,
        when ``run_id`` investigates it (``store.incident_causes``). Returns rows written."""
        with _unavailable():
            async with self._db.transaction() as conn:
                found = await investigated(conn, incident_id, run_id)
                if found is None:
                    return 0
                children = named(found)
                return await link(
                    conn,
                    incident_id=incident_id,
                    parent_alert_id=found.alert.alert_id,
                    children=children,
                    confidence=confidence,
                    reason=reason,
                )


@contextlib.contextmanager
def _unavailable() -> Iterator[None]:
    """Database errors as ``StoreUnavailable``, which the runner retries (as ``store.runs``)."""
    try:
        yield
    except (OperationalError, InterfaceError, OSError) as exc:
        raise StoreUnavailable(f"the database did not answer: {exc}") from exc
    except DBAPIError as exc:
        if exc.connection_invalidated:
            raise StoreUnavailable(f"the database connection broke: {exc}") from exc
        raise
