"""Several intake writers at once (PostgreSQL): the same alert from many senders opens one
lifecycle, and a small request commits beside a large one's slices rather than after them."""

from __future__ import annotations

import asyncio
import uuid

from sqlalchemy import select

from punching_fist.engine.intake import IncomingAlert, IntakeResult, Outcome, record_alerts
from punching_fist.store.database import Database
from punching_fist.store.group_commit import GroupCommitter
from punching_fist.store.tables import alerts
from tests.store.test_intake_batches import incoming


async def late(
    committer: GroupCommitter[IncomingAlert, IntakeResult], delay: float
) -> list[IntakeResult]:
    """A request of its own, in a batch of its own while the writers are busy."""
    await asyncio.sleep(delay)
    return await committer.submit([incoming("same")])


async def test_one_alert_from_many_senders_at_once_opens_one_lifecycle(
    database: Database,
) -> None:
    committer: GroupCommitter[IncomingAlert, IntakeResult] = GroupCommitter(
        database, record_alerts, writers=4
    )
    committer.start()
    try:
        answers = await asyncio.gather(*(late(committer, n * 0.001) for n in range(24)))
    finally:
        await committer.stop()
    outcomes = sorted(answer[0].outcome for answer in answers)
    assert outcomes.count(Outcome.NEW) == 1
    assert outcomes.count(Outcome.REPEAT) == 23
    async with database.connect() as conn:
        rows = (await conn.execute(select(alerts))).all()
    assert len(rows) == 1
    assert rows[0].occurrences == 24


async def test_a_large_request_is_committed_in_slices_others_commit_between(
    database: Database,
) -> None:
    committed: list[int] = []
    committer: GroupCommitter[IncomingAlert, IntakeResult] = GroupCommitter(
        database,
        record_alerts,
        max_batch_items=50,
        on_committed=lambda results: committed.append(len(results)),
    )
    committer.start()
    try:
        big = asyncio.create_task(committer.submit([incoming(f"big-{n}") for n in range(500)]))
        await asyncio.sleep(0)
        small = await committer.submit([incoming(f"small-{uuid.uuid4()}")])
        assert not big.done()  # the single alert did not wait for all 500
        assert len(await big) == 500
    finally:
        await committer.stop()
    assert small[0].outcome is Outcome.NEW
    assert max(committed) <= 51  # no commit grew with the large request
    assert sum(committed) == 501
