"""Approval rules over real HTTP: which writes wait, for how many people, and why.

The design asks for approval gates "based on alert severity, affected resources". Rules in
the Workflow (``spec.approvalRules``) or the OperatorConfig name namespaces, kinds and
severities; the rule that applied is shown with the request (API and audit trail). What ran
is observed on the kubectl stand-in, so "did not run" means no process started.
"""

from __future__ import annotations

import asyncio
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import httpx
from typer.testing import CliRunner

from punching_fist.cli import app as cli_app
from tests.agent.kit import (
    KubectlStandIn,
    kubectl_stand_in,
    post_alert,
    run_detail,
    server_settings,
    step,
    wait_for_status,
    workflow_yaml,
)
from tests.support.api_auth import ADMIN, APPROVER, OPERATOR_CONFIG, VIEWER, bearer, secrets
from tests.support.fake_llm import FakeLLM, Script, final, kubectl
from tests.support.payloads import alert, notification
from tests.support.server import RunningServer, resources_from_yaml, running_server

RESPONSES = [
    ("get pods", "NAME READY STATUS\nweb-1 0/1 CrashLoopBackOff\n", 0),
    ("delete pod", 'pod "web-1" deleted\n', 0),
    ("scale", "deployment.apps/web scaled\n", 0),
]


def with_rules(text: str, rules: str) -> str:
    """``text`` (one workflow) with ``spec.approvalRules``."""
    assert text.count("  sinks: [out]\n") == 1
    return text.replace("  sinks: [out]\n", f"  sinks: [out]\n  approvalRules: {rules}\n")


