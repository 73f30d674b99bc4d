"""The ``schedule`` source type: cron ticks that start a workflow.

One task per schedule Source, started and stopped as the resources change (the registry tells
us). Every replica runs the same schedules; the tick's run id is derived from the source and
the scheduled time, so only one replica's run is created (see ``store.triggers``).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
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
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._trigger = trigger
        self._now = now
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
        times = croniter(spec.config.cron, self._now().astimezone(zone))
        while True:
            due: datetime = times.get_next(datetime)
            delay = (due - self._now()).total_seconds()
            if delay > 0:
                await asyncio.sleep(delay)
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
