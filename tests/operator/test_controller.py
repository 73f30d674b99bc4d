"""The operator against a real API server: one ``serve --kubernetes`` process per module.

Resources are created, changed and deleted with kubectl while the process runs; the engine
must follow without a restart, and the status it writes must show in ``kubectl get``.
"""

from __future__ import annotations

import base64
import json
import re
import signal
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.harness.k8s import K8sApiServer
from tests.operator.support import (
    OperatorProcess,
    events_for,
    get_object,
    install_crds,
    new_namespace,
    wait_for,
)
from tests.support.payloads import alert, notification

pytestmark = pytest.mark.integration

API = "punchingfist.io/v1alpha1"


@pytest.fixture(scope="module")
def cluster(
    k8s_apiserver: K8sApiServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[K8sApiServer, str, OperatorProcess]]:
    install_crds(k8s_apiserver)
    namespace = new_namespace(k8s_apiserver, "ctl")
    workdir = tmp_path_factory.mktemp("controller")
    process = OperatorProcess(
        kubeconfig=k8s_apiserver.kubeconfig,
        namespace=namespace,
        database_url=f"sqlite:///{workdir / 'pf.db'}",
        workdir=workdir,
    )
    process.start()
    try:
        yield k8s_apiserver, namespace, process
    finally:
        code = process.stop()
        assert code in (0, -signal.SIGTERM), (
            f"operator did not stop cleanly ({code}):\n{process.stderr()}"
        )


def apply(server: K8sApiServer, namespace: str, *documents: dict[str, Any]) -> None:
    for document in documents:
        document.setdefault("apiVersion", API)
        document["metadata"]["namespace"] = namespace
    server.kubectl("apply", "-f", "-", stdin=yaml.safe_dump_all(documents))


def webhook_source(name: str, path: str, workflow: str, **config: Any) -> dict[str, Any]:
    return {
        "kind": "Source",
        "metadata": {"name": name},
        "spec": {
            "type": "webhook",
            "config": {"path": path, **config},
            "triggerWorkflow": workflow,
        },
    }


def echo_workflow(name: str, sink: str) -> dict[str, Any]:
    return {
        "kind": "Workflow",
        "metadata": {"name": name},
        "spec": {
            "steps": [
                {
                    "name": "hello",
                    "type": "cli",
                    "command": 'echo "hello {{ .source.data.alert.alertname }}"',
                }
            ],
            "outputs": [{"name": "said", "value": "{{ .steps.hello.result.stdout | trim }}"}],
            "sinks": [sink],
        },
    }


def stdout_sink(name: str) -> dict[str, Any]:
    return {"kind": "Sink", "metadata": {"name": name}, "spec": {"type": "stdout"}}


