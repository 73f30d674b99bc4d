"""Workflow execution: steps in order, conditionals, failures that never lose the run, sinks."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select

from punching_fist.store.tables import alerts, sink_deliveries, step_results
from tests.support.payloads import alert, notification
from tests.support.server import resources_from_yaml, running_server

HEADER = """
apiVersion: punchingfist.io/v1alpha1
kind: Source
metadata: {name: am}
spec:
  type: webhook
  config: {path: /hook}
  triggerWorkflow: wf
---
apiVersion: punchingfist.io/v1alpha1
kind: Sink
metadata: {name: json-out}
spec:
  type: stdout
  config: {format: json}
---
apiVersion: punchingfist.io/v1alpha1
kind: Sink
metadata: {name: text-out}
spec:
  type: stdout
  config:
    format: text
    template: |
      Workflow {{ .workflow.name }} completed.
      Status: {{ .workflow.status }}
      Outputs:
      {{ range $key, $value := .workflow.outputs }}
        {{ $key }}: {{ $value }}
      {{ end }}
---
"""


async def run_workflow(
    url: str, workflow: str, payload: dict[str, Any] | None = None
) -> tuple[dict[str, Any], str]:
    resources = resources_from_yaml(HEADER + workflow)
    async with running_server(resources, url) as server:
        response = await server.post_alert("/hook", payload or notification())
        assert response.status_code == 202, response.text
        run_id = response.json()["alerts"][0]["runId"]
        await server.settle()
        detail = (await server.client.get(f"/api/v1/runs/{run_id}")).json()
        return detail, server.sink_output()


async def test_cli_steps_run_in_order_and_see_earlier_results(sqlite_url: str) -> None:
    detail, out = await run_workflow(
        sqlite_url,
        """
apiVersion: punchingfist.io/v1alpha1
kind: Workflow
metadata: {name: wf}
spec:
  runtime:
    environment: {GREETING: hello}
  steps:
    - name: first
      type: cli
      command: echo "$GREETING {{ .source.data.alert.alertname }}"; echo oops >&2
    - name: second
      type: cli
      command: echo "previous said {{ .steps.first.result.stdout | trim }} ({{ .steps.first.result.exit_code }})"
  outputs:
    - {name: said, value: "{{ .steps.second.result.stdout | trim }}"}
  sinks: [json-out]
""",
    )
    assert detail["status"] == "succeeded"
    first, second = detail["steps"]
    assert first["result"] == {
        "stdout": "hello PodCrashLooping\n",
        "stderr": "oops\n",
        "exit_code": 0,
        "duration_ms": first["result"]["duration_ms"],
        "timed_out": False,
    }
    assert second["result"]["stdout"] == "previous said hello PodCrashLooping (0)\n"
    document = json.loads(out)
    assert document["workflow"]["outputs"] == {"said": "previous said hello PodCrashLooping (0)"}
    assert document["workflow"]["status"] == "succeeded"
    assert document["source"]["data"]["alert"]["alertname"] == "PodCrashLooping"


async def test_a_failed_step_is_recorded_and_sinks_still_receive_the_result(
    sqlite_url: str,
) -> None:
    detail, out = await run_workflow(
        sqlite_url,
        """
apiVersion: punchingfist.io/v1alpha1
kind: Workflow
metadata: {name: wf}
spec:
  steps:
    - {name: breaks, type: cli, command: "echo partial; exit 3"}
    - {name: slow, type: cli, command: "sleep 5", timeoutSeconds: 0.3}
    - {name: after, type: cli, command: "echo still here"}
  outputs:
    - {name: partial, value: "{{ .steps.breaks.result.stdout | trim }}"}
    - {name: missing, value: "{{ .steps.nothing.result.stdout }}"}
  sinks: [json-out, text-out]
""",
    )
    assert detail["status"] == "failed"
    statuses = {s["name"]: (s["status"], s["error"]) for s in detail["steps"]}
    assert statuses["breaks"] == ("failed", "command exited with code 3")
    assert statuses["slow"][0] == "failed"
    assert "timed out" in statuses["slow"][1]
    assert statuses["after"] == ("succeeded", None)
    assert "breaks: command exited with code 3" in detail["error"]
    assert {d["sink_name"]: d["status"] for d in detail["deliveries"]} == {
        "json-out": "delivered",
        "text-out": "delivered",
    }
    assert "partial: partial" in out
    assert "Status: failed" in out


async def test_an_unreachable_llm_ends_the_agent_step_with_a_partial_result_and_the_run_goes_on(
    sqlite_url: str,
) -> None:
    detail, out = await run_workflow(
        sqlite_url,
        """
