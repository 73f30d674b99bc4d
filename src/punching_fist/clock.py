"""The wall clock that schedules, investigation windows, retention and runbook syncs keep.

The service uses ``SystemClock``; tests pass ``tests/support/fake_clock.FakeClock`` and move
time themselves.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    """The time now, and waiting until a moment of it."""

    def now(self) -> datetime:
        """The current time, time-zone aware."""
        ...

    async def sleep_until(self, moment: datetime) -> None:
        """Return once ``moment`` has come (at once if it has passed)."""
        ...


class SystemClock:
    """The real wall clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep_until(self, moment: datetime) -> None:
        delay = (moment - self.now()).total_seconds()
        if delay > 0:
            await asyncio.sleep(delay)
