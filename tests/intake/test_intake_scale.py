"""A 10,000-alert notification: linear in memory and storage, and nobody waits behind it.

Before issue 14 every run stored the whole notification: a 910 KB notification of 10,000
alerts became 9.1 GB of run context, 8.9 GB of RSS and three minutes of commits, while
another sender's single alert waited 14 s. Here, on SQLite and PostgreSQL, 10,000 alerts
cost at most about five times what 2,000 cost, within fixed bounds, and single alerts from
another sender are acknowledged in a median of at most 100 ms (each within 1 s) while they
are stored, measured against a real ``punching-fist serve`` process over loopback.
"""

from __future__ import annotations

import asyncio
import json
import time
import tracemalloc
from pathlib import Path

import httpx
from sqlalchemy import text

from punching_fist.store.database import Database
from tests.support.payloads import alert, notification
from tests.support.process import ServerProcess
from tests.support.server import resources_from_yaml, running_server

RESOURCES = """
apiVersion: punchingfist.io/v1alpha1
kind: Source
metadata: {name: probe}
spec:
  type: webhook
  config: {path: /probe}
  triggerWorkflow: wf
---
apiVersion: punchingfist.io/v1alpha1
kind: Source
metadata: {name: other}
spec:
  type: webhook
  config: {path: /other}
  triggerWorkflow: wf
---
apiVersion: punchingfist.io/v1alpha1
kind: Workflow
metadata: {name: wf}
spec:
  steps:
    - {name: never, type: conditional, condition: "false", command: "true"}
  sinks: []
"""


def big_notification(count: int, prefix: str) -> bytes:
    """``count`` alerts in as few bytes as Alertmanager's own (the probe's were ~91 each)."""
    alerts = [
        {
            "status": "firing",
            "labels": {"alertname": "Probe", "n": f"{n:05d}"},
            "fingerprint": f"{prefix}{n:05d}",
        }
        for n in range(count)
    ]
    payload = {**notification(), "alerts": alerts}
    return json.dumps(payload, separators=(",", ":")).encode()


async def stored_bytes(database: Database) -> int:
    """What the database holds: pages in use (SQLite), relation sizes (PostgreSQL)."""
    async with database.connect() as conn:
        if database.is_sqlite:
            pages = (await conn.execute(text("PRAGMA page_count"))).scalar_one()
            free = (await conn.execute(text("PRAGMA freelist_count"))).scalar_one()
            size = (await conn.execute(text("PRAGMA page_size"))).scalar_one()
            return int((pages - free) * size)
        query = (
            "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = 'public' AND c.relkind = 'r'"
        )
        return int((await conn.execute(text(query))).scalar_one())


async def test_memory_and_storage_grow_linearly_with_the_alerts(database_url: str) -> None:
    figures: dict[int, tuple[int, int]] = {}
    # No workers: what is measured is the intake, not the runs it starts.
    async with running_server(
        resources_from_yaml(RESOURCES), database_url, run_concurrency=0
    ) as server:
        database = server.service.database
        for count in (2_000, 10_000):
            body = big_notification(count, prefix=f"c{count}-")
            before = await stored_bytes(database)
            tracemalloc.start()
            try:
                baseline = tracemalloc.get_traced_memory()[0]
                response = await server.client.post(
                    "/probe", content=body, headers={"content-type": "application/json"}
                )
                peak = tracemalloc.get_traced_memory()[1] - baseline
            finally:
                tracemalloc.stop()
            assert response.status_code == 202, response.text[:500]
            assert len(response.json()["alerts"]) == count
            figures[count] = (peak, await stored_bytes(database) - before)
    (small_memory, small_stored), (memory, stored) = figures[2_000], figures[10_000]
    print(
        f"\nintake of 2,000 / 10,000 alerts: peak memory {small_memory / 1e6:.1f} / {memory / 1e6:.1f} MB, stored {small_stored / 1e6:.1f} / {stored / 1e6:.1f} MB"
    )
    assert memory <= 6 * small_memory
    assert stored <= 6 * small_stored
    assert memory <= 40e6  # measured: 12 MB; each run storing the notification: GBs
    assert stored <= 40e6  # measured: 13 MB


async def test_another_sender_is_answered_within_100_ms_while_10000_alerts_are_stored(
    database_url: str, tmp_path: Path
) -> None:
    folder = tmp_path / "resources"
    folder.mkdir()
    (folder / "resources.yaml").write_text(RESOURCES)
    server = ServerProcess(
        resources=folder,
        database_url=database_url,
        workdir=tmp_path,
        extra_args=["--log-level", "warning"],
    )
    server.start()
    try:
        waits, big, took = await _measure(server.url, big_notification(10_000, prefix="big-"))
    finally:
        server.stop()
    assert big.status_code == 202, big.text[:500]
    assert len(big.json()["alerts"]) == 10_000
    waits.sort()
    median, slowest = waits[len(waits) // 2], waits[-1]
    print(
        f"\n10,000 alerts stored in {took:.1f} s; {len(waits)} single alerts meanwhile: median"
        f" {median * 1000:.0f} ms, 90th percentile {waits[int(len(waits) * 0.9)] * 1000:.0f} ms,"
        f" slowest {slowest * 1000:.0f} ms"
    )
    assert len(waits) >= 10  # the big one took a while: there was a "meanwhile"
    assert median <= 0.100
    # Before slicing, the second sender waited for the whole notification (14 s for 3,000
    # alerts). What remains above 100 ms is the machine's: on a shared 2-core runner a
    # single alert to an idle server already takes up to ~120 ms now and then.
    assert slowest <= 1.0


async def _measure(url: str, body: bytes) -> tuple[list[float], httpx.Response, float]:
    """Single alerts from another sender, one after another, while ``body`` is stored:
    their round trips, the big one's answer and how long it took."""
    headers = {"content-type": "application/json"}
    async with (
        httpx.AsyncClient(base_url=url, timeout=120) as sender,
        httpx.AsyncClient(base_url=url, timeout=30) as other,
    ):
        await other.post("/other", json=notification(alert(fingerprint="warm-up")))
        started_big = time.perf_counter()
        big = asyncio.create_task(sender.post("/probe", content=body, headers=headers))
        waits: list[float] = []
        n = 0
        while not big.done():
            n += 1
            single = notification(alert(fingerprint=f"single-{n}"))
            started = time.perf_counter()
            response = await other.post("/other", json=single)
            waits.append(time.perf_counter() - started)
            assert response.status_code == 202
            await asyncio.sleep(0.02)
        answer = await big
        return waits, answer, time.perf_counter() - started_big
