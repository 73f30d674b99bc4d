"""The SQLite writer: many callers per commit, each rolled back alone when it fails."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Connection

from punching_fist.store.database import Database


def insert(conn: Connection, values: list[str]) -> int:
    for value in values:
        conn.exec_driver_sql("INSERT INTO kv (v) VALUES (?)", (value,))
    if "boom" in values:
        raise ValueError("boom after writing")
    return len(values)


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    db = Database(f"sqlite:///{tmp_path / 'writer.db'}")
    async with db.transaction() as conn:
        await conn.execute(text("CREATE TABLE kv (v TEXT NOT NULL)"))
    yield db
    await db.close()


async def rows(db: Database) -> list[str]:
    async with db.connect() as conn:
        return [row[0] for row in await conn.execute(text("SELECT v FROM kv ORDER BY v"))]


def commits(db: Database) -> int:
    assert db._writer is not None
    return db._writer.commits


async def test_concurrent_work_shares_commits(database: Database) -> None:
    before = commits(database)
    counts = await asyncio.gather(
        *(database.run_transaction(insert, [f"v{n:03}"]) for n in range(100))
    )
    assert counts == [1] * 100
    assert len(await rows(database)) == 100
    assert commits(database) - before < 20  # not one commit per caller


async def test_a_failing_caller_rolls_back_only_its_own_writes(database: Database) -> None:
    outcomes = await asyncio.gather(
        database.run_transaction(insert, ["a"]),
        database.run_transaction(insert, ["half", "boom"]),
        database.run_transaction(insert, ["b"]),
        return_exceptions=True,
    )
    assert outcomes[0] == 1
    assert isinstance(outcomes[1], ValueError)
    assert outcomes[2] == 1
    assert await rows(database) == ["a", "b"]


async def test_a_lone_failing_caller_changes_nothing_and_the_writer_goes_on(
    database: Database,
) -> None:
    with pytest.raises(ValueError, match="boom"):
        await database.run_transaction(insert, ["half", "boom"])
    assert await database.run_transaction(insert, ["after"]) == 1
    assert await rows(database) == ["after"]


async def test_answered_only_after_the_commit_is_visible_to_other_connections(
    database: Database,
) -> None:
    async def write_then_read(n: int) -> list[str]:
        await database.run_transaction(insert, [f"seen{n}"])
        return await rows(database)  # a different connection (aiosqlite)

    seen = await asyncio.gather(*(write_then_read(n) for n in range(10)))
    for n, visible in enumerate(seen):
        assert f"seen{n}" in visible


async def test_a_cancelled_caller_does_not_stop_the_others(database: Database) -> None:
    gone = asyncio.create_task(database.run_transaction(insert, ["gone"]))
    kept = asyncio.create_task(database.run_transaction(insert, ["kept"]))
    await asyncio.sleep(0)
    gone.cancel()
    assert await kept == 1
    with pytest.raises(asyncio.CancelledError):
        await gone
    assert "kept" in await rows(database)


async def test_routine_work_is_not_starved_by_a_stream_of_urgent_work(database: Database) -> None:
    order: list[str] = []
    entered, gate = threading.Event(), threading.Event()

    def held(conn: Connection, name: str) -> None:
        entered.set()
        gate.wait(5)
        order.append(name)

    def note(conn: Connection, name: str) -> None:
        order.append(name)

    first = asyncio.create_task(database.run_transaction(held, "urgent-0", urgent=True))
    assert await asyncio.to_thread(entered.wait, 5)  # the writer is inside urgent-0
    routine = asyncio.create_task(database.run_transaction(note, "routine"))
    later = [
        asyncio.create_task(database.run_transaction(note, f"urgent-{n}", urgent=True))
        for n in (1, 2)
    ]
    await asyncio.sleep(0)  # one turn of the loop: each has queued its work, in this order
    gate.set()
    await asyncio.gather(first, routine, *later)
    # Urgent work goes first, but one urgent commit later the waiting routine work has its turn.
    assert order == ["urgent-0", "routine", "urgent-1", "urgent-2"]
