"""Retention benchmark: how fast a backlog is purged, and what the batches cost other writers.

Run: ``.venv/bin/python bench/retention.py`` (``--postgres`` adds PostgreSQL 15 from the
test harness). Seeds ``--runs`` finished runs 40 days old, each with ``--steps`` step results,
a sink delivery, two audit events (one past the audit retention, one not) and a resolved
alert, plus a tenth as many recent runs that must stay. Then purges with the defaults in
batches of ``--batch`` rows while a writer commits one small transaction every 10 ms (as the
intake would), and prints the purge's rate, each batch's duration and that writer's latency.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.harness.postgres import running_postgres  # noqa: E402

from punching_fist.resources.operator_config import RetentionSettings  # noqa: E402
from punching_fist.server.retention import cutoffs  # noqa: E402
from punching_fist.store.database import Database  # noqa: E402
from punching_fist.store.retention import delete_batch  # noqa: E402
from punching_fist.store.tables import (  # noqa: E402
    alerts,
    audit_events,
    sink_deliveries,
    sources,
    step_results,
    workflow_runs,
)

NOW = datetime.now(UTC)
CHUNK = 2_000


async def seed(db: Database, runs: int, steps: int) -> int:
    """Insert the backlog; returns how many rows are due to go (or be unlinked)."""
    old, recent = NOW - timedelta(days=40), NOW - timedelta(days=5)
    for start in range(0, runs + runs // 10, CHUNK):
        count = min(CHUNK, runs + runs // 10 - start)
        rows: dict[str, list[dict[str, Any]]] = {
            "alerts": [],
            "runs": [],
            "steps": [],
            "deliveries": [],
            "audit": [],
        }
        for n in range(start, start + count):
            when = old if n < runs else recent
            alert_id, run_id = uuid.uuid4(), uuid.uuid4()
            rows["alerts"].append(
                {
                    "id": alert_id,
                    "fingerprint": f"f{n}",
                    "status": "resolved",
                    "severity": "warning",
                    "alert_name": "Bench",
                    "source_name": "bench",
                    "received_at": when,
                    "last_seen_at": when,
                    "resolved_at": when,
                    "active": False,
                }
            )
            rows["runs"].append(
                {
                    "id": run_id,
                    "workflow_name": "bench",
                    "alert_id": alert_id,
                    "status": "succeeded",
                    "source_context": {"n": n},
                    "created_at": when,
                    "updated_at": when,
                    "completed_at": when,
                }
            )
            rows["steps"] += [
                {
                    "id": uuid.uuid4(),
                    "run_id": run_id,
                    "position": p,
                    "name": f"s{p}",
                    "type": "cli",
                    "status": "succeeded",
                    "result": {"stdout": "x" * 200},
                }
                for p in range(steps)
            ]
            rows["deliveries"].append(
                {
                    "id": uuid.uuid4(),
                    "run_id": run_id,
                    "sink_name": "out",
                    "sink_type": "stdout",
                    "status": "delivered",
                }
            )
            rows["audit"] += [
                {
                    "id": uuid.uuid4(),
                    "run_id": run_id,
                    "kind": "tool",
                    "name": "kubectl",
                    "created_at": when - timedelta(days=days),
                }
                for days in (0, 60)
            ]
        async with db.transaction() as conn:
            await conn.execute(insert(alerts), rows["alerts"])
            await conn.execute(insert(workflow_runs), rows["runs"])
            await conn.execute(insert(step_results), rows["steps"])
            await conn.execute(insert(sink_deliveries), rows["deliveries"])
            await conn.execute(insert(audit_events), rows["audit"])
    # Per old run: the run, its alert, steps, delivery, an audit row deleted, one unlinked.
    return runs * (1 + 1 + steps + 1 + 2)


async def writer(db: Database, latencies: list[float], stop: asyncio.Event) -> None:
    """One small transaction every 10 ms, as the intake's commits would be."""
    source_id = uuid.uuid4()
    async with db.transaction() as conn:
        await conn.execute(
            insert(sources).values(id=source_id, name="bench-writer", type="webhook", spec={})
        )
    while not stop.is_set():
        started = time.perf_counter()
        async with db.transaction() as conn:
            await conn.execute(
                sources.update().where(sources.c.id == source_id).values(last_event_at=NOW)
            )
        latencies.append(time.perf_counter() - started)
        await asyncio.sleep(0.01)


async def measure(
    name: str, url: str, *, runs: int, steps: int, batch_size: int, pause: float
) -> None:
    db = Database(url)
    await db.migrate()
    due = await seed(db, runs, steps)
    limits = cutoffs(RetentionSettings(), NOW)
    durations: list[float] = []
    latencies: list[float] = []
    stop = asyncio.Event()
    background = asyncio.create_task(writer(db, latencies, stop))
    await asyncio.sleep(0.2)
    baseline = list(latencies)
    started = time.perf_counter()
    changed = 0
    while True:
        t0 = time.perf_counter()
        batch = await delete_batch(db, limits, limit=batch_size)
        durations.append(time.perf_counter() - t0)
        changed += batch.total
        if not batch.total:
            break
        await asyncio.sleep(pause)
    elapsed = time.perf_counter() - started
    stop.set()
    await background
    async with db.connect() as conn:
        left = (await conn.execute(select(func.count()).select_from(workflow_runs))).scalar_one()
    await db.close()
    during = latencies[len(baseline) :]
    ms = sorted(d * 1000 for d in durations)
    lat = sorted(v * 1000 for v in during)
    print(
        f"{name}: {changed:,} rows changed (expected {due:,}) in {elapsed:.1f} s"
        f" = {changed / elapsed:,.0f} rows/s, {len(durations)} transactions;"
        f" batch p50 {statistics.median(ms):.1f} ms, max {ms[-1]:.1f} ms;"
        f" runs left {left:,} (expected {runs // 10:,});"
        f" other writer during the purge: p50 {statistics.median(lat):.1f} ms,"
        f" p99 {lat[int(len(lat) * 0.99)]:.1f} ms, max {lat[-1]:.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20_000)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--batch", type=int, default=1_000)
    parser.add_argument("--pause", type=float, default=0.0, help="seconds between batches")
    parser.add_argument("--postgres", action="store_true", help="also measure PostgreSQL")
    args = parser.parse_args()
    with ExitStack() as stack:
        directory = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        targets = [("SQLite", f"sqlite+aiosqlite:///{directory / 'bench.db'}")]
        if args.postgres:
            targets.append(("PostgreSQL 15", stack.enter_context(running_postgres()).async_url))
        for name, url in targets:
            asyncio.run(
                measure(
                    name,
                    url,
                    runs=args.runs,
                    steps=args.steps,
                    batch_size=args.batch,
                    pause=args.pause,
                )
            )


if __name__ == "__main__":
    main()
