"""The write transactions behind ``DeliveryStore``, each run in one hop by ``run_transaction``.

They are synchronous on purpose (see ``Database.run_transaction``): a delivery's new state,
its attempt log, the correlation it leaves and its sink's counters commit together. The
statements are built once; values travel as parameters. ``b_*`` names are WHERE
parameters; every other key of a parameter dict is a column SET by the UPDATE.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, bindparam, insert, or_, select, update
from sqlalchemy.engine import Connection

from punching_fist.engine.status import DeliveryStatus
from punching_fist.store.sink_records import count_outcome, upsert_correlation
from punching_fist.store.tables import alerts, sink_deliveries

if TYPE_CHECKING:  # deliveries imports this module; only the types go the other way
    from punching_fist.store.deliveries import AttemptRecord, DeliveryRow, StoredCorrelation

_PENDING = DeliveryStatus.PENDING.value
_DELIVERED = DeliveryStatus.DELIVERED.value
ATTEMPT_LOG_LIMIT = 25

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
            sink_deliveries.c.status == _PENDING,
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
    and_(sink_deliveries.c.run_id == bindparam("b_run_id"), sink_deliveries.c.status != _PENDING)
)
_INCIDENT = select(alerts.c.incident_id).where(alerts.c.id == bindparam("b_alert_id"))


def outstanding(
    conn: Connection, ids: tuple[uuid.UUID, uuid.UUID | None]
) -> tuple[set[str], uuid.UUID | None]:
    run_id, alert_id = ids
    settled = {row.sink_name for row in conn.execute(_SETTLED, {"b_run_id": run_id})}
    if alert_id is None:
        return settled, None
    incident = conn.execute(_INCIDENT, {"b_alert_id": alert_id}).scalar_one_or_none()
    return settled, incident if isinstance(incident, uuid.UUID) else None


@dataclass(frozen=True, kw_only=True)
class OpenArgs:
    fresh: DeliveryRow
    """The row to insert when the run has none for this sink yet."""
    owner: str
    now: datetime
    expires: datetime


def open_delivery(conn: Connection, args: OpenArgs) -> DeliveryRow | None:
    fresh = args.fresh
    existing = conn.execute(
        _SELECT_OF_RUN_SINK, {"b_run_id": fresh.run_id, "b_sink_name": fresh.sink_name}
    ).one_or_none()
    if existing is None:
        conn.execute(
            _INSERT,
            {
                "id": fresh.id,
                "run_id": fresh.run_id,
                "sink_name": fresh.sink_name,
                "sink_type": fresh.sink_type,
                "status": _PENDING,
                "attempts": 0,
                "correlation_key": fresh.correlation_key,
                "lease_owner": args.owner,
                "lease_expires_at": args.expires,
                "created_at": args.now,
                "started_at": args.now,
                "attempt_log": [],
            },
        )
        return fresh
    if existing.status != _PENDING:
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
    if taken.rowcount != 1:
        return None
    # the pending row as stored: the same run and sink, its own id, attempts and refs
    return replace(
        fresh,
        id=existing.id,
        sink_type=existing.sink_type,
        status=existing.status,
        attempts=existing.attempts,
        correlation_key=existing.correlation_key,
        external_ref=existing.external_ref,
        error=existing.error,
    )


def attempt_started(conn: Connection, params: dict[str, Any]) -> int:
    return int(conn.execute(_ATTEMPT_STARTED, params).scalar_one())


def update_by_id(conn: Connection, params: dict[str, Any]) -> None:
    conn.execute(_UPDATE_BY_ID, params)


@dataclass(frozen=True)
class Remember:
    sink_name: str
    key: str
    value: StoredCorrelation
    run_id: uuid.UUID | None
    now: datetime


def remember_correlation(conn: Connection, remember: Remember) -> None:
    upsert_correlation(
        conn,
        sink_name=remember.sink_name,
        key=remember.key,
        external_ref=remember.value.external_ref,
        data=remember.value.data,
        run_id=remember.run_id,
        now=remember.now,
    )


@dataclass(frozen=True, kw_only=True)
class Outcome:
    row: DeliveryRow
    record: AttemptRecord | None
    """Appended to ``attempt_log`` when the outcome ends an attempt."""
    values: dict[str, Any]
    now: datetime
    failed: bool
    """Counted as a failure of the sink (False: a message sent; skipped ones are not counted)."""
    remember: StoredCorrelation | None = None


def record_outcome(conn: Connection, outcome: Outcome) -> None:
    """The delivery's new state, its attempt log, correlation and the sink's counters at once."""
    row, values = outcome.row, dict(outcome.values)
    if outcome.record is not None:
        current = conn.execute(_ATTEMPT_LOG, {"b_id": row.id}).scalar_one_or_none()
        values["attempt_log"] = [*(current or []), outcome.record.as_json()][-ATTEMPT_LOG_LIMIT:]
    conn.execute(_UPDATE_BY_ID, values)
    if outcome.remember is not None and row.correlation_key:
        remember = Remember(
            row.sink_name, row.correlation_key, outcome.remember, row.run_id, outcome.now
        )
        remember_correlation(conn, remember)
    status = values["status"]
    if outcome.failed or status == _DELIVERED:
        count_outcome(
            conn,
            sink_name=row.sink_name,
            sink_type=row.sink_type,
            failed=outcome.failed,
            error=values.get("error"),
            now=outcome.now,
        )
