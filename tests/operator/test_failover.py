"""Two replicas on one PostgreSQL: both serve webhooks, one controls, a killed one loses nothing.

Replica A (higher peering priority) leads and takes an alert whose run sleeps; A is killed with
SIGKILL mid-run. B must finish that run exactly once (the finished first step is not repeated),
run its own alert exactly once, and take over the controller role: the Workflow status that
only a leader writes shows the finished run.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.harness.k8s import K8sApiServer
from tests.operator.support import (
    OperatorProcess,
    get_object,
    install_crds,
    new_namespace,
    wait_for,
)
from tests.support.payloads import alert, notification

pytestmark = pytest.mark.integration

RESOURCES = """
apiVersion: punchingfist.io/v1alpha1
kind: Source
metadata: {name: alerts}
spec:
  type: webhook
  config: {path: /webhook/ha}
  triggerWorkflow: slow
  context: {marker: MARKER}
---
apiVersion: punchingfist.io/v1alpha1
kind: Workflow
metadata: {name: slow}
spec:
  steps:
    - name: quick
      type: cli
      command: echo quick >> "{{ .source.context.marker }}-{{ .source.data.alert.fingerprint }}.quick"
    - name: long
      type: cli
      command: |
        echo $$ >> "{{ .source.context.marker }}-{{ .source.data.alert.fingerprint }}.long"
        sleep 3
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
"""


@pytest.fixture
def replicas(
    k8s_apiserver: K8sApiServer, postgres_url: str, tmp_path: Path
) -> Iterator[tuple[K8sApiServer, str, OperatorProcess, OperatorProcess]]:
    install_crds(k8s_apiserver)
    namespace = new_namespace(k8s_apiserver, "ha")
    k8s_apiserver.kubectl(
        "apply",
        "-n",
        namespace,
        "-f",
        "-",
        stdin=RESOURCES.replace("MARKER", str(tmp_path / "marker")),
    )
    common: dict[str, Any] = {
        "kubeconfig": k8s_apiserver.kubeconfig,
        "namespace": namespace,
        "database_url": postgres_url,
        "workdir": tmp_path,
    }
    timing = ["--lease-seconds", "2", "--sweep-interval", "1"]
    leader = OperatorProcess(name="a", extra_args=[*timing, "--peering-priority", "200"], **common)
    follower = OperatorProcess(
        name="b", extra_args=[*timing, "--peering-priority", "100"], **common
    )
    leader.start()
    follower.start()
    try:
        yield k8s_apiserver, namespace, leader, follower
    finally:
        leader.stop()
        follower.stop()
        # A killed replica's `sleep` may outlive it; leave nothing behind.
        for path in tmp_path.glob("marker-*.long"):
            for pid in path.read_text().split():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(pid), signal.SIGKILL)


def _lines(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


def _run(process: OperatorProcess, run_id: str) -> dict[str, Any]:
    answer: dict[str, Any] = httpx.get(f"{process.url}/api/v1/runs/{run_id}", timeout=5).json()
    return answer


def test_killed_leader_loses_no_run_and_the_follower_takes_over(
    replicas: tuple[K8sApiServer, str, OperatorProcess, OperatorProcess], tmp_path: Path
) -> None:
    server, namespace, leader, follower = replicas
    path = "/webhook/ha"
    for replica in (leader, follower):

        def serving(replica: OperatorProcess = replica) -> bool:
            return httpx.post(f"{replica.url}{path}", json={}, timeout=5).status_code == 422

        wait_for(serving, what=f"{replica.name} serves the webhook")
    # The leader writes status; the follower is paused by peering.
    wait_for(
        lambda: get_object(server, "sources", "alerts", namespace).get("status", {}).get("ready"),
        what="status from the leader",
    )
    on_a = httpx.post(
        f"{leader.url}{path}", json=notification(alert(fingerprint="on-a")), timeout=10
    )
    on_b = httpx.post(
        f"{follower.url}{path}", json=notification(alert(fingerprint="on-b")), timeout=10
    )
    assert on_a.status_code == 202
    assert on_b.status_code == 202
    run_a = on_a.json()["alerts"][0]["runId"]
    run_b = on_b.json()["alerts"][0]["runId"]
    wait_for(lambda: _lines(tmp_path / "marker-on-a.long"), what="long step running on A")

    leader.kill()

    wait_for(lambda: _run(follower, run_a)["status"] == "succeeded", timeout=60, what="run A done")
    wait_for(lambda: _run(follower, run_b)["status"] == "succeeded", timeout=60, what="run B done")
    assert _run(follower, run_a)["attempt"] == 2
    assert _run(follower, run_b)["attempt"] == 1
    # The finished first step was not repeated; the interrupted one ran again, on B.
    assert len(_lines(tmp_path / "marker-on-a.quick")) == 1
    assert len(_lines(tmp_path / "marker-on-a.long")) == 2
    assert len(_lines(tmp_path / "marker-on-b.long")) == 1
    assert follower.stdout().count("finished on-a") == 1
    assert follower.stdout().count("finished on-b") == 1
    assert "finished" not in leader.stdout()

    # B is now the controller: the status only a leader writes follows the runs it finished.
    workflow = wait_for(
        lambda: (
            (w := get_object(server, "workflows", "slow", namespace))
            .get("status", {})
            .get("runsTotal")
            == 2
            and w["status"].get("phase") == "Succeeded"
            and w
        ),
        timeout=60,
        what="workflow status from the new leader",
    )
    assert workflow["status"]["lastRunId"] in (run_a, run_b)
    source = get_object(server, "sources", "alerts", namespace)
    assert source["status"]["eventsProcessed"] == 2
    peers = get_object_peering(server, namespace)
    assert any(p.get("priority") == 100 for p in peers.values())


def get_object_peering(server: K8sApiServer, namespace: str) -> dict[str, Any]:
    out = server.kubectl(
        "get", "kopfpeerings.kopf.dev", "punching-fist", "-n", namespace, "-o", "yaml"
    )
    status: dict[str, Any] = yaml.safe_load(out).get("status") or {}
    return status
