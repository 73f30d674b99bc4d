"""The lease keeper, on a fake clock: renewals survive database errors, and a run whose lease
cannot be renewed is stopped a quarter of a lease before the lease could lapse.

Times are exact: the clock moves only when the keeper sleeps. Once, a heartbeat that died on
its first database error never renewed again, and a second replica ran the same steps.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from punching_fist.engine.lease import LeaseKeeper
from punching_fist.errors import LeaseLost, StoreUnavailable

LEASE = 30.0


class FakeTime:
    """Monotonic seconds that pass only when someone sleeps."""

    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        await asyncio.sleep(0)


class Database:
    """Answers renewals as the test says: down during ``outage``, else ours while ``ours``."""

    def __init__(self, time: FakeTime, *, outage: tuple[float, float] = (0, 0)) -> None:
        self._time = time
        self.outage = outage
        self.ours = True
        self.asked: list[float] = []

    async def renew(self) -> bool:
        self.asked.append(self._time.now)
        start, end = self.outage
        if start <= self._time.now < end:
            raise StoreUnavailable("connection refused")
        return self.ours


async def work_until(time: FakeTime, moment: float, cancelled_at: list[float]) -> str:
    """A run's steps: busy until ``moment`` (fake time), noting when they were cancelled."""
    try:
        while time.now < moment:
            await asyncio.sleep(0)
    except asyncio.CancelledError:
        cancelled_at.append(time.now)
        raise
    return "done"


async def test_renewals_go_on_through_a_database_outage_shorter_than_the_lease() -> None:
    time = FakeTime()
    database = Database(time, outage=(7, 19))  # 12 s: the outage that broke the heartbeat
    keeper = LeaseKeeper(database.renew, lease=LEASE, since=0.0, clock=time.clock, sleep=time.sleep)
    cancelled: list[float] = []
    assert await keeper.hold(work_until(time, 60.0, cancelled)) == "done"
    assert cancelled == []
    # Every 7.5 s; every second while failing; every 7.5 s again from the first success.
    failing = [7.5 + n for n in range(12)]
    asked = [moment for moment in database.asked if moment < 60]  # the work ends at 60
    assert asked == [*failing, 19.5, 27.0, 34.5, 42.0, 49.5, 57.0]
    assert keeper.failures == 12


async def test_a_lease_that_cannot_be_renewed_stops_the_run_before_it_lapses() -> None:
    time = FakeTime()
    database = Database(time, outage=(1, 1000))
    keeper = LeaseKeeper(database.renew, lease=LEASE, since=0.0, clock=time.clock, sleep=time.sleep)
    cancelled: list[float] = []
    with pytest.raises(LeaseLost, match=r"no renewal succeeded for 22\.5s"):
        await keeper.hold(work_until(time, 1000.0, cancelled))
    assert database.asked == [7.5 + n for n in range(15)]
    assert cancelled == [22.5]  # another worker may claim the run at 30 s, not before


async def test_the_deadline_moves_with_the_last_successful_renewal() -> None:
    time = FakeTime()
    database = Database(time, outage=(10, 1000))
    keeper = LeaseKeeper(database.renew, lease=LEASE, since=0.0, clock=time.clock, sleep=time.sleep)
    cancelled: list[float] = []
    with pytest.raises(LeaseLost):
        await keeper.hold(work_until(time, 1000.0, cancelled))
    assert cancelled == [7.5 + 22.5]


async def test_a_run_taken_over_stops_at_the_next_renewal() -> None:
    time = FakeTime()
    database = Database(time)
    keeper = LeaseKeeper(database.renew, lease=LEASE, since=0.0, clock=time.clock, sleep=time.sleep)
    cancelled: list[float] = []

    async def taken_over_at_10() -> None:
        while time.now < 10:
            await asyncio.sleep(0)
        database.ours = False

    thief = asyncio.create_task(taken_over_at_10())
    with pytest.raises(LeaseLost, match="taken over"):
        await keeper.hold(work_until(time, 1000.0, cancelled))
    await thief
    assert cancelled == [15.0]


async def test_a_renewal_that_hangs_is_given_up_at_the_deadline() -> None:
    # The real clock: the wait for the renewal is the event loop's. A lease of 0.4 s stops the
    # run after 0.3 s without an answer, even though the hung request, once cancelled, takes
    # long to unwind (a driver rolling back over the connection that hangs).
    unwound = asyncio.Event()

    async def renew() -> bool:
        try:
            await asyncio.Event().wait()  # a database that takes the request, never answers
        except asyncio.CancelledError:
            await unwound.wait()
            raise
        return True

    started = time.monotonic()
    keeper = LeaseKeeper(renew, lease=0.4, since=started)
    cancelled: list[float] = []

    async def steps() -> None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.append(time.monotonic() - started)
            raise

    try:
        with pytest.raises(LeaseLost):
            await asyncio.wait_for(keeper.hold(steps()), 30)
    finally:
        unwound.set()
        await asyncio.sleep(0.01)
    assert len(cancelled) == 1
    assert cancelled[0] >= 0.3
    with pytest.raises(LeaseLost):  # and no step may start any more
        keeper.check()


async def test_work_that_finishes_returns_its_result_and_the_keeper_stops() -> None:
    time = FakeTime()
    database = Database(time)
    keeper = LeaseKeeper(database.renew, lease=LEASE, since=0.0, clock=time.clock, sleep=time.sleep)

    async def quick() -> int:
        return 7

    assert await keeper.hold(quick()) == 7
    keeper.check()  # held all along
    before = list(database.asked)
    await time.sleep(100)
    assert database.asked == before
