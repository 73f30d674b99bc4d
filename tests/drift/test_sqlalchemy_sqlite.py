"""``store/sqlite_rows.py`` against SQLAlchemy's own SQLite storage formats.

The intake writes its rows through the driver, converting values itself the way SQLAlchemy
binds them on SQLite (``Uuid`` as hex, timestamps as text, JSON, booleans), so that rows read
back through the tables exactly like rows SQLAlchemy wrote. Here the same rows go in both ways
and must be stored byte for byte alike.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import (
    JSON,
    Boolean,
    Engine,
    Float,
    Integer,
    String,
    Table,
    Text,
    Uuid,
    create_engine,
    insert,
    literal,
    select,
)
from sqlalchemy.types import TypeEngine

from punching_fist.store.sqlite_rows import insert_rows, sqlite_value
from punching_fist.store.tables import UtcDateTime, alerts, metadata, workflow_runs

# The tables the intake inserts into through the driver.
DRIVER_WRITTEN = [alerts, workflow_runs]


def sample(column_type: Any, n: int) -> Any:
    """A value for a column of this type; ``n`` makes rows differ."""
    if isinstance(column_type, Uuid):
        return uuid.UUID(int=0x1234_5678_9ABC_DEF0 + n)
    if isinstance(column_type, UtcDateTime):
        return datetime(2026, 3, 4, 5, 6, 7, 890_123 + n, tzinfo=UTC)
    if isinstance(column_type, JSON):
        return {"labels": {"pod": "web-1", "note": "é ✓"}, "n": n, "none": None, "ok": True}
    if isinstance(column_type, Boolean):
        return n % 2 == 0
    if isinstance(column_type, Integer):
        return 7 + n
    if isinstance(column_type, Float):
        return 0.25 + n
    if isinstance(column_type, String | Text):
        return f"text-{n}"
    raise AssertionError(f"no sample for {column_type!r}")


def rows(table: Table) -> list[dict[str, Any]]:
    """Every column set, then every nullable column left empty."""
    full = [{c.name: sample(c.type, n) for c in table.columns} for n in range(2)]
    sparse = {
        c.name: None if c.nullable and not c.primary_key else sample(c.type, 2)
        for c in table.columns
    }
    return [*full, sparse]


@pytest.fixture
def engines() -> Iterator[tuple[Engine, Engine]]:
    made = [create_engine("sqlite://") for _ in range(2)]
    for engine in made:
        metadata.create_all(engine)
    yield made[0], made[1]
    for engine in made:
        engine.dispose()


@pytest.mark.parametrize("table", DRIVER_WRITTEN, ids=lambda t: t.name)
def test_rows_written_through_the_driver_are_stored_as_sqlalchemy_stores_them(
    engines: tuple[Engine, Engine], table: Table
) -> None:
    theirs, ours = engines
    with theirs.begin() as conn:
        conn.execute(insert(table), rows(table))
    with ours.begin() as conn:
        insert_rows(conn, table, rows(table))
    stored, read = [], []
    for engine in (theirs, ours):
        with engine.connect() as conn:
            raw = conn.exec_driver_sql(f"SELECT * FROM {table.name} ORDER BY id")
            stored.append(
                {
                    (n, name): value
                    for n, row in enumerate(raw.fetchall())
                    for name, value in zip(raw.keys(), row, strict=True)
                }
            )
            read.append(conn.execute(select(table).order_by(table.c.id)).fetchall())
    assert stored[1] == stored[0]
    assert read[1] == read[0]


VALUES: list[tuple[TypeEngine[Any], object]] = [
    (Uuid(), uuid.uuid4()),
    (UtcDateTime(), datetime(2026, 3, 4, 5, 6, 7, 8, tzinfo=UTC)),
    (UtcDateTime(), datetime(582, 2, 16, 0, 53, 4, 400_000, tzinfo=UTC)),  # a short year
    (JSON(), {"a": ["é", None, 1.5]}),
    (JSON(), None),
    (Boolean(), True),
    (Boolean(), False),
]


def test_a_value_is_converted_as_sqlalchemy_binds_it_on_sqlite() -> None:
    """The conversions one at a time, for the statements the intake writes by hand."""
    engine = create_engine("sqlite://")
    try:
        with engine.connect() as conn:
            for column_type, value in VALUES:
                bound = conn.execute(select(literal(value, column_type).cast(Text))).scalar_one()
                ours = sqlite_value(value, is_json=isinstance(column_type, JSON))
                assert str(ours) == bound, column_type
    finally:
        engine.dispose()
