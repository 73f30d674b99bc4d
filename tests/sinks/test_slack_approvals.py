"""Approval requests in Slack: posted once in the alert's thread, decided by signed clicks."""

from __future__ import annotations

import json
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from contextlib import AbstractAsyncContextManager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from punching_fist.approvals.slack_blocks import APPROVE, DENY, signature
from punching_fist.errors import ResourceValidationError
from punching_fist.secret_refs import EnvResolver, SecretResolver
from punching_fist.store.approval_rows import NewApproval
from punching_fist.store.approvals import ApprovalStore
from punching_fist.store.tables import utcnow
from tests.sinks.support import SECRETS, SLACK_TOKEN, eventually, fire, pipeline
from tests.sinks.test_slack import slack_sink
from tests.support.fake_slack import FakeSlack, SlackMessage
from tests.support.server import RunningServer, running_server

SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    fake = FakeSlack(token=SLACK_TOKEN)
    fake.usergroups = {"S0ONCALL": ["U0BOB01"]}
    with fake.running():
        yield fake


def serve(
    slack: FakeSlack, tmp_path: Path, approvers: str = "[U0ALICE01, S0ONCALL]"
) -> AbstractAsyncContextManager[RunningServer]:
    extra = (
        "    approvals: true\n"
        f"    approvers: {approvers}\n"
        "    signingSecret: env://SLACK_SIGNING_SECRET\n"
    )
    resources = pipeline(slack_sink(slack, extra=extra), ["slack"])
    secrets = SecretResolver(
        {"env": EnvResolver({**SECRETS, "SLACK_SIGNING_SECRET": SIGNING_SECRET})}
    )
    return running_server(resources, f"sqlite:///{tmp_path / 'pf.db'}", secrets=secrets)


async def request_approval(server: RunningServer, run_id: str, approvers: int = 1) -> uuid.UUID:
    store = ApprovalStore(server.service.database)
    rule = {"name": "two", "origin": "Workflow/triage", "approvers": 2} if approvers > 1 else None
    [approval_id] = await store.create_batch(
        run_id=uuid.UUID(run_id),
        step_name="investigate",
        requests=[
            NewApproval(
                action={"tool": "kubectl", "args": ["rollout", "restart", "deploy/checkout"]},
                reason="restart the crash-looping deployment",
                risk="medium",
                approvers=approvers,
                rule=rule,
            )
        ],
        state={"conversation": []},
        expires_at=utcnow() + timedelta(hours=1),
    )
    return approval_id


def click(message: SlackMessage, action_id: str, *, user: str = "alice") -> dict[str, Any]:
    """The ``block_actions`` payload Slack sends when someone clicks a button."""
    button = next(
        e
        for b in message.blocks
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == action_id
    )
    return {
        "type": "block_actions",
        "user": {"id": f"U0{user.upper()}01", "username": user, "name": user},
        "channel": {"id": message.channel, "name": "ops-alerts"},
        "message": {"ts": message.ts, "blocks": message.blocks, "text": message.text},
        "actions": [
            {"action_id": action_id, "block_id": "punchingfist_approval", "value": button["value"]}
        ],
    }


async def post_interaction(
    server: RunningServer, payload: dict[str, Any], *, secret: str = SIGNING_SECRET, age: int = 0
) -> Any:
    body = urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()
    timestamp = str(int(time.time()) - age)
    return await server.client.post(
        "/slack/interactions",
        content=body,
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": timestamp,
            "X-Slack-Signature": signature(secret, timestamp, body),
        },
    )


async def test_a_pending_approval_is_posted_once_in_the_alerts_thread_and_approved_by_a_click(
    slack: FakeSlack, tmp_path: Path
) -> None:
    async with serve(slack, tmp_path) as server:
        run_id = await fire(server)
        approval_id = await request_approval(server, run_id)

        def announced() -> list[SlackMessage]:
            return [m for m in slack.posted() if m.blocks[0]["text"]["text"].startswith("🔐")]

        [message] = await eventually(announced)
        result, alert_message = message, slack.posted()[0]
        assert result.thread_ts == alert_message.ts  # in the alert's thread
        assert result.blocks[0]["text"]["text"] == "🔐 Approval needed · triage"
        assert "restart the crash-looping deployment" in result.blocks[1]["text"]["text"]
        assert "rollout" in result.blocks[1]["text"]["text"]
        assert [e["value"] for e in result.blocks[-1]["elements"]] == [str(approval_id)] * 2

        late_click = click(message, DENY, user="bob")  # someone else, on the same message
        response = await post_interaction(server, click(message, APPROVE))
        assert response.status_code == 200, response.text
        assert response.json() == {"approval": str(approval_id), "status": "approved"}
        approval = (await server.client.get(f"/api/v1/approvals/{approval_id}")).json()
        assert approval["status"] == "approved"
        assert approval["decided_by"] == "slack:alice (U0ALICE01)"

        # A second click (or one after a decision elsewhere) changes nothing.
        again = await post_interaction(server, late_click)
        assert again.json()["status"] == "approved"
        assert server.service.slack_approvals is not None
        await server.service.slack_approvals.announce_once()
    assert len([m for m in slack.posted() if m.blocks[0]["text"]["text"].startswith("🔐")]) == 1
    assert message.edits == 2
    assert all(b["type"] != "actions" for b in message.blocks)
    assert message.blocks[-1]["elements"][0]["text"] == "✅ approved by slack:alice (U0ALICE01)"


