"""A wall clock the test moves: ``sources.schedule.Clock`` without waiting for real time.

Tasks that call ``sleep_until`` park until ``advance`` moves the clock past their moment;
``advance`` wakes them in time order and waits until each woken task has parked again (or
ended), so once it returns everything due up to the new time has happened.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta


@dataclass(eq=False)
class _Sleeper:
    moment: datetime
    task: asyncio.Task[object] | None
    woken: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class FakeClock:
    def __init__(self, start: datetime, *, settle_timeout: float = 30.0) -> None:
        if start.tzinfo is None:
            raise ValueError("the fake clock's start needs a time zone")
        self._now = start
        self._sleepers: list[_Sleeper] = []
        self._settle_timeout = settle_timeout

    def now(self) -> datetime:
        return self._now

    async def sleep_until(self, moment: datetime) -> None:
        if moment <= self._now:
            await asyncio.sleep(0)
            return
        sleeper = _Sleeper(moment, asyncio.current_task())
        self._sleepers.append(sleeper)
        try:
            await sleeper.woken
        finally:
            if sleeper in self._sleepers:  # cancelled while parked
                self._sleepers.remove(sleeper)

    @property
    def sleeping(self) -> int:
        """How many tasks wait on this clock now."""
        return len(self._sleepers)

    async def wait_for_sleepers(self, count: int) -> None:
        """Until ``count`` tasks wait on the clock (say, the schedules that started)."""
        await self._until(lambda: len(self._sleepers) >= count, f"{count} task(s) on the clock")

    async def advance(self, seconds: float) -> None:
        """Move the clock forward, waking every sleeper due on the way, in time order."""
        target = self._now + timedelta(seconds=seconds)
        while due := [s for s in self._sleepers if s.moment <= target]:
            moment = min(s.moment for s in due)
            self._now = max(self._now, moment)
            woken = [s for s in due if s.moment == moment]
            for sleeper in woken:
                self._sleepers.remove(sleeper)
                sleeper.woken.set_result(None)
            tasks = [s.task for s in woken if s.task is not None]

            def settled(tasks: list[asyncio.Task[object]] = tasks) -> bool:
                parked = {id(s.task) for s in self._sleepers}
                return all(task.done() or id(task) in parked for task in tasks)

            await self._until(settled, f"the tasks woken at {moment.isoformat()} to park or end")
        self._now = target

    async def _until(self, reached: Callable[[], bool], what: str) -> None:
        # The woken tasks do real I/O (a database), so this polls, with a real deadline.
        deadline = time.monotonic() + self._settle_timeout
        while not reached():
            if time.monotonic() > deadline:
                raise AssertionError(f"not reached in {self._settle_timeout}s: {what}")
            await asyncio.sleep(0.005)