def post(process: OperatorProcess, path: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{process.url}{path}", json=body, timeout=10)


def accepted_post(
    process: OperatorProcess, path: str, body: dict[str, Any]
) -> httpx.Response | None:
    """The response if the webhook accepted ``body`` (202), else None: for ``wait_for``."""
    response = post(process, path, body)
    return response if response.status_code == 202 else None


def test_source_created_with_kubectl_serves_runs_and_reports_status(
    cluster: tuple[K8sApiServer, str, OperatorProcess],
) -> None:
    server, namespace, process = cluster
    path = f"/webhook/{namespace}/alerts"
    assert post(process, path, notification()).status_code == 404

    apply(
        server,
        namespace,
        webhook_source("alerts", path, "triage"),
        echo_workflow("triage", "out"),
        stdout_sink("out"),
    )
    accepted = wait_for(
        lambda: accepted_post(process, path, notification(alert("DiskFull", fingerprint="e2e-1"))),
        what="webhook path served",
    )
    run_id = accepted.json()["alerts"][0]["runId"]

    workflow = wait_for(
        lambda: (
            (w := get_object(server, "workflows", "triage", namespace))
            .get("status", {})
            .get("phase")
            == "Succeeded"
            and w
        ),
        what="workflow status Succeeded",
    )
    assert workflow["status"]["lastRunId"] == run_id
    assert workflow["status"]["outputs"] == {"said": "hello DiskFull"}
    assert workflow["status"]["steps"] == {"hello": "succeeded"}
    assert workflow["status"]["runsTotal"] == 1

    source = wait_for(
        lambda: (
            (s := get_object(server, "sources", "alerts", namespace))
            .get("status", {})
            .get("eventsProcessed")
            == 1
            and s
        ),
        what="source counters",
    )
    assert source["status"]["ready"] is True
    assert source["status"]["lastEventTime"]
    assert source["status"]["conditions"][0]["type"] == "Ready"

    sink = wait_for(
        lambda: (
            (s := get_object(server, "sinks", "out", namespace))
            .get("status", {})
            .get("messagesSent")
            == 1
            and s
        ),
        what="sink counters",
    )
    assert sink["status"]["lastSentTime"]

    table = server.kubectl("get", "sources", "-n", namespace)
    header, row = table.splitlines()[:2]
    assert header.split()[:5] == ["NAME", "TYPE", "WORKFLOW", "READY", "EVENTS"]
    assert row.split()[:5] == ["alerts", "webhook", "triage", "true", "1"]
    assert "Succeeded" in server.kubectl("get", "workflows", "-n", namespace)
    assert "hello DiskFull" in process.stdout()


def test_changed_and_deleted_sources_change_the_webhooks_without_restart(
    cluster: tuple[K8sApiServer, str, OperatorProcess],
) -> None:
    server, namespace, process = cluster
    first, second = f"/webhook/{namespace}/first", f"/webhook/{namespace}/second"
    apply(
        server,
        namespace,
        webhook_source("moving", first, "moving-wf"),
        echo_workflow("moving-wf", "moving-out"),
        stdout_sink("moving-out"),
    )
    body = notification(alert(fingerprint="move-1"))
    wait_for(lambda: post(process, first, body).status_code == 202, what="first path")

    apply(server, namespace, webhook_source("moving", second, "moving-wf"))
    wait_for(lambda: post(process, first, body).status_code == 404, what="old path gone")
    assert post(process, second, notification(alert(fingerprint="move-2"))).status_code == 202

    server.kubectl("delete", "source", "moving", "-n", namespace)
    wait_for(lambda: post(process, second, body).status_code == 404, what="deleted path gone")
    assert process.process is not None
    assert process.process.poll() is None


def test_invalid_template_and_missing_secret_become_events(
    cluster: tuple[K8sApiServer, str, OperatorProcess],
) -> None:
    server, namespace, _ = cluster
    broken = echo_workflow("broken", "out")
    broken["spec"]["steps"][0]["command"] = "echo {{ .source.data.alert.alertname "
    guarded = webhook_source(
        "guarded",
        f"/webhook/{namespace}/guarded",
        "triage",
        authentication={"type": "bearer", "secretRef": f"k8s://{namespace}/absent/token"},
    )
    apply(server, namespace, broken, guarded)

    template_events = wait_for(
        lambda: [
            e for e in events_for(server, namespace, "broken") if e["reason"] == "InvalidTemplate"
        ],
        what="InvalidTemplate event",
    )
    assert template_events[0]["type"] == "Warning"
    assert "spec.steps[0].command" in template_events[0]["message"]
    secret_events = wait_for(
        lambda: [
            e for e in events_for(server, namespace, "guarded") if e["reason"] == "SecretMissing"
        ],
        what="SecretMissing event",
    )
    assert "absent" in secret_events[0]["message"]
    status = wait_for(
        lambda: get_object(server, "sources", "guarded", namespace).get("status"),
        what="guarded status",
    )
    assert status["ready"] is False
    assert status["conditions"][0]["status"] == "False"


def test_an_unknown_tool_is_an_error_and_an_ignored_setting_only_a_warning(
    cluster: tuple[K8sApiServer, str, OperatorProcess],
) -> None:
    server, namespace, _ = cluster
    typo = echo_workflow("typo", "checks-out")
    typo["spec"]["steps"].append(
        {"name": "look", "type": "agent", "goal": "g", "tools": ["kubeclt"]}
    )
    imaged = echo_workflow("imaged", "checks-out")
    imaged["spec"]["runtime"] = {"image": "punchingfist/runtime:v1.0.0"}
    apply(server, namespace, stdout_sink("checks-out"), typo, imaged)

    def events(name: str, reason: str) -> list[dict[str, Any]]:
        return [e for e in events_for(server, namespace, name) if e["reason"] == reason]

    (tool,) = wait_for(lambda: events("typo", "InvalidSpec"), what="InvalidSpec event")
    assert (
        "spec.steps[1].tools[0]: tool 'kubeclt' is not built in (did you mean 'kubectl'?)"
        in (tool["message"])
    )
    (ignored,) = wait_for(lambda: events("imaged", "IgnoredSetting"), what="IgnoredSetting event")
    assert ignored["type"] == "Warning"
    assert ignored["message"].startswith("spec.runtime.image: ignored")

    def ready(name: str) -> str | None:
        status = get_object(server, "workflows", name, namespace).get("status") or {}
        conditions = status.get("conditions") or [{}]
        value: str | None = conditions[0].get("status")
        return value

    assert wait_for(lambda: ready("typo"), what="typo status") == "False"
    assert wait_for(lambda: ready("imaged"), what="imaged status") == "True"


def test_k8s_secret_reference_authenticates_a_webhook(
    cluster: tuple[K8sApiServer, str, OperatorProcess],
) -> None:
    server, namespace, process = cluster
    token = "s3cret-token-value"
    server.kubectl(
        "apply",
        "-f",
        "-",
        stdin=json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "hook-auth", "namespace": namespace},
                "data": {"token": base64.b64encode(token.encode()).decode()},
            }
        ),
    )
    path = f"/webhook/{namespace}/authed"
    apply(
        server,
        namespace,
        webhook_source(
            "authed",
            path,
            "triage",
            authentication={"type": "bearer", "secretRef": f"k8s://{namespace}/hook-auth/token"},
        ),
    )
    body = notification(alert(fingerprint="auth-1"))
    wait_for(lambda: post(process, path, body).status_code == 401, what="auth enforced")
    accepted = httpx.post(
        f"{process.url}{path}", json=body, headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    assert accepted.status_code == 202
    assert token not in process.stdout() + process.stderr()


def test_schedule_source_starts_and_stops_with_the_resource(
    cluster: tuple[K8sApiServer, str, OperatorProcess],
) -> None:
    server, namespace, process = cluster
    # "ticker" is the schedule under test; "witness" ticks on beside it, so the test can tell
    # when the operator's own clock has moved past a moment (no fixed sleeps).
    for name in ("ticker", "witness"):
        workflow = echo_workflow(f"{name}-wf", "out")
        workflow["spec"]["steps"][0]["command"] = (
            f'echo "{name} {{{{ .source.data.scheduledAt }}}}"'
        )
        source = {
            "kind": "Source",
            "metadata": {"name": name},
            "spec": {
                "type": "schedule",
                "config": {"cron": "* * * * * *"},
                "triggerWorkflow": f"{name}-wf",
                "context": {"purpose": "test"},
            },
        }
        apply(server, namespace, workflow, source, stdout_sink("out"))

    def runs() -> list[dict[str, Any]]:
        answer = httpx.get(
            f"{process.url}/api/v1/runs", params={"workflow": "ticker-wf", "limit": 1000}, timeout=5
        )
        items: list[dict[str, Any]] = answer.json()["items"]
        return items

    def ticks(name: str) -> list[datetime]:
        """The scheduled times of ``name``'s runs that reached the stdout sink."""
        found = re.findall(rf"{name} (\d{{4}}-\d\d-\d\dT[\d:.]+\+00:00)", process.stdout())
        return sorted({datetime.fromisoformat(moment) for moment in found})

    try:
        wait_for(lambda: len([r for r in runs() if r["status"] == "succeeded"]) >= 2, what="ticks")
        server.kubectl("delete", "source", "ticker", "-n", namespace)
        stopped_at = wait_for(
            lambda: _logged_at(process, "schedule stopped", "ticker"), what="ticker stopped"
        )
        # A witness tick two seconds after the stop has run and been delivered: a ticker
        # still ticking would have started runs of its own by then.
        wait_for(
            lambda: any(t >= stopped_at + timedelta(seconds=2) for t in ticks("witness")),
            what="witness ticks after the stop",
        )
    finally:
        server.kubectl(
            "delete", "source", "ticker", "witness", "-n", namespace, "--ignore-not-found"
        )
    scheduled = [_scheduled_at(process, run["id"]) for run in runs()]
    assert len(scheduled) >= 2
    assert len(set(scheduled)) == len(scheduled)  # one run per tick
    assert max(scheduled) <= stopped_at  # none after the stop
    assert len(ticks("ticker")) >= 2  # delivered to the sink...
    assert set(ticks("ticker")) <= set(scheduled)  # ...by those runs


def _scheduled_at(process: OperatorProcess, run_id: str) -> datetime:
    detail = httpx.get(f"{process.url}/api/v1/runs/{run_id}", timeout=5).json()
    return datetime.fromisoformat(detail["source_context"]["data"]["scheduledAt"])


def _logged_at(process: OperatorProcess, event: str, source: str) -> datetime | None:
    """When the operator logged ``event`` about ``source`` (its JSON log lines on stderr)."""
    for line in process.logs().splitlines():
        if event in line and source in line:
            entry = json.loads(line)
            if entry.get("event") == event and entry.get("source") == source:
                return datetime.fromisoformat(entry["timestamp"])
    return None


def test_kubernetes_source_runs_the_workflow_for_matching_objects(
    cluster: tuple[K8sApiServer, str, OperatorProcess],
    tmp_path: Path,
) -> None:
    server, namespace, process = cluster
    workflow = echo_workflow("cm-wf", "out")
    workflow["spec"]["steps"][0]["command"] = (
        'echo "saw {{ .source.data.object.metadata.name }} {{ .source.data.event }}"'
    )
    apply(
        server,
        namespace,
        workflow,
        {
            "kind": "Source",
            "metadata": {"name": "configmaps"},
            "spec": {
                "type": "kubernetes",
                "config": {
                    "resource": "configmaps",
                    "event": "created",
                    "labelSelector": "watch=yes",
                    "namespace": namespace,
                },
                "triggerWorkflow": "cm-wf",
            },
        },
    )
    wait_for(
        lambda: any(
            "kubernetes source watching" in line and '"configmaps"' in line
            for line in process.logs().splitlines()
        ),
        what="kubernetes source watching",
    )
    for name, labels in (("ignored", {"watch": "no"}), ("matched", {"watch": "yes"})):
        server.kubectl(
            "apply",
            "-f",
            "-",
            stdin=json.dumps(
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {"name": name, "namespace": namespace, "labels": labels},
                    "data": {"k": "v"},
                }
            ),
        )
    wait_for(lambda: "saw matched created" in process.stdout(), what="run for matched configmap")
    source = wait_for(
        lambda: (
            (s := get_object(server, "sources", "configmaps", namespace))
            .get("status", {})
            .get("eventsProcessed")
            == 1
            and s
        ),
        what="one event counted",
    )
    assert source["status"]["eventsProcessed"] == 1
    assert "saw ignored" not in process.stdout()


def test_failed_run_shows_in_status_and_as_an_event(
    cluster: tuple[K8sApiServer, str, OperatorProcess],
) -> None:
    server, namespace, process = cluster
    path = f"/webhook/{namespace}/failing"
    failing = echo_workflow("failing-wf", "out")
    failing["spec"]["steps"][0]["command"] = "echo broken >&2; exit 3"
    apply(server, namespace, webhook_source("failing", path, "failing-wf"), failing)
    body = notification(alert(fingerprint="fail-1"))
    accepted = wait_for(lambda: accepted_post(process, path, body), what="failing hook")
    run_id = accepted.json()["alerts"][0]["runId"]
    status = wait_for(
        lambda: (
            (s := get_object(server, "workflows", "failing-wf", namespace).get("status", {})).get(
                "phase"
            )
            == "Failed"
            and s
        ),
        what="Failed phase",
    )
    assert status["steps"] == {"hello": "failed"}
    events = wait_for(
        lambda: [
            e for e in events_for(server, namespace, "failing-wf") if e["reason"] == "RunFailed"
        ],
        what="RunFailed event",
    )
    assert run_id in events[0]["message"]
    assert "hello" in events[0]["message"]
