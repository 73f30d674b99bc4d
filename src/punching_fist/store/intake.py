"""Persisting the intake's decisions: the active alerts it reads, the rows it writes.

What an alert starts is decided in ``engine.intake``; this module only talks to the
database, with SQLite fast paths where the driver's own cursor beats SQLAlchemy's rows.
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import String, Table, bindparam, func, insert, select, true, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection

from punching_fist.engine.status import AlertStatus
from punching_fist.store.alert_record import auto_resolved_now
from punching_fist.store.sqlite_rows import execute_many, insert_rows, sqlite_value
from punching_fist.store.tables import alerts, notifications, sources, workflow_runs


@dataclass(slots=True, kw_only=True)
class Active:
    """An alert whose lifecycle is open: repeats of its fingerprint belong to it."""

    alert_id: uuid.UUID
    filtered: bool
    incident_id: uuid.UUID | None
    """None for alerts stored before incidents (migration 0008) or earlier in this batch."""


@dataclass(kw_only=True)
class IntakeWrites:
    """Everything one batch writes, gathered first so each table gets one statement."""

    now: datetime
    new_alerts: list[dict[str, Any]] = field(default_factory=list)
    new_runs: list[dict[str, Any]] = field(default_factory=list)
    notifications: dict[uuid.UUID, dict[str, Any]] = field(default_factory=dict)
    """The notifications the new runs refer to; one may be stored by an earlier batch."""
    repeats: Counter[uuid.UUID] = field(default_factory=Counter)
    repeat_rows: dict[uuid.UUID, dict[str, Any]] = field(default_factory=dict)
    resolutions: list[dict[str, Any]] = field(default_factory=list)
    per_source: Counter[str] = field(default_factory=Counter)


def write_intake(conn: Connection, plan: IntakeWrites) -> None:
    now = plan.now
    new_alerts, new_runs, repeat_rows, repeats = (
        plan.new_alerts,
        plan.new_runs,
        plan.repeat_rows,
        plan.repeats,
    )
    resolutions, per_source = plan.resolutions, plan.per_source
    sqlite = conn.dialect.name == "sqlite"
    if not sqlite:
        # Concurrent batches (PostgreSQL's several writers) lock rows in one order, so two
        # that share alerts wait for each other instead of deadlocking.
        new_alerts.sort(key=lambda row: (row["source_name"], row["fingerprint"]))
        repeat_rows = dict(sorted(repeat_rows.items()))
    if new_alerts:
        _insert(conn, alerts, new_alerts, sqlite=sqlite)
    if repeat_rows and sqlite:
        _update_repeats_sqlite(conn, now, repeat_rows, repeats)
    elif repeat_rows:
        rows = [{**row, "b_inc": repeats[alert_id]} for alert_id, row in repeat_rows.items()]
        conn.execute(
            update(alerts)
            .where(alerts.c.id == bindparam("b_id"))
            .values(
                last_seen_at=bindparam("b_seen"),
                updated_at=bindparam("b_seen"),
                annotations=bindparam("b_annotations"),
                occurrences=alerts.c.occurrences + bindparam("b_inc"),
            ),
            rows,
        )
    if resolutions:
        conn.execute(
            update(alerts)
            .where(alerts.c.id == bindparam("b_id"))
            .values(
                active=False,
                status=AlertStatus.RESOLVED.value,
                resolved_at=bindparam("b_resolved"),
                ends_at=bindparam("b_ends"),
                updated_at=now,
                auto_resolved=auto_resolved_now(),
            ),
            resolutions,
        )
    if plan.notifications:
        _insert_notifications(conn, list(plan.notifications.values()), sqlite=sqlite)
    if new_runs:
        _insert(conn, workflow_runs, new_runs, sqlite=sqlite)
    for source_name, count in per_source.items():
        conn.execute(
            update(sources)
            .where(sources.c.name == source_name)
            .values(events_processed=sources.c.events_processed + count, last_event_at=now)
        )


def _update_repeats_sqlite(
    conn: Connection,
    now: datetime,
    repeat_rows: dict[uuid.UUID, dict[str, Any]],
    repeats: Counter[uuid.UUID],
) -> None:
    """Every repeat of the batch in one ``UPDATE ... FROM (VALUES ...)`` statement.

    One statement instead of one per alert: the driver lets go of the GIL and takes it back
    around every statement it steps, and on a busy server each take waits for the event loop.
    """
    seen = sqlite_value(now, is_json=False)
    values: list[Any] = []
    for alert_id, row in repeat_rows.items():
        values += (
            alert_id.hex,
            sqlite_value(row["b_annotations"], is_json=True),
            repeats[alert_id],
        )
    placeholders = ", ".join("(?, ?, ?)" for _ in repeat_rows)
    execute_many(
        conn,
        "UPDATE alerts SET last_seen_at = ?, updated_at = ?, annotations = v.column2, "  # noqa: S608
        f"occurrences = occurrences + v.column3 FROM (VALUES {placeholders}) AS v "
        "WHERE alerts.id = v.column1",
        [(seen, seen, *values)],
    )


def _insert_notifications(conn: Connection, rows: list[dict[str, Any]], *, sqlite: bool) -> None:
    """Each notification once: a big one is stored in several batches, each with runs."""
    if sqlite:
        insert_rows(conn, notifications, rows, or_ignore=True)
    else:
        conn.execute(postgresql.insert(notifications).on_conflict_do_nothing(), rows)


def _insert(conn: Connection, table: Table, rows: list[dict[str, Any]], *, sqlite: bool) -> None:
    if sqlite:
        insert_rows(conn, table, rows)
    else:
        conn.execute(insert(table), rows)


_KEYS = (
    func.unnest(
        bindparam("b_sources", type_=postgresql.ARRAY(String)),
        bindparam("b_fingerprints", type_=postgresql.ARRAY(String)),
    )
    .table_valued("source_name", "fingerprint")
    .render_derived(name="k")
)
# Per key, its open lifecycle through the unique index on active lifecycles: a LATERAL
# subquery that ``OFFSET 0`` keeps PostgreSQL from flattening into a hash join, which it
# picks while the statistics lag the table's growth and which reads every alert per batch
# (3 ms a batch at 10,000 alerts, growing with the table).
_ACTIVE = (
    select(
        alerts.c.id,
        alerts.c.source_name,
        alerts.c.fingerprint,
        alerts.c.status,
        alerts.c.incident_id,
    )
    .where(
        alerts.c.active,
        alerts.c.source_name == _KEYS.c.source_name,
        alerts.c.fingerprint == _KEYS.c.fingerprint,
    )
    .offset(0)
    .lateral("a")
)
_ACTIVE_BY_KEY = select(
    _ACTIVE.c.id,
    _ACTIVE.c.source_name,
    _ACTIVE.c.fingerprint,
    _ACTIVE.c.status,
    _ACTIVE.c.incident_id,
).join_from(_KEYS, _ACTIVE, true())


def load_active(conn: Connection, keys: set[tuple[str, str]]) -> dict[tuple[str, str], Active]:
    """The open lifecycles among ``keys`` (source name, fingerprint)."""
    if not keys:
        return {}
    if conn.dialect.name == "sqlite":
        fingerprints = sorted({fingerprint for _, fingerprint in keys})
        # Straight through the driver: SQLAlchemy's result rows cost more than the query.
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            found = cursor.execute(  # only placeholders are interpolated
                "SELECT id, source_name, fingerprint, status, incident_id FROM alerts "  # noqa: S608
                "WHERE active = 1 "
                f"AND fingerprint IN ({', '.join('?' for _ in fingerprints)})",
                fingerprints,
            ).fetchall()
        finally:
            cursor.close()
        rows = [
            (uuid.UUID(hex=id_), source, fp, status, uuid.UUID(hex=inc) if inc else None)
            for id_, source, fp, status, inc in found
        ]
    else:
        # The keys as two arrays joined to the open lifecycles' unique index: one lookup per
        # key. A row-value IN list becomes an OR of every pair that PostgreSQL tests on each
        # active alert while its statistics lag the table's growth (100 keys against 20,000
        # alerts: 60 ms per batch, growing with the table).
        pairs = list(keys)
        result = conn.execute(
            _ACTIVE_BY_KEY,
            {"b_sources": [s for s, _ in pairs], "b_fingerprints": [f for _, f in pairs]},
        )
        rows = [
            (row.id, row.source_name, row.fingerprint, row.status, row.incident_id)
            for row in result
        ]
    return {
        (source, fp): Active(
            alert_id=alert_id, filtered=status == AlertStatus.FILTERED.value, incident_id=incident
        )
        for alert_id, source, fp, status, incident in rows
        if (source, fp) in keys
    }
