"""The design document's investigation workflow, as written, against the fake LLM.

``examples/design/resources/02-workflow-agent-alert-investigation.yaml`` runs unchanged but
for its LLM endpoint (pointed at the fake) and its sinks (stdout stand-ins with the same
names): the ``resolution-attempt`` conditional reads
``.steps.agent-investigation.result.can_auto_fix``, its approval gate holds, and the outputs
and the ``pagerduty-escalation`` condition work as written.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.agent.kit import (
    kubectl_stand_in,
    run_detail,
    server_settings,
    step,
    wait_for_status,
)
from tests.support.fake_llm import FakeLLM, Script, count_tokens, final, kubectl
from tests.support.payloads import alert, notification
from tests.support.server import resources_from_yaml, running_server

DESIGN = (
    Path(__file__).parents[2]
    / "examples/design/resources/02-workflow-agent-alert-investigation.yaml"
)

SUPPORT = """
apiVersion: punchingfist.io/v1alpha1
kind: Source
metadata: {name: alertmanager}
spec:
  type: webhook
  config: {path: /hook}
  triggerWorkflow: agent-alert-investigation
---
"""
SINK = """
apiVersion: punchingfist.io/v1alpha1
kind: Sink
metadata: {name: NAME}
spec:
  type: stdout
  config:
    format: text
    template: "NAME: fixed={{ .workflow.outputs.auto_fixed }} escalation={{ .workflow.outputs.escalation_context }}"
