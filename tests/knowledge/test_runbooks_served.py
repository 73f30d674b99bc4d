"""A runbook in a git repository reaches a served investigation, end to end.

The remote is a real bare git repository, the LLM the fake chat-completions server, kubectl
the recording stand-in: the runbook for the alertname reaches the model's first request,
its read-only command ran as evidence before it, its write command is only proposed (never
run), the result records the runbook's path and commit, and ``GET /api/v1/runbooks`` shows
the sync.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from tests.agent.kit import kubectl_stand_in, run_detail, server_settings, step, workflow_yaml
from tests.knowledge.git_repos import Remote
from tests.support.fake_llm import FakeLLM, Script, count_tokens, final, kubectl
from tests.support.payloads import alert, notification
from tests.support.server import RunningServer, resources_from_yaml, running_server
from tests.support.tools_http import Route, http_stub

RUNBOOK = """---
title: API crash loop
alertnames: [KubePodCrashLooping]
matchers: ['namespace="prod"']
---
# API crash loop

The API crashes when its config map lost DATABASE_URL (runbook marker RB-4711).

```bash
kubectl get configmap api-config -n $NAMESPACE -o yaml
```

If the config is right, restart it:

```bash
kubectl rollout restart deployment/api -n $NAMESPACE
```
"""

RESPONSES = [
    ("get configmap api-config", "apiVersion: v1\ndata:\n  LOG_LEVEL: info\n", 0),
    ("describe pod", "Name: api-7d9f-x2x\nState: Waiting\n  Reason: CrashLoopBackOff\n", 0),
]

ANSWER = final(
    findings=["data has no DATABASE_URL"],
    root_cause="the api-config ConfigMap has no DATABASE_URL",
    summary="api crash loops without its database URL",
    inconclusive=False,
    confidence=0.9,
    recommendations=["restore DATABASE_URL, then kubectl rollout restart deployment/api -n prod"],
)


def operator_config(repository: str) -> str:
    return f"""
---
apiVersion: punchingfist.io/v1alpha1
kind: OperatorConfig
metadata: {{name: config}}
spec:
  runbooks: {{repository: "{repository}", syncInterval: 1h}}
