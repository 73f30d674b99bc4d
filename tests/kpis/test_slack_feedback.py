""" "Root cause right / wrong" buttons on an investigation's Slack message, clicked with signed
interaction payloads against the Slack stand-in: only approvers count, the feedback is the
incident's, recorded as ``slack:<name> (<id>)``, and the message says who judged it."""

from __future__ import annotations

import uuid
from pathlib import Path

from sqlalchemy import select, update

from punching_fist.sinks.slack_blocks import FEEDBACK_RIGHT, FEEDBACK_WRONG
from punching_fist.store.feedback import feedback_of
from punching_fist.store.tables import alerts, workflow_runs
from tests.kpis.seed import open_incident
from tests.sinks.support import eventually, fire
from tests.sinks.test_slack_approvals import click, post_interaction, serve, slack  # noqa: F401
from tests.support.fake_slack import FakeSlack
from tests.support.server import RunningServer


async def _incident_of(server: RunningServer, run_id: str) -> uuid.UUID:
    """The run's incident (as correlation assigns it), or one opened for its alert here."""
    db = server.service.database
    async with db.connect() as conn:
        row = (
            await conn.execute(
                select(alerts.c.id, alerts.c.incident_id)
                .select_from(workflow_runs.join(alerts, workflow_runs.c.alert_id == alerts.c.id))
                .where(workflow_runs.c.id == uuid.UUID(run_id))
            )
        ).one()
    if row.incident_id is not None:
        return uuid.UUID(str(row.incident_id))
    return await open_incident(db, [row.id])


async def test_approvers_judge_the_root_cause_with_the_buttons(
    slack: FakeSlack,  # noqa: F811
    tmp_path: Path,
) -> None:
    async with serve(slack, tmp_path) as server:
        run_id = await fire(server)
        [message] = await eventually(lambda: slack.posted())
        [buttons] = [b for b in message.blocks if b.get("block_id") == "punchingfist_feedback"]
        assert [e["text"]["text"] for e in buttons["elements"]] == [
            "Root cause right",
            "Root cause wrong",
        ]
        assert {e["value"] for e in buttons["elements"]} == {run_id}
        incident_id = await _incident_of(server, run_id)

        refused = await post_interaction(server, click(message, FEEDBACK_WRONG, user="mallory"))
        judged = await post_interaction(server, click(message, FEEDBACK_RIGHT))
        by_group = await post_interaction(server, click(message, FEEDBACK_WRONG, user="bob"))
        forged = await post_interaction(
            server, click(message, FEEDBACK_WRONG), secret="not-the-signing-secret"
        )
        stored = await feedback_of(server.service.database, incident_id)
        metrics = (await server.client.get("/metrics")).text

    assert refused.status_code == 403
    assert "U0MALLORY01 is not an approver" in refused.json()["detail"]
    assert slack.ephemeral[-1]["user"] == "U0MALLORY01"
    assert judged.status_code == 200, judged.text
    assert judged.json() == {"incident": str(incident_id), "rootCauseCorrect": True}
    assert by_group.status_code == 200, by_group.text
    assert forged.status_code == 401
    assert [(f.given_by, f.root_cause_correct, f.source) for f in stored] == [
        ("slack:alice (U0ALICE01)", True, "slack"),
        ("slack:bob (U0BOB01)", False, "slack"),
    ]
    texts = [e["text"] for b in message.blocks if b["type"] == "context" for e in b["elements"]]
    assert "✅ root cause right by <@U0ALICE01>" in texts
    assert "❌ root cause wrong by <@U0BOB01>" in texts
    assert any(b.get("block_id") == "punchingfist_feedback" for b in message.blocks)
    assert 'punchingfist_feedback_total{correct="true"} 1.0' in metrics


async def test_a_click_before_the_alert_has_an_incident_changes_nothing(
    slack: FakeSlack,  # noqa: F811
    tmp_path: Path,
) -> None:
    async with serve(slack, tmp_path) as server:
        run_id = await fire(server)
        [message] = await eventually(lambda: slack.posted())
        async with server.service.database.transaction() as conn:
            # As if correlation had not run: the alert belongs to no incident.
            await conn.execute(update(alerts).values(incident_id=None))
        response = await post_interaction(server, click(message, FEEDBACK_RIGHT))
    assert response.status_code == 404
    assert f"run {run_id} belongs to no incident" in response.json()["detail"]
    assert slack.ephemeral[-1]["text"].startswith("This alert belongs to no incident")
