"""Recording incoming alerts: deduplication, lifecycles, and the runs they start.

One call handles a whole batch inside one transaction, so the intake can group many HTTP
requests into a single commit (see ``group_commit``) and still decide each alert exactly once.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Table, and_, bindparam, insert, select, tuple_, update
from sqlalchemy.engine import Connection

from punching_fist.engine.status import RunStatus
from punching_fist.store.sqlite_rows import execute_many, insert_rows, sqlite_value
from punching_fist.store.tables import alerts, sources, utcnow, workflow_runs


class AlertStatus(StrEnum):
    RECEIVED = "received"
    FILTERED = "filtered"
    TRIAGING = "triaging"
    TRIAGED = "triaged"
    ESCALATED = "escalated"
    RESOLVED = "resolved"


class Outcome(StrEnum):
    NEW = "new"  # a new lifecycle began; a run was started unless filtered
    REPEAT = "repeat"  # Alertmanager re-sent an alert that is already active
    RESOLVED = "resolved"  # the active lifecycle ended
    FILTERED = "filtered"  # stored, but the source's filters keep it from triggering
    STALE = "stale"  # a resolved notification for a lifecycle that already ended


@dataclass(slots=True, kw_only=True)
class IncomingAlert:
    """One alert as the intake hands it to the store, already parsed and checked.

    Not frozen: a frozen dataclass sets each of these fields through ``object.__setattr__``,
    which showed up on the intake's profile. Nothing mutates one after it is built.
    """

    source_name: str
    workflow_name: str
    fingerprint: str
    firing: bool
    alert_name: str
    severity: str
    summary: str | None
    description: str | None
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: datetime | None
    ends_at: datetime | None
    generator_url: str
    passes_filters: bool
    run_on_resolved: bool
    source_context: Callable[[], dict[str, Any]]
    """Built only when the alert starts a run (most alerts of a busy intake are repeats)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class IntakeResult:
    """What became of one alert."""

    outcome: Outcome
    alert_id: uuid.UUID
    run_id: uuid.UUID | None = None


@dataclass(slots=True, kw_only=True)
class _Active:
    alert_id: uuid.UUID
    filtered: bool


def record_alerts(conn: Connection, batch: list[IncomingAlert]) -> list[IntakeResult]:
    """Store a batch of alerts and start runs for new lifecycles; one result per alert.

    Synchronous on purpose: ``Database.run_transaction`` runs it in one hop (see there).
    """
    now = utcnow()
    active = _load_active(conn, batch)
    new_alerts: list[dict[str, Any]] = []
    new_runs: list[dict[str, Any]] = []
    repeats: Counter[uuid.UUID] = Counter()
    repeat_rows: dict[uuid.UUID, dict[str, Any]] = {}
    resolutions: list[dict[str, Any]] = []
    results: list[IntakeResult] = []
    per_source: Counter[str] = Counter()

    for item in batch:
        key = (item.source_name, item.fingerprint)
        current = active.get(key)
        per_source[item.source_name] += 1
        if current is not None and item.firing:
            repeats[current.alert_id] += 1
            repeat_rows[current.alert_id] = {
                "b_id": current.alert_id,
                "b_seen": now,
                "b_annotations": item.annotations,
            }
            results.append(IntakeResult(outcome=Outcome.REPEAT, alert_id=current.alert_id))
            continue
        if current is not None:
            del active[key]
            resolutions.append(
                {
                    "b_id": current.alert_id,
                    "b_resolved": item.ends_at or now,
                    "b_ends": item.ends_at,
                }
            )
            run_id = None
            if item.run_on_resolved and not current.filtered:
                run_id = _queue_run(new_runs, item, current.alert_id, now)
            results.append(
                IntakeResult(outcome=Outcome.RESOLVED, alert_id=current.alert_id, run_id=run_id)
            )
            continue
        alert_id = uuid.uuid4()
        filtered = not item.passes_filters
        new_alerts.append(_alert_row(alert_id, item, now, filtered=filtered))
        if not item.firing:
            # A resolution we never saw fire (or saw end already): keep it on record, start nothing.
            results.append(IntakeResult(outcome=Outcome.STALE, alert_id=alert_id))
            continue
        active[key] = _Active(alert_id=alert_id, filtered=filtered)
        if filtered:
            results.append(IntakeResult(outcome=Outcome.FILTERED, alert_id=alert_id))
            continue
        run_id = _queue_run(new_runs, item, alert_id, now)
        results.append(IntakeResult(outcome=Outcome.NEW, alert_id=alert_id, run_id=run_id))

    sqlite = conn.dialect.name == "sqlite"
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
            ),
            resolutions,
        )
    if new_runs:
        _insert(conn, workflow_runs, new_runs, sqlite=sqlite)
    for source_name, count in per_source.items():
        conn.execute(
            update(sources)
            .where(sources.c.name == source_name)
            .values(events_processed=sources.c.events_processed + count, last_event_at=now)
        )
    return results


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


