"""The retention task: deletes what outlived the OperatorConfig's ``spec.retention``.

Started and stopped with the service. The first pass comes soon after start (a server that
restarts more often than ``interval`` still purges), then one pass per ``interval``. A pass
is bounded batches (``store.retention``) with a pause between them, so a backlog of months
drains without starving the intake and the runs of the database. Each pass reads the
current resources, so a changed OperatorConfig counts from the next pass on.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import datetime, timedelta

import structlog

from punching_fist.clock import Clock, SystemClock
from punching_fist.observability.metrics import Metrics
from punching_fist.resources.durations import parse_duration
from punching_fist.resources.loader import ResourceSet
from punching_fist.resources.operator_config import RetentionSettings
from punching_fist.store.database import Database
from punching_fist.store.retention import Cutoffs, delete_batch

log = structlog.get_logger(__name__)

DEFAULT_INTERVAL = parse_duration(RetentionSettings().interval)


def cutoffs(settings: RetentionSettings, now: datetime) -> Cutoffs:
    return Cutoffs(
        resolved_alerts=now - parse_duration(settings.resolved_alerts),
        finished_runs=now - parse_duration(settings.finished_runs),
        audit_events=now - parse_duration(settings.audit_events),
    )


class Retention:
    """Runs purges in the background; ``purge`` is one pass (tests call it directly)."""

    def __init__(
        self,
        database: Database,
        resources: Callable[[], ResourceSet],
        metrics: Metrics,
        *,
        clock: Clock | None = None,
        first_delay: timedelta = timedelta(minutes=1),
        pause: float = 0.2,
    ) -> None:
        self._database = database
        self._resources = resources
        self._metrics = metrics
        self._clock = clock or SystemClock()
        self._first_delay = first_delay
        self._pause = pause
        self._task: asyncio.Task[None] | None = None

    def settings(self) -> RetentionSettings:
        config = self._resources().operator_config
        return config.spec.retention if config is not None else RetentionSettings()

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="retention")

    async def stop(self) -> None:
        if self._task is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    async def purge(self) -> dict[str, int]:
        """Delete in batches until nothing is left to delete; rows changed per table."""
        settings = self.settings()
        if not settings.enabled:
            return {}
        limits = cutoffs(settings, self._clock.now())
        totals: dict[str, int] = {}
        while True:
            batch = await delete_batch(self._database, limits, limit=settings.batch_size)
            for table, count in batch.rows.items():
                totals[table] = totals.get(table, 0) + count
                self._metrics.retention_rows.labels(table).inc(count)
            if not batch.total:
                break
            await asyncio.sleep(self._pause)  # let the intake and the runs have the database
        if totals:
            log.info("retention purged old rows", **totals)
        return totals

    async def _loop(self) -> None:
        next_pass = self._clock.now() + self._first_delay
        while True:
            await self._clock.sleep_until(next_pass)
            interval = DEFAULT_INTERVAL
            try:
                interval = parse_duration(self.settings().interval)
                await self.purge()
            except Exception:  # the database may be away; the next pass tries again
                log.exception("retention pass failed")
            next_pass = self._clock.now() + interval
