"""Recording sink deliveries, so a result is delivered once however often the server restarts.

A delivery row (one per run and sink) is owned through a lease while it is being sent, like a
run: whoever holds ``lease_owner`` until ``lease_expires_at`` sends it, and a crashed owner's
rows are taken over when the lease lapses. The attempt counter is raised *before* each
request goes out, so an attempt that a crash interrupted still counts and the next one knows
(``attempt > 1``) that the destination may already have it.

Next to the rows live ``sink_correlations`` (what a sink remembers per alert or incident: the
Slack thread, the Jira issue, the silence id) and ``sink_status`` (the counters a Sink's
status publishes), both updated in the same transaction as the delivery they come from.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, and_, bindparam, func, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Row, RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from punching_fist.engine.status import DeliveryStatus, RunStatus
from punching_fist.resources.sink import SinkStatus
from punching_fist.store.database import Database
from punching_fist.store.tables import (
    alerts,
    sink_correlations,
    sink_deliveries,
    sink_status,
    utcnow,
    workflow_runs,
)

PENDING = DeliveryStatus.PENDING.value
DEFERRED = DeliveryStatus.DEFERRED.value
DELIVERED = DeliveryStatus.DELIVERED.value
FAILED = DeliveryStatus.FAILED.value
RETRYABLE_BY_HAND = (FAILED, DEFERRED, DELIVERED, DeliveryStatus.NOT_IMPLEMENTED.value)
ATTEMPT_LOG_LIMIT = 25


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
        return await self._db.run_transaction(_outstanding, (run_id, alert_id))

    async def open(
        self, run_id: uuid.UUID, sink_name: str, sink_type: str, correlation_key: str
    ) -> DeliveryRow | None:
        """Create (or take over) this run's delivery to ``sink_name``; None if someone has it."""
        now = utcnow()
        args = _Open(
            run_id=run_id,
            sink_name=sink_name,
            sink_type=sink_type,
            correlation_key=correlation_key,
            owner=self.owner,
            now=now,
            expires=now + self.lease,
        )
        return await self._db.run_transaction(_open, args)

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
        return await self._db.run_transaction(_attempt_started, params)

    async def hold(self, delivery_id: uuid.UUID, *, hold_for: timedelta) -> None:
        """Keep the lease while waiting in-process for the next attempt."""
        params = {"b_id": delivery_id, "lease_expires_at": utcnow() + hold_for + self.lease}
        await self._db.run_transaction(_update_by_id, params)

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
        outcome = _Outcome(row=row, record=record, values=values, now=now, failed=True)
        await self._db.run_transaction(_record_outcome, outcome)

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
        outcome = _Outcome(
            row=row, record=record, values=values, now=now, failed=False, remember=remember
        )
        await self._db.run_transaction(_record_outcome, outcome)

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
        outcome = _Outcome(row=row, record=None, values=values, now=now, failed=status == FAILED)
        await self._db.run_transaction(_record_outcome, outcome)

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
        await self._db.run_transaction(_update_by_id, params)

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
            _upsert_correlation, _Remember(sink_name, key, value, run_id, utcnow())
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


async def _load(conn: AsyncConnection, delivery_id: uuid.UUID) -> DeliveryRow:
    row = (
        await conn.execute(select(sink_deliveries).where(sink_deliveries.c.id == delivery_id))
    ).one()
    return _row(row)


# --- write transactions: synchronous, each run in one hop by ``Database.run_transaction`` --
# The statements are built once; values travel as parameters. ``b_*`` names are WHERE
# parameters; every other key of a parameter dict is a column SET by the UPDATE.

