"""Two replicas on one PostgreSQL; replica A is cut off from the database for longer than the
lease while its steps run. No step runs on both replicas at once: A stops its steps (and their
processes) before its leases lapse, B takes the runs over after, and what A could not finish
B runs again, marked as retried, except the step that runs at most once.

Every execution of a step appends timestamped lines to a file, so the test sees exactly where
and when each one ran.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import json
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from punching_fist.engine.step_attempts import INTERRUPTED
from tests.harness.postgres import PostgresServer
from tests.support.payloads import alert, notification
from tests.support.process import ServerProcess
from tests.support.tcp_proxy import TcpProxy

pytestmark = pytest.mark.integration

LEASE_SECONDS = 3.0
OUTAGE_SECONDS = 6.0
RUNS_PER_BATCH = 8

RESOURCES = """
apiVersion: punchingfist.io/v1alpha1
kind: Source
metadata: {name: alerts}
spec:
  type: webhook
  config: {path: /webhook/ha}
  triggerWorkflow: ticking
---
apiVersion: punchingfist.io/v1alpha1
kind: Workflow
metadata: {name: ticking}
spec:
  runtime:
    environment: {DIR: "MARKS", REPLICA: "NAME"}
  steps:
    - name: tick
      type: cli
      command: |
        for i in $(seq 1 50); do
          echo "{{ .workflow.runId }} $REPLICA $$ $(date +%s.%N)" >> "$DIR/ticks"
          sleep 0.1
        done
    - name: once
      type: cli
      idempotent: false
      command: |
        echo "{{ .workflow.runId }} $REPLICA $$" >> "$DIR/once"
        sleep 2
"""


@contextlib.contextmanager
def replica(name: str, database_url: str, tmp_path: Path, marks: Path) -> Iterator[ServerProcess]:
    folder = tmp_path / name
    (folder / "resources").mkdir(parents=True)
    text = RESOURCES.replace("MARKS", str(marks)).replace("NAME", name)
    (folder / "resources" / "all.yaml").write_text(text)
    server = ServerProcess(
        resources=folder / "resources",
        database_url=database_url,
        workdir=folder,
        extra_args=[
            *("--lease-seconds", str(LEASE_SECONDS)),
            *("--sweep-interval", "1"),
            *("--concurrency", "32"),
        ],
    )
    server.start(timeout=60)
    try:
        yield server
    finally:
        server.stop()


def _wait(reached: Callable[[], object], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not reached():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what}")
        time.sleep(0.1)


def _rows(path: Path) -> list[list[str]]:
    return [line.split() for line in path.read_text().splitlines()] if path.exists() else []


def _post(server: ServerProcess, batch: str) -> list[str]:
    alerts = [alert(fingerprint=f"{batch}-{n}") for n in range(RUNS_PER_BATCH)]
    answer = httpx.post(f"{server.url}/webhook/ha", json=notification(*alerts), timeout=30)
    assert answer.status_code == 202, answer.text
    return [entry["runId"] for entry in answer.json()["alerts"]]


def _finished(server: ServerProcess, runs: list[str]) -> dict[str, dict[str, Any]]:
    """Every run's detail once all of them finished; what each was doing if they do not."""
    deadline = time.monotonic() + 90
    details: dict[str, dict[str, Any]] = {}
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):  # a loaded machine answers late
            details = {run: _detail(server, run) for run in runs}
            if all(detail["status"] in ("succeeded", "failed") for detail in details.values()):
                return details
        time.sleep(0.5)
    where = {
        run: (d["status"], d["lease_owner"], d["attempt"], [s["status"] for s in d["steps"]])
        for run, d in details.items()
    }
    raise AssertionError(f"runs not finished in 90s: {where}")


def _detail(server: ServerProcess, run_id: str) -> dict[str, Any]:
    answer: dict[str, Any] = httpx.get(f"{server.url}/api/v1/runs/{run_id}", timeout=10).json()
    return answer


def test_a_database_outage_longer_than_the_lease_runs_no_step_on_two_replicas(
    postgres_database: PostgresServer, tmp_path: Path
) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    ticks, once = marks / "ticks", marks / "once"
    proxy = TcpProxy(postgres_database.host, postgres_database.port)
    a_url = (
        f"postgresql://{postgres_database.user}@127.0.0.1:{proxy.port}/{postgres_database.database}"
    )
    with (
        proxy.running(),
        replica("a", a_url, tmp_path, marks) as a,
        replica("b", postgres_database.dsn, tmp_path, marks) as b,
    ):
        try:
            # Batch 1 reaches its at-most-once step, batch 2 is still ticking, when A is cut off.
            first = _post(a, "first")
            _wait(lambda: {r[0] for r in _rows(once)} >= set(first), "batch 1 in its once step")
            second = _post(a, "second")
            _wait(lambda: {r[0] for r in _rows(ticks)} >= set(second), "batch 2 ticking")
            proxy.cut()
            time.sleep(OUTAGE_SECONDS)
            proxy.restore()
            details = _finished(b, [*first, *second])
        finally:
            for row in _rows(ticks) + _rows(once):  # whatever still runs, if the test failed
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(int(row[2]), signal.SIGKILL)
        a_log = a.stderr()

    # Each execution of ``tick``: (run, replica, pid) -> its first and last tick.
    executions: dict[tuple[str, str, str], list[float]] = collections.defaultdict(list)
    for run, name, pid, moment in _rows(ticks):
        executions[(run, name, pid)].append(float(moment))
    by_run: dict[str, list[tuple[str, float, float]]] = collections.defaultdict(list)
    for (run, name, _), moments in executions.items():
        by_run[run].append((name, min(moments), max(moments)))
    gaps = []
    for run, spans in by_run.items():
        spans.sort(key=lambda span: span[1])
        for (_, _, earlier_end), (_, later_start, _) in itertools.pairwise(spans):
            assert earlier_end < later_start, f"run {run}: two executions of tick overlap"
            gaps.append(later_start - earlier_end)
    taken_over = [run for run, spans in by_run.items() if len(spans) > 1]
    assert taken_over, "no run was taken over: the outage did not hit a running step"
    assert all([name for name, _, _ in by_run[run]] == ["a", "b"] for run in taken_over), (
        "a step re-ran on the replica that lost its lease"
    )
    for run in taken_over:
        tick = details[run]["steps"][0]
        assert (tick["name"], tick["status"], tick["retried"]) == ("tick", "succeeded", True)
        assert [e["trigger"] for e in tick["attempt_log"]][-1] == "rerun"
        assert details[run]["attempt"] >= 2

    # ``once`` ran at most once per run; the ones cut off on A ended failed, not re-run.
    executed = collections.Counter(row[0] for row in _rows(once))
    assert max(executed.values()) == 1
    interrupted = [
        run for run, detail in details.items() if detail["steps"][-1]["error"] == INTERRUPTED
    ]
    assert interrupted, "no at-most-once step was cut off by the outage"
    assert all(executed[run] == 1 for run in interrupted)
    assert "lease lost" in a_log

    figures = {
        "runs": len(details),
        "tick re-run on B after A lost the lease": len(taken_over),
        "once interrupted, not re-run": len(interrupted),
        "duplicate executions of once": sum(n - 1 for n in executed.values()),
        "overlapping executions": 0,
        "smallest gap A last tick -> B first tick (s)": round(min(gaps), 2),
    }
    print(json.dumps(figures))