def _insert(conn: Connection, table: Table, rows: list[dict[str, Any]], *, sqlite: bool) -> None:
    if sqlite:
        insert_rows(conn, table, rows)
    else:
        conn.execute(insert(table), rows)


def _load_active(conn: Connection, batch: list[IncomingAlert]) -> dict[tuple[str, str], _Active]:
    keys = {(item.source_name, item.fingerprint) for item in batch}
    if not keys:
        return {}
    if conn.dialect.name == "sqlite":
        fingerprints = sorted({fingerprint for _, fingerprint in keys})
        # Straight through the driver: SQLAlchemy's result rows cost more than the query.
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            found = cursor.execute(  # only placeholders are interpolated
                "SELECT id, source_name, fingerprint, status FROM alerts WHERE active = 1 "  # noqa: S608
                f"AND fingerprint IN ({', '.join('?' for _ in fingerprints)})",
                fingerprints,
            ).fetchall()
        finally:
            cursor.close()
        rows = [(uuid.UUID(hex=id_), source, fp, status) for id_, source, fp, status in found]
    else:
        result = conn.execute(
            select(alerts.c.id, alerts.c.source_name, alerts.c.fingerprint, alerts.c.status).where(
                and_(
                    alerts.c.active.is_(True),
                    tuple_(alerts.c.source_name, alerts.c.fingerprint).in_(list(keys)),
                )
            )
        )
        rows = [(row.id, row.source_name, row.fingerprint, row.status) for row in result]
    return {
        (source, fp): _Active(alert_id=alert_id, filtered=status == AlertStatus.FILTERED.value)
        for alert_id, source, fp, status in rows
        if (source, fp) in keys
    }


def _alert_row(
    alert_id: uuid.UUID, item: IncomingAlert, now: datetime, *, filtered: bool
) -> dict[str, Any]:
    if not item.firing:
        status = AlertStatus.RESOLVED
    elif filtered:
        status = AlertStatus.FILTERED
    else:
        status = AlertStatus.RECEIVED
    started = item.starts_at.isoformat() if item.starts_at else now.isoformat()
    return {
        "id": alert_id,
        "external_id": f"{item.source_name}/{item.fingerprint}/{started}/{alert_id.hex[:8]}",
        "fingerprint": item.fingerprint,
        "status": status.value,
        "severity": item.severity or "unknown",
        "alert_name": item.alert_name or "unknown",
        "summary": item.summary,
        "description": item.description,
        "labels": item.labels,
        "annotations": item.annotations,
        "received_at": now,
        "created_at": now,
        "updated_at": now,
        "source_name": item.source_name,
        "starts_at": item.starts_at,
        "ends_at": item.ends_at,
        "generator_url": item.generator_url,
        "last_seen_at": now,
        "occurrences": 1,
        "active": item.firing,
        "resolved_at": None if item.firing else (item.ends_at or now),
    }


def _queue_run(
    new_runs: list[dict[str, Any]], item: IncomingAlert, alert_id: uuid.UUID, now: datetime
) -> uuid.UUID:
    run_id = uuid.uuid4()
    new_runs.append(
        {
            "id": run_id,
            "workflow_name": item.workflow_name,
            "source_name": item.source_name,
            "alert_id": alert_id,
            "status": RunStatus.PENDING.value,
            "source_context": item.source_context(),
            "created_at": now,
            "updated_at": now,
        }
    )
    return run_id
