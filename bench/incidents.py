"""Incidents benchmark: a storm of 10,000 notifications over 500 fingerprints in 20 workloads
must open exactly 20 incidents and start exactly 20 investigations.

Run: ``.venv/bin/python bench/incidents.py`` (``--postgres`` adds PostgreSQL).
``punching-fist serve`` runs in its own process with a workflow whose agent step asks the
OpenAI-compatible stand-in (``tests/support/fake_llm.py``, in this process): each
investigation is one request there, so the stand-in counts the investigations actually
started. Notifications come from a Python client, 64 at a time, each one alert of one of 25
pods of one of 20 Deployments, grouped by Alertmanager per Deployment; the rest are
Alertmanager's repeats. Exits non-zero unless both counts are exactly 20. The intake's
throughput under steady load is ``bench/ingest.py``'s figure (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from tests.harness.postgres import running_postgres  # noqa: E402
from tests.support.fake_llm import FakeLLM, Script, final  # noqa: E402
from tests.support.resources_yaml import pod_name, storm_triage  # noqa: E402
from tests.support.server import free_port  # noqa: E402

from ingest import process, serve_argv  # noqa: E402

NOTIFICATIONS = 10_000
FINGERPRINTS = 500
WORKLOADS = 20


def payload(n: int) -> dict[str, Any]:
    """Notification ``n``: fingerprint ``n % 500``; 25 fingerprints (pods) per Deployment."""
    fingerprint = n % FINGERPRINTS
    workload = fingerprint % WORKLOADS
    pod = pod_name(f"app{workload}", fingerprint)
    labels = {
        "alertname": "KubePodCrashLooping",
        "severity": "critical",
        "namespace": "bench",
        "pod": pod,
    }
    group = {"alertname": "KubePodCrashLooping", "deployment": f"app{workload}"}
    return {
        "version": "4",
        "groupKey": f'{{}}:{{alertname="KubePodCrashLooping",deployment="app{workload}"}}',
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "pf",
        "groupLabels": group,
        "commonLabels": labels,
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": [
            {
                "status": "firing",
                "labels": labels,
                "annotations": {"summary": f"{pod} crash-loops"},
                "startsAt": "2026-12-07T03:00:00Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus:9090/graph",
                "fingerprint": f"fp-{fingerprint}",
            }
        ],
    }


async def storm(url: str, concurrency: int) -> float:
    limit = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(timeout=60) as client:

        async def send(n: int) -> None:
            async with limit:
                response = await client.post(url, json=payload(n))
                response.raise_for_status()

        started = time.perf_counter()
        await asyncio.gather(*(send(n) for n in range(NOTIFICATIONS)))
        return time.perf_counter() - started


def settled(base: str, deadline: float = 120) -> dict[str, int]:
    """Once no run is pending or running: incidents, runs."""
    end = time.monotonic() + deadline
    while True:
        busy = sum(
            httpx.get(f"{base}/api/v1/runs", params={"status": s, "limit": 1}).json()["total"]
            for s in ("pending", "running")
        )
        if not busy or time.monotonic() > end:
            break
        time.sleep(0.5)
    incidents = httpx.get(f"{base}/api/v1/incidents", params={"limit": 1}).json()["total"]
    runs = httpx.get(f"{base}/api/v1/runs", params={"limit": 1}).json()["total"]
    return {"incidents": incidents, "runs": runs, "busy": busy}


def measure(label: str, db: str, tmp: Path, concurrency: int) -> bool:
    script = Script([final(summary="crash loop", root_cause="OOMKilled", confidence=0.9)])
    with FakeLLM(script) as llm:
        resources = tmp / f"resources-{label.split()[0].lower()}"
        resources.mkdir()
        (resources / "bench.yaml").write_text(
            storm_triage(llm.url, max_iterations=2, model="bench-model")
        )
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        with process(serve_argv(resources, db, port), f"{base}/readyz", tmp / "serve.log"):
            elapsed = asyncio.run(storm(f"{base}/webhook/alerts", concurrency))
            counts = settled(base)
        investigations = len(llm.answered())
    print(
        f"{label:<12} {NOTIFICATIONS:,} notifications in {elapsed:.1f}s "
        f"({NOTIFICATIONS / elapsed:,.0f}/s from a Python client, {concurrency} at a time) -> "
        f"{counts['runs']} runs, {counts['incidents']} incidents, "
        f"{investigations} investigations (expected {FINGERPRINTS}, {WORKLOADS}, {WORKLOADS})",
        flush=True,
    )
    return (
        counts["incidents"] == WORKLOADS
        and investigations == WORKLOADS
        and counts["runs"] == FINGERPRINTS
        and counts["busy"] == 0
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--postgres", action="store_true", help="also measure PostgreSQL")
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pf-incidents-") as name, ExitStack() as stack:
        tmp = Path(name)
        databases = [("SQLite", f"sqlite:///{tmp / 'bench.db'}")]
        if args.postgres:
            databases.append(("PostgreSQL", stack.enter_context(running_postgres()).async_url))
        ok = [measure(label, db, tmp, args.concurrency) for label, db in databases]
    if not all(ok):
        raise SystemExit("the storm did not give exactly 20 incidents and 20 investigations")


if __name__ == "__main__":
    main()
