"""``caused_by`` links an investigation finds, through a served engine on both databases: the
incident's investigation names one of the other two pods in its diagnosis; that pod's alert
is recorded caused by the investigated one with the model's confidence, the other keeps
only ``related``; a re-run writes no duplicate; an inconclusive answer links nothing."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from punching_fist.agent.base import AgentOutcome, AgentRequest, Ending
from punching_fist.engine.incident_steps import IncidentInvestigations
from punching_fist.engine.state import StepOutcome
from punching_fist.engine.status import StepStatus
from punching_fist.store.incident_runs import IncidentRunStore
from punching_fist.store.tables import alert_relationships, alerts, incidents, workflow_runs
from tests.agent.kit import kubectl_stand_in, server_settings
from tests.incidents.test_investigate_once import resources
from tests.support.fake_llm import FakeLLM, Script, final
from tests.support.payloads import alert, notification
from tests.support.resources_yaml import webhook_source
from tests.support.server import resources_from_yaml, running_server

PODS = ("api-7c9f8d6b5-bbbbc", "api-7c9f8d6b5-ccccd", "api-7c9f8d6b5-ddddf")


class NamingAgent:
    """Answers naming the first pod that is not the investigated one (or, inconclusive,
    names it without a root cause); the other pod only inside longer names."""

    def __init__(self, *, inconclusive: bool = False) -> None:
        self.inconclusive = inconclusive
        self.runs: list[uuid.UUID] = []
        self.named: str | None = None

    async def investigate(self, request: AgentRequest) -> AgentOutcome:
        self.runs.append(request.run_id)
        own = request.context["source"]["data"]["alert"]["labels"]["pod"]
        self.named, unnamed = (pod for pod in PODS if pod != own)
        result: dict[str, Any] = {
            "summary": f"{own} crashes since {self.named}. restarted",
            # The unnamed pod only inside longer names: no token of its own.
            "findings": [f"{self.named} OOMKilled", f"{unnamed}-canary, {unnamed}.svc fine"],
            "root_cause": "" if self.inconclusive else f"{self.named} exhausts the cache",
            "inconclusive": self.inconclusive,
            "confidence": 0.3 if self.inconclusive else 0.72,
        }
        return AgentOutcome(ending=Ending.ANSWERED, result=result)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, sqlite_url: str) -> str:
    if request.param == "sqlite":
        return sqlite_url
    url: str = request.getfixturevalue("postgres_url")
    return url


def storm() -> dict[str, Any]:
    return notification(
        *(alert(fingerprint=f"fp-{n}", labels={"pod": pod}) for n, pod in enumerate(PODS))
    )


async def test_the_pod_a_diagnosis_names_is_caused_by_the_investigated_alert(
    database_url: str,
) -> None:
    agent = NamingAgent()
    async with running_server(
        resources_from_yaml(resources("perIncident")), database_url, agent=agent
    ) as server:
        assert (await server.post_alert("/hook", storm())).status_code == 202
        await server.settle()
        async with server.service.database.connect() as conn:
            [incident] = list(await conn.execute(select(incidents)))
            pods = {
                row.labels["pod"]: row.id
                for row in await conn.execute(select(alerts.c.id, alerts.c.labels))
            }
            [run_id] = agent.runs
            parent = (
                await conn.execute(
                    select(workflow_runs.c.alert_id).where(workflow_runs.c.id == run_id)
                )
            ).scalar()
        assert agent.named is not None
        named = pods[agent.named]
        [unnamed] = [i for pod, i in pods.items() if i not in (parent, named)]

        response = await server.client.get(f"/api/v1/incidents/{incident.id}")
        assert response.status_code == 200, response.text
        relationships = response.json()["relationships"]
        caused = [r for r in relationships if r["relationship_type"] == "caused_by"]
        assert caused == [
            {
                **caused[0],
                "parent_alert_id": str(parent),
                "child_alert_id": str(named),
                "confidence": pytest.approx(0.72),
                "incident_id": str(incident.id),
                "reason": f"investigation:{run_id}",
            }
        ]
        by_child = {r["child_alert_id"]: r["relationship_type"] for r in relationships}
        assert by_child[str(unnamed)] == "related"
        assert [r["relationship_type"] for r in relationships].count("related") == 2

        # The step finishing again (a restarted run) writes no second link.
        again = IncidentInvestigations(IncidentRunStore(server.service.database))
        outcome = StepOutcome(status=StepStatus.SUCCEEDED, result=incident.ai_summary)
        await again.finished(run_id, {"incident": {"id": str(incident.id)}}, outcome)
        async with server.service.database.connect() as conn:
            rows = list(
                await conn.execute(
                    select(alert_relationships).where(
                        alert_relationships.c.relationship_type == "caused_by"
                    )
                )
            )
        assert [(r.parent_alert_id, r.child_alert_id) for r in rows] == [(parent, named)]


async def test_an_inconclusive_investigation_links_nothing(database_url: str) -> None:
    agent = NamingAgent(inconclusive=True)
    async with running_server(
        resources_from_yaml(resources("perIncident")), database_url, agent=agent
    ) as server:
        assert (await server.post_alert("/hook", storm())).status_code == 202
        await server.settle()
        async with server.service.database.connect() as conn:
            types = [
                row.relationship_type
                for row in await conn.execute(select(alert_relationships.c.relationship_type))
            ]
            [incident] = list(await conn.execute(select(incidents)))
    assert len(agent.runs) == 1
    assert incident.ai_summary["inconclusive"] is True
    assert sorted(types) == ["related", "related"]


LLM_WORKFLOW = (
    webhook_source()
    + """
