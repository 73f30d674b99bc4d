"""Investigate once per incident, through a served engine: a storm of one Deployment's pods
starts one agent step; the others' runs skip theirs and point at it, and still reach their
sinks. ``investigate: perAlert`` investigates every run; a failed investigation lets the
next alert's run try."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from punching_fist.agent.base import AgentOutcome, AgentRequest, Ending
from punching_fist.store.tables import incidents, step_results
from tests.support.payloads import alert, notification
from tests.support.resources_yaml import webhook_source
from tests.support.server import resources_from_yaml, running_server


def resources(investigate: str) -> str:
    return (
        webhook_source()
        + f"""
apiVersion: punchingfist.io/v1alpha1
kind: Sink
metadata: {{name: out}}
spec:
  type: stdout
  config: {{format: text, template: "sink {{{{ .source.incident.id }}}}"}}
---
apiVersion: punchingfist.io/v1alpha1
kind: Workflow
metadata: {{name: wf}}
spec:
  investigate: {investigate}
  steps:
    - {{name: investigate, type: agent, goal: "Investigate", tools: [kubectl], evidence: "off"}}
  sinks: [out]
"""
    )


class CountingAgent:
    def __init__(self, *, fail_first: bool = False) -> None:
        self.runs: list[uuid.UUID] = []
        self.fail_first = fail_first

    async def investigate(self, request: AgentRequest) -> AgentOutcome:
        self.runs.append(request.run_id)
        if self.fail_first and len(self.runs) == 1:
            return AgentOutcome(ending=Ending.FAILED, error="the LLM is down")
        return AgentOutcome(
            ending=Ending.ANSWERED,
            result={"summary": "api crashes", "root_cause": "OOMKilled", "confidence": 0.9},
        )


def pod_suffix(n: int) -> str:
    """A pod's generated suffix, in Kubernetes' alphabet."""
    return "".join("bcdfghjklm"[int(d)] for d in f"{n:05d}")


def storm(pods: int, *, start: int = 0) -> dict[str, Any]:
    return notification(
        *(
            alert(fingerprint=f"fp-{n}", labels={"pod": f"api-7c9f8d6b5-{pod_suffix(n)}"})
            for n in range(start, start + pods)
        )
    )


async def test_a_storm_is_investigated_once(sqlite_url: str) -> None:
    agent = CountingAgent()
    async with running_server(
        resources_from_yaml(resources("perIncident")), sqlite_url, agent=agent, run_concurrency=4
    ) as server:
        response = await server.post_alert("/hook", storm(6))
        assert response.status_code == 202, response.text
        run_ids = [entry["runId"] for entry in response.json()["alerts"]]
        await server.settle()
        async with server.service.database.connect() as conn:
            [incident] = list(await conn.execute(select(incidents)))
            steps = list(await conn.execute(select(step_results)))
        assert len(run_ids) == 6
        assert len(agent.runs) == 1
        investigator = str(agent.runs[0])
        assert incident.investigation_run_id == agent.runs[0]
        assert incident.status == "investigating"
        assert incident.ai_summary["summary"] == "api crashes"
        assert incident.root_cause_analysis == "OOMKilled"
        skipped = [s for s in steps if s.status == "skipped"]
        assert len(skipped) == 5
        assert {s.result["attachedTo"] for s in skipped} == {investigator}
        assert {s.result["incident"] for s in skipped} == {str(incident.id)}
        # Every run still reached its sink, each naming the incident.
        assert server.sink_output().count(f"sink {incident.id}") == 6
        for run_id in run_ids:
            detail = (await server.client.get(f"/api/v1/runs/{run_id}")).json()
            assert detail["status"] == "succeeded"


async def test_per_alert_investigates_every_run(sqlite_url: str) -> None:
    agent = CountingAgent()
    async with running_server(
        resources_from_yaml(resources("perAlert")), sqlite_url, agent=agent, run_concurrency=2
    ) as server:
        assert (await server.post_alert("/hook", storm(3))).status_code == 202
        await server.settle()
    assert len(agent.runs) == 3


async def test_a_failed_investigation_leaves_the_incident_to_the_next_alert(
    sqlite_url: str,
) -> None:
    agent = CountingAgent(fail_first=True)
    async with running_server(
        resources_from_yaml(resources("perIncident")), sqlite_url, agent=agent, run_concurrency=1
    ) as server:
        assert (await server.post_alert("/hook", storm(1))).status_code == 202
        await server.settle()
        assert (await server.post_alert("/hook", storm(1, start=1))).status_code == 202
        await server.settle()
        async with server.service.database.connect() as conn:
            [incident] = list(await conn.execute(select(incidents)))
    assert len(agent.runs) == 2
    assert incident.investigation_run_id == agent.runs[1]
    assert incident.root_cause_analysis == "OOMKilled"


async def test_the_operator_configs_rules_apply_to_the_served_intake(sqlite_url: str) -> None:
    config = """
---
apiVersion: punchingfist.io/v1alpha1
kind: OperatorConfig
metadata: {name: op}
spec:
  incidents: {window: 30m, correlateBy: [[service]]}
"""
    agent = CountingAgent()
    async with running_server(
        resources_from_yaml(resources("perIncident") + config), sqlite_url, agent=agent
    ) as server:
        for namespace in ("shop", "payments"):  # two workloads, one service, no group
            body = notification(
                alert(
                    fingerprint=f"fp-{namespace}",
                    labels={"namespace": namespace, "service": "checkout", "pod": "web-0"},
                )
            )
            body["groupLabels"] = {}
            assert (await server.post_alert("/hook", body)).status_code == 202
            await server.settle()
        async with server.service.database.connect() as conn:
            [incident] = list(await conn.execute(select(incidents)))
    assert incident.alerts_count == 2
    assert len(agent.runs) == 1
