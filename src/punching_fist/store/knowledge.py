"""The knowledge base's rows: past investigations and postmortems, read and written here.

Full-text search is ``knowledge_search``'s (one query API over SQLite FTS5 and PostgreSQL
tsvector); this module is the rows themselves: adding, editing, the entries of an alert's
signature, and the feedback people give. Memory outlives retention: entries refer to runs and
incidents by id only, without foreign keys.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Row, delete, func, insert, or_, select, update

from punching_fist.store.database import Database
from punching_fist.store.tables import alerts, knowledge_entries, utcnow, workflow_runs

Kind = Literal["investigation", "postmortem"]
Correct = Literal["yes", "no", "unknown"]

EDITABLE = frozenset(
    {
        "title",
        "alertname",
        "namespace",
        "workload",
        "container",
        "labels",
        "root_cause",
        "fix",
        "findings",
        "body",
        "outcome",
        "correct",
        "feedback_by",
        "resolution",
        "notes",
        "incident_id",
    }
)
"""Columns a person may change (the API's PUT/PATCH, feedback)."""


@dataclass(frozen=True, kw_only=True)
class NewEntry:
    """What an entry is made of; ``kind`` says whether an investigation or a person wrote it."""

    kind: Kind
    title: str
    alertname: str | None = None
    namespace: str | None = None
    workload: str | None = None
    container: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    root_cause: str = ""
    fix: str = ""
    findings: Sequence[str] = ()
    body: str = ""
    outcome: str = "diagnosed"
    confidence: float | None = None
    run_id: uuid.UUID | None = None
    incident_id: uuid.UUID | None = None
    workflow: str | None = None
    step_name: str | None = None
    """The workflow and agent step that investigated: a result is reused only by the same."""
    result: Mapping[str, Any] | None = None
    """The agent result as the step returned it, reused by the response cache."""
    evidence_digest: str | None = None
    """What the investigation saw (``agent.memory.evidence_digest``), for the response cache."""

    def values(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "title": self.title[:500],
            "alertname": self.alertname,
            "namespace": self.namespace,
            "workload": self.workload,
            "container": self.container,
            "labels": dict(self.labels),
            "root_cause": self.root_cause,
            "fix": self.fix,
            "findings": list(self.findings),
            "body": self.body,
            "outcome": self.outcome,
            "confidence": self.confidence,
            "run_id": self.run_id,
            "incident_id": self.incident_id,
            "workflow": self.workflow,
            "step_name": self.step_name,
            "result": dict(self.result) if self.result is not None else None,
            "evidence_digest": self.evidence_digest,
        }


@dataclass(frozen=True, kw_only=True)
class KnowledgeEntry(NewEntry):
    id: uuid.UUID
    correct: Correct = "unknown"
    feedback_by: str | None = None
    resolution: str | None = None
    notes: str | None = None
    reused: int = 0
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: Row[Any]) -> KnowledgeEntry:
        values = row._mapping
        return cls(**{name: values[name] for name in _FIELDS})

    def as_json(self) -> dict[str, Any]:
        """The API's view: camelCase, without the stored result and digest (internal)."""
        return {
            "id": str(self.id),
            "kind": self.kind,
            "title": self.title,
            "alertname": self.alertname,
            "namespace": self.namespace,
            "workload": self.workload,
            "container": self.container,
            "labels": dict(self.labels),
            "rootCause": self.root_cause,
            "fix": self.fix,
            "findings": list(self.findings),
            "body": self.body,
            "outcome": self.outcome,
            "confidence": self.confidence,
            "runId": str(self.run_id) if self.run_id else None,
            "incidentId": str(self.incident_id) if self.incident_id else None,
            "workflow": self.workflow,
            "step": self.step_name,
            "correct": self.correct,
            "feedbackBy": self.feedback_by,
            "resolution": self.resolution,
            "notes": self.notes,
            "reused": self.reused,
            "createdAt": self.created_at.isoformat(),
            "updatedAt": self.updated_at.isoformat(),
        }


_FIELDS = tuple(column.name for column in knowledge_entries.columns)


