"""The delivery store on SQLite and PostgreSQL: leases, attempts, correlations, counters."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import update

from punching_fist.store.chains import ChainedRuns
from punching_fist.store.database import Database
from punching_fist.store.deliveries import AttemptRecord, DeliveryStore, StoredCorrelation
from punching_fist.store.delivery_queries import sink_statuses
from punching_fist.store.tables import sink_deliveries, utcnow
from tests.support.store_rows import insert_run

LEASE = timedelta(seconds=30)


async def new_run(
    db: Database,
    *,
    status: str = "running",
    parent: uuid.UUID | None = None,
    workflow: str = "triage",
) -> uuid.UUID:
    return await insert_run(db, workflow_name=workflow, status=status, parent_run_id=parent)


def record(attempt: int, outcome: str, error: str | None = None) -> AttemptRecord:
    return AttemptRecord(
        attempt=attempt, started_at=utcnow(), duration_ms=12.5, outcome=outcome, error=error
    )


async def test_a_leased_delivery_is_not_taken_by_another_owner_until_the_lease_lapses(
    database: Database,
) -> None:
    run_id = await new_run(database)
    mine = DeliveryStore(database, owner="a", lease=LEASE)
    theirs = DeliveryStore(database, owner="b", lease=LEASE)
    row = await mine.open(run_id, "slack", "slack", "alert:am:fp")
    assert row is not None
    assert row.attempts == 0
    assert await theirs.open(run_id, "slack", "slack", "alert:am:fp") is None
    assert await theirs.claim(row.id, statuses=("pending",)) is None

    async with database.transaction() as conn:  # the owner died: its lease runs out
        await conn.execute(
            update(sink_deliveries).values(lease_expires_at=utcnow() - timedelta(seconds=1))
        )
    taken = await theirs.open(run_id, "slack", "slack", "alert:am:fp")
    assert taken is not None
    assert taken.id == row.id


async def test_attempts_are_counted_before_they_happen_and_logged_after(
    database: Database,
) -> None:
    run_id = await new_run(database)
    store = DeliveryStore(database, owner="a", lease=LEASE)
    row = await store.open(run_id, "pd", "pagerduty", "alert:am:fp")
    assert row is not None
    assert await store.attempt_started(row.id, hold_for=LEASE) == 1
    await store.attempt_failed(
        row, record(1, "failed", "503"), status="pending", next_attempt_at=None
    )
    assert await store.attempt_started(row.id, hold_for=LEASE) == 2
    await store.delivered(
        row,
        record(2, "delivered"),
        response={"status": "success"},
        external_ref="dedup-1",
        remember=StoredCorrelation(external_ref="dedup-1", data={"k": "v"}),
    )
    assert await store.settled_sinks(run_id) == {"pd"}
    stored = await store.get(row.id)
    assert stored is not None
    assert (stored.status, stored.attempts, stored.external_ref) == ("delivered", 2, "dedup-1")
    assert await store.correlation("pd", "alert:am:fp") == StoredCorrelation(
        external_ref="dedup-1", data={"k": "v"}
    )


async def test_correlations_and_counters_are_upserted_safely_under_concurrency(
    database: Database,
) -> None:
    store = DeliveryStore(database, owner="a", lease=LEASE)
    rows = []
    for _ in range(8):
        run_id = await new_run(database)
        row = await store.open(run_id, "slack", "slack", "alert:am:same")
        assert row is not None
        rows.append(row)

    async def deliver(index: int) -> None:
        await store.delivered(
            rows[index],
            record(1, "delivered"),
            response={},
            external_ref=f"ts-{index}",
            remember=StoredCorrelation(external_ref=f"ts-{index}", data={}),
        )

    await asyncio.gather(*(deliver(i) for i in range(6)))
    for row in rows[6:]:
        await store.attempt_failed(
            row, record(1, "failed", "boom"), status="failed", next_attempt_at=None
        )
    statuses = await sink_statuses(database)
    assert statuses["slack"].messages_sent == 6
    assert statuses["slack"].last_error == "boom"
    assert statuses["slack"].last_sent_time is not None
    remembered = await store.correlation("slack", "alert:am:same")
    assert remembered is not None
    assert remembered.external_ref.startswith("ts-")


async def test_the_retrier_sees_due_parked_deliveries_and_orphans_of_finished_runs_only(
    database: Database,
) -> None:
    store = DeliveryStore(database, owner="a", lease=LEASE)
    running = await new_run(database, status="running")
    finished = await new_run(database, status="succeeded")
    in_run = await store.open(running, "s1", "slack", "k")
    orphan = await store.open(finished, "s1", "slack", "k")
    parked = await store.open(finished, "s2", "slack", "k")
    later = await store.open(finished, "s3", "slack", "k")
    assert in_run is not None
    assert orphan is not None
    assert parked is not None
    assert later is not None
    await store.defer(parked, until=utcnow() - timedelta(seconds=1), reason="breaker open")
    await store.defer(later, until=utcnow() + timedelta(hours=1), reason="backoff")
    assert {r.id for r in await store.due()} == {parked.id}  # the others are leased
    await store.release_orphans()
    assert {r.id for r in await store.due()} == {parked.id, orphan.id}  # not the running run's


async def test_lineage_walks_parent_runs_and_a_parent_starts_a_workflow_once(
    database: Database,
) -> None:
    chains = ChainedRuns(database)
    root = await new_run(database, workflow="triage")
    child, created = await chains.start(
        parent_run_id=root, workflow_name="escalation", source_name=None, source_context={}
    )
    again, created_again = await chains.start(
        parent_run_id=root, workflow_name="escalation", source_name=None, source_context={}
    )
    assert created
    assert not created_again
    assert again == child
    grandchild = await new_run(database, parent=child, workflow="page")
    assert [link.workflow_name for link in await chains.lineage(grandchild)] == [
        "page",
        "escalation",
        "triage",
    ]


async def test_migration_0003_creates_exactly_the_delivery_tables_the_code_queries(
    database: Database,
) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from punching_fist.store.tables import metadata

    def differences(connection: Any) -> list[Any]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))

    async with database.connect() as conn:
        found = await conn.run_sync(differences)
    ours = [d for d in found if "sink_" in repr(d)]
    assert ours == []
