"""The alert's record, written by a served engine on SQLite and PostgreSQL: triage times and
the AI's analysis from the agent step, escalation when PagerDuty (trigger) delivered, approvals
in ``human_actions``, ``auto_resolved`` for an alert resolved after an approved fix and before
any escalation; and the metrics observed as it happens."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from punching_fist.agent.base import AgentOutcome, AgentRequest, Ending
from punching_fist.secret_refs import EnvResolver, SecretResolver
from punching_fist.store.approval_rows import NewApproval
from punching_fist.store.approvals import ApprovalStore
from punching_fist.store.tables import alerts, utcnow, workflow_runs
from tests.sinks.support import PD_ROUTING_KEY, SECRETS, eventually
from tests.sinks.test_pagerduty import pd_sink
from tests.support.fake_pagerduty import FakePagerDuty
from tests.support.payloads import alert, notification
from tests.support.server import RunningServer, resources_from_yaml, running_server

RESULT = {"summary": "checkout is OOMKilled", "root_cause": "memory limit 128Mi", "confidence": 0.8}


class AnsweringAgent:
    async def investigate(self, request: AgentRequest) -> AgentOutcome:
        return AgentOutcome(ending=Ending.ANSWERED, result=dict(RESULT))


def resources(pagerduty: FakePagerDuty) -> str:
    flows = ""
    for name, sinks in (("paged", "[pd, out]"), ("quiet", "[out]")):
        flows += f"""
---
apiVersion: punchingfist.io/v1alpha1
kind: Source
metadata: {{name: {name}}}
spec:
  type: webhook
  config: {{path: /{name}}}
  triggerWorkflow: {name}
---
apiVersion: punchingfist.io/v1alpha1
kind: Workflow
metadata: {{name: {name}}}
spec:
  steps:
    - {{name: investigate, type: agent, goal: "Investigate", evidence: "off"}}
  sinks: {sinks}
"""
    return f"""
apiVersion: punchingfist.io/v1alpha1
kind: Sink
metadata: {{name: out}}
spec: {{type: stdout}}
---
{pd_sink(pagerduty)}{flows}"""


@pytest.fixture
def pagerduty() -> Iterator[FakePagerDuty]:
    fake = FakePagerDuty(routing_key=PD_ROUTING_KEY)
    with fake.running():
        yield fake


async def _fire(server: RunningServer, path: str, pod: str, status: str = "firing") -> uuid.UUID:
    body = notification(
        alert(
            fingerprint=f"fp-{pod}",
            status=status,
            labels={"namespace": path, "pod": pod},
            ends_at="2026-11-25T10:30:00Z" if status == "resolved" else None,
        )
    )
    body["groupKey"] = f"{{}}:{{pod={pod!r}}}"
    response = await server.post_alert(f"/{path}", body)
    assert response.status_code == 202, response.text
    await server.settle(30)
    return uuid.UUID(response.json()["alerts"][0]["id"])


async def _row(server: RunningServer, alert_id: uuid.UUID) -> Any:
    async with server.service.database.connect() as conn:
        return (await conn.execute(select(alerts).where(alerts.c.id == alert_id))).one()


async def _approve_a_fix(server: RunningServer, alert_id: uuid.UUID) -> None:
    async with server.service.database.connect() as conn:
        run_id = (
            await conn.execute(
                select(workflow_runs.c.id).where(workflow_runs.c.alert_id == alert_id)
            )
        ).scalar_one()
    [approval_id] = await ApprovalStore(server.service.database).create_batch(
        run_id=run_id,
        step_name="investigate",
        requests=[
            NewApproval(
                action={"tool": "kubectl", "command": "set resources deploy/checkout"},
                reason="raise the memory limit",
                risk="medium",
            )
        ],
        state={"conversation": []},
        expires_at=utcnow() + timedelta(hours=1),
    )
    decided = await server.client.post(
        f"/api/v1/approvals/{approval_id}", json={"approved": True, "feedback": "go"}
    )
    assert decided.status_code == 200, decided.text


async def test_the_alert_record_and_its_metrics(
    database_url: str, pagerduty: FakePagerDuty
) -> None:
    secrets = SecretResolver({"env": EnvResolver(SECRETS)})
    async with running_server(
        resources_from_yaml(resources(pagerduty)),
        database_url,
        agent=AnsweringAgent(),
        secrets=secrets,
    ) as server:
        paged = await _fire(server, "paged", "checkout-1")
        quiet = await _fire(server, "quiet", "billing-1")
        escalated, triaged = await _row(server, paged), await _row(server, quiet)

        await _approve_a_fix(server, paged)
        await _approve_a_fix(server, quiet)
        await _fire(server, "paged", "checkout-1", status="resolved")
        await _fire(server, "quiet", "billing-1", status="resolved")
        escalated_end, fixed_end = await _row(server, paged), await _row(server, quiet)

        async def counted() -> str:
            # Resolutions are counted just after their commit, off the intake's path.
            text = (await server.client.get("/metrics")).text
            done = "punchingfist_time_to_resolve_seconds_count 2.0" in text
            return text if done and "punchingfist_alerts_auto_resolved_total 1.0" in text else ""

        metrics = await eventually(counted)

    for row in (escalated, triaged):
        assert row.received_at <= row.triage_started_at <= row.triage_completed_at
        assert row.ai_analysis == RESULT
        assert row.ai_confidence == pytest.approx(0.8)
    assert triaged.status == "triaged"
    assert triaged.escalated_at is None
    assert escalated.status == "escalated"
    assert escalated.escalated_to == "pd"
    assert escalated.escalated_at >= escalated.triage_completed_at
    assert len(pagerduty.events) == 1

    [approval] = fixed_end.human_actions
    assert approval["kind"] == "approval"
    assert approval["by"] == "anonymous"
    assert approval["approved"] is True
    assert approval["tool"] == "kubectl"
    assert fixed_end.status == "resolved"
    assert fixed_end.auto_resolved is True
    assert escalated_end.auto_resolved is False  # a person was paged before the fix

    assert "punchingfist_time_to_triage_seconds_count 2.0" in metrics
    assert 'punchingfist_alerts_escalated_total{sink="pd"} 1.0' in metrics
    assert "punchingfist_alerts_auto_resolved_total 1.0" in metrics
    assert "punchingfist_time_to_resolve_seconds_count 2.0" in metrics
