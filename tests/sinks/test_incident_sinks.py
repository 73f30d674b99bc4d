"""Sinks follow incidents (issue 15): one Slack thread, one PagerDuty dedup key and one Jira
issue per incident, however many of its alerts arrive at once.

Five alerts of one Alertmanager group are one incident; their five runs deliver concurrently.
The first delivery per sink claims the incident's first message, the others reply to it.
``investigate: perAlert`` keeps a thread per alert.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.sinks.support import (
    FAST,
    SLACK_TOKEN,
    eventually,
    pipeline,
    serve,
)
from tests.sinks.test_jira import jira_sink
from tests.sinks.test_pagerduty import pd_sink
from tests.support.fake_jira import FakeJira
from tests.support.fake_pagerduty import FakePagerDuty
from tests.support.fake_slack import FakeSlack
from tests.support.payloads import alert, notification
from tests.support.server import RunningServer


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    fake = FakeSlack(token=SLACK_TOKEN, channels={"C0OPS0001": "ops-alerts"})
    with fake.running():
        yield fake


def slack_sink(slack: FakeSlack, *, template: str | None = None) -> str:
    extra = f"    template: {template!r}\n" if template else ""
    return f"""
apiVersion: punchingfist.io/v1alpha1
kind: Sink
metadata: {{name: slack}}
spec:
  type: slack
  config:
    channel: "#ops-alerts"
    botToken: env://SLACK_TOKEN
    endpoint: {slack.api_url}
    messageType: message
{extra}{FAST}
"""


async def storm(
    server: RunningServer, count: int, *, group: str = "checkout", pod: str = "checkout-7d9f"
) -> list[str]:
    """``count`` pods of one Deployment firing in one notification; their run ids."""
    body = notification(
        *(alert(fingerprint=f"fp-{group}-{n}", labels={"pod": f"{pod}{n}"}) for n in range(count))
    )
    body["groupKey"] = f'{{}}:{{alertname="PodCrashLooping",group="{group}"}}'
    response = await server.post_alert("/hook", body)
    assert response.status_code == 202, response.text
    await server.settle(60)
    return [item["runId"] for item in response.json()["alerts"]]


async def incident_of(server: RunningServer, run_id: str) -> str:
    response = await server.client.get(f"/api/v1/runs/{run_id}")
    detail: dict[str, Any] = response.json()
    incident: str = detail["source_context"]["incident"]["id"]
    return incident


async def test_five_alerts_of_one_incident_make_one_slack_thread(
    slack: FakeSlack, tmp_path: Path, database_url: str
) -> None:
    resources = pipeline(slack_sink(slack), ["slack"])
    async with serve(resources, tmp_path, database_url=database_url) as server:
        runs = await storm(server, 5)
        assert len({await incident_of(server, run) for run in runs}) == 1
        others = await storm(server, 2, group="payments", pod="payments-5c4b")

    posted = slack.posted()
    parents = [m for m in posted if m.thread_ts is None]
    assert len(posted) == 7
    assert len(parents) == 2  # one per incident
    checkout, payments = parents
    replies = [m for m in posted if m.thread_ts == checkout.ts]
    assert len(replies) == 4
    assert checkout.replies == [m.ts for m in replies]
    assert len([m for m in posted if m.thread_ts == payments.ts]) == len(others) - 1
    assert [m.ts for m in slack.thread(checkout.channel, checkout.ts)] == checkout.replies


async def test_the_incident_is_in_the_template_context(slack: FakeSlack, tmp_path: Path) -> None:
    template = "Incident {{ .incident.id }}: {{ .incident.title }}"
    resources = pipeline(slack_sink(slack, template=template), ["slack"])
    async with serve(resources, tmp_path) as server:
        [run] = await storm(server, 1)
        incident = await incident_of(server, run)
        title = (await server.client.get(f"/api/v1/runs/{run}")).json()["source_context"][
            "incident"
        ]["title"]
    [message] = slack.posted()
    assert title
    assert f"Incident {incident}: {title}" in message.text


async def test_per_alert_workflows_keep_a_thread_per_alert(
    slack: FakeSlack, tmp_path: Path
) -> None:
    resources = pipeline(slack_sink(slack), ["slack"], investigate="perAlert")
    async with serve(resources, tmp_path) as server:
        await storm(server, 3)
    assert [m.thread_ts for m in slack.posted()] == [None, None, None]


async def test_pagerduty_gets_one_dedup_key_per_incident(
    pagerduty: FakePagerDuty, tmp_path: Path
) -> None:
    resources = pipeline(pd_sink(pagerduty), ["pd"])
    async with serve(resources, tmp_path) as server:
        runs = await storm(server, 5)
        incident = await incident_of(server, runs[0])
    assert len(pagerduty.events) == 5
    assert {event["dedup_key"] for event in pagerduty.events} == {
        f"punchingfist/incident:{incident}"
    }
    assert len(pagerduty.incidents) == 1


async def test_jira_gets_one_issue_per_incident_and_comments_for_the_rest(
    jira: FakeJira, tmp_path: Path, database_url: str
) -> None:
    resources = pipeline(jira_sink(jira), ["jira"])
    async with serve(resources, tmp_path, database_url=database_url) as server:
        await storm(server, 5)
    [issue] = jira.issues.values()
    assert len(issue.comments) == 4


async def test_pagerduty_resolves_the_incident_when_its_last_alert_resolves(
    pagerduty: FakePagerDuty, tmp_path: Path
) -> None:
    sinks = pd_sink(pagerduty) + "---" + pd_sink(pagerduty, name="pd-resolve", action="resolve")
    firing = "{name: pd, condition: '{{ eq .source.data.alert.status \"firing\" }}'}"
    resolved = "{name: pd-resolve, condition: '{{ eq .source.data.alert.status \"resolved\" }}'}"
    resources = pipeline(sinks, [firing, resolved], on_resolved=True)
    async with serve(resources, tmp_path) as server:
        runs = await storm(server, 3)
        incident = await incident_of(server, runs[0])
        [page] = pagerduty.incidents.values()
        assert page.dedup_key == f"punchingfist/incident:{incident}"

        for n in range(3):
            body = notification(
                alert(
                    fingerprint=f"fp-checkout-{n}",
                    status="resolved",
                    labels={"pod": f"checkout-7d9f{n}"},
                )
            )
            body["groupKey"] = '{}:{alertname="PodCrashLooping",group="checkout"}'
            response = await server.post_alert("/hook", body)
            assert response.status_code == 202, response.text
            await server.settle(30)
            run = response.json()["alerts"][0]["runId"]
            detail = (await server.client.get(f"/api/v1/runs/{run}")).json()
            [delivery] = [d for d in detail["deliveries"] if d["sink_name"] == "pd-resolve"]
            if n < 2:  # other alerts of the incident still fire: the page stays
                assert delivery["status"] == "skipped"
                assert page.status == "triggered"
            else:
                assert delivery["status"] == "delivered"
        await eventually(lambda: page.status == "resolved")
    assert [e["event_action"] for e in pagerduty.events] == ["trigger"] * 3 + ["resolve"]
