"""KPI benchmark: how long ``GET /api/v1/kpis`` takes to compute over a month of incidents.

Run: ``.venv/bin/python bench/kpis.py`` (``--postgres`` adds PostgreSQL 15 from the test
harness). Seeds ``--incidents`` incidents over 30 days, ``--alerts`` alerts each (triaged,
resolved, one in ten escalated, one in five auto-resolved), one run per alert with an agent
step (the first alert's ran, the others' were attached and skipped) and one LLM audit row per
investigation, and feedback on half the incidents; then computes the KPIs of the whole month,
of one week and of one source five times each and prints the median and the slowest.
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

from sqlalchemy import insert

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.harness.postgres import running_postgres  # noqa: E402

from punching_fist.incidents.kpis import compute_kpis  # noqa: E402
from punching_fist.resources.kpi_settings import KpiSettings  # noqa: E402
from punching_fist.store.database import Database  # noqa: E402
from punching_fist.store.kpis import KpiFilter  # noqa: E402
from punching_fist.store.tables import (  # noqa: E402
    alerts,
    audit_events,
    incident_feedback,
    incidents,
    step_results,
    workflow_runs,
)

NOW = datetime.now(UTC)
CHUNK = 1_000
PRICES = KpiSettings.model_validate(
    {"prices": {"gpt-4o-mini": {"inputPerMillion": 0.15, "outputPerMillion": 0.6}}}
)


def _incident_rows(n: int, per: int, count: int) -> dict[str, list[dict[str, Any]]]:
    """Incident ``n`` of ``count``, spread evenly over the 30 days."""
    opened = NOW - timedelta(days=30) + timedelta(seconds=n * (30 * 86_400 - 3_600) / count)
    incident_id = uuid.uuid4()
    rows: dict[str, list[dict[str, Any]]] = {
        "incidents": [
            {
                "id": incident_id,
                "title": f"incident {n}",
                "status": "resolved",
                "severity": "critical" if n % 3 else "warning",
                "alerts_count": per,
                "created_at": opened,
                "resolved_at": opened + timedelta(seconds=300 + n % 1_800),
                "mttr_seconds": 300 + n % 1_800,
                "updated_at": opened,
            }
        ],
        "alerts": [],
        "runs": [],
        "steps": [],
        "audit": [],
        "feedback": [],
    }
    for a in range(per):
        alert_id, run_id = uuid.uuid4(), uuid.uuid4()
        received = opened + timedelta(seconds=a)
        rows["alerts"].append(
            {
                "id": alert_id,
                "fingerprint": f"{n}-{a}",
                "status": "resolved",
                "severity": rows["incidents"][0]["severity"],
                "alert_name": "PodCrashLooping",
                "source_name": f"am-{n % 4}",
                "received_at": received,
                "triage_completed_at": received + timedelta(seconds=20 + n % 100),
                "resolved_at": received + timedelta(seconds=600),
                "escalated_at": received + timedelta(seconds=60) if n % 10 == 0 else None,
                "auto_resolved": n % 5 == 0,
                "incident_id": incident_id,
                "last_seen_at": received,
                "active": False,
            }
        )
        rows["runs"].append(
            {
                "id": run_id,
                "workflow_name": "triage",
                "alert_id": alert_id,
                "status": "succeeded",
                "source_context": {},
                "created_at": received,
            }
        )
        rows["steps"].append(
            {
                "id": uuid.uuid4(),
                "run_id": run_id,
                "position": 0,
                "name": "investigate",
                "type": "agent",
                "status": "succeeded" if a == 0 else "skipped",
            }
        )
        if a == 0:
            rows["audit"].append(
                {
                    "id": uuid.uuid4(),
                    "run_id": run_id,
                    "kind": "llm",
                    "name": "gpt-4o-mini",
                    "usage": {"input_tokens": 4_000, "output_tokens": 600},
                    "created_at": received,
                }
            )
    if n % 2 == 0:
        rows["feedback"].append(
            {
                "id": uuid.uuid4(),
                "incident_id": incident_id,
                "root_cause_correct": n % 4 == 0,
                "human_needed": n % 10 == 0 or None,
                "given_by": "sre",
                "source": "api",
                "given_at": opened + timedelta(hours=1),
            }
        )
    return rows


async def seed(db: Database, count: int, per: int) -> None:
    tables = {
        "incidents": incidents,
        "alerts": alerts,
        "runs": workflow_runs,
        "steps": step_results,
        "audit": audit_events,
        "feedback": incident_feedback,
    }
    for start in range(0, count, CHUNK):
        batch: dict[str, list[dict[str, Any]]] = {name: [] for name in tables}
        for n in range(start, min(start + CHUNK, count)):
            for name, rows in _incident_rows(n, per, count).items():
                batch[name] += rows
        async with db.transaction() as conn:
            for name, table in tables.items():
                if batch[name]:
                    await conn.execute(insert(table), batch[name])


async def timed(db: Database, window: KpiFilter, repeats: int) -> tuple[float, float, int]:
    seconds = []
    found: dict[str, Any] = {}
    for _ in range(repeats):
        started = time.perf_counter()
        found = await compute_kpis(db, window, PRICES)
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds), max(seconds), int(found["incidents"])


async def measure(url: str, label: str, args: argparse.Namespace) -> None:
    db = Database(url)
    await db.migrate()
    started = time.perf_counter()
    await seed(db, args.incidents, args.alerts)
    print(
        f"{label}: seeded {args.incidents} incidents, {args.incidents * args.alerts} alerts"
        f" in {time.perf_counter() - started:.1f}s"
    )
    month = KpiFilter(since=NOW - timedelta(days=31), until=NOW)
    week = KpiFilter(since=NOW - timedelta(days=7), until=NOW)
    source = KpiFilter(since=NOW - timedelta(days=31), until=NOW, source="am-1")
    for name, window in (("30 days", month), ("7 days", week), ("30 days, one source", source)):
        median, worst, count = await timed(db, window, args.repeats)
        print(
            f"{label}: {name:>20}: {count:>6} incidents, median {median * 1000:.0f} ms,"
            f" slowest {worst * 1000:.0f} ms"
        )
    await db.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=10_000)
    parser.add_argument("--alerts", type=int, default=5, help="alerts per incident")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--postgres", action="store_true")
    args = parser.parse_args()
    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        asyncio.run(measure(f"sqlite+aiosqlite:///{folder / 'kpis.db'}", "sqlite", args))
        if args.postgres:
            server = stack.enter_context(running_postgres())
            asyncio.run(measure(server.async_url, "postgresql", args))


if __name__ == "__main__":
    main()
