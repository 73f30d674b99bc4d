"""Schedules keep wall-clock time in their zone across DST changes, and catch up a missed run
once after downtime: a served app on SQLite and PostgreSQL, its schedules on a fake clock."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from sqlalchemy import select, update

from punching_fist.errors import ResourceValidationError
from punching_fist.resources.loader import ResourceSet
from punching_fist.server.service import Service
from punching_fist.sources.schedule import ScheduleRunner
from punching_fist.store.database import Database
from punching_fist.store.resources_sync import sync_resources
from punching_fist.store.tables import sources, workflow_runs
from tests.support.fake_clock import FakeClock
from tests.support.server import resources_from_yaml, running_server

pytestmark = pytest.mark.integration

WORKFLOW = """
apiVersion: punchingfist.io/v1alpha1
kind: Workflow
metadata: {name: report}
spec:
  steps:
    - name: tick
      type: cli
      command: echo "{{ .source.data.scheduledAt }}"
"""


def _resources(**schedules: str) -> ResourceSet:
    documents = [
        f"""
apiVersion: punchingfist.io/v1alpha1
kind: Source
metadata: {{name: {name}}}
spec:
  type: schedule
  config: {config}
  triggerWorkflow: report
"""
        for name, config in schedules.items()
    ]
    return resources_from_yaml("---".join([*documents, WORKFLOW]))


def _on_clock(clock: FakeClock) -> Callable[[Service], None]:
    def configure(service: Service) -> None:
        service.schedules = ScheduleRunner(
            service.registry, service.trigger_run, clock=clock, database=service.database
        )

    return configure


async def _scheduled(database_url: str) -> dict[str, list[tuple[str, bool]]]:
    """Per source, the runs' scheduled times (UTC) and whether each caught up a missed one."""
    database = Database(database_url)
    try:
        async with database.connect() as conn:
            rows = list(await conn.execute(select(workflow_runs.c.source_context)))
    finally:
        await database.close()
    found: dict[str, list[tuple[str, bool]]] = {}
    for (context,) in rows:
        data = context["data"]
        found.setdefault(context["name"], []).append(
            (data["scheduledAt"], data.get("caughtUp", False))
        )
    return {name: sorted(times) for name, times in found.items()}


async def test_a_time_skipped_by_spring_forward_runs_once_at_the_next_valid_time(
    database_url: str,
) -> None:
    # New York, 8 March 2026: 02:00 EST becomes 03:00 EDT; 02:30 does not exist that day.
    resources = _resources(nightly='{cron: "30 2 * * *", timezone: America/New_York}')
    clock = FakeClock(datetime(2026, 3, 7, 12, 0, tzinfo=UTC))
    async with running_server(resources, database_url, configure=_on_clock(clock)) as server:
        await clock.wait_for_sleepers(1)
        await clock.advance(3 * 86400)
        await server.settle()
        started = server.service.metrics.registry.get_sample_value(
            "punchingfist_source_events_total",
            {"source": "nightly", "type": "schedule", "outcome": "started"},
        )
    assert started == 3
    assert await _scheduled(database_url) == {
        "nightly": [
            ("2026-03-08T07:00:00+00:00", False),  # 03:00 EDT, the first valid minute
            ("2026-03-09T06:30:00+00:00", False),  # 02:30 EDT
            ("2026-03-10T06:30:00+00:00", False),
        ]
    }


async def test_a_named_hour_repeated_by_fall_back_runs_once(database_url: str) -> None:
    # New York, 1 November 2026: 02:00 EDT becomes 01:00 EST; 01:00-02:00 happens twice.
    resources = _resources(
        nightly='{cron: "30 1 * * *", timezone: America/New_York}',
        halfhourly='{cron: "*/30 * * * *", timezone: America/New_York}',
    )
    clock = FakeClock(datetime(2026, 11, 1, 4, 50, tzinfo=UTC))  # 00:50 EDT
    async with running_server(resources, database_url, configure=_on_clock(clock)) as server:
        await clock.wait_for_sleepers(2)
        await clock.advance(2 * 3600 + 20 * 60)  # to 02:10 EST (07:10 UTC)
        await server.settle()
    scheduled = await _scheduled(database_url)
    assert scheduled["nightly"] == [("2026-11-01T05:30:00+00:00", False)]  # 01:30 EDT only
    # Every-half-hour schedules keep their interval through the repeated hour.
    assert [at for at, _ in scheduled["halfhourly"]] == [
        "2026-11-01T05:00:00+00:00",  # 01:00 EDT
        "2026-11-01T05:30:00+00:00",  # 01:30 EDT
        "2026-11-01T06:00:00+00:00",  # 01:00 EST
        "2026-11-01T06:30:00+00:00",  # 01:30 EST
        "2026-11-01T07:00:00+00:00",  # 02:00 EST
    ]


async def _seed(database_url: str, resources: ResourceSet) -> None:
    """The sources as a server left them that last ran at noon on 1 March, then stopped."""
    database = Database(database_url)
    try:
        await database.migrate()
        await sync_resources(database, resources)
        async with database.transaction() as conn:
            await conn.execute(
                update(sources).values(
                    created_at=datetime(2026, 2, 1, tzinfo=UTC),
                    last_event_at=datetime(2026, 3, 1, 12, 0, 1, tzinfo=UTC),
                )
            )
    finally:
        await database.close()


async def test_after_downtime_the_latest_missed_run_is_caught_up_once(database_url: str) -> None:
    resources = _resources(
        daily='{cron: "0 12 * * *"}',
        strict='{cron: "0 12 * * *", catchUp: false}',
    )
    await _seed(database_url, resources)
    # Back on 4 March at 15:00: the ticks of 2, 3 and 4 March were missed.
    clock = FakeClock(datetime(2026, 3, 4, 15, 0, tzinfo=UTC))
    for _ in range(2):  # a second start (another replica, a restart) catches up nothing more
        async with running_server(resources, database_url, configure=_on_clock(clock)) as server:
            await clock.wait_for_sleepers(2)
            await server.settle()
    assert await _scheduled(database_url) == {"daily": [("2026-03-04T12:00:00+00:00", True)]}
    async with running_server(resources, database_url, configure=_on_clock(clock)) as server:
        await clock.wait_for_sleepers(2)
        await clock.advance(86400)  # the schedules go on as usual
        await server.settle()
    assert await _scheduled(database_url) == {
        "daily": [("2026-03-04T12:00:00+00:00", True), ("2026-03-05T12:00:00+00:00", False)],
        "strict": [("2026-03-05T12:00:00+00:00", False)],
    }


async def test_a_new_source_catches_up_nothing(database_url: str) -> None:
    resources = _resources(daily='{cron: "0 12 * * *"}')
    clock = FakeClock(datetime.now(UTC))
    async with running_server(resources, database_url, configure=_on_clock(clock)) as server:
        await clock.wait_for_sleepers(1)
        await server.settle()
    assert await _scheduled(database_url) == {}


def test_an_unknown_time_zone_is_an_error_naming_it() -> None:
    with pytest.raises(ResourceValidationError, match=r"unknown time zone 'Europe/Berlln'.*Berlin"):
        _resources(bad='{cron: "0 12 * * *", timezone: Europe/Berlln}')
