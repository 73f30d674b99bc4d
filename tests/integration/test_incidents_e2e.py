"""A storm from real Prometheus and Alertmanager: 20 crashing pods of one Deployment are one
incident and one investigation (counted at the OpenAI-compatible stand-in); when they all
resolve, so does the incident, with its MTTR.

Built as steps (``Storm``) so further checks of the same storm can join: the Slack thread
per incident (sinks), the KPI endpoint (the MTTR, the one investigation).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from punching_fist.store.tables import (
    alert_relationships,
    alerts,
    incidents,
    step_results,
    workflow_runs,
)
from tests.agent.kit import kubectl_stand_in, server_settings
from tests.harness.prometheus_stack import TEST_ALERT, TEST_METRIC, PrometheusStack
from tests.sinks.support import SLACK_TOKEN, secrets
from tests.support.fake_llm import FakeLLM, Script, final
from tests.support.fake_slack import FakeSlack
from tests.support.resources_yaml import pod_name, storm_triage
from tests.support.server import RunningServer, resources_from_yaml, running_server

PODS = 20


def resources(llm_url: str, slack_url: str) -> str:
    return (
        storm_triage(llm_url, max_iterations=3)
        + f"""  sinks: [out, slack]
---
apiVersion: punchingfist.io/v1alpha1
kind: Sink
metadata: {{name: out}}
spec:
  type: stdout
  config: {{format: json}}
