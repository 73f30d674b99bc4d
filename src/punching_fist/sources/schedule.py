"""The ``schedule`` source type: cron ticks that start a workflow.

One task per schedule Source, started and stopped as the resources change (the registry tells
us). Every replica runs the same schedules; the tick's run id is derived from the source and
the scheduled time, so only one replica's run is created (see ``store.triggers``).

Wall-clock time in the Source's zone (``docs/sources.md``): a time skipped when clocks go
forward runs at the next valid time that day; a named hour that repeats when they go back
runs once. After downtime, ``catchUp`` (default true) starts the latest missed tick once.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import structlog
from croniter import croniter

from punching_fist.clock import Clock, SystemClock
from punching_fist.errors import ConfigurationError
from punching_fist.resources.registry import ResourceRegistry
from punching_fist.resources.source import ScheduleSourceSpec
from punching_fist.sources.per_source import PerSourceTasks
from punching_fist.store.database import Database
from punching_fist.store.schedules import source_activity

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


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        # The model refuses unknown zones at load; never fire at another zone's hour.
        raise ConfigurationError(f"spec.config.timezone: unknown time zone {name!r}") from None


def repeated_wall_time(moment: datetime) -> bool:
    """Whether ``moment`` is the second occurrence of its wall-clock time (the hour that
    repeats when clocks go back)."""
    assert isinstance(moment.tzinfo, ZoneInfo)
    first = moment.replace(tzinfo=None).replace(tzinfo=moment.tzinfo, fold=0)
    return first.utcoffset() != moment.utcoffset()


def fixed_hours(cron: str) -> bool:
    """Whether the expression names its hours (``30 1 * * *``) rather than every hour."""
    fields = cron.split()
    return len(fields) >= 5 and "*" not in fields[1]


class ScheduleRunner:
    """Keeps one ticking task per schedule Source of the current resources."""

    def __init__(
        self,
        registry: ResourceRegistry,
        trigger: Trigger,
        *,
        clock: Clock | None = None,
        database: Database | None = None,
    ) -> None:
        self._trigger = trigger
        self._database = database
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
        now = self._clock.now().astimezone(zone)
        if spec.config.catch_up:
            await self._catch_up(name, spec, croniter(spec.config.cron, now).get_prev(datetime))
        times = croniter(spec.config.cron, now)
        # A named hour that repeats when clocks go back runs at its first occurrence only;
        # an hour that is skipped when they go forward runs at the next valid time (croniter).
        once_a_day = fixed_hours(spec.config.cron)
        while True:
            due: datetime = times.get_next(datetime)
            if once_a_day and repeated_wall_time(due):
                continue
            await self._clock.sleep_until(due)
            await self._fire(name, spec, due)

    async def _catch_up(self, name: str, spec: ScheduleSourceSpec, latest: datetime) -> None:
        """Start the latest tick due before now if it never ran while its Source existed:
        once, however many ticks the downtime skipped."""
        if self._database is None:
            return
        try:
            activity = await source_activity(self._database, name)
        except Exception:
            log.exception("schedule cannot read its last run; no catch-up", source=name)
            return
        if activity is not None and activity.missed(latest):
            log.info("schedule catching up a missed run", source=name, due=latest.isoformat())
            await self._fire(name, spec, latest, caught_up=True)

    async def _fire(
        self, name: str, spec: ScheduleSourceSpec, due: datetime, *, caught_up: bool = False
    ) -> None:
        scheduled_at = due.astimezone(UTC).isoformat()
        data: dict[str, Any] = {"scheduledAt": scheduled_at}
        if caught_up:
            data["caughtUp"] = True
        try:
            await self._trigger(
                trigger_key=f"schedule/{name}/{scheduled_at}",
                source_name=name,
                workflow_name=spec.trigger_workflow,
                source_context={
                    "name": name,
                    "type": "schedule",
                    "context": spec.context,
                    "data": data,
                },
            )
        except Exception:  # a database hiccup must not end the schedule
            log.exception("scheduled run could not be created", source=name)