async def test_a_rule_of_two_approvers_keeps_the_buttons_until_a_second_person_clicks(
    slack: FakeSlack, tmp_path: Path
) -> None:
    async with serve(slack, tmp_path) as server:
        run_id = await fire(server)
        approval_id = await request_approval(server, run_id, approvers=2)
        [message] = await eventually(lambda: slack.posted()[1:])
        assert (
            "*Rule:* two (Workflow/triage): needs 2 different approvers"
            in (message.blocks[1]["text"]["text"])
        )
        first = await post_interaction(server, click(message, APPROVE))
        assert first.json()["status"] == "approved (1 of 2)"
        assert any(b["type"] == "actions" for b in message.blocks)  # others still can click
        twice = await post_interaction(server, click(message, APPROVE))
        assert twice.json()["status"] == "approved (1 of 2)"
        still = (await server.client.get(f"/api/v1/approvals/{approval_id}")).json()
        assert still["status"] == "pending"
        assert still["approved_by"] == ["slack:alice (U0ALICE01)"]
        second = await post_interaction(server, click(message, APPROVE, user="bob"))
        approval = (await server.client.get(f"/api/v1/approvals/{approval_id}")).json()
    assert second.json()["status"] == "approved"
    assert approval["status"] == "approved"
    assert approval["approved_by"] == ["slack:alice (U0ALICE01)", "slack:bob (U0BOB01)"]
    assert all(b["type"] != "actions" for b in message.blocks)
    assert message.blocks[-1]["elements"][0]["text"] == "✅ approved by <@U0BOB01>"


async def test_a_deny_click_denies(slack: FakeSlack, tmp_path: Path) -> None:
    async with serve(slack, tmp_path) as server:
        run_id = await fire(server)
        approval_id = await request_approval(server, run_id)
        [message] = await eventually(lambda: slack.posted()[1:])
        response = await post_interaction(server, click(message, DENY, user="bob"))
        approval = (await server.client.get(f"/api/v1/approvals/{approval_id}")).json()
    assert response.json()["status"] == "denied"
    assert approval["status"] == "denied"
    assert message.blocks[-1]["elements"][0]["text"] == "⛔ denied by <@U0BOB01>"


@pytest.mark.parametrize(
    ("secret", "age", "detail"),
    [
        ("not-the-signing-secret", 0, "invalid Slack signature"),
        (SIGNING_SECRET, 600, "stale Slack request"),
    ],
)
async def test_unsigned_or_replayed_clicks_are_refused(
    slack: FakeSlack, tmp_path: Path, secret: str, age: int, detail: str
) -> None:
    async with serve(slack, tmp_path) as server:
        run_id = await fire(server)
        approval_id = await request_approval(server, run_id)
        [message] = await eventually(lambda: slack.posted()[1:])
        response = await post_interaction(server, click(message, APPROVE), secret=secret, age=age)
        approval = (await server.client.get(f"/api/v1/approvals/{approval_id}")).json()
    assert response.status_code == 401
    assert response.json()["detail"] == detail
    assert approval["status"] == "pending"
    assert message.edits == 0


async def test_a_restart_does_not_post_a_pending_approval_again(
    slack: FakeSlack, tmp_path: Path
) -> None:
    async with serve(slack, tmp_path) as server:
        run_id = await fire(server)
        await request_approval(server, run_id)
        await eventually(lambda: slack.posted()[1:])
    async with serve(slack, tmp_path) as server:
        approvals = server.service.slack_approvals
        assert approvals is not None
        assert await approvals.announce_once() == 0
    assert len(slack.posted()) == 2  # the alert's result and the one approval request


async def test_a_click_of_someone_not_among_the_approvers_changes_nothing(
    slack: FakeSlack, tmp_path: Path
) -> None:
    async with serve(slack, tmp_path) as server:
        run_id = await fire(server)
        approval_id = await request_approval(server, run_id)
        [message] = await eventually(lambda: slack.posted()[1:])
        response = await post_interaction(server, click(message, APPROVE, user="carol"))
        approval = (await server.client.get(f"/api/v1/approvals/{approval_id}")).json()
    assert response.status_code == 403
    assert response.json()["detail"] == "Slack user U0CAROL01 is not an approver of sink 'slack'"
    assert approval["status"] == "pending"
    assert message.edits == 0
    assert slack.ephemeral == [
        {
            "channel": message.channel,
            "user": "U0CAROL01",
            "text": "Only this request's approvers can approve or deny it; nothing changed.",
        }
    ]


async def test_an_unreadable_approvers_group_refuses_the_click(
    slack: FakeSlack, tmp_path: Path
) -> None:
    async with serve(slack, tmp_path, approvers="[S0GONE]") as server:
        run_id = await fire(server)
        approval_id = await request_approval(server, run_id)
        [message] = await eventually(lambda: slack.posted()[1:])
        response = await post_interaction(server, click(message, APPROVE, user="bob"))
        approval = (await server.client.get(f"/api/v1/approvals/{approval_id}")).json()
    assert response.status_code == 503
    assert "S0GONE" in response.json()["detail"]
    assert approval["status"] == "pending"


@pytest.mark.parametrize(
    ("approvers", "problem"),
    [
        ("", "approvals: true needs approvers"),
        ("    approvers: ['@alice', U0ALICE01]\n", "['@alice'] are not Slack ids"),
    ],
)
def test_slack_approvals_need_approvers_named_by_id(
    slack: FakeSlack, approvers: str, problem: str
) -> None:
    extra = "    approvals: true\n" + approvers
    with pytest.raises(ResourceValidationError) as refused:
        pipeline(slack_sink(slack, extra=extra), ["slack"])
    assert problem in str(refused.value)
    assert "(Sink/slack): spec.config" in str(refused.value)
