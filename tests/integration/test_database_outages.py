"""PostgreSQL away: down when the server starts (waited for, within ``--db-wait-seconds``), and
restarted under a run (the run goes on within seconds of its return, not a lease later).

Each test has a PostgreSQL of its own (``restartable_postgres``) that it stops and starts;
the server is a real ``punching-fist serve`` process.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.harness.fixtures import unavailable
from tests.harness.postgres import (
    RestartablePostgres,
    postgres_binaries_missing,
    restartable_postgres,
)
from tests.support.payloads import alert, notification
from tests.support.process import CLI, ServerProcess
from tests.support.server import free_port

RESOURCES = """
apiVersion: punchingfist.io/v1alpha1
kind: Source
metadata: {name: am}
spec:
  type: webhook
  config: {path: /webhook/alerts}
  triggerWorkflow: steps
  context: {marker: MARKER}
---
apiVersion: punchingfist.io/v1alpha1
kind: Workflow
metadata: {name: steps}
spec:
  steps:
    - name: first
      type: cli
      command: touch "{{ .source.context.marker }}.first"; sleep STEP_SECONDS; echo one
    - name: second
      type: cli
      command: echo "two {{ .source.data.alert.fingerprint }}"
  outputs:
    - {name: said, value: "{{ .steps.second.result.stdout | trim }}"}
  sinks: [out]
---
apiVersion: punchingfist.io/v1alpha1
kind: Sink
metadata: {name: out}
spec:
  type: stdout
  config: {format: json}
"""


@pytest.fixture
def postgres() -> Iterator[RestartablePostgres]:
    missing = postgres_binaries_missing()
    if missing:
        unavailable(f"PostgreSQL 15 not installed ({', '.join(missing)}); run `make test-deps`")
    with restartable_postgres() as server:
        yield server


def resources(tmp_path: Path, step_seconds: float = 0.1) -> Path:
    folder = tmp_path / "resources"
    folder.mkdir()
    text = RESOURCES.replace("MARKER", str(tmp_path / "marker"))
    (folder / "all.yaml").write_text(text.replace("STEP_SECONDS", str(step_seconds)))
    return folder


def json_logs(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def wait_for(predicate: Callable[[], object], timeout: float, what: str) -> float:
    """Seconds it took ``predicate`` to hold; fails after ``timeout``."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if predicate():
            return time.monotonic() - started
        time.sleep(0.1)
    raise AssertionError(f"{what}: not within {timeout}s")


def run_status(server: ServerProcess, run_id: str) -> str | None:
    try:
        response = httpx.get(f"{server.url}/api/v1/runs/{run_id}", timeout=2)
    except httpx.HTTPError:
        return None
    return str(response.json()["status"]) if response.status_code == 200 else None


@pytest.mark.integration
def test_the_server_waits_for_postgres_at_start_and_starts_when_it_comes(
    postgres: RestartablePostgres, tmp_path: Path
) -> None:
    postgres.stop()
    server = ServerProcess(
        resources=resources(tmp_path), database_url=postgres.server.dsn, workdir=tmp_path
    )

    def come_up_later() -> None:
        # Down for 4 s from the server's first attempt (starting the process takes seconds).
        log = tmp_path / "server-1.err"
        wait_for(lambda: log.exists() and "unreachable" in log.read_text(), 60, "a first try")
        time.sleep(4)
        postgres.start()

    comes_up = threading.Thread(target=come_up_later)
    comes_up.start()
    try:
        server.start(timeout=90)  # ready (GET /readyz 200) only once the database is there
        comes_up.join()

        logs = json_logs(server.stderr())
        waits = [line for line in logs if line["event"] == "database unreachable, waiting"]
        # 0.5 s, 1 s, 2 s ... apart: three or four attempts fail in the 4 s it is down.
        assert len(waits) >= 3
        assert [line["attempt"] for line in waits] == list(range(1, len(waits) + 1))
        assert all(line["level"] == "warning" for line in waits)
        assert "connect" in waits[0]["error"].lower()
        assert waits[0]["database"] == postgres.server.async_url
        assert 295 < waits[0]["gives_up_in"] <= 300
        [reachable] = [line for line in logs if line["event"] == "database reachable"]
        assert reachable["attempts"] == len(waits) + 1

        accepted = httpx.post(
            f"{server.url}/webhook/alerts",
            json=notification(alert(fingerprint="after-wait")),
            timeout=10,
        )
        assert accepted.status_code == 202
        run_id = accepted.json()["alerts"][0]["runId"]
        wait_for(lambda: run_status(server, run_id) == "succeeded", 30, "the run")
    finally:
        comes_up.join()
        server.stop()


@pytest.mark.integration
def test_the_server_gives_up_after_db_wait_seconds(
    postgres: RestartablePostgres, tmp_path: Path
) -> None:
    postgres.stop()
    started = time.monotonic()
    done = subprocess.run(
        [
            *CLI,
            "serve",
            *("--resources", str(resources(tmp_path))),
            *("--db", postgres.server.dsn, "--port", str(free_port())),
            *("--db-wait-seconds", "3"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ),
        check=False,
    )
    elapsed = time.monotonic() - started

    assert done.returncode == 3, done.stderr[-2000:]
    assert 3 <= elapsed < 20
    waits = [
        line for line in json_logs(done.stderr) if line["event"] == "database unreachable, waiting"
    ]
    assert len(waits) >= 3
    [gave_up] = [
        line
        for line in json_logs(done.stderr)
        if line["event"] == "database unreachable, giving up"
    ]
    assert gave_up["level"] == "error"
    assert gave_up["database"] == postgres.server.async_url
    assert gave_up["attempts"] == len(waits) + 1
    assert gave_up["waited_seconds"] == 3


@pytest.mark.integration
def test_a_run_goes_on_within_seconds_of_postgres_restarting_under_it(
    postgres: RestartablePostgres, tmp_path: Path
) -> None:
    # The first step ends while the database is down: its result cannot be written then.
    server = ServerProcess(
        resources=resources(tmp_path, step_seconds=1),
        database_url=postgres.server.dsn,
        workdir=tmp_path,
    )
    server.start(timeout=60)
    try:
        accepted = httpx.post(
            f"{server.url}/webhook/alerts",
            json=notification(alert(fingerprint="outage")),
            timeout=10,
        )
        assert accepted.status_code == 202
        run_id = accepted.json()["alerts"][0]["runId"]
        wait_for((tmp_path / "marker.first").exists, 30, "the first step")

        postgres.stop()
        time.sleep(3)
        postgres.start()

        resumed_in = wait_for(
            lambda: run_status(server, run_id) == "succeeded", 60, "the run after the outage"
        )
        assert resumed_in < 8, f"the run finished {resumed_in:.1f}s after PostgreSQL came back"
        assert "two outage" in server.stdout()
    finally:
        server.stop()
