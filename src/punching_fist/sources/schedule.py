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

from punching_fist.resources.loader import ResourceSet
from punching_fist.resources.registry import ResourceRegistry
from punching_fist.resources.source import ScheduleSourceSpec

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
        self._registry = registry
        self._trigger = trigger
        self._now = now
        self._tasks: dict[str, tuple[ScheduleSourceSpec, asyncio.Task[None]]] = {}
        self._running = False

    def start(self) -> None:
        self._running = True
        self._registry.subscribe(self._apply)
        self._apply(self._registry.current())

    async def stop(self) -> None:
        self._running = False
        tasks = [task for _, task in self._tasks.values()]
        self._tasks.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    @property
    def scheduled(self) -> set[str]:
        """Names of the schedule sources currently ticking."""
        return set(self._tasks)

    def _apply(self, resources: ResourceSet) -> None:
        if not self._running:
            return
        wanted = {
            name: source.spec
            for name, source in resources.sources.items()
            if isinstance(source.spec, ScheduleSourceSpec)
        }
        for name in list(self._tasks):
            spec, task = self._tasks[name]
            if wanted.get(name) != spec:
                task.cancel()
                del self._tasks[name]
                log.info("schedule stopped", source=name)
        for name, spec in wanted.items():
            if name not in self._tasks:
                task = asyncio.get_running_loop().create_task(
                    self._tick(name, spec), name=f"schedule-{name}"
                )
                self._tasks[name] = (spec, task)
                log.info("schedule started", source=name, cron=spec.config.cron)

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
