"""``caused_by`` links an investigation finds, through a served engine on both databases: the
incident's investigation names one of the other two pods in its diagnosis; that pod's alert
is recorded caused by the investigated one with the model's confidence, the other keeps
only ``related``; a re-run writes no duplicate; an inconclusive answer links nothing."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import select

from punching_fist.agent.base import AgentOutcome, AgentRequest, Ending
from punching_fist.engine.incident_steps import IncidentInvestigations
from punching_fist.engine.state import StepOutcome
from punching_fist.engine.status import StepStatus
from punching_fist.store.incident_runs import IncidentRunStore
from punching_fist.store.tables import alert_relationships, alerts, incidents, workflow_runs
from tests.incidents.test_investigate_once import resources
from tests.support.payloads import alert, notification
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
