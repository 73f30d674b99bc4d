"""What a batch of new alerts reads before it is put into incidents, in one round trip.

Three reads follow the key locks (``store.incidents.lock_keys``): which incident holds each
correlation key, the latest ended lifecycle of each new fingerprint (a refire is its
``duplicate``), and the incidents of both, locked in id order. On PostgreSQL they are one
statement (the locking ``SELECT`` a CTE over the other two), so a batch of new alerts costs
two round trips before its writes instead of four; the statement's snapshot is taken after
the key locks, as each read's was. SQLite has one writer and no round trips: the reads stay
separate (``store.incidents``).
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import String, Uuid, bindparam, column, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection

from punching_fist.store.incidents import (
    IncidentRow,
    KeyHolder,
    load_keys,
    load_previous,
    lock_incidents,
)
from punching_fist.store.tables import UtcDateTime


@dataclass(frozen=True, slots=True)
class BatchReads:
    holders: dict[str, KeyHolder]
    """Correlation key → the incident holding it and the alert that brought it."""
    previous: dict[tuple[str, str], KeyHolder]
    """(source, fingerprint) → its latest ended lifecycle and that one's incident."""
    incidents: dict[uuid.UUID, IncidentRow]
    """The incidents of both, and ``ending``, locked until the batch commits."""


# Tagged rows of three kinds: 'k' key holders (key in a), 'p' the latest ended lifecycle of
# a (source, fingerprint) pair (a, b), 'i' the incidents locked (id in incident_id).
_READ = text(
    """
WITH k AS (
    SELECT key, incident_id, alert_id FROM incident_keys WHERE key = ANY(:b_keys)
), p AS (
    SELECT DISTINCT ON (q.source_name, q.fingerprint)
        q.source_name, q.fingerprint, a.incident_id, a.id
    FROM unnest(CAST(:b_sources AS VARCHAR[]), CAST(:b_fingerprints AS VARCHAR[]))
        AS q(source_name, fingerprint)
    JOIN LATERAL (
        SELECT id, incident_id, received_at FROM alerts
        WHERE fingerprint = q.fingerprint AND source_name = q.source_name
            AND NOT active AND incident_id IS NOT NULL
        OFFSET 0
    ) a ON true
    ORDER BY q.source_name, q.fingerprint, a.received_at DESC
), i AS (
    SELECT id, title, status, severity, alerts_count, created_at, last_alert_at,
        resolved_at, workload, mttr_seconds
    FROM incidents
    WHERE id IN (
        SELECT incident_id FROM k
        UNION SELECT incident_id FROM p
        UNION SELECT unnest(CAST(:b_ending AS UUID[]))
    )
    ORDER BY id
    FOR UPDATE
)
SELECT 'k' AS tag, key AS a, NULL AS b, incident_id, alert_id,
    NULL AS title, NULL AS status, NULL AS severity, NULL::integer AS alerts_count,
    NULL::timestamptz AS created_at, NULL::timestamptz AS last_alert_at,
    NULL::timestamptz AS resolved_at, NULL AS workload, NULL::integer AS mttr_seconds
FROM k
UNION ALL
SELECT 'p', source_name, fingerprint, incident_id, id,
    NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
FROM p
UNION ALL
SELECT 'i', NULL, NULL, id, NULL, title, status, severity, alerts_count, created_at,
    last_alert_at, resolved_at, workload, mttr_seconds
FROM i
"""
).bindparams(
    bindparam("b_keys", type_=postgresql.ARRAY(String)),
    bindparam("b_sources", type_=postgresql.ARRAY(String)),
    bindparam("b_fingerprints", type_=postgresql.ARRAY(String)),
    bindparam("b_ending", type_=postgresql.ARRAY(Uuid)),
)
_TYPED = _READ.columns(
    column("tag", String),
    column("a", String),
    column("b", String),
    column("incident_id", Uuid),
    column("alert_id", Uuid),
    column("title", String),
    column("status", String),
    column("severity", String),
    column("alerts_count"),
    column("created_at", UtcDateTime()),
    column("last_alert_at", UtcDateTime()),
    column("resolved_at", UtcDateTime()),
    column("workload", String),
    column("mttr_seconds"),
)


def read_batch(
    conn: Connection,
    keys: Collection[str],
    pairs: Collection[tuple[str, str]],
    ending: Collection[uuid.UUID],
) -> BatchReads:
    """After ``lock_keys``: the holders of ``keys``, the latest ended lifecycle of each
    (source, fingerprint) of ``pairs``, and their incidents and ``ending``'s, locked."""
    if conn.dialect.name == "sqlite":
        holders = load_keys(conn, keys)
        previous = load_previous(conn, pairs)
        ids = {h.incident_id for h in holders.values()}
        ids |= {h.incident_id for h in previous.values()}
        return BatchReads(holders, previous, lock_incidents(conn, ids | set(ending)))
    if not keys and not pairs and not ending:
        return BatchReads({}, {}, {})
    ordered = sorted(pairs)
    result = conn.execute(
        _TYPED,
        {
            "b_keys": sorted(keys),
            "b_sources": [source for source, _ in ordered],
            "b_fingerprints": [fingerprint for _, fingerprint in ordered],
            "b_ending": sorted(ending),
        },
    )
    reads = BatchReads({}, {}, {})
    for row in result:
        if row.tag == "k":
            reads.holders[row.a] = KeyHolder(row.incident_id, row.alert_id)
        elif row.tag == "p":
            reads.previous[(row.a, row.b)] = KeyHolder(row.incident_id, row.alert_id)
        else:
            reads.incidents[row.incident_id] = IncidentRow(
                id=row.incident_id,
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
    return reads