apiVersion: punchingfist.io/v1alpha1
kind: Workflow
metadata: {{name: wf}}
spec:
  runtime:
    llmConfig: {{provider: local, endpoint: "{llm_url}", model: test-model}}
  steps:
    - {{name: investigate, type: agent, goal: "Investigate", tools: [kubectl], evidence: "off"}}
"""
)


async def test_the_models_answer_through_the_agent_runtime_links_the_named_pod(
    database_url: str, tmp_path: Path
) -> None:
    """The real agent runtime and the OpenAI-compatible stand-in: the first alert's run
    investigates (one at a time, in arrival order) and its answer names the third pod."""
    answer = final(
        findings=[f"{PODS[2]} OOMKilled"],
        root_cause=f"{PODS[2]} exhausts the shared cache",
        summary="api pods crash",
        inconclusive=False,
        confidence=0.64,
    )
    with FakeLLM(Script([answer])) as llm:
        async with running_server(
            resources_from_yaml(LLM_WORKFLOW.format(llm_url=llm.url)),
            database_url,
            run_concurrency=1,
            **server_settings(kubectl_stand_in(tmp_path)),
        ) as server:
            assert (await server.post_alert("/hook", storm())).status_code == 202
            await server.settle()
            async with server.service.database.connect() as conn:
                [incident] = list(await conn.execute(select(incidents)))
                pods = {
                    row.id: row.labels["pod"]
                    for row in await conn.execute(select(alerts.c.id, alerts.c.labels))
                }
                parent = (
                    await conn.execute(
                        select(workflow_runs.c.alert_id).where(
                            workflow_runs.c.id == incident.investigation_run_id
                        )
                    )
                ).scalar()
                rows = list(await conn.execute(select(alert_relationships)))
    assert len(llm.requests) == 1
    assert parent is not None
    assert pods[parent] == PODS[0]
    caused = [r for r in rows if r.relationship_type == "caused_by"]
    assert [(pods[r.parent_alert_id], pods[r.child_alert_id]) for r in caused] == [
        (PODS[0], PODS[2])
    ]
    assert caused[0].confidence == pytest.approx(0.64)
    assert caused[0].reason == f"investigation:{incident.investigation_run_id}"