---
"""

INVESTIGATION = Script(
    match="I need to investigate this alert",
    turns=[
        kubectl("get pods -n shop"),
        kubectl("describe pod web-1 -n shop"),
        final(
            summary="web crash-loops since the 10:00 config change",
            problem_summary="web-1 exits on start: bad config value",
            root_cause="CACHE_SIZE was set to an invalid value",
            findings=["Back-off restarting failed container"],
            recommendations=["roll the deployment back"],
            can_auto_fix=True,
            fix_command="kubectl rollout undo deployment/web -n shop",
            confidence=0.85,
            escalation_notes="web is down in shop since 10:00",
        ),
    ],
)
RESOLUTION = Script(
    match="Based on my investigation",
    turns=[
        kubectl("rollout undo deployment/web -n shop"),
        final(summary="rolled back web", actions_taken=["rolled back web"], confidence=0.9),
    ],
)
NOT_FIXABLE = Script(
    match="I need to investigate this alert",
    turns=[
        kubectl("get pods -n shop"),
        final(
            summary="the node is out of disk",
            root_cause="node disk full",
            can_auto_fix=False,
            confidence=0.6,
            escalation_notes="node-3 disk at 100%, needs a person",
        ),
    ],
)
RESPONSES = [
    ("get pods", "NAME READY STATUS RESTARTS\nweb-1 0/1 CrashLoopBackOff 9\n", 0),
    ("describe pod", "Events:\n  Warning BackOff Back-off restarting failed container\n", 0),
    ("rollout undo", "deployment.apps/web rolled back\n", 0),
]


def design_resources(llm_root: str) -> str:
    workflow = DESIGN.read_text().replace("http://llm-service:8080", llm_root)
    sinks = "".join(
        SINK.replace("NAME", name)
        for name in (
            "slack-investigation-results",
            "alertmanager-annotation",
            "pagerduty-escalation",
        )
    )
    return SUPPORT + sinks + workflow


def delivered(detail: dict[str, Any]) -> set[str]:
    return {d["sink_name"] for d in detail["deliveries"] if d["status"] == "delivered"}


async def fire(server: Any) -> str:
    payload = notification(alert("PodCrashLooping", labels={"service": "web"}))
    response = await server.post_alert("/hook", payload)
    assert response.status_code == 202, response.text
    run_id: str = response.json()["alerts"][0]["runId"]
    return run_id


async def test_auto_fix_path_runs_the_conditional_behind_its_approval_gate(
    sqlite_url: str, tmp_path: Path
) -> None:
    stand_in = kubectl_stand_in(tmp_path, RESPONSES)
    with FakeLLM([INVESTIGATION, RESOLUTION]) as llm:
        resources = resources_from_yaml(design_resources(llm.root))
        async with running_server(resources, sqlite_url, **server_settings(stand_in)) as server:
            run_id = await fire(server)
            await server.settle()
            paused = await wait_for_status(server.client, run_id, "waiting_approval")
            assert step(paused, "agent-investigation")["status"] == "succeeded"
            assert step(paused, "resolution-attempt")["status"] == "waiting_approval"
            assert not stand_in.ran("rollout undo")
            (approval,) = (await server.client.get("/api/v1/approvals")).json()["items"]
            assert approval["action"]["command"] == "rollout undo deployment/web -n shop"
            await server.client.post(f"/api/v1/approvals/{approval['id']}", json={"approved": True})
            await server.settle()
            detail = await wait_for_status(server.client, run_id, "succeeded")
            out = server.sink_output()

    assert stand_in.ran("rollout undo deployment/web -n shop")
    # The conditional's goal was rendered from the investigation's result.
    resolution_goal = json.dumps(next(r.body for r in llm.requests if "Based on my" in r.text()))
    assert "web-1 exits on start: bad config value" in resolution_goal
    assert "kubectl rollout undo deployment/web -n shop" in resolution_goal
    assert detail["outputs"] == {
        "investigation_summary": "web crash-loops since the 10:00 config change",
        "root_cause": "CACHE_SIZE was set to an invalid value",
        "auto_fixed": True,
        "escalation_context": "web is down in shop since 10:00",
    }
    assert delivered(detail) == {"slack-investigation-results", "alertmanager-annotation"}
    assert "slack-investigation-results: fixed=true" in out
    resolution = step(detail, "resolution-attempt")["result"]
    assert resolution["actions_taken"][0] == "kubectl rollout undo deployment/web -n shop"


async def test_no_auto_fix_skips_the_conditional_and_pages_with_escalation_context(
    sqlite_url: str, tmp_path: Path
) -> None:
    stand_in = kubectl_stand_in(tmp_path, RESPONSES)
    with FakeLLM([NOT_FIXABLE]) as llm:
        resources = resources_from_yaml(design_resources(llm.root))
        async with running_server(resources, sqlite_url, **server_settings(stand_in)) as server:
            run_id = await fire(server)
            await server.settle()
            detail = await run_detail(server.client, run_id)
            out = server.sink_output()
    assert detail["status"] == "succeeded"
    assert step(detail, "resolution-attempt")["status"] == "skipped"
    assert detail["outputs"]["auto_fixed"] is False
    assert delivered(detail) == {
        "slack-investigation-results",
        "alertmanager-annotation",
        "pagerduty-escalation",
    }
    assert "pagerduty-escalation: fixed=false escalation=node-3 disk at 100%, needs a person" in out
    assert all("Based on my" not in r.text() for r in llm.requests)


async def test_fixed_prompt_overhead_of_the_design_workflow_is_small(
    sqlite_url: str, tmp_path: Path
) -> None:
    """System prompt + tool schemas per LLM call, counted in cl100k tokens: at most 2,500."""
    stand_in = kubectl_stand_in(tmp_path, RESPONSES)
    with FakeLLM([NOT_FIXABLE]) as llm:
        resources = resources_from_yaml(design_resources(llm.root))
        async with running_server(resources, sqlite_url, **server_settings(stand_in)) as server:
            await fire(server)
            await server.settle()
    first = llm.requests[0].body
    assert [t["function"]["name"] for t in first["tools"]] == [
        "kubectl",
        "promql",
        "curl",
        "debug-pod",
        "final_answer",
    ]
    system = [m for m in first["messages"] if m["role"] == "system"]
    overhead = count_tokens(json.dumps(system)) + count_tokens(json.dumps(first["tools"]))
    assert overhead <= 2_500, overhead