apiVersion: punchingfist.io/v1alpha1
kind: Workflow
metadata: {name: wf}
spec:
  runtime:
    llmConfig: {provider: local, endpoint: "http://127.0.0.1:9/v1", model: nothing-listens}
  steps:
    - name: agent-investigation
      type: agent
      goal: "Investigate {{ .source.data.alert.summary }}"
      tools: [kubectl]
      rigConfig: {retryPolicy: {maxAttempts: 1}}
  outputs:
    - {name: escalation, value: "{{ .steps.agent-investigation.result.escalation_notes }}"}
    - {name: error, value: "{{ .steps.agent-investigation.result.error_message }}"}
  sinks: [json-out]
""",
    )
    result = detail["steps"][0]["result"]
    assert result["error_message"]
    assert result["can_auto_fix"] is False
    assert result["confidence"] == 0
    outputs = json.loads(out)["workflow"]["outputs"]
    assert outputs["error"] == result["error_message"]
    assert {d["sink_name"]: d["status"] for d in detail["deliveries"]} == {"json-out": "delivered"}


DESIGN_CONDITIONAL = """
apiVersion: punchingfist.io/v1alpha1
kind: Workflow
metadata: {name: wf}
spec:
  steps:
    - name: check
      type: cli
      command: echo '{{ .source.data.alert.labels.fixable }}'
    - name: resolution-attempt
      type: conditional
      condition: "{{ eq (.steps.check.result.stdout | trim) \\"yes\\" }}"
      command: echo fixing
  outputs:
    - name: "auto_fixed"
      value: "{{ .steps.resolution-attempt.success | default false }}"
  sinks:
    - name: json-out
    - name: text-out
      condition: "{{ not .outputs.auto_fixed }}"
"""


@pytest.mark.parametrize(
    ("fixable", "ran", "escalated"), [("yes", True, False), ("no", False, True)]
)
async def test_conditionals_typed_defaults_and_sink_conditions(
    sqlite_url: str, fixable: str, ran: bool, escalated: bool
) -> None:
    payload = notification(alert(labels={"fixable": fixable}))
    detail, out = await run_workflow(sqlite_url, DESIGN_CONDITIONAL, payload)
    steps = {s["name"]: s for s in detail["steps"]}
    assert steps["resolution-attempt"]["status"] == ("succeeded" if ran else "skipped")
    assert detail["outputs"] == {"auto_fixed": ran}
    deliveries = {d["sink_name"]: d["status"] for d in detail["deliveries"]}
    assert deliveries["json-out"] == "delivered"
    assert deliveries["text-out"] == ("delivered" if escalated else "skipped")
    assert ("Status: succeeded" in out) is escalated


async def test_a_sink_that_cannot_deliver_fails_alone_and_the_run_still_succeeds(
    sqlite_url: str,
) -> None:
    detail, _ = await run_workflow(
        sqlite_url,
        """
apiVersion: punchingfist.io/v1alpha1
kind: Workflow
metadata: {name: wf}
spec:
  steps: [{name: s, type: cli, command: "true"}]
  sinks: [pager, json-out]
---
apiVersion: punchingfist.io/v1alpha1
kind: Sink
metadata: {name: pager}
spec:
  type: pagerduty
  config: {routingKey: "env://PD_KEY"}
""",
    )
    assert detail["status"] == "succeeded"
    deliveries = {d["sink_name"]: (d["status"], d["error"]) for d in detail["deliveries"]}
    assert deliveries["json-out"] == ("delivered", None)
    assert deliveries["pager"][0] == "failed"  # PD_KEY is not set: refused, not retried
    assert "env://PD_KEY" in deliveries["pager"][1]


async def test_alert_timing_is_recorded(sqlite_url: str) -> None:
    resources = resources_from_yaml(
        HEADER
        + """
apiVersion: punchingfist.io/v1alpha1
kind: Workflow
metadata: {name: wf}
spec:
  steps: [{name: s, type: cli, command: "true"}]
  sinks: [json-out]
"""
    )
    async with running_server(resources, sqlite_url) as server:
        await server.post_alert("/hook", notification())
        await server.settle()
        async with server.service.database.connect() as conn:
            row = (await conn.execute(select(alerts))).one()
            steps = (await conn.execute(select(step_results))).all()
            deliveries = (await conn.execute(select(sink_deliveries))).all()
    assert row.status == "triaged"
    assert row.received_at <= row.triage_started_at <= row.triage_completed_at
    assert [s.status for s in steps] == ["succeeded"]
    assert [d.status for d in deliveries] == ["delivered"]