"""


async def synced(server: RunningServer) -> dict[str, Any]:
    for _ in range(400):
        status: dict[str, Any] = (await server.client.get("/api/v1/runbooks")).json()
        if status["lastAttempt"] is not None:
            return status
        await asyncio.sleep(0.025)
    raise AssertionError("the runbooks were never synced")


async def crash(server: RunningServer, **annotations: str) -> str:
    labels = {"namespace": "prod", "pod": "api-7d9f-x2x"}
    body = notification(alert("KubePodCrashLooping", labels=labels, annotations=annotations))
    response = await server.post_alert("/hook", body)
    assert response.status_code == 202, response.text
    run_id: str = response.json()["alerts"][0]["runId"]
    await server.settle()
    return run_id


def first_user_message(body: dict[str, Any]) -> str:
    return str(next(m["content"] for m in body["messages"] if m["role"] == "user"))


async def test_the_runbook_reaches_the_model_its_reads_run_first_its_writes_never(
    sqlite_url: str, tmp_path: Path
) -> None:
    remote = Remote(tmp_path / "remote")
    commit = remote.push({"runbooks/api-crashloop.md": RUNBOOK})
    stand_in = kubectl_stand_in(tmp_path, RESPONSES)
    with FakeLLM(Script([ANSWER])) as llm:
        text = workflow_yaml(llm.url, evidence="auto") + operator_config(remote.url)
        settings = server_settings(stand_in, state_dir=tmp_path / "state")
        async with running_server(resources_from_yaml(text), sqlite_url, **settings) as server:
            status = await synced(server)
            run_id = await crash(server)
            detail = await run_detail(server.client, run_id)
            metrics = (await server.client.get("/metrics")).text
    assert "punchingfist_runbooks_loaded 1.0" in metrics
    assert "punchingfist_runbooks_sync_failures_total 0.0" in metrics
    assert "punchingfist_runbooks_last_sync_timestamp_seconds 1." in metrics
    assert status["commit"] == commit
    assert status["error"] is None
    assert [r["path"] for r in status["runbooks"]] == ["runbooks/api-crashloop.md"]

    (request,) = llm.requests
    first = first_user_message(request.body)
    section = first[first.index("Runbook for this alert") : first.index("Evidence already")]
    assert f"runbooks/api-crashloop.md at commit {commit[:12]}" in section
    assert "RB-4711" in section
    assert count_tokens(section) <= 600
    assert "- kubectl rollout restart deployment/api -n prod" in section  # proposed only
    # Its read ran as evidence, before the request, beside the standard reads.
    assert "$ kubectl get configmap api-config -n prod -o yaml" in first
    assert "LOG_LEVEL: info" in first
    assert stand_in.ran("get configmap api-config -n prod -o yaml")
    assert stand_in.ran("describe pod api-7d9f-x2x -n prod")
    assert not stand_in.ran("rollout")

    result = step(detail)["result"]
    assert result["runbook"] == {
        "path": "runbooks/api-crashloop.md",
        "commit": commit,
        "evidence": ["get configmap api-config -n prod -o yaml"],
        "remediation": ["kubectl rollout restart deployment/api -n prod"],
    }
    assert result["root_cause"] == "the api-config ConfigMap has no DATABASE_URL"


async def test_a_runbook_write_the_model_tries_waits_for_a_person(
    sqlite_url: str, tmp_path: Path
) -> None:
    remote = Remote(tmp_path / "remote")
    remote.push({"runbooks/api-crashloop.md": RUNBOOK})
    stand_in = kubectl_stand_in(tmp_path, RESPONSES)
    script = Script([kubectl("rollout restart deployment/api -n prod"), ANSWER])
    with FakeLLM(script) as llm:
        text = workflow_yaml(
            llm.url, evidence="auto", step_extra="      approvalRequired: true"
        ) + operator_config(remote.url)
        settings = server_settings(stand_in, state_dir=tmp_path / "state")
        async with running_server(resources_from_yaml(text), sqlite_url, **settings) as server:
            await synced(server)
            run_id = await crash(server)
            detail = await run_detail(server.client, run_id)
            approvals = (await server.client.get("/api/v1/approvals")).json()
    assert detail["status"] == "waiting_approval"
    assert step(detail)["result"]["runbook"]["path"] == "runbooks/api-crashloop.md"
    assert "rollout restart deployment/api -n prod" in str(approvals)
    assert stand_in.ran("get configmap api-config")
    assert not stand_in.ran("rollout")


async def test_an_alert_points_at_its_runbook_and_a_plain_directory_serves(
    sqlite_url: str, tmp_path: Path
) -> None:
    directory = tmp_path / "plain"
    (directory / "ops").mkdir(parents=True)
    (directory / "ops" / "api.md").write_text(RUNBOOK.split("---\n", 2)[2])  # no front matter
    stand_in = kubectl_stand_in(tmp_path, RESPONSES)
    with FakeLLM(Script([ANSWER])) as llm:
        text = workflow_yaml(llm.url, evidence="auto") + operator_config(str(directory))
        settings = server_settings(stand_in, state_dir=tmp_path / "state")
        async with running_server(resources_from_yaml(text), sqlite_url, **settings) as server:
            await synced(server)
            url = "https://github.com/company/runbooks/blob/main/ops/api.md#restart"
            run_id = await crash(server, runbook_url=url)
            detail = await run_detail(server.client, run_id)
    assert "RB-4711" in first_user_message(llm.requests[0].body)
    assert step(detail)["result"]["runbook"]["path"] == "ops/api.md"
    assert step(detail)["result"]["runbook"]["commit"] is None
    assert stand_in.ran("get configmap api-config -n prod -o yaml")


async def test_a_runbooks_curl_get_and_promql_run_as_evidence_its_post_never(
    sqlite_url: str, tmp_path: Path
) -> None:
    answer = json.dumps(
        {
            "status": "success",
            "data": {
                "resultType": "vector",
                "result": [{"metric": {"pod": "api-7d9f-x2x"}, "value": [1700000000, "3"]}],
            },
        }
    ).encode()
    routes: dict[str, Route] = {
        "/healthz": (503, {"Content-Type": "text/plain"}, b"database: connection refused\n"),
        "/prom/api/v1/query": (200, {"Content-Type": "application/json"}, answer),
    }
    with http_stub(routes) as stub, FakeLLM(Script([ANSWER])) as llm:
        directory = tmp_path / "plain"
        directory.mkdir()
        (directory / "api.md").write_text(
            "---\nalertnames: [KubePodCrashLooping]\n---\n# API\n```bash\n"
            f"curl -sS {stub.url}/healthz\ncurl -X POST {stub.url}/flush-cache\n```\n"
            '```promql\nkube_pod_container_status_restarts_total{namespace="$NAMESPACE"}\n```\n'
        )
        tools = (
            '[kubectl, {name: curl, allowedHosts: ["127.0.0.1"]},'
            f' {{name: promql, endpoint: "{stub.url}/prom/"}}]'
        )
        text = workflow_yaml(llm.url, evidence="auto", tools=tools) + operator_config(
            str(directory)
        )
        stand_in = kubectl_stand_in(tmp_path, RESPONSES)
        settings = server_settings(stand_in, state_dir=tmp_path / "state")
        async with running_server(resources_from_yaml(text), sqlite_url, **settings) as server:
            await synced(server)
            run_id = await crash(server)
            detail = await run_detail(server.client, run_id)
        seen = [(r.method, r.path.split("?")[0]) for r in stub.requests]
    assert ("GET", "/healthz") in seen
    assert ("GET", "/prom/api/v1/query") in seen or ("POST", "/prom/api/v1/query") in seen
    assert ("POST", "/flush-cache") not in seen
    first = first_user_message(llm.requests[0].body)
    assert f"$ curl GET {stub.url}/healthz" in first
    assert "database: connection refused" in first
    assert '$ promql kube_pod_container_status_restarts_total{namespace="prod"}' in first
    assert f"- curl -X POST {stub.url}/flush-cache" in first  # proposed, never run
    assert step(detail)["result"]["runbook"]["evidence"] == [
        f"curl GET {stub.url}/healthz",
        'promql kube_pod_container_status_restarts_total{namespace="prod"}',
    ]
