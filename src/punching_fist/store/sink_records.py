"""What a sink keeps across deliveries: its correlations and its published counters.

``sink_correlations`` holds what a sink remembers per alert or incident (the Slack thread,
the Jira issue, the silence id); ``sink_status`` holds the counters a Sink's status
publishes. Both are written inside the transaction of the delivery they come from, so these
are synchronous steps of such a transaction, not transactions of their own.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection

from punching_fist.store.tables import sink_correlations, sink_status


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


def upsert_correlation(
    conn: Connection,
    *,
    sink_name: str,
    key: str,
    external_ref: str,
    data: Mapping[str, Any],
    run_id: uuid.UUID | None,
    now: datetime,
) -> None:
    values = {"external_ref": external_ref, "data": dict(data), "run_id": run_id, "updated_at": now}
    _upsert(
        conn,
        sink_correlations,
        {"sink_name": sink_name, "correlation_key": key},
        create={**values, "created_at": now},
        change=values,
    )


def count_outcome(
    conn: Connection,
    *,
    sink_name: str,
    sink_type: str,
    failed: bool,
    error: str | None,
    now: datetime,
) -> None:
    """Add one message sent, or one failure with its error, to the sink's counters."""
    change: dict[str, Any] = {"updated_at": now, "sink_type": sink_type}
    if failed:
        change.update(failures=sink_status.c.failures + 1, last_error=error, last_error_time=now)
    else:
        change.update(messages_sent=sink_status.c.messages_sent + 1, last_sent_time=now)
    _upsert(
        conn,
        sink_status,
        {"sink_name": sink_name},
        create={
            "sink_type": sink_type,
            "messages_sent": 0 if failed else 1,
            "failures": 1 if failed else 0,
            "last_sent_time": None if failed else now,
            "last_error": error if failed else None,
            "last_error_time": now if failed else None,
            "updated_at": now,
        },
        change=change,
    )
