"""A real server process killed with SIGKILL mid-run loses nothing: the next start finishes it."""

from __future__ import annotations

import collections
import contextlib
import json
import os
import signal
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from punching_fist.engine.step_attempts import INTERRUPTED
from tests.support.fake_slack import FakeSlack
from tests.support.payloads import alert, notification
from tests.support.process import ServerProcess
from tests.support.tools_helpers import process_alive

WORKFLOW = """
apiVersion: punchingfist.io/v1alpha1
kind: Source
metadata: {name: am}
spec:
  type: webhook
  config: {path: /webhook/alerts}
  triggerWorkflow: slow
---
apiVersion: punchingfist.io/v1alpha1
kind: Workflow
metadata: {name: slow}
spec:
  steps:
    - name: quick
      type: cli
      command: echo "quick {{ .source.data.alert.fingerprint }}" >> "{{ .source.context.marker }}.quick"
    - name: long
      type: cli
      command: |
        echo $$ >> "{{ .source.context.marker }}.long"
        sleep 2
        echo "finished {{ .source.data.alert.fingerprint }}"
  outputs:
    - {name: said, value: "{{ .steps.long.result.stdout | trim }}"}
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
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    resources = tmp_path / "resources"
    resources.mkdir()
    marker = tmp_path / "marker"
    text = WORKFLOW.replace(
        "triggerWorkflow: slow", f"triggerWorkflow: slow\n  context: {{marker: '{marker}'}}"
    )
    (resources / "all.yaml").write_text(text)
    process = ServerProcess(
        resources=resources,
        database_url=f"sqlite:///{tmp_path / 'pf.db'}",
        workdir=tmp_path,
        extra_args=["--lease-seconds", "2"],
    )
    process.start()
    try:
        yield process
    finally:
        process.stop()
        for pid in _pids(tmp_path / "marker.long"):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _pids(path: Path) -> list[int]:
    return [int(line) for line in path.read_text().split()] if path.exists() else []


def _gone(pid: int) -> Callable[[], bool]:
    return lambda: not process_alive(pid)


def _wait(predicate: Callable[[], object], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise TimeoutError("condition not reached")


@pytest.mark.integration
def test_sigkill_mid_run_then_restart_finishes_every_accepted_alert(
    server: ServerProcess, tmp_path: Path
) -> None:
    accepted = httpx.post(
        f"{server.url}/webhook/alerts",
        json=notification(alert(fingerprint="crash-1"), alert("Other", fingerprint="crash-2")),
        timeout=10,
    )
    assert accepted.status_code == 202
    run_ids = {a["runId"] for a in accepted.json()["alerts"]}
    _wait(lambda: len(_pids(tmp_path / "marker.long")) == 2)

    server.kill()
    # Its step processes died with it: the restarted server never runs a step beside them.
    for pid in _pids(tmp_path / "marker.long"):
        _wait(_gone(pid), timeout=10)
    server.start()

    def all_finished() -> bool:
        runs = httpx.get(f"{server.url}/api/v1/runs", timeout=5).json()["items"]
        return {r["id"] for r in runs if r["status"] == "succeeded"} == run_ids

    _wait(all_finished)
    runs = httpx.get(f"{server.url}/api/v1/runs", timeout=5).json()
    assert runs["total"] == 2
    detail = httpx.get(f"{server.url}/api/v1/runs/{next(iter(run_ids))}", timeout=5).json()
    assert detail["attempt"] == 2
    # The finished first step was not run again; the interrupted one was.
    assert (tmp_path / "marker.quick").read_text().count("quick") == 2
    assert len(_pids(tmp_path / "marker.long")) == 4
    logs = [json.loads(line) for line in server.stderr().splitlines() if line.startswith("{")]
    finished = [entry for entry in logs if entry["event"] == "run finished"]
    assert {entry["run_id"] for entry in finished} == run_ids
    assert {entry["fingerprint"] for entry in finished} == {"crash-1", "crash-2"}
    assert all(entry["level"] == "info" and "timestamp" in entry for entry in finished)
    out = server.stdout()
    assert len(out.splitlines()) == 2
    assert "finished crash-1" in out
    assert "finished crash-2" in out


MANY_RUNS = 210
SLACK_TOKEN = "xoxb-crash-test"
MANY = """
apiVersion: punchingfist.io/v1alpha1
kind: Source
metadata: {name: am}
spec:
  type: webhook
  config: {path: /webhook/alerts}
  triggerWorkflow: many
---
apiVersion: punchingfist.io/v1alpha1
kind: Workflow
metadata: {name: many}
spec:
  runtime:
    environment: {DIR: "MARKS"}
  steps:
    - name: record
      type: cli
      idempotent: false
      command: echo "{{ .workflow.runId }} $$" >> "$DIR/once"; sleep 0.2
    - name: work
      type: cli
      command: echo "{{ .workflow.runId }} $$" >> "$DIR/again"; sleep 0.4
  sinks: [slack]
---
apiVersion: punchingfist.io/v1alpha1
kind: Sink
metadata: {name: slack}
spec:
  type: slack
  config:
    channel: C0OPS0001
    botToken: env://SLACK_BOT_TOKEN
    endpoint: SLACK_URL
