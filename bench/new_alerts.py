"""New-alert intake benchmark: one notification of 10,000 new alerts, where its time goes.

Run: ``.venv/bin/python bench/new_alerts.py`` (``--postgres`` for PostgreSQL 15 instead of
SQLite; ``--without-incidents`` skips ``incidents.assign``, for the cost before incidents;
``--runs`` turns the run workers on, so the 10,000 runs execute while the intake stores).
The server runs in this process, by default with no run workers: what is timed is the intake,
the notification's 100 slices, each one commit. The calls of ``engine.intake.record_alerts``
into the store and into ``incidents.assign`` are wrapped with timers, so the figure comes
with its parts (tests/intake/test_intake_scale.py measures the same notification over HTTP
against a separate process, with runs executing).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.harness.postgres import running_postgres  # noqa: E402
from tests.intake.test_intake_scale import RESOURCES, big_notification  # noqa: E402
from tests.support.server import resources_from_yaml, running_server  # noqa: E402

import punching_fist.engine.intake as engine_intake  # noqa: E402
import punching_fist.incidents.assign as assign  # noqa: E402

SPENT: dict[str, float] = {}
CALLS: Counter[str] = Counter()


def timed(label: str, call: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return call(*args, **kwargs)
        finally:
            SPENT[label] = SPENT.get(label, 0.0) + time.perf_counter() - started
            CALLS[label] += 1

    return wrapper


def wrap(module: ModuleType, names: tuple[str, ...]) -> None:
    for name in names:
        if hasattr(module, name):  # an older checkout may lack one
            setattr(module, name, timed(name, getattr(module, name)))


def instrument(*, incidents: bool) -> None:
    wrap(engine_intake, ("record_alerts", "load_active", "write_intake"))
    wrap(assign, ("lock_keys", "read_batch", "write_incidents", "write_joins"))
    correlator: Any = assign.Correlator
    if incidents:
        correlator.assign = timed("assign", correlator.assign)
        correlator.settle = timed("settle", correlator.settle)
    else:
        correlator.assign = lambda *_args: assign.Assignment()
        correlator.settle = lambda *_args: []


async def measure(database_url: str, *, runs: bool) -> float:
    headers = {"content-type": "application/json"}
    workers: dict[str, Any] = {} if runs else {"run_concurrency": 0}
    async with running_server(resources_from_yaml(RESOURCES), database_url, **workers) as server:
        warm_up = await server.client.post(
            "/probe", content=big_notification(10, prefix="warm-"), headers=headers
        )
        assert warm_up.status_code == 202, warm_up.text[:300]
        SPENT.clear()
        CALLS.clear()
        body = big_notification(10_000, prefix="big-")
        started = time.perf_counter()
        response = await server.client.post("/probe", content=body, headers=headers, timeout=300)
        took = time.perf_counter() - started
        assert response.status_code == 202, response.text[:300]
        return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--without-incidents", action="store_true")
    parser.add_argument(
        "--runs", action="store_true", help="run workers on: the runs execute meanwhile"
    )
    args = parser.parse_args()
    instrument(incidents=not args.without_incidents)
    if args.postgres:
        with running_postgres() as postgres:
            took = asyncio.run(measure(postgres.async_url, runs=args.runs))
    else:
        with tempfile.TemporaryDirectory() as folder:
            took = asyncio.run(measure(f"sqlite+aiosqlite:///{folder}/pf.db", runs=args.runs))
    database = "PostgreSQL" if args.postgres else "SQLite"
    workers = "its runs executing meanwhile" if args.runs else "no run workers"
    print(f"{database}: 10,000 new alerts stored in {took:.2f} s (in-process, {workers})")
    for label, spent in sorted(SPENT.items(), key=lambda item: -item[1]):
        print(f"  {label:<22} {spent * 1000:7.0f} ms  {CALLS[label]} calls")


if __name__ == "__main__":
    main()