_BY_ID = sink_deliveries.c.id == bindparam("b_id")
_SELECT_OF_RUN_SINK = select(sink_deliveries).where(
    and_(
        sink_deliveries.c.run_id == bindparam("b_run_id"),
        sink_deliveries.c.sink_name == bindparam("b_sink_name"),
    )
)
_INSERT = insert(sink_deliveries)
_TAKE_PENDING = (
    update(sink_deliveries)
    .where(
        and_(
            _BY_ID,
            sink_deliveries.c.status == PENDING,
            or_(
                sink_deliveries.c.lease_owner.is_(None),
                sink_deliveries.c.lease_owner == bindparam("b_owner"),
                sink_deliveries.c.lease_expires_at < bindparam("b_now"),
            ),
        )
    )
    .values(next_attempt_at=None)
)
_ATTEMPT_STARTED = (
    update(sink_deliveries)
    .where(_BY_ID)
    .values(
        attempts=sink_deliveries.c.attempts + 1,
        last_attempt_at=bindparam("b_now", type_=sink_deliveries.c.last_attempt_at.type),
        lease_expires_at=bindparam("b_expires", type_=sink_deliveries.c.lease_expires_at.type),
    )
    .returning(sink_deliveries.c.attempts)
)
_UPDATE_BY_ID = update(sink_deliveries).where(_BY_ID)
_ATTEMPT_LOG = select(sink_deliveries.c.attempt_log).where(_BY_ID)


_SETTLED = select(sink_deliveries.c.sink_name).where(
    and_(sink_deliveries.c.run_id == bindparam("b_run_id"), sink_deliveries.c.status != PENDING)
)
_INCIDENT = select(alerts.c.incident_id).where(alerts.c.id == bindparam("b_alert_id"))


def _outstanding(
    conn: Connection, ids: tuple[uuid.UUID, uuid.UUID | None]
) -> tuple[set[str], uuid.UUID | None]:
    run_id, alert_id = ids
    settled = {row.sink_name for row in conn.execute(_SETTLED, {"b_run_id": run_id})}
    if alert_id is None:
        return settled, None
    incident = conn.execute(_INCIDENT, {"b_alert_id": alert_id}).scalar_one_or_none()
    return settled, incident if isinstance(incident, uuid.UUID) else None


@dataclass(frozen=True, kw_only=True)
class _Open:
    run_id: uuid.UUID
    sink_name: str
    sink_type: str
    correlation_key: str
    owner: str
    now: datetime
    expires: datetime


def _open(conn: Connection, args: _Open) -> DeliveryRow | None:
    existing = conn.execute(
        _SELECT_OF_RUN_SINK, {"b_run_id": args.run_id, "b_sink_name": args.sink_name}
    ).one_or_none()
    if existing is None:
        row = DeliveryRow(
            id=uuid.uuid4(),
            run_id=args.run_id,
            sink_name=args.sink_name,
            sink_type=args.sink_type,
            status=PENDING,
            attempts=0,
            correlation_key=args.correlation_key,
            external_ref=None,
            error=None,
        )
        conn.execute(
            _INSERT,
            {
                "id": row.id,
                "run_id": row.run_id,
                "sink_name": row.sink_name,
                "sink_type": row.sink_type,
                "status": PENDING,
                "attempts": 0,
                "correlation_key": row.correlation_key,
                "lease_owner": args.owner,
                "lease_expires_at": args.expires,
                "created_at": args.now,
                "started_at": args.now,
                "attempt_log": [],
            },
        )
        return row
    if existing.status != PENDING:
        return None
    taken = conn.execute(
        _TAKE_PENDING,
        {
            "b_id": existing.id,
            "b_owner": args.owner,
            "b_now": args.now,
            "lease_owner": args.owner,
            "lease_expires_at": args.expires,
        },
    )
    return _row(existing) if taken.rowcount == 1 else None


def _attempt_started(conn: Connection, params: dict[str, Any]) -> int:
    return int(conn.execute(_ATTEMPT_STARTED, params).scalar_one())


def _update_by_id(conn: Connection, params: dict[str, Any]) -> None:
    conn.execute(_UPDATE_BY_ID, params)


@dataclass(frozen=True, kw_only=True)
class _Outcome:
    row: DeliveryRow
    record: AttemptRecord | None
    """Appended to ``attempt_log`` when the outcome ends an attempt."""
    values: dict[str, Any]
    now: datetime
    failed: bool
    """Counted as a failure of the sink (False: a message sent; skipped ones are not counted)."""
    remember: StoredCorrelation | None = None