"""


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    fake = FakeSlack(token=SLACK_TOKEN)
    with fake.running():
        yield fake


def _rows(path: Path) -> list[list[str]]:
    return [line.split() for line in path.read_text().splitlines()] if path.exists() else []


def _total(server: ServerProcess, status: str | None = None) -> int:
    params: dict[str, str | int] = {"limit": 1, **({"status": status} if status else {})}
    answer = httpx.get(f"{server.url}/api/v1/runs", params=params, timeout=10).json()
    return int(answer["total"])


@pytest.mark.integration
def test_sigkill_twice_with_many_runs_in_flight_loses_nothing_and_repeats_nothing(
    tmp_path: Path, slack: FakeSlack
) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    once, again = marks / "once", marks / "again"
    resources = tmp_path / "resources"
    resources.mkdir()
    text = MANY.replace("MARKS", str(marks)).replace("SLACK_URL", slack.api_url)
    (resources / "all.yaml").write_text(text)
    server = ServerProcess(
        resources=resources,
        database_url=f"sqlite:///{tmp_path / 'pf.db'}",
        workdir=tmp_path,
        extra_args=["--concurrency", "48"],
        env={"SLACK_BOT_TOKEN": SLACK_TOKEN},
    )
    server.start(timeout=60)
    try:
        run_ids: set[str] = set()
        for batch in range(3):
            alerts = [alert(fingerprint=f"many-{batch}-{n}") for n in range(MANY_RUNS // 3)]
            accepted = httpx.post(
                f"{server.url}/webhook/alerts", json=notification(*alerts), timeout=30
            )
            assert accepted.status_code == 202, accepted.text
            run_ids |= {entry["runId"] for entry in accepted.json()["alerts"]}
        assert len(run_ids) == MANY_RUNS
        in_flight_at_kill = []
        for _ in range(2):
            # A third of the runs not yet recorded record meanwhile: many are in flight then.
            enough = len(_rows(once)) + (MANY_RUNS - len(_rows(once))) // 3
            _wait(lambda: len(_rows(once)) >= enough, timeout=60)  # noqa: B023 (called at once)
            server.kill()
            in_flight_at_kill.append(_running(tmp_path))
            # Every step process of the killed server is gone before the next one starts.
            for _, pid in _rows(once) + _rows(again):
                _wait(_gone(int(pid)), timeout=10)
            server.start(timeout=60)
        _wait(lambda: _total(server, "pending") + _total(server, "running") == 0, timeout=60)
        assert _total(server) == MANY_RUNS  # no alert lost, none started twice
        details = {
            run: httpx.get(f"{server.url}/api/v1/runs/{run}", timeout=10).json() for run in run_ids
        }
    finally:
        server.stop()

    # The at-most-once step: never executed twice; cut off by a kill, it failed, not re-ran.
    recorded = collections.Counter(run for run, _ in _rows(once))
    assert max(recorded.values()) == 1
    steps = {run: {s["name"]: s for s in detail["steps"]} for run, detail in details.items()}
    interrupted = {run for run, s in steps.items() if s["record"]["error"] == INTERRUPTED}
    for run, named in steps.items():
        record = named["record"]
        if run in interrupted:
            assert (record["status"], details[run]["status"]) == ("failed", "failed")
            assert recorded[run] <= 1  # 0 only if the kill came between its start and its exec
        else:
            assert (record["status"], record["attempts"], recorded[run]) == ("succeeded", 1, 1)
    # The idempotent step: re-run after a kill, and then marked as retried.
    worked = collections.Counter(run for run, _ in _rows(again))
    for run, named in steps.items():
        work = named["work"]
        assert work["status"] == "succeeded"
        assert 1 <= worked[run] <= work["attempts"]
        assert work["retried"] is (work["attempts"] > 1)
        if worked[run] > 1:
            assert work["retried"] is True
            assert "rerun" in [entry["trigger"] for entry in work["attempt_log"]]
    # Each run's result reached Slack exactly once, interrupted runs included.
    posted = collections.Counter(
        (m.metadata or {}).get("event_payload", {}).get("run_id") for m in slack.posted()
    )
    assert set(posted) == set(run_ids)
    assert max(posted.values()) == 1
    reruns = sum(1 for named in steps.values() if named["work"]["attempts"] > 1)
    assert interrupted or reruns, "the kills interrupted no step"
    figures = {
        "runs": MANY_RUNS,
        "runs in flight at each kill": in_flight_at_kill,
        "alerts lost": MANY_RUNS - len(details),
        "record (idempotent: false) interrupted, not re-run": len(interrupted),
        "record executed twice": sum(n - 1 for n in recorded.values()),
        "work re-run, marked retried": reruns,
        "slack messages": sum(posted.values()),
        "duplicate slack messages": sum(n - 1 for n in posted.values()),
    }
    print(json.dumps(figures))


def _running(tmp_path: Path) -> int:
    """Runs the killed server had claimed and not finished."""
    with contextlib.closing(sqlite3.connect(tmp_path / "pf.db")) as db:
        (count,) = db.execute(
            "SELECT count(*) FROM workflow_runs WHERE status = 'running'"
        ).fetchone()
    return int(count)
