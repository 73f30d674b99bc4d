"""A real server process killed with SIGKILL mid-run loses nothing: the next start finishes it."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.payloads import alert, notification
from tests.support.process import ServerProcess

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
