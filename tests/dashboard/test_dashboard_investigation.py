"""An incident's page shows its investigation (the conclusion, each tool call with its
output) and the similar past incidents the agent was given (``knowledge.memory``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.agent.kit import kubectl_stand_in, server_settings, workflow_yaml
from tests.dashboard.test_dashboard_access import sign_in
from tests.support.api_auth import ADMIN, OPERATOR_CONFIG, VIEWER, bearer, secrets
from tests.support.fake_llm import FakeLLM, Script, final, kubectl
from tests.support.payloads import alert, notification
from tests.support.server import RunningServer, resources_from_yaml, running_server

ROOT_CAUSE = "The postgres Service in shop has no ready endpoints"
SCRIPT = Script(
    [
        kubectl("get pods -n shop"),
        final(summary="checkout cannot reach postgres", root_cause=ROOT_CAUSE, confidence=0.8),
    ]
)


def group(name: str, pod: str) -> dict[str, Any]:
    body = notification(
        alert(name, fingerprint=f"fp-{pod}", labels={"pod": pod, "deployment": pod})
    )
    body["groupKey"] = f'{{}}:{{alertname="{name}", pod="{pod}"}}'
    return body


async def incident_of(server: RunningServer, run_id: str) -> str:
    detail = (await server.client.get(f"/api/v1/runs/{run_id}", headers=bearer(ADMIN))).json()
    incident: str = detail["source_context"]["incident"]["id"]
    return incident


async def test_the_investigation_and_similar_past_incidents_are_on_the_page(
    sqlite_url: str, tmp_path: Path
) -> None:
    stand_in = kubectl_stand_in(
        tmp_path, [("get pods", "NAME READY STATUS\ncheckout-1 0/1 CrashLoopBackOff\n", 0)]
    )
    with FakeLLM(SCRIPT) as llm:
        loaded = resources_from_yaml(workflow_yaml(llm.url) + OPERATOR_CONFIG % "false")
        settings = server_settings(stand_in)
        async with running_server(loaded, sqlite_url, secrets=secrets(), **settings) as server:
            runs = []
            for pod in ("checkout-1", "checkout-2"):
                response = await server.post_alert("/hook", group("PodCrashLooping", pod))
                runs.append(response.json()["alerts"][0]["runId"])
                await server.settle()
            first, second = [await incident_of(server, run) for run in runs]
            assert first != second
            async with sign_in(server, VIEWER) as viewer:
                page = (await viewer.get(f"/ui/incidents/{second}")).text
    investigation = page.split("<h2>Investigation</h2>")[1].split("<h2>Similar")[0]
    assert "checkout cannot reach postgres" in investigation
    assert "CrashLoopBackOff" in investigation  # the tool call's output
    assert "get pods -n shop" in investigation
    similar = page.split("<h2>Similar past incidents</h2>")[1].split("<h2>Feedback")[0]
    assert ROOT_CAUSE in similar
