"""Persisting incidents for the intake: correlation keys and incident rows.

The rules are in ``incidents.assign``; this module only reads and writes, inside the
intake's transaction (with ``store.incident_reads`` and ``store.incident_joins``). On
PostgreSQL, where four writers commit batches concurrently, a batch takes a
transaction-scoped advisory lock per correlation key (in sorted order, so two batches
never wait on each other in a cycle) before it reads which incident holds a key:
the second of two batches sharing a key reads the first one's incident once it committed.
``incident_keys``' primary key backs that up. SQLite has one writer: no locks needed.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    and_,
    bindparam,
    exists,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection

from punching_fist.store.sqlite_rows import execute_many, sqlite_value
from punching_fist.store.tables import alerts, incident_keys, incidents

OPEN = "open"
INVESTIGATING = "investigating"
RESOLVED = "resolved"


@dataclass(slots=True, kw_only=True)
class IncidentRow:
    """An incident as one batch reads and changes it."""

    id: uuid.UUID
    title: str
    status: str
    severity: str
    alerts_count: int
    created_at: datetime
    last_alert_at: datetime | None
    resolved_at: datetime | None
    workload: str | None
    mttr_seconds: int | None = None
    new: bool = False
    changed: bool = False

    def insert_row(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "status": self.status,
            "severity": self.severity,
            "alerts_count": self.alerts_count,
            "created_at": self.created_at,
            "updated_at": self.last_alert_at,
            "last_alert_at": self.last_alert_at,
            "resolved_at": self.resolved_at,
            "mttr_seconds": self.mttr_seconds,
            "workload": self.workload,
        }


@dataclass(frozen=True, slots=True)
class KeyHolder:
    incident_id: uuid.UUID
    alert_id: uuid.UUID
    """The alert that brought the key to the incident: the parent of later joins."""


def _lock_id(key: str) -> int:
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big", signed=True)


_LOCK_KEYS = select(
    func.pg_advisory_xact_lock(
        func.unnest(bindparam("b_locks", type_=postgresql.ARRAY(BigInteger)))
    )
)


def lock_keys(conn: Connection, keys: Collection[str]) -> None:
    """Serialise the batches that share a key (PostgreSQL); until this one commits."""
    if conn.dialect.name == "sqlite" or not keys:
        return
    conn.execute(_LOCK_KEYS, {"b_locks": sorted({_lock_id(key) for key in keys})})


def load_keys(conn: Connection, keys: Collection[str]) -> dict[str, KeyHolder]:
    if not keys:
        return {}
    if conn.dialect.name == "sqlite":
        found = _sqlite_rows(
            conn,
            "SELECT key, incident_id, alert_id FROM incident_keys WHERE key IN ({})",
            sorted(keys),
        )
        return {key: KeyHolder(_uuid(incident), _uuid(alert)) for key, incident, alert in found}
    result = conn.execute(
        select(incident_keys.c.key, incident_keys.c.incident_id, incident_keys.c.alert_id).where(
            incident_keys.c.key.in_(sorted(keys))
        )
    )
    return {row.key: KeyHolder(row.incident_id, row.alert_id) for row in result}


def load_previous(
    conn: Connection, pairs: Collection[tuple[str, str]]
) -> dict[tuple[str, str], KeyHolder]:
    """The latest ended lifecycle of each (source, fingerprint) and its incident: a refire
    is a ``duplicate`` of it. Read from ``alerts`` (its fingerprint index) instead of a key
    row per alert, which would double what a storm of new alerts writes."""
    if not pairs:
        return {}
    fingerprints = sorted({fp for _, fp in pairs})
    rows: list[tuple[Any, ...]]
    if conn.dialect.name == "sqlite":
        # received_at as stored (sqlite_rows' text format) sorts as the time it is.
        rows = [
            (_uuid(id_), source, fp, _uuid(incident), received)
            for id_, source, fp, incident, received in _sqlite_rows(
                conn,
                "SELECT id, source_name, fingerprint, incident_id, received_at FROM alerts"
                " WHERE active = 0 AND incident_id IS NOT NULL AND fingerprint IN ({})",
                fingerprints,
            )
        ]
    else:
        c = alerts.c
        found = conn.execute(
            select(c.id, c.source_name, c.fingerprint, c.incident_id, c.received_at).where(
                c.fingerprint.in_(fingerprints),
                c.active.is_(False),
                c.incident_id.is_not(None),
            )
        )
        rows = [tuple(row) for row in found]
    latest: dict[tuple[str, str], tuple[Any, KeyHolder]] = {}
    for id_, source, fp, incident, received in rows:
        pair = (source, fp)
        if pair in pairs and (pair not in latest or received > latest[pair][0]):
            latest[pair] = (received, KeyHolder(incident, id_))
    return {pair: holder for pair, (_, holder) in latest.items()}


def _sqlite_rows(conn: Connection, sql: str, values: list[str]) -> list[tuple[Any, ...]]:
    """Straight through the driver, as ``store.intake.load_active``: SQLAlchemy's result rows
    and expanding ``IN`` cost more than these small lookups."""
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        placeholders = ", ".join("?" for _ in values)
        return list(cursor.execute(sql.format(placeholders), values).fetchall())
    finally:
        cursor.close()


def _uuid(value: Any) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(hex=value)


_c = incidents.c
# Built once: constructing a statement costs more than SQLite running it (~1 ms a batch).
_LOCK_INCIDENTS = (
    select(
        _c.id,
        _c.title,
        _c.status,
        _c.severity,
        _c.alerts_count,
        _c.created_at,
        _c.last_alert_at,
        _c.resolved_at,
        _c.workload,
        _c.mttr_seconds,
    )
    .where(_c.id.in_(bindparam("b_ids", expanding=True)))
    .order_by(_c.id)
    .with_for_update()
)
_UPDATE_INCIDENT = (
    update(incidents)
    .where(_c.id == bindparam("b_id"))
    .values(
        status=bindparam("b_status"),
        severity=bindparam("b_severity"),
        alerts_count=bindparam("b_count"),
        last_alert_at=bindparam("b_last"),
        resolved_at=bindparam("b_resolved"),
        mttr_seconds=bindparam("b_mttr"),
        updated_at=bindparam("b_now"),
    )
)


def lock_incidents(conn: Connection, ids: Collection[uuid.UUID]) -> dict[uuid.UUID, IncidentRow]:
    """The incidents a batch joins alerts to or resolves alerts of, locked in id order."""
    if not ids:
        return {}
    return {
        row.id: IncidentRow(
            id=row.id,
            title=row.title,
            status=row.status,
            severity=row.severity,
            alerts_count=row.alerts_count or 0,
            created_at=row.created_at,
            last_alert_at=row.last_alert_at,
            resolved_at=row.resolved_at,
            workload=row.workload,
            mttr_seconds=row.mttr_seconds,
        )
        for row in conn.execute(_LOCK_INCIDENTS, {"b_ids": sorted(ids)})
    }


def write_incidents(
    conn: Connection, rows: Iterable[IncidentRow], keys: dict[str, KeyHolder], now: datetime
) -> None:
    """Before the alerts that refer to them: the batch's new incidents, then the keys it
    gave to incidents. Those it joined are updated after the alerts (``store.incident_joins``)."""
    new = [row.insert_row() for row in rows if row.new]
    if new:
        conn.execute(insert(incidents), new)
    if keys:
        _upsert_keys(conn, keys, now)


def update_incidents(conn: Connection, rows: Iterable[IncidentRow], now: datetime) -> None:
    """What joins and reopening changed in incidents that existed before the batch."""
    changed = [
        {
            "b_id": row.id,
            "b_status": row.status,
            "b_severity": row.severity,
            "b_count": row.alerts_count,
            "b_last": row.last_alert_at,
            "b_resolved": row.resolved_at,
            "b_mttr": row.mttr_seconds,
            "b_now": now,
        }
        for row in sorted(rows, key=lambda r: r.id)
    ]
    if changed:
        conn.execute(_UPDATE_INCIDENT, changed)


def _upsert_keys(conn: Connection, keys: dict[str, KeyHolder], now: datetime) -> None:
    if conn.dialect.name == "sqlite":
        stamp = sqlite_value(now, is_json=False)
        execute_many(
            conn,
            "INSERT INTO incident_keys (key, incident_id, alert_id, updated_at) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET incident_id = "
            "excluded.incident_id, alert_id = excluded.alert_id, updated_at = excluded.updated_at",
            [(key, h.incident_id.hex, h.alert_id.hex, stamp) for key, h in sorted(keys.items())],
        )
        return
    rows = [
        {"key": key, "incident_id": h.incident_id, "alert_id": h.alert_id, "updated_at": now}
        for key, h in sorted(keys.items())
    ]
    statement = postgresql.insert(incident_keys)
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=[incident_keys.c.key],
            set_={
                "incident_id": statement.excluded.incident_id,
                "alert_id": statement.excluded.alert_id,
                "updated_at": statement.excluded.updated_at,
            },
        ),
        rows,
    )


def resolve_finished(
    conn: Connection, candidates: Collection[uuid.UUID], now: datetime
) -> list[uuid.UUID]:
    """Resolve those of ``candidates`` (locked by this batch) none of whose alerts is still
    active; ``mttr_seconds`` is from opening to now. Returns the ones resolved."""
    if not candidates:
        return []
    c = incidents.c
    active = exists().where(and_(alerts.c.incident_id == c.id, alerts.c.active))
    found = conn.execute(
        select(c.id, c.created_at).where(
            c.id.in_(sorted(candidates)), c.status != RESOLVED, ~active
        )
    ).all()
    if not found:
        return []
    conn.execute(
        update(incidents)
        .where(incidents.c.id == bindparam("b_id"))
        .values(
            status=RESOLVED,
            resolved_at=now,
            updated_at=now,
            mttr_seconds=bindparam("b_mttr"),
        ),
        [
            {"b_id": row.id, "b_mttr": max(0, round((now - row.created_at).total_seconds()))}
            for row in found
        ],
    )
    return [row.id for row in found]
