"""Writing what a batch's joins changed: the incidents joined, and a relationship per join.

After the batch's alert rows (a relationship's two ends are foreign keys to ``alerts``); the
incidents joined were locked when the batch read them (``store.incident_reads``), so their
update can wait until here. On PostgreSQL both are one statement of arrays, the update a
data-modifying CTE of the insert: a batch that joins alerts to an incident (a storm's every
slice, and each single alert of an incident already open) costs one round trip here where it
cost two, and no per-row execution (asyncpg's executemany binds and runs each row). SQLite's
relationship rows go straight through the driver, values as ``store.sqlite_rows`` stores them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import Float, Integer, String, Uuid, bindparam, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection

from punching_fist.store.incidents import IncidentRow, update_incidents
from punching_fist.store.sqlite_rows import execute_many, sqlite_value
from punching_fist.store.tables import UtcDateTime


class Relationship(NamedTuple):
    parent_alert_id: uuid.UUID
    child_alert_id: uuid.UUID
    relationship_type: str
    incident_id: uuid.UUID
    reason: str


_INSERT_SQLITE = (
    "INSERT INTO alert_relationships (id, parent_alert_id, child_alert_id, relationship_type,"
    " confidence, incident_id, reason, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)

_WRITE_PG = text(
    """
WITH joined AS (
    UPDATE incidents SET status = v.status, severity = v.severity,
        alerts_count = v.alerts_count, last_alert_at = v.last_alert_at,
        resolved_at = v.resolved_at, mttr_seconds = v.mttr_seconds, updated_at = :b_now
    FROM unnest(:b_incident_ids, :b_statuses, :b_severities, :b_counts, :b_lasts,
        :b_resolved, :b_mttrs)
        AS v(id, status, severity, alerts_count, last_alert_at, resolved_at, mttr_seconds)
    WHERE incidents.id = v.id
)
INSERT INTO alert_relationships (id, parent_alert_id, child_alert_id, relationship_type,
    confidence, incident_id, reason, created_at)
SELECT r.id, r.parent, r.child, r.kind, :b_confidence, r.incident, r.reason, :b_now
FROM unnest(:b_ids, :b_parents, :b_children, :b_types, :b_incidents, :b_reasons)
    AS r(id, parent, child, kind, incident, reason)
"""
).bindparams(
    bindparam("b_incident_ids", type_=postgresql.ARRAY(Uuid)),
    bindparam("b_statuses", type_=postgresql.ARRAY(String)),
    bindparam("b_severities", type_=postgresql.ARRAY(String)),
    bindparam("b_counts", type_=postgresql.ARRAY(Integer)),
    bindparam("b_lasts", type_=postgresql.ARRAY(UtcDateTime())),
    bindparam("b_resolved", type_=postgresql.ARRAY(UtcDateTime())),
    bindparam("b_mttrs", type_=postgresql.ARRAY(Integer)),
    bindparam("b_ids", type_=postgresql.ARRAY(Uuid)),
    bindparam("b_parents", type_=postgresql.ARRAY(Uuid)),
    bindparam("b_children", type_=postgresql.ARRAY(Uuid)),
    bindparam("b_types", type_=postgresql.ARRAY(String)),
    bindparam("b_incidents", type_=postgresql.ARRAY(Uuid)),
    bindparam("b_reasons", type_=postgresql.ARRAY(String)),
    bindparam("b_confidence", type_=Float),
    bindparam("b_now", type_=UtcDateTime()),
)


_VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}


def _hex_ids(count: int) -> list[str]:
    """``count`` random version-4 UUIDs as SQLite stores them (32 hex digits), at half the
    cost of ``uuid.UUID(bytes=..., version=4).hex`` each: the version and variant digits
    set in the hex of one ``urandom`` call."""
    digits = os.urandom(16 * count).hex()
    return [
        digits[k : k + 12]
        + "4"
        + digits[k + 13 : k + 16]
        + _VARIANT[digits[k + 16]]
        + digits[k + 17 : k + 32]
        for k in range(0, 32 * count, 32)
    ]


def write_joins(
    conn: Connection,
    joined: Sequence[IncidentRow],
    rows: Sequence[Relationship],
    confidence: float,
    now: datetime,
) -> None:
    """Update ``joined`` (incidents that existed before the batch) and insert ``rows``. A
    storm's joins are most of what it writes: the ids come from one ``urandom`` call."""
    if not joined and not rows:
        return
    if conn.dialect.name == "sqlite":
        update_incidents(conn, joined, now)
        stamp = sqlite_value(now, is_json=False)
        execute_many(
            conn,
            _INSERT_SQLITE,
            [
                (i, r[0].hex, r[1].hex, r[2], confidence, r[3].hex, r[4], stamp)
                for i, r in zip(_hex_ids(len(rows)), rows, strict=True)
            ],
        )
        return
    random = os.urandom(16 * len(rows))
    ids = [uuid.UUID(bytes=random[16 * n : 16 * n + 16], version=4) for n in range(len(rows))]
    joined = sorted(joined, key=lambda row: row.id)
    conn.execute(
        _WRITE_PG,
        {
            "b_incident_ids": [row.id for row in joined],
            "b_statuses": [row.status for row in joined],
            "b_severities": [row.severity for row in joined],
            "b_counts": [row.alerts_count for row in joined],
            "b_lasts": [row.last_alert_at for row in joined],
            "b_resolved": [row.resolved_at for row in joined],
            "b_mttrs": [row.mttr_seconds for row in joined],
            "b_ids": ids,
            "b_parents": [r.parent_alert_id for r in rows],
            "b_children": [r.child_alert_id for r in rows],
            "b_types": [r.relationship_type for r in rows],
            "b_incidents": [r.incident_id for r in rows],
            "b_reasons": [r.reason for r in rows],
            "b_confidence": confidence,
            "b_now": now,
        },
    )
