"""The resources page: every loaded resource, with what ``validate`` finds wrong with it."""

from __future__ import annotations

from tests.dashboard.test_dashboard_access import sign_in
from tests.support.api_auth import OPERATOR_CONFIG, VIEWER, secrets
from tests.support.resources_yaml import webhook_source
from tests.support.server import resources_from_yaml, running_server

RESOURCES = (
    webhook_source()
    + """
apiVersion: punchingfist.io/v1alpha1
kind: Workflow
metadata: {name: wf}
spec:
  runtime: {image: "busybox:1.36"}
  steps: [{name: s, type: cli, command: "echo ok"}]
  sinks: [out, pager]
---
apiVersion: punchingfist.io/v1alpha1
kind: Sink
metadata: {name: out}
spec: {type: stdout}
---
apiVersion: punchingfist.io/v1alpha1
kind: Sink
metadata: {name: pager}
spec:
  type: pagerduty
  config: {routingKey: "R0123456789abcdef0123456789abcd"}
"""
)


async def test_resources_show_with_their_errors_and_warnings(sqlite_url: str) -> None:
    # Loaded without `validate` (as a registry may be given them), so the page has to tell.
    loaded = resources_from_yaml(RESOURCES + OPERATOR_CONFIG % "false")
    async with (
        running_server(loaded, sqlite_url, secrets=secrets()) as server,
        sign_in(server, VIEWER) as viewer,
    ):
        page = await viewer.get("/ui/resources")
    assert page.status_code == 200
    rows = {
        row.split("</td><td>")[1].split("<")[0]: row
        for row in page.text.split('<tr class="resource')[1:]
    }
    assert set(rows) == {"am", "wf", "out", "pager", "config"}
    assert "spec.runtime.image: ignored" in rows["wf"]
    assert 'class="warning"' in rows["wf"]
    assert "spec.config.routingKey: a literal value is refused" in rows["pager"]
    assert 'class="error"' in rows["pager"]
    assert "has-errors" in rows["pager"].split(">")[0]
    assert ">valid<" in rows["out"]
    assert "1 steps: s (cli)" in rows["wf"]