---
apiVersion: punchingfist.io/v1alpha1
kind: Sink
metadata: {{name: slack}}
spec:
  type: slack
  config: {{channel: "#ops-alerts", botToken: env://SLACK_TOKEN, endpoint: "{slack_url}"}}
"""
    )


def pod_names() -> list[str]:
    """One Deployment's pods: ``api-<pod-template-hash>-<suffix>``."""
    return [pod_name("api", n) for n in range(PODS)]


@dataclass
class Storm:
    """One test's storm: its namespace (unique, so leftovers of other tests never count)."""

    stack: PrometheusStack
    server: RunningServer
    namespace: str

    @property
    def job(self) -> str:
        return f"e2e-{self.namespace}"

    def fire(self) -> None:
        for pod in pod_names():
            self.stack.push_metric(
                self.job,
                TEST_METRIC,
                1,
                {"service": "api", "namespace": self.namespace},
                grouping={"pod": pod},
            )

    def resolve(self) -> None:
        for pod in pod_names():
            self.stack.delete_metric_group(self.job, grouping={"pod": pod})

    async def alert_rows(self) -> list[Any]:
        async with self.server.service.database.connect() as conn:
            rows = await conn.execute(select(alerts).where(alerts.c.alert_name == TEST_ALERT))
            return [row for row in rows if row.labels.get("namespace") == self.namespace]

    async def incident_rows(self) -> list[Any]:
        ids = {row.incident_id for row in await self.alert_rows()}
        async with self.server.service.database.connect() as conn:
            return list(await conn.execute(select(incidents).where(incidents.c.id.in_(ids))))

    async def opened_it(self, incident_id: uuid.UUID) -> bool:
        """Whether one of this storm's alerts opened the incident (the one that joined none).

        Joins are the rules' rows; an investigation's ``caused_by`` links are not joins.
        """
        joined = select(alert_relationships.c.child_alert_id).where(
            alert_relationships.c.incident_id == incident_id,
            alert_relationships.c.relationship_type != "caused_by",
        )
        async with self.server.service.database.connect() as conn:
            first = (
                await conn.execute(
                    select(alerts.c.labels).where(
                        alerts.c.incident_id == incident_id, alerts.c.id.not_in(joined)
                    )
                )
            ).scalar_one()
        return bool(first.get("namespace") == self.namespace)

    async def runs_finished(self) -> bool:
        ids = [row.id for row in await self.alert_rows()]
        if len(ids) < PODS:
            return False
        async with self.server.service.database.connect() as conn:
            statuses = list(
                await conn.scalars(
                    select(workflow_runs.c.status).where(workflow_runs.c.alert_id.in_(ids))
                )
            )
        return len(statuses) == PODS and all(s in ("succeeded", "failed") for s in statuses)


@pytest.mark.integration
async def test_twenty_pods_one_incident_one_investigation(
    clean_prometheus_stack: PrometheusStack, database_url: str, tmp_path: Path
) -> None:
    stack = clean_prometheus_stack
    script = Script([final(summary="api pods crash", root_cause="OOMKilled", confidence=0.9)])
    slack = FakeSlack(token=SLACK_TOKEN)
    with FakeLLM(script) as llm, slack.running():
        async with running_server(
            resources_from_yaml(resources(llm.url, slack.api_url)),
            database_url,
            secrets=secrets(),
            run_concurrency=8,
            **server_settings(kubectl_stand_in(tmp_path)),
        ) as server:
            stack.set_webhook_target(f"{server.url}/webhook/alerts")
            storm = Storm(stack, server, f"shop-{uuid.uuid4().hex[:8]}")
            storm.fire()
            await stack.wait_for_async(storm.runs_finished, timeout=90)
            await server.settle()

            [incident] = await storm.incident_rows()
            assert incident.alerts_count >= PODS  # the group may bring others' leftovers
            # Alertmanager groups by alertname across the session's tests: a leftover alert of
            # an earlier test in the same group may have opened it, and ours joined by group.
            if await storm.opened_it(incident.id):
                assert incident.workload == f"{storm.namespace}/api (Deployment)"
            assert incident.status == "investigating"
            assert incident.root_cause_analysis == "OOMKilled"
            assert len(llm.answered()) == 1  # one investigation, one request
            async with server.service.database.connect() as conn:
                steps = list(
                    await conn.execute(
                        select(step_results).where(step_results.c.name == "investigate")
                    )
                )
            mine = [s for s in steps if s.status == "skipped"]
            assert len([s for s in steps if s.status == "succeeded"]) == 1
            assert len(mine) >= PODS - 1
            assert {s.result["attachedTo"] for s in mine} == {str(incident.investigation_run_id)}
            # One Slack thread at the stand-in: the first run's message, every other a reply.
            posted = slack.posted()
            [parent] = [m for m in posted if m.thread_ts is None]
            assert len(posted) >= PODS
            assert all(m.thread_ts == parent.ts for m in posted if m is not parent)
            assert len(parent.replies) == len(posted) - 1

            storm.resolve()

            async def resolved() -> bool:
                rows = await storm.incident_rows()
                return bool(rows) and rows[0].status == "resolved"

            await stack.wait_for_async(resolved, timeout=90)
            [incident] = await storm.incident_rows()
            assert incident.mttr_seconds is not None
            assert incident.mttr_seconds >= 0
            assert incident.resolved_at >= incident.created_at

            # The KPI endpoint reports it (this test's database: only its storm, and perhaps
            # a leftover of the shared Alertmanager group as a second incident).
            kpis = (await server.client.get("/api/v1/kpis?since=1h")).json()
            assert kpis["investigations"] == 1
            assert kpis["incidents"] >= 1
            assert kpis["timeToTriage"]["count"] >= PODS
            assert kpis["timeToResolve"]["count"] >= 1
            if kpis["incidents"] == 1:
                assert kpis["timeToResolve"]["p50Seconds"] == incident.mttr_seconds
                assert kpis["investigationsPerIncident"] == 1.0
            metrics = (await server.client.get("/metrics")).text
            assert "punchingfist_time_to_resolve_seconds_count 1.0" in metrics
            triaged = re.search(r"^punchingfist_time_to_triage_seconds_count (\S+)$", metrics, re.M)
            assert triaged is not None
            assert float(triaged.group(1)) >= PODS  # as the KPI endpoint counts them
            stack.set_webhook_target(None)