def _record_outcome(conn: Connection, outcome: _Outcome) -> None:
    """The delivery's new state, its attempt log, correlation and the sink's counters at once."""
    row, values = outcome.row, dict(outcome.values)
    if outcome.record is not None:
        current = conn.execute(_ATTEMPT_LOG, {"b_id": row.id}).scalar_one_or_none()
        values["attempt_log"] = [*(current or []), outcome.record.as_json()][-ATTEMPT_LOG_LIMIT:]
    conn.execute(_UPDATE_BY_ID, values)
    if outcome.remember is not None and row.correlation_key:
        remember = _Remember(
            row.sink_name, row.correlation_key, outcome.remember, row.run_id, outcome.now
        )
        _upsert_correlation(conn, remember)
    status = values["status"]
    if outcome.failed or status == DELIVERED:
        _count(conn, row, failed=outcome.failed, error=values.get("error"), now=outcome.now)


def _upsert(
    conn: Connection,
    table: Table,
    keys: dict[str, Any],
    *,
    create: dict[str, Any],
    change: dict[str, Any],
) -> None:
    """Insert or update one row atomically (ON CONFLICT), safe under concurrent deliveries."""
    dialect_insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    statement = dialect_insert(table).values(**keys, **create)
    conn.execute(statement.on_conflict_do_update(index_elements=list(keys), set_=change))


@dataclass(frozen=True)
class _Remember:
    sink_name: str
    key: str
    value: StoredCorrelation
    run_id: uuid.UUID | None
    now: datetime


def _upsert_correlation(conn: Connection, remember: _Remember) -> None:
    now = remember.now
    values = {
        "external_ref": remember.value.external_ref,
        "data": dict(remember.value.data),
        "run_id": remember.run_id,
        "updated_at": now,
    }
    _upsert(
        conn,
        sink_correlations,
        {"sink_name": remember.sink_name, "correlation_key": remember.key},
        create={**values, "created_at": now},
        change=values,
    )


def _count(
    conn: Connection, row: DeliveryRow, *, failed: bool, error: str | None, now: datetime
) -> None:
    change: dict[str, Any] = {"updated_at": now, "sink_type": row.sink_type}
    if failed:
        change.update(failures=sink_status.c.failures + 1, last_error=error, last_error_time=now)
    else:
        change.update(messages_sent=sink_status.c.messages_sent + 1, last_sent_time=now)
    _upsert(
        conn,
        sink_status,
        {"sink_name": row.sink_name},
        create={
            "sink_type": row.sink_type,
            "messages_sent": 0 if failed else 1,
            "failures": 1 if failed else 0,
            "last_sent_time": None if failed else now,
            "last_error": error if failed else None,
            "last_error_time": now if failed else None,
            "updated_at": now,
        },
        change=change,
    )


# --- read side, for the API ---------------------------------------------------------------


def _jsonable(row: RowMapping) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, uuid.UUID):
            out[key] = str(value)
        elif isinstance(value, datetime):
            out[key] = value.isoformat()
        else:
            out[key] = value
    out.pop("lease_owner", None)  # internal: which process holds it
    return out


async def delivery_page(
    database: Database, filters: Mapping[str, Any], *, limit: int, offset: int
) -> dict[str, Any]:
    conditions = [sink_deliveries.c[k] == v for k, v in filters.items() if v is not None]
    where = and_(True, *conditions)
    async with database.connect() as conn:
        rows = (
            await conn.execute(
                select(sink_deliveries)
                .where(where)
                .order_by(sink_deliveries.c.created_at.desc())
                .limit(limit)
                .offset(offset)
            )
        ).mappings()
        items = [_jsonable(row) for row in rows]
        total = (
            await conn.execute(select(func.count()).select_from(sink_deliveries).where(where))
        ).scalar() or 0
    return {
        "items": items,
        "total": total,
        "limit": limit,
        "offset": offset,
        "nextOffset": offset + len(items) if offset + len(items) < total else None,
    }


async def delivery_detail(database: Database, delivery_id: uuid.UUID) -> dict[str, Any] | None:
    async with database.connect() as conn:
        row = (
            (await conn.execute(select(sink_deliveries).where(sink_deliveries.c.id == delivery_id)))
            .mappings()
            .one_or_none()
        )
    return _jsonable(row) if row is not None else None
