"""Group commit: concurrent requests share transactions, yet each gets its own answer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Connection

from punching_fist.errors import TemporaryFailure
from punching_fist.store.database import Database
from punching_fist.store.group_commit import GroupCommitter


def store(conn: Connection, items: list[str]) -> list[str]:
    for item in items:
        if item == "poison":
            raise ValueError("cannot store poison")
        conn.exec_driver_sql("INSERT INTO kv (v) VALUES (?)", (item,))
    return [f"stored {item}" for item in items]


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    db = Database(f"sqlite:///{tmp_path / 'gc.db'}")
    async with db.transaction() as conn:
        await conn.execute(text("CREATE TABLE kv (v TEXT NOT NULL)"))
    yield db
    await db.close()


async def stored(db: Database) -> list[str]:
    async with db.connect() as conn:
        return [row[0] for row in await conn.execute(text("SELECT v FROM kv ORDER BY v"))]


async def test_concurrent_requests_share_batches_and_get_their_own_results(
    database: Database,
) -> None:
    committer = GroupCommitter(database, store)
    committer.start()
    try:
        answers = await asyncio.gather(*(committer.submit([f"a{n}", f"b{n}"]) for n in range(50)))
    finally:
        await committer.stop()
    assert answers == [[f"stored a{n}", f"stored b{n}"] for n in range(50)]
    assert committer.batches_committed < 50  # grouped, not one transaction per request
    assert len(await stored(database)) == 100


async def test_a_failing_request_fails_alone(database: Database) -> None:
    committer = GroupCommitter(database, store)
    committer.start()
    try:
        outcomes = await asyncio.gather(
            committer.submit(["x1"]),
            committer.submit(["poison", "x2"]),
            committer.submit(["x3"]),
            return_exceptions=True,
        )
    finally:
        await committer.stop()
    assert outcomes[0] == ["stored x1"]
    assert isinstance(outcomes[1], TemporaryFailure)
    assert outcomes[2] == ["stored x3"]
    # The poisoned request's transaction rolled back as a whole: x2 is not half-stored.
    assert await stored(database) == ["x1", "x3"]


async def test_a_cancelled_caller_does_not_disturb_the_others(database: Database) -> None:
    committer = GroupCommitter(database, store)
    committer.start()
    try:
        gone = asyncio.create_task(committer.submit(["gone"]))
        kept = asyncio.create_task(committer.submit(["kept"]))
        await asyncio.sleep(0)
        gone.cancel()
        assert await kept == ["stored kept"]
        with pytest.raises(asyncio.CancelledError):
            await gone
    finally:
        await committer.stop()
    assert "kept" in await stored(database)


async def test_stop_finishes_what_was_submitted_then_refuses(database: Database) -> None:
    committer = GroupCommitter(database, store)
    committer.start()
    pending = [asyncio.create_task(committer.submit([f"late{n}"])) for n in range(5)]
    await asyncio.sleep(0)
    await committer.stop()
    assert [task.result() for task in pending] == [[f"stored late{n}"] for n in range(5)]
    with pytest.raises(TemporaryFailure):
        await committer.submit(["after stop"])
