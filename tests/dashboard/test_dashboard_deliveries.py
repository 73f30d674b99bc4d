"""A dead letter on a run's page, and an admin's retry through the page delivering it."""

from __future__ import annotations

from punching_fist.secret_refs import EnvResolver, SecretResolver
from tests.dashboard.test_dashboard_access import csrf_of, sign_in
from tests.sinks.support import FAST, SLACK_TOKEN
from tests.support.api_auth import ADMIN, ENVIRONMENT, OPERATOR_CONFIG, bearer
from tests.support.fake_slack import FakeSlack
from tests.support.payloads import alert, notification
from tests.support.resources_yaml import webhook_source
from tests.support.server import resources_from_yaml, running_server

RESOURCES = (
    webhook_source()
    + """
apiVersion: punchingfist.io/v1alpha1
kind: Workflow
metadata: {{name: wf}}
spec:
  steps: [{{name: s, type: cli, command: "echo ok"}}]
  sinks: [ops]
---
apiVersion: punchingfist.io/v1alpha1
kind: Sink
metadata: {{name: ops}}
spec:
  type: slack
  config:
    channel: "#ops-alerts"
    botToken: env://SLACK_TOKEN
    endpoint: {endpoint}
{fast}"""
)


async def test_a_dead_letter_shows_and_an_admin_retries_it_through_the_page(
    database_url: str,
) -> None:
    slack = FakeSlack(token=SLACK_TOKEN, channels={"C0OPS0001": "ops-alerts"})
    with slack.running():
        slack.rate_limit_next(3, 0)  # every attempt of the delivery's budget is refused
        text = RESOURCES.format(endpoint=slack.api_url, fast=FAST) + OPERATOR_CONFIG % "false"
        secrets = SecretResolver({"env": EnvResolver({**ENVIRONMENT, "SLACK_TOKEN": SLACK_TOKEN})})
        loaded = resources_from_yaml(text)
        async with running_server(loaded, database_url, secrets=secrets) as server:
            response = await server.post_alert("/hook", notification(alert()))
            run_id = response.json()["alerts"][0]["runId"]
            await server.settle()
            run = (await server.client.get(f"/api/v1/runs/{run_id}", headers=bearer(ADMIN))).json()
            [delivery] = run["deliveries"]
            assert delivery["status"] == "failed", delivery
            assert slack.posted() == []
            async with sign_in(server, ADMIN) as admin:
                page = await admin.get(f"/ui/runs/{run_id}")
                row = page.text.split(f'data-delivery="{delivery["id"]}"')[1].split("</tr>")[0]
                assert "dead letter" in row
                assert ">Retry<" in row
                retried = await admin.post(
                    f"/ui/deliveries/{delivery['id']}/retry",
                    data={"csrf": csrf_of(page.text), "back": f"/ui/runs/{run_id}"},
                )
                assert retried.status_code == 303
                page = await admin.get(f"/ui/runs/{run_id}")
                row = page.text.split(f'data-delivery="{delivery["id"]}"')[1].split("</tr>")[0]
                assert "delivered" in row
                assert "dead letter" not in row
    [message] = slack.posted()
    assert message.channel == "C0OPS0001"
