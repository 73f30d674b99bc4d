"""Recording sink deliveries, so a result is delivered once however often the server restarts.

A delivery row (one per run and sink) is owned through a lease while it is being sent, like a
run: whoever holds ``lease_owner`` until ``lease_expires_at`` sends it, and a crashed owner's
rows are taken over when the lease lapses. The attempt counter is raised *before* each
request goes out, so an attempt that a crash interrupted still counts and the next one knows
(``attempt > 1``) that the destination may already have it.

Next to the rows live ``sink_correlations`` and ``sink_status`` (``sink_records``), updated
in the same transaction as the delivery they come from (``delivery_writes``); the API's
read-only queries are in ``delivery_queries``.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from punching_fist.engine.status import DeliveryStatus, RunStatus
from punching_fist.resources.sink import SinkStatus
from punching_fist.store.database import Database
from punching_fist.store.delivery_queries import sink_statuses
from punching_fist.store.delivery_writes import (
    OpenArgs,
    Outcome,
    Remember,
    attempt_started,
    open_delivery,
    outstanding,
    record_outcome,
    remember_correlation,
    update_by_id,
)
from punching_fist.store.tables import sink_correlations, sink_deliveries, utcnow, workflow_runs

PENDING = DeliveryStatus.PENDING.value
DEFERRED = DeliveryStatus.DEFERRED.value
DELIVERED = DeliveryStatus.DELIVERED.value
FAILED = DeliveryStatus.FAILED.value
RETRYABLE_BY_HAND = (FAILED, DEFERRED, DELIVERED, DeliveryStatus.NOT_IMPLEMENTED.value)


@dataclass(frozen=True, kw_only=True)
class DeliveryRow:
    id: uuid.UUID
    run_id: uuid.UUID
    sink_name: str
    sink_type: str
    status: str
    attempts: int
    correlation_key: str | None
    external_ref: str | None
    error: str | None


@dataclass(frozen=True, kw_only=True)
class StoredCorrelation:
    external_ref: str
    data: Mapping[str, Any]


@dataclass(frozen=True, kw_only=True)
class AttemptRecord:
    """One attempt, as kept in ``attempt_log`` (newest last)."""

    attempt: int
    started_at: datetime
    duration_ms: float
    outcome: str
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "attempt": self.attempt,
            "startedAt": self.started_at.isoformat(),
            "durationMs": round(self.duration_ms, 1),
            "outcome": self.outcome,
            "error": self.error,
        }


def _row(row: Row[Any]) -> DeliveryRow:
    return DeliveryRow(
        id=row.id,
        run_id=row.run_id,
        sink_name=row.sink_name,
        sink_type=row.sink_type,
        status=row.status,
        attempts=row.attempts,
        correlation_key=row.correlation_key,
        external_ref=row.external_ref,
        error=row.error,
    )


def _claimable(owner: str, now: datetime) -> Any:
    return or_(
        sink_deliveries.c.lease_owner.is_(None),
        sink_deliveries.c.lease_owner == owner,
        sink_deliveries.c.lease_expires_at < now,
    )


class DeliveryStore:
    """Database operations on deliveries, correlations and sink counters."""

    def __init__(self, database: Database, *, owner: str, lease: timedelta) -> None:
        self._db = database
        self.owner = owner
        self.lease = lease

    # --- the run's deliveries -------------------------------------------------------------

    async def settled_sinks(self, run_id: uuid.UUID) -> set[str]:
        """Sinks of this run that need nothing more from the run (only ``pending`` ones do)."""
        async with self._db.connect() as conn:
            rows = await conn.execute(
                select(sink_deliveries.c.sink_name).where(
                    and_(sink_deliveries.c.run_id == run_id, sink_deliveries.c.status != PENDING)
                )
            )
            return {row.sink_name for row in rows}

    async def outstanding(
        self, run_id: uuid.UUID, alert_id: uuid.UUID | None
    ) -> tuple[set[str], uuid.UUID | None]:
        """In one hop: this run's settled sinks (see ``settled_sinks``) and its alert's incident."""
        return await self._db.run_transaction(outstanding, (run_id, alert_id))

    async def open(
        self, run_id: uuid.UUID, sink_name: str, sink_type: str, correlation_key: str
    ) -> DeliveryRow | None:
        """Create (or take over) this run's delivery to ``sink_name``; None if someone has it."""
        now = utcnow()
        fresh = DeliveryRow(
            id=uuid.uuid4(),
            run_id=run_id,
            sink_name=sink_name,
            sink_type=sink_type,
            status=PENDING,
            attempts=0,
            correlation_key=correlation_key,
            external_ref=None,
            error=None,
        )
        args = OpenArgs(fresh=fresh, owner=self.owner, now=now, expires=now + self.lease)
        return await self._db.run_transaction(open_delivery, args)

    async def claim(
        self, delivery_id: uuid.UUID, *, statuses: tuple[str, ...]
    ) -> DeliveryRow | None:
        """Take a delivery in one of ``statuses`` that nobody else holds; None otherwise."""
        now = utcnow()
        async with self._db.transaction() as conn:
            result = await conn.execute(
                update(sink_deliveries)
                .where(
                    and_(
                        sink_deliveries.c.id == delivery_id,
                        sink_deliveries.c.status.in_(statuses),
                        _claimable(self.owner, now),
                    )
                )
                .values(
                    status=PENDING,
                    lease_owner=self.owner,
                    lease_expires_at=now + self.lease,
                    next_attempt_at=None,
                )
            )
            if result.rowcount != 1:
                return None
            return await _load(conn, delivery_id)

    async def attempt_started(self, delivery_id: uuid.UUID, *, hold_for: timedelta) -> int:
        """Count an attempt before it is made; the lease covers it. Returns its number."""
        now = utcnow()
        params = {"b_id": delivery_id, "b_now": now, "b_expires": now + max(hold_for, self.lease)}
        return await self._db.run_transaction(attempt_started, params)

    async def hold(self, delivery_id: uuid.UUID, *, hold_for: timedelta) -> None:
        """Keep the lease while waiting in-process for the next attempt."""
        params = {"b_id": delivery_id, "lease_expires_at": utcnow() + hold_for + self.lease}
        await self._db.run_transaction(update_by_id, params)

    async def attempt_failed(
        self,
        row: DeliveryRow,
        record: AttemptRecord,
        *,
        status: str,
        next_attempt_at: datetime | None,
    ) -> None:
        """A failed attempt: retried in-process (``pending``), parked, or dead-lettered."""
        now = utcnow()
        values: dict[str, Any] = {
            "b_id": row.id,
            "status": status,
            "error": record.error,
            "next_attempt_at": next_attempt_at,
        }
        if status != PENDING:  # only an in-process retry keeps the lease
            values.update(lease_owner=None, lease_expires_at=None, completed_at=now)
        outcome = Outcome(row=row, record=record, values=values, now=now, failed=True)
        await self._db.run_transaction(record_outcome, outcome)

    async def delivered(
        self,
        row: DeliveryRow,
        record: AttemptRecord,
        *,
        response: dict[str, Any],
        external_ref: str | None,
        remember: StoredCorrelation | None,
    ) -> None:
        now = utcnow()
        values: dict[str, Any] = {
            "b_id": row.id,
            "status": DELIVERED,
            "response": response,
            "error": None,
            "external_ref": external_ref,
            "completed_at": now,
            "next_attempt_at": None,
            "lease_owner": None,
            "lease_expires_at": None,
        }
        outcome = Outcome(
            row=row, record=record, values=values, now=now, failed=False, remember=remember
        )
        await self._db.run_transaction(record_outcome, outcome)

    async def settle(
        self, row: DeliveryRow, *, status: str, error: str | None, response: dict[str, Any]
    ) -> None:
        """End a delivery that made no attempt: skipped, not implemented, or refused outright."""
        now = utcnow()
        values: dict[str, Any] = {
            "b_id": row.id,
            "status": status,
            "error": error,
            "response": response,
            "completed_at": now,
            "lease_owner": None,
            "lease_expires_at": None,
        }
        outcome = Outcome(row=row, record=None, values=values, now=now, failed=status == FAILED)
        await self._db.run_transaction(record_outcome, outcome)

    async def defer(self, row: DeliveryRow, *, until: datetime, reason: str) -> None:
        """Park a delivery without an attempt (its sink's breaker is open)."""
        params = {
            "b_id": row.id,
            "status": DEFERRED,
            "error": reason,
            "next_attempt_at": until,
            "lease_owner": None,
            "lease_expires_at": None,
        }
        await self._db.run_transaction(update_by_id, params)

    async def release(self, delivery_id: uuid.UUID) -> None:
        """Give up the lease without a verdict (shutdown), so the next owner takes it at once."""
        async with self._db.transaction() as conn:
            await conn.execute(
                update(sink_deliveries)
                .where(
                    and_(
                        sink_deliveries.c.id == delivery_id,
                        sink_deliveries.c.lease_owner == self.owner,
                    )
                )
                .values(lease_owner=None, lease_expires_at=None)
            )

    async def release_orphans(self) -> int:
        """Clear every lease: for a store only this process writes (SQLite), at start-up."""
        async with self._db.transaction() as conn:
            result = await conn.execute(
                update(sink_deliveries)
                .where(sink_deliveries.c.lease_owner.is_not(None))
                .values(lease_owner=None, lease_expires_at=None)
            )
        return int(result.rowcount)

    async def due(self, *, limit: int = 50) -> list[DeliveryRow]:
        """Deliveries the retrier should take: parked ones now due, and orphans of finished runs.

        A ``pending`` delivery whose run is still unfinished is left to that run, which
        resumes it; one of a finished run (a manual retry or a retrier attempt cut short) has
        nobody else to finish it.
        """
        now = utcnow()
        finished_run = select(workflow_runs.c.id).where(
            workflow_runs.c.status.in_((RunStatus.SUCCEEDED.value, RunStatus.FAILED.value))
        )
        async with self._db.connect() as conn:
            rows = await conn.execute(
                select(sink_deliveries)
                .where(
                    or_(
                        and_(
                            sink_deliveries.c.status == DEFERRED,
                            sink_deliveries.c.next_attempt_at <= now,
                        ),
                        and_(
                            sink_deliveries.c.status == PENDING,
                            sink_deliveries.c.run_id.in_(finished_run),
                            or_(
                                sink_deliveries.c.lease_owner.is_(None),
                                sink_deliveries.c.lease_expires_at < now,
                            ),
                        ),
                    )
                )
                .order_by(sink_deliveries.c.next_attempt_at)
                .limit(limit)
            )
            return [_row(row) for row in rows]

    async def get(self, delivery_id: uuid.UUID) -> DeliveryRow | None:
        async with self._db.connect() as conn:
            row = (
                await conn.execute(
                    select(sink_deliveries).where(sink_deliveries.c.id == delivery_id)
                )
            ).one_or_none()
        return _row(row) if row is not None else None

    # --- correlations and counters --------------------------------------------------------

    async def remember(
        self, sink_name: str, key: str, value: StoredCorrelation, *, run_id: uuid.UUID | None
    ) -> None:
        """Store what a sink keeps under ``key`` outside a delivery (e.g. an approval message)."""
        await self._db.run_transaction(
            remember_correlation, Remember(sink_name, key, value, run_id, utcnow())
        )

    async def correlation(self, sink_name: str, key: str) -> StoredCorrelation | None:
        async with self._db.connect() as conn:
            row = (
                await conn.execute(
                    select(sink_correlations).where(
                        and_(
                            sink_correlations.c.sink_name == sink_name,
                            sink_correlations.c.correlation_key == key,
                        )
                    )
                )
            ).one_or_none()
        if row is None:
            return None
        return StoredCorrelation(external_ref=row.external_ref, data=row.data or {})

    async def statuses(self) -> dict[str, SinkStatus]:
        """Every sink's published counters, by sink name."""
        return await sink_statuses(self._db)


async def _load(conn: AsyncConnection, delivery_id: uuid.UUID) -> DeliveryRow:
    row = (
        await conn.execute(select(sink_deliveries).where(sink_deliveries.c.id == delivery_id))
    ).one()
    return _row(row)
