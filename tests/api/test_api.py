"""The HTTP API: health, metrics, filterable and paginated alerts and runs, OpenAPI."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.support.payloads import alert, notification
from tests.support.server import RunningServer, resources_from_yaml, running_server

RESOURCES = """
apiVersion: punchingfist.io/v1alpha1
kind: Source
metadata: {name: am}
spec:
  type: webhook
  config: {path: /hook, filters: {severity: [critical]}}
  triggerWorkflow: wf
---
apiVersion: punchingfist.io/v1alpha1
kind: Workflow
metadata: {name: wf}
spec:
  steps: [{name: s, type: cli, command: "echo ok"}]
  sinks: [out]
---
apiVersion: punchingfist.io/v1alpha1
kind: Sink
metadata: {name: out}
spec: {type: stdout}
"""


@pytest.fixture
async def server(sqlite_url: str) -> AsyncIterator[RunningServer]:
    async with running_server(resources_from_yaml(RESOURCES), sqlite_url) as running:
        yield running


async def test_health_and_readiness(server: RunningServer) -> None:
    assert (await server.client.get("/healthz")).text == "ok"
    assert (await server.client.get("/readyz")).text == "ok"


async def test_metrics_count_alerts_runs_steps_and_sinks(server: RunningServer) -> None:
    await server.post_alert("/hook", notification(alert(fingerprint="m1")))
    await server.post_alert("/hook", notification(alert(fingerprint="m1")))
    await server.post_alert("/hook", notification(alert(fingerprint="m2", severity="info")))
    await server.client.post("/hook", content=b"nope", headers={"content-type": "application/json"})
    await server.settle()
    text = (await server.client.get("/metrics")).text
    assert 'punchingfist_alerts_processed_total{outcome="new",source="am"} 1.0' in text
    assert 'punchingfist_alerts_processed_total{outcome="repeat",source="am"} 1.0' in text
    assert 'punchingfist_alerts_processed_total{outcome="filtered",source="am"} 1.0' in text
    assert 'punchingfist_intake_rejected_total{status="400"} 1.0' in text
    assert 'punchingfist_workflow_runs_total{status="succeeded",workflow="wf"} 1.0' in text
    assert 'punchingfist_steps_total{status="succeeded",type="cli"} 1.0' in text
    assert 'punchingfist_sink_deliveries_total{sink="out",status="delivered"} 1.0' in text
    assert 'punchingfist_task_duration_seconds_count{workflow="wf"} 1.0' in text
    assert "punchingfist_active_tasks 0.0" in text


async def test_alerts_and_runs_are_filterable_and_paginated(server: RunningServer) -> None:
    for n in range(5):
        await server.post_alert("/hook", notification(alert(f"A{n}", fingerprint=f"p{n}")))
    await server.post_alert("/hook", notification(alert("Quiet", fingerprint="q", severity="info")))
    await server.settle()

    first = (await server.client.get("/api/v1/alerts", params={"limit": 2})).json()
    assert first["total"] == 6
    assert len(first["items"]) == 2
    assert first["nextOffset"] == 2
    rest = (await server.client.get("/api/v1/alerts", params={"limit": 10, "offset": 2})).json()
    assert rest["nextOffset"] is None
    ids = [a["id"] for a in first["items"] + rest["items"]]
    assert len(set(ids)) == 6

    filtered = (await server.client.get("/api/v1/alerts", params={"status": "filtered"})).json()
    assert [a["alert_name"] for a in filtered["items"]] == ["Quiet"]
    by_name = (await server.client.get("/api/v1/alerts", params={"alertname": "A3"})).json()
    assert by_name["total"] == 1

    runs = (await server.client.get("/api/v1/runs", params={"workflow": "wf"})).json()
    assert runs["total"] == 5
    assert {r["status"] for r in runs["items"]} == {"succeeded"}
    alert_id = by_name["items"][0]["id"]
    one = (await server.client.get("/api/v1/runs", params={"alert_id": alert_id})).json()
    assert one["total"] == 1
    detail = (await server.client.get(f"/api/v1/runs/{one['items'][0]['id']}")).json()
    assert detail["steps"][0]["result"]["stdout"] == "ok\n"
    assert detail["source_context"]["data"]["alert"]["alertname"] == "A3"


async def test_bad_queries_are_422_and_unknown_runs_404(server: RunningServer) -> None:
    assert (await server.client.get("/api/v1/alerts", params={"limit": 0})).status_code == 422
    assert (await server.client.get("/api/v1/runs/not-a-uuid")).status_code == 422
    missing = await server.client.get("/api/v1/runs/00000000-0000-0000-0000-000000000000")
    assert missing.status_code == 404


async def test_openapi_document_describes_the_api(server: RunningServer) -> None:
    spec = (await server.client.get("/openapi.json")).json()
    assert {"/api/v1/alerts", "/api/v1/runs", "/api/v1/runs/{run_id}", "/healthz"} <= set(
        spec["paths"]
    )


@pytest.mark.parametrize(
    "path", ["/api/v1/alerts", "/api/v1/runs", "/api/v1/approvals", "/api/v1/deliveries"]
)
async def test_an_offset_past_any_real_page_is_422_not_a_database_overflow(
    server: RunningServer, path: str
) -> None:
    response = await server.client.get(path, params={"offset": 2**63})
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["query", "offset"]
    assert (await server.client.get(path, params={"offset": 10**9})).status_code == 200
