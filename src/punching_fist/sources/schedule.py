"""The ``schedule`` source type: cron ticks that start a workflow.

One task per schedule Source, started and stopped as the resources change (the registry tells
us). Every replica runs the same schedules; the tick's run id is derived from the source and
the scheduled time, so only one replica's run is created (see ``store.triggers``).
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import structlog
from croniter import croniter

from punching_fist.resources.registry import ResourceRegistry
from punching_fist.resources.source import ScheduleSourceSpec
from punching_fist.sources.per_source import PerSourceTasks

log = structlog.get_logger(__name__)


class Trigger(Protocol):
    """Creates (at most once across replicas) and starts a run; its id, or None if it exists."""

    async def __call__(
        self,
        *,
        trigger_key: str,
        source_name: str,
        workflow_name: str,
        source_context: dict[str, Any],
    ) -> uuid.UUID | None: ...


class Clock(Protocol):
    """The wall clock a schedule keeps: the time now, and waiting until a moment of it.

    The service uses ``SystemClock``; tests pass a fake one and move time themselves.
    """

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


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        log.warning("unknown timezone; using UTC", timezone=name)
        return ZoneInfo("UTC")


class ScheduleRunner:
    """Keeps one ticking task per schedule Source of the current resources."""

    def __init__(
        self,
        registry: ResourceRegistry,
        trigger: Trigger,
        *,
        clock: Clock | None = None,
    ) -> None:
        self._trigger = trigger
        self._clock = clock or SystemClock()
        self._tasks = PerSourceTasks(registry, ScheduleSourceSpec, self._tick, kind="schedule")

    def start(self) -> None:
        self._tasks.start()

    async def stop(self) -> None:
        await self._tasks.stop()

    @property
    def scheduled(self) -> set[str]:
        """Names of the schedule sources currently ticking."""
        return self._tasks.names

    async def _tick(self, name: str, spec: ScheduleSourceSpec) -> None:
        zone = _zone(spec.config.timezone)
        times = croniter(spec.config.cron, self._clock.now().astimezone(zone))
        while True:
            due: datetime = times.get_next(datetime)
            await self._clock.sleep_until(due)
            scheduled_at = due.astimezone(UTC).isoformat()
            try:
                await self._trigger(
                    trigger_key=f"schedule/{name}/{scheduled_at}",
                    source_name=name,
                    workflow_name=spec.trigger_workflow,
                    source_context={
                        "name": name,
                        "type": "schedule",
                        "context": spec.context,
                        "data": {"scheduledAt": scheduled_at},
                    },
                )
            except Exception:  # a database hiccup must not end the schedule
                log.exception("scheduled run could not be created", source=name)
