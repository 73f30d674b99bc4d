"""Writing many rows to SQLite through the driver directly, for the intake's hot path.

SQLAlchemy's per-row parameter processing costs more than SQLite's insert itself, and on the
intake it runs for every alert while the event loop waits for the GIL. Here values are
converted the way SQLAlchemy stores them on SQLite (``Uuid`` as 32 hex digits, timestamps
as ``YYYY-MM-DD HH:MM:SS.ffffff`` in UTC, JSON as text, booleans as 0/1), so rows written here
are stored exactly like rows written through SQLAlchemy. This copies SQLAlchemy's SQLite type
handling, so pyproject.toml pins SQLAlchemy's minor version and tests/drift checks the copy.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table
from sqlalchemy.engine import Connection
from sqlalchemy.types import JSON


def sqlite_value(value: Any, *, is_json: bool) -> Any:
    """One Python value as SQLAlchemy would bind it for SQLite (``None`` in a JSON column is
    JSON ``null``, as SQLAlchemy's ``JSON`` stores it; tests/drift compares the two)."""
    if is_json:
        return json.dumps(value)
    if value is None:
        return None
    if isinstance(value, uuid.UUID):
        return value.hex
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC)
        # Four digits of year, as SQLAlchemy writes it; strftime's %Y gives "582" for 582,
        # which SQLAlchemy cannot read back.
        return f"{value.year:04d}-{value:%m-%d %H:%M:%S.%f}"
    if isinstance(value, bool):
        return int(value)
    return value


def insert_rows(
    conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]], *, or_ignore: bool = False
) -> None:
    """``INSERT`` every row; all rows must have the same keys. ``or_ignore``: a row whose key
    exists already is skipped."""
    if not rows:
        return
    columns = list(rows[0])
    json_columns = {name for name in columns if isinstance(table.c[name].type, JSON)}
    verb = "INSERT OR IGNORE" if or_ignore else "INSERT"
    sql = (  # names come from our own schema; values travel as parameters
        f"{verb} INTO {table.name} ({', '.join(columns)}) "
        f"VALUES ({', '.join('?' for _ in columns)})"
    )
    conn.exec_driver_sql(
        sql,
        [
            tuple(sqlite_value(row[name], is_json=name in json_columns) for name in columns)
            for row in rows
        ],
    )


def execute_many(conn: Connection, sql: str, rows: Iterable[Sequence[Any]]) -> None:
    """Run a hand-written statement once per row of already-converted values."""
    conn.exec_driver_sql(sql, list(rows))
