"""What the database refuses is permanent; what it cannot do now is temporary.

A ``DataError`` (a value too long, a character the column cannot hold) would fail the same
way on every retry: the committer raises ``PermanentFailure``, which the intake answers
with 422 for that alert alone. A full disk or a lost connection is a ``TemporaryFailure``
(503 with Retry-After)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DataError, OperationalError

from punching_fist.errors import PermanentFailure, TemporaryFailure
from punching_fist.store.database import Database
from punching_fist.store.group_commit import GroupCommitter


class Refuses(Exception):
    """What a driver raises for a value its column cannot hold."""


def store(conn: Connection, items: list[str]) -> list[str]:
    for item in items:
        if item == "too-long":
            raise DataError(
                "INSERT ...", {}, Refuses("value too long for type varchar(20)\nDETAIL")
            )
        if item == "disk":
            raise OperationalError("INSERT ...", {}, Refuses("database or disk is full"))
        conn.exec_driver_sql("INSERT INTO kv (v) VALUES (?)", (item,))
    return [f"stored {item}" for item in items]


@pytest.fixture
async def committer(tmp_path: Path) -> AsyncIterator[GroupCommitter[str, str]]:
    db = Database(f"sqlite:///{tmp_path / 'refusals.db'}")
    async with db.transaction() as conn:
        await conn.execute(text("CREATE TABLE kv (v TEXT NOT NULL)"))
    committer: GroupCommitter[str, str] = GroupCommitter(db, store)
    committer.start()
    yield committer
    await committer.stop()
    await db.close()


async def test_a_value_the_database_refuses_is_a_permanent_failure(
    committer: GroupCommitter[str, str],
) -> None:
    with pytest.raises(PermanentFailure) as refused:
        await committer.submit(["fine", "too-long"])
    assert str(refused.value) == (
        "the database cannot hold a value: value too long for type varchar(20)"
    )
    assert await committer.submit(["fine"]) == ["stored fine"]  # the writer goes on


async def test_a_full_database_is_a_temporary_failure_with_a_longer_delay(
    committer: GroupCommitter[str, str],
) -> None:
    with pytest.raises(TemporaryFailure) as full:
        await committer.submit(["disk"])
    assert str(full.value) == "could not store the alerts: the database is full"
    assert full.value.delay == 30.0
