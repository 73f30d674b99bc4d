"""The ``schedule`` source and alert-less runs, on SQLite and PostgreSQL.

A tick creates one run however many replicas tick (the run id comes from the source and the
scheduled time); schedules start and stop as the resources change. The schedules keep a fake
clock, so every count is exact.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from punching_fist.server.service import Service
from punching_fist.sources.schedule import ScheduleRunner
from punching_fist.store.database import Database
from punching_fist.store.resources_sync import sync_resources
from punching_fist.store.tables import sources, workflow_runs
from punching_fist.store.triggers import create_triggered_run, trigger_run_id
from tests.support.fake_clock import FakeClock
from tests.support.server import resources_from_yaml, running_server

pytestmark = pytest.mark.integration

RESOURCES = """
apiVersion: punchingfist.io/v1alpha1
kind: Source
metadata: {name: nightly}
spec:
  type: schedule
  config: {cron: "* * * * * *", timezone: Europe/Berlin}
  triggerWorkflow: report
  context: {team: ops}
---
apiVersion: punchingfist.io/v1alpha1
kind: Workflow
metadata: {name: report}
spec:
  steps:
    - name: tick
      type: cli
      command: echo "{{ .source.type }} {{ .source.name }} {{ .source.context.team }} {{ .source.data.scheduledAt }}"
  outputs:
    - {name: line, value: "{{ .steps.tick.result.stdout | trim }}"}
  sinks: [out]
---
apiVersion: punchingfist.io/v1alpha1
kind: Sink
metadata: {name: out}
spec:
  type: stdout
"""


# Half a second past a full second: the every-second cron is next due at 12:00:01 UTC.
START = datetime(2026, 3, 1, 12, 0, 0, 500_000, tzinfo=UTC)
TICKS = [f"2026-03-01T12:00:0{second}+00:00" for second in (1, 2, 3)]


def on_clock(clock: FakeClock) -> Callable[[Service], None]:
    """For ``running_server``: the service's schedules keep ``clock``."""

    def configure(service: Service) -> None:
        service.schedules = ScheduleRunner(service.registry, service.trigger_run, clock=clock)

    return configure


async def _runs(database_url: str) -> list[Any]:
    database = Database(database_url)
    try:
        async with database.connect() as conn:
            rows = await conn.execute(
                select(workflow_runs).where(workflow_runs.c.workflow_name == "report")
            )
            return list(rows)
    finally:
        await database.close()


async def test_a_trigger_creates_one_run_however_often_it_is_seen(database_url: str) -> None:
    database = Database(database_url)
    await database.migrate()
    await sync_resources(database, resources_from_yaml(RESOURCES))
    try:
        context = {"name": "nightly", "type": "schedule", "context": {}, "data": {}}
        results = await asyncio.gather(
            *(
                create_triggered_run(
                    database,
                    trigger_key="schedule/nightly/2026-01-01T00:00:00+00:00",
                    source_name="nightly",
                    workflow_name="report",
                    source_context=context,
                )
                for _ in range(5)
            )
        )
        created = [r for r in results if r is not None]
        assert created == [trigger_run_id("schedule/nightly/2026-01-01T00:00:00+00:00")]
        async with database.connect() as conn:
            count = len(list(await conn.execute(select(workflow_runs.c.id))))
            counter = (
                await conn.execute(
                    select(sources.c.events_processed).where(sources.c.name == "nightly")
                )
            ).scalar_one()
        assert count == 1
        assert counter == 1
    finally:
        await database.close()


async def test_schedule_ticks_run_the_workflow_and_stop_with_the_source(
    database_url: str,
) -> None:
    resources = resources_from_yaml(RESOURCES)
    clock = FakeClock(START)
    async with running_server(resources, database_url, configure=on_clock(clock)) as server:
        assert server.service.schedules is not None
        assert server.service.schedules.scheduled == {"nightly"}
        await clock.wait_for_sleepers(1)
        await clock.advance(3)  # 12:00:03.5: the ticks of 12:00:01, :02 and :03
        await server.settle()
        assert len(await _runs(database_url)) == 3
        server.service.registry.replace(
            resources_from_yaml(RESOURCES.split("---", 1)[1])  # the Source removed
        )
        assert server.service.schedules.scheduled == set()
        await server.settle()
        assert clock.sleeping == 0
        await clock.advance(10)  # nothing ticks any more
        await server.settle()
        runs = await _runs(database_url)
        output = server.sink_output()
    assert all(run.status == "succeeded" for run in runs)
    contexts = [run.source_context for run in runs]
    assert {c["type"] for c in contexts} == {"schedule"}
    assert {c["name"] for c in contexts} == {"nightly"}
    assert sorted(c["data"]["scheduledAt"] for c in contexts) == TICKS
    assert all(f"schedule nightly ops {tick}" in output for tick in TICKS)


async def test_two_replicas_on_postgresql_create_each_tick_once(postgres_url: str) -> None:
    resources = resources_from_yaml(RESOURCES)
    clock = FakeClock(START)  # one clock: both replicas tick at the same moments
    async with (
        running_server(
            resources, postgres_url, configure=on_clock(clock), owner=f"a-{uuid.uuid4().hex[:4]}"
        ) as first,
        running_server(
            resources, postgres_url, configure=on_clock(clock), owner=f"b-{uuid.uuid4().hex[:4]}"
        ) as second,
    ):
        await clock.wait_for_sleepers(2)
        await clock.advance(3)  # three ticks, each seen by both replicas at once
        for server in (first, second):
            server.service.registry.replace(resources_from_yaml(RESOURCES.split("---", 1)[1]))
        await first.settle()
        await second.settle()
        outputs = first.sink_output() + second.sink_output()
    runs = await _runs(postgres_url)
    scheduled = [run.source_context["data"]["scheduledAt"] for run in runs]
    assert sorted(scheduled) == TICKS
    assert all(run.status == "succeeded" for run in runs)
    # Every tick's run was delivered exactly once, by one of the two replicas.
    delivered = [line for line in outputs.splitlines() if line.strip()]
    assert len(delivered) == len(scheduled)
    assert all(sum(s in line for line in delivered) == 1 for s in scheduled)