class KnowledgeStore:
    """Reads and writes ``knowledge_entries``; ``search`` is ``knowledge_search.search``."""

    def __init__(self, database: Database) -> None:
        self.database = database

    async def add(self, entry: NewEntry, *, now: datetime | None = None) -> KnowledgeEntry:
        now = now or utcnow()
        entry_id = uuid.uuid4()
        values = {**entry.values(), "id": entry_id, "created_at": now, "updated_at": now}
        async with self.database.transaction() as conn:
            await conn.execute(insert(knowledge_entries).values(**values))
        stored = await self.get(entry_id)
        assert stored is not None
        return stored

    async def get(self, entry_id: uuid.UUID) -> KnowledgeEntry | None:
        async with self.database.connect() as conn:
            row = (
                await conn.execute(
                    select(knowledge_entries).where(knowledge_entries.c.id == entry_id)
                )
            ).first()
        return KnowledgeEntry.from_row(row) if row is not None else None

    async def update(
        self, entry_id: uuid.UUID, changes: Mapping[str, Any], *, now: datetime | None = None
    ) -> KnowledgeEntry | None:
        """Change the ``EDITABLE`` columns in ``changes``; None if there is no such entry."""
        unknown = set(changes) - EDITABLE
        if unknown:
            raise ValueError(f"not editable: {', '.join(sorted(unknown))}")
        values = {**changes, "updated_at": now or utcnow()}
        async with self.database.transaction() as conn:
            done = await conn.execute(
                update(knowledge_entries).where(knowledge_entries.c.id == entry_id).values(values)
            )
        if done.rowcount == 0:
            return None
        return await self.get(entry_id)

    async def delete(self, entry_id: uuid.UUID) -> bool:
        async with self.database.transaction() as conn:
            done = await conn.execute(
                delete(knowledge_entries).where(knowledge_entries.c.id == entry_id)
            )
        return bool(done.rowcount)

    async def page(self, *, limit: int, offset: int) -> tuple[list[KnowledgeEntry], int]:
        """Every entry, newest first (the API without a query)."""
        async with self.database.connect() as conn:
            rows = await conn.execute(
                select(knowledge_entries)
                .order_by(knowledge_entries.c.created_at.desc(), knowledge_entries.c.id)
                .limit(limit)
                .offset(offset)
            )
            total = (
                await conn.execute(select(func.count()).select_from(knowledge_entries))
            ).scalar_one()
        return [KnowledgeEntry.from_row(row) for row in rows], int(total)

    async def of_signature(
        self,
        alertname: str,
        workload: str | None,
        namespace: str | None,
        *,
        limit: int,
        other_than_run: uuid.UUID | None = None,
    ) -> list[KnowledgeEntry]:
        """Entries of the same alertname and workload (and namespace when known), confirmed
        ones first, entries marked wrong last, newest first within each; none of the run
        ``other_than_run`` (a run's own earlier steps are no past incident)."""
        c = knowledge_entries.c
        query = select(knowledge_entries).where(
            c.alertname == alertname, _same(c.workload, workload)
        )
        if namespace is not None:
            query = query.where(c.namespace == namespace)
        if other_than_run is not None:
            query = query.where(or_(c.run_id.is_(None), c.run_id != other_than_run))
        rows = await self._rows(query.order_by(c.created_at.desc()).limit(limit * 4))
        order = {"yes": 0, "unknown": 1, "no": 2}
        return sorted(rows, key=lambda e: order[e.correct])[:limit]

    async def latest_investigation(
        self,
        *,
        alertname: str,
        namespace: str | None,
        workload: str | None,
        container: str | None,
        since: datetime,
        workflow: str | None = None,
        step_name: str | None = None,
        other_than_run: uuid.UUID | None = None,
    ) -> KnowledgeEntry | None:
        """The newest investigation of exactly this signature finished after ``since`` that
        may be reused: it has a result, and nobody marked its root cause wrong; with
        ``workflow``/``step_name``, by the same step of the same workflow, in another run
        than ``other_than_run``."""
        c = knowledge_entries.c
        query = (
            select(knowledge_entries)
            .where(
                c.kind == "investigation",
                c.alertname == alertname,
                _same(c.namespace, namespace),
                _same(c.workload, workload),
                _same(c.container, container),
                c.created_at >= since,
                c.result.is_not(None),
                c.correct != "no",
                _same(c.workflow, workflow),
                _same(c.step_name, step_name),
            )
            .order_by(c.created_at.desc())
            .limit(1)
        )
        if other_than_run is not None:
            query = query.where(c.run_id != other_than_run)
        rows = await self._rows(query)
        return rows[0] if rows else None

    async def mark_reused(self, entry_id: uuid.UUID) -> None:
        c = knowledge_entries.c
        async with self.database.transaction() as conn:
            await conn.execute(
                update(knowledge_entries).where(c.id == entry_id).values(reused=c.reused + 1)
            )

    async def by_ids(self, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, KnowledgeEntry]:
        if not ids:
            return {}
        rows = await self._rows(select(knowledge_entries).where(knowledge_entries.c.id.in_(ids)))
        return {row.id: row for row in rows}

    async def of_run(self, run_id: uuid.UUID) -> list[KnowledgeEntry]:
        c = knowledge_entries.c
        return await self._rows(select(knowledge_entries).where(c.run_id == run_id))

    async def of_incident(self, incident_id: uuid.UUID) -> list[KnowledgeEntry]:
        c = knowledge_entries.c
        return await self._rows(select(knowledge_entries).where(c.incident_id == incident_id))

    async def incident_of_run(self, run_id: uuid.UUID) -> uuid.UUID | None:
        """The incident of the alert that started ``run_id``, if it has one."""
        query = (
            select(alerts.c.incident_id)
            .select_from(workflow_runs.join(alerts, workflow_runs.c.alert_id == alerts.c.id))
            .where(workflow_runs.c.id == run_id)
        )
        async with self.database.connect() as conn:
            found = (await conn.execute(query)).scalar_one_or_none()
        return found if isinstance(found, uuid.UUID) else None

    async def apply_feedback(
        self,
        incident_id: uuid.UUID,
        *,
        correct: Correct,
        given_by: str,
        resolution: str | None,
        notes: str | None,
        now: datetime | None = None,
    ) -> int:
        """People's word on an incident, onto each of its entries; the entries changed.
        A resolution or notes left out keep what the entry had."""
        values: dict[str, Any] = {
            "correct": correct,
            "feedback_by": given_by,
            "updated_at": now or utcnow(),
        }
        if resolution is not None:
            values["resolution"] = resolution
        if notes is not None:
            values["notes"] = notes
        async with self.database.transaction() as conn:
            done = await conn.execute(
                update(knowledge_entries)
                .where(knowledge_entries.c.incident_id == incident_id)
                .values(values)
            )
        return int(done.rowcount)

    async def _rows(self, query: Any) -> list[KnowledgeEntry]:
        async with self.database.connect() as conn:
            rows = await conn.execute(query)
        return [KnowledgeEntry.from_row(row) for row in rows]


def _same(column: Any, value: str | None) -> Any:
    return column.is_(None) if value is None else column == value