async def pending(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    response = await client.get("/api/v1/approvals")
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def tool_messages(llm: FakeLLM, index: int) -> list[str]:
    return [m["content"] for m in llm.requests[index].body["messages"] if m["role"] == "tool"]


async def test_a_rule_lets_a_read_only_step_ask_for_the_writes_it_covers(
    sqlite_url: str, tmp_path: Path
) -> None:
    stand_in = kubectl_stand_in(tmp_path, RESPONSES)
    script = Script(
        [
            kubectl("delete pod web-1 -n staging"),  # no rule covers staging: refused
            kubectl("delete pod web-1"),  # the kubeconfig's namespace: unknown, refused
            kubectl("scale deployment web --replicas=3 -n prod"),
            final(summary="scaled web in prod"),
        ]
    )
    rules = "[{name: prod-writes, namespaces: [prod, 'prod-*']}]"
    with FakeLLM(script) as llm:
        text = with_rules(workflow_yaml(llm.url), rules)  # no approvalRequired: read-only
        async with running_server(
            resources_from_yaml(text), sqlite_url, **server_settings(stand_in)
        ) as server:
            run_id = await post_alert(server)
            await server.settle()
            await wait_for_status(server.client, run_id, "waiting_approval")
            (approval,) = await pending(server.client)
            assert approval["action"]["command"] == "scale deployment web --replicas=3 -n prod"
            assert approval["rule"] == {
                "name": "prod-writes",
                "origin": "Workflow/wf",
                "approvers": 1,
            }
            assert approval["approvers_required"] == 1
            assert not stand_in.ran("scale")
            decided = await server.client.post(
                f"/api/v1/approvals/{approval['id']}", json={"approved": True}
            )
            assert decided.json()["run_resumed"] is True
            await server.settle()
            detail = await wait_for_status(server.client, run_id, "succeeded")
    assert not stand_in.ran("delete")
    assert stand_in.ran("scale deployment web --replicas=3 -n prod")
    refusals = tool_messages(llm, 2)
    assert len(refusals) == 2
    assert all(t.startswith("Not run: this investigation is read-only") for t in refusals)
    requested = next(
        e for e in detail["audit"] if (e["kind"], e["name"]) == ("approval", "requested")
    )
    assert requested["arguments"]["rule"]["name"] == "prod-writes"
    assert step(detail)["result"]["actions_taken"] == [
        "kubectl scale deployment web --replicas=3 -n prod"
    ]


TWO_FOR_CRITICAL = OPERATOR_CONFIG.replace(
    "  api:\n",
    "  approvalRules:\n    - {name: critical-two, severities: [critical], approvers: 2}\n  api:\n",
)


def serve_with_tokens(
    stand_in: KubectlStandIn, llm: FakeLLM, database_url: str
) -> AbstractAsyncContextManager[RunningServer]:
    """A server whose OperatorConfig has a token per role and the rule ``critical-two``."""
    text = workflow_yaml(llm.url, step_extra="      approvalRequired: true")
    resources = resources_from_yaml(text + (TWO_FOR_CRITICAL % "false"))
    return running_server(
        resources,
        database_url,
        secrets=secrets(),
        headers=bearer(VIEWER),
        **server_settings(stand_in),
    )


async def decide(server: RunningServer, approval_id: str, token: str, approved: bool) -> Any:
    return await server.client.post(
        f"/api/v1/approvals/{approval_id}", json={"approved": approved}, headers=bearer(token)
    )


async def test_a_critical_alert_needs_two_different_people(
    database_url: str, tmp_path: Path
) -> None:
    stand_in = kubectl_stand_in(tmp_path, RESPONSES)
    script = Script([kubectl("delete pod web-1 -n shop"), final(summary="restarted web-1")])
    with FakeLLM(script) as llm:
        async with serve_with_tokens(stand_in, llm, database_url) as server:
            run_id = await post_alert(server)  # severity: critical
            await server.settle()
            await wait_for_status(server.client, run_id, "waiting_approval")
            (approval,) = await pending(server.client)
            assert approval["approvers_required"] == 2
            assert approval["rule"] == {
                "name": "critical-two",
                "origin": "OperatorConfig/config",
                "approvers": 2,
            }

            first = await decide(server, approval["id"], APPROVER, True)
            assert first.status_code == 200, first.text
            assert first.json()["status"] == "pending"
            assert first.json()["approved_by"] == ["sre-lead"]
            assert first.json()["run_resumed"] is False
            again = await decide(server, approval["id"], APPROVER, True)
            assert again.status_code == 409
            assert "sre-lead has already approved" in again.json()["detail"]
            await server.settle()  # a run resumed by mistake would have finished by now
            assert not stand_in.ran("delete")
            assert (await run_detail(server.client, run_id))["status"] == "waiting_approval"

            second = await decide(server, approval["id"], ADMIN, True)
            assert second.json()["status"] == "approved"
            assert second.json()["decided_by"] == "sre-lead, platform-admin"
            assert second.json()["run_resumed"] is True
            await server.settle()
            detail = await wait_for_status(server.client, run_id, "succeeded")
    assert stand_in.ran("delete pod web-1 -n shop")
    events = [
        (e["name"], e["arguments"].get("decided_by"))
        for e in detail["audit"]
        if e["kind"] == "approval"
    ]
    assert events == [
        ("requested", None),
        ("partly_approved", "sre-lead"),
        ("approved", "platform-admin"),
    ]


async def test_one_denial_is_enough_and_a_lesser_alert_needs_one_person(
    sqlite_url: str, tmp_path: Path
) -> None:
    stand_in = kubectl_stand_in(tmp_path, RESPONSES)
    script = Script([kubectl("delete pod web-1 -n shop"), final(summary="left alone")])
    with FakeLLM(script) as llm:
        async with serve_with_tokens(stand_in, llm, sqlite_url) as server:
            run_id = await post_alert(server)
            await server.settle()
            await wait_for_status(server.client, run_id, "waiting_approval")
            (approval,) = await pending(server.client)
            await decide(server, approval["id"], APPROVER, True)
            denied = await decide(server, approval["id"], ADMIN, False)
            assert denied.json()["status"] == "denied"
            assert denied.json()["run_resumed"] is True
            await server.settle()
            await wait_for_status(server.client, run_id, "succeeded")

            lesser_alert = alert("DiskFilling", severity="warning", fingerprint="fp-2")
            response = await server.post_alert("/hook", notification(lesser_alert))
            warning = response.json()["alerts"][0]["runId"]
            await server.settle()
            await wait_for_status(server.client, warning, "waiting_approval")
            (lesser,) = await pending(server.client)
            # The rule covers critical alerts only; the step's own switch still asks one person.
            assert lesser["approvers_required"] == 1
            assert lesser["rule"] is None
            assert (await decide(server, lesser["id"], APPROVER, True)).json()["run_resumed"]
            await server.settle()
            await wait_for_status(server.client, warning, "succeeded")
    assert [argv[:2] for argv in stand_in.invocations()] == [["delete", "pod"]]


async def test_an_open_api_cannot_be_the_second_approver(sqlite_url: str, tmp_path: Path) -> None:
    stand_in = kubectl_stand_in(tmp_path, RESPONSES)
    script = Script([kubectl("delete pod web-1 -n shop"), final(summary="left alone")])
    rules = "[{name: two-for-pods, kinds: [po], approvers: 2}]"
    runner = CliRunner()
    with FakeLLM(script) as llm:
        text = with_rules(workflow_yaml(llm.url), rules)
        async with running_server(
            resources_from_yaml(text), sqlite_url, **server_settings(stand_in)
        ) as server:
            run_id = await post_alert(server)
            await server.settle()
            await wait_for_status(server.client, run_id, "waiting_approval")
            (approval,) = await pending(server.client)
            assert approval["rule"]["name"] == "two-for-pods"
            listed = await asyncio.to_thread(
                runner.invoke, cli_app, ["approvals", "list", "--url", server.url]
            )
            assert "rule:    two-for-pods (Workflow/wf): 2 approvers; approved by nobody yet" in (
                listed.output
            )
            refused = await server.client.post(
                f"/api/v1/approvals/{approval['id']}", json={"approved": True}
            )
            assert refused.status_code == 403
            assert "needs 2 different people" in refused.json()["detail"]
            assert "spec.api.tokens" in refused.json()["detail"]
            denied = await server.client.post(
                f"/api/v1/approvals/{approval['id']}", json={"approved": False}
            )
            assert denied.json()["status"] == "denied"
            await server.settle()
            await wait_for_status(server.client, run_id, "succeeded")
    assert not stand_in.ran("delete")
