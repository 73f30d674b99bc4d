"""The webhook intake over real HTTP: durable acknowledgement, precise refusals, deduplication."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import Row, select

from punching_fist.store.tables import alerts, workflow_runs
from tests.support.payloads import alert, notification
from tests.support.server import RunningServer, resources_from_yaml, running_server

RESOURCES = """
apiVersion: punchingfist.io/v1alpha1
kind: Source
metadata: {name: am}
spec:
  type: webhook
  config:
    path: /webhook/alerts
    filters: {severity: [critical, warning]}
  triggerWorkflow: triage
---
apiVersion: punchingfist.io/v1alpha1
kind: Source
metadata: {name: secured}
spec:
  type: webhook
  config:
    path: /webhook/secured
    maxBodyBytes: 2048
    authentication: {type: bearer, secretRef: "env://PF_TEST_WEBHOOK_TOKEN"}
  triggerWorkflow: triage
---
apiVersion: punchingfist.io/v1alpha1
kind: Source
metadata: {name: resolved-too}
spec:
  type: webhook
  config: {path: /webhook/resolved-too, triggerOnResolved: true}
  triggerWorkflow: triage
---
apiVersion: punchingfist.io/v1alpha1
kind: Workflow
metadata: {name: triage}
spec:
  steps:
    - name: hello
      type: cli
      command: echo "triaging {{ .source.data.alert.alertname }}"
  sinks: [out]
---
apiVersion: punchingfist.io/v1alpha1
kind: Sink
metadata: {name: out}
spec:
  type: stdout
  config: {format: json}
"""


@pytest.fixture
async def server(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[RunningServer]:
    monkeypatch.setenv("PF_TEST_WEBHOOK_TOKEN", "s3cret-token-value")
    async with running_server(resources_from_yaml(RESOURCES), database_url) as running:
        yield running


async def _alert_rows(server: RunningServer) -> list[Row[Any]]:
    async with server.service.database.connect() as conn:
        return list((await conn.execute(select(alerts).order_by(alerts.c.received_at))).all())


async def _run_rows(server: RunningServer) -> list[Row[Any]]:
    async with server.service.database.connect() as conn:
        return list((await conn.execute(select(workflow_runs))).all())


async def test_accepted_alerts_are_committed_before_the_response(server: RunningServer) -> None:
    payload = notification(alert(fingerprint="a1"), alert("DiskFull", fingerprint="a2"))
    response = await server.post_alert("/webhook/alerts", payload)
    assert response.status_code == 202
    body = response.json()
    assert [a["outcome"] for a in body["alerts"]] == ["new", "new"]
    # Read through a fresh connection immediately: the rows must already be there.
    rows = await _alert_rows(server)
    assert {r.fingerprint for r in rows} == {"a1", "a2"}
    assert {r.id for r in rows} == {uuid.UUID(a["id"]) for a in body["alerts"]}
    run_ids = {uuid.UUID(a["runId"]) for a in body["alerts"]}
    assert run_ids <= {r.id for r in await _run_rows(server)}
    await server.settle()


async def test_repeats_update_the_alert_and_start_no_second_run(server: RunningServer) -> None:
    for _ in range(5):
        response = await server.post_alert(
            "/webhook/alerts", notification(alert(fingerprint="rep"))
        )
        assert response.status_code == 202
    await server.settle()
    rows = await _alert_rows(server)
    assert len(rows) == 1
    assert rows[0].occurrences == 5
    runs = await _run_rows(server)
    assert len(runs) == 1
    assert runs[0].status == "succeeded"
    assert len(server.sink_output().splitlines()) == 1


async def test_resolution_closes_the_lifecycle_and_a_new_firing_starts_another(
    server: RunningServer,
) -> None:
    await server.post_alert("/webhook/alerts", notification(alert(fingerprint="life")))
    resolved = await server.post_alert(
        "/webhook/alerts", notification(alert(fingerprint="life", status="resolved"))
    )
    assert resolved.json()["alerts"][0]["outcome"] == "resolved"
    assert resolved.json()["alerts"][0]["runId"] is None
    again = await server.post_alert(
        "/webhook/alerts",
        notification(alert(fingerprint="life", starts_at="2026-11-25T11:00:00Z")),
    )
    assert again.json()["alerts"][0]["outcome"] == "new"
    await server.settle()
    rows = await _alert_rows(server)
    assert next(r.status for r in rows) == "resolved"
    assert rows[0].resolved_at is not None
    assert not rows[0].active
    assert rows[1].active
    assert rows[1].resolved_at is None
    assert len(await _run_rows(server)) == 2


async def test_a_source_may_opt_in_to_runs_on_resolution(server: RunningServer) -> None:
    await server.post_alert("/webhook/resolved-too", notification(alert(fingerprint="opt")))
    response = await server.post_alert(
        "/webhook/resolved-too", notification(alert(fingerprint="opt", status="resolved"))
    )
    assert response.json()["alerts"][0]["runId"] is not None
    await server.settle()
    assert len(await _run_rows(server)) == 2


async def test_filtered_alerts_are_stored_but_trigger_nothing(server: RunningServer) -> None:
    response = await server.post_alert(
        "/webhook/alerts", notification(alert(fingerprint="info-1", severity="info"))
    )
    assert response.status_code == 202
    assert response.json()["alerts"][0]["outcome"] == "filtered"
    rows = await _alert_rows(server)
    assert rows[0].status == "filtered"
    assert await _run_rows(server) == []


async def test_our_own_annotation_alerts_never_start_an_investigation(
    server: RunningServer,
) -> None:
    sibling = alert(fingerprint="sib", labels={"punchingfist_triage": "true"})
    response = await server.post_alert("/webhook/alerts", notification(sibling))
    assert response.json()["alerts"][0]["outcome"] == "filtered"
    assert await _run_rows(server) == []


async def test_missing_fingerprint_falls_back_to_a_stable_label_hash(server: RunningServer) -> None:
    first = await server.post_alert("/webhook/alerts", notification(alert(fingerprint=None)))
    second = await server.post_alert("/webhook/alerts", notification(alert(fingerprint=None)))
    assert first.json()["alerts"][0]["outcome"] == "new"
    assert second.json()["alerts"][0]["outcome"] == "repeat"
    await server.settle()


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        (b"{not json", 400, "not valid JSON"),
        (b"[]", 422, "(document)"),
        (json.dumps({"status": "firing", "alerts": []}).encode(), 422, "alerts"),
        (
            json.dumps(notification(alert() | {"status": "burning"})).encode(),
            422,
            "alerts[0].status",
        ),
        (
            json.dumps({k: v for k, v in notification().items() if k != "status"}).encode(),
            422,
            "status: Field required",
        ),
        (
            json.dumps(notification(alert() | {"labels": {"alertname": 5}})).encode(),
            422,
            "alerts[0].labels.alertname",
        ),
    ],
)
async def test_bad_input_is_refused_precisely_and_changes_nothing(
    server: RunningServer, body: bytes, status: int, fragment: str
) -> None:
    response = await server.client.post(
        "/webhook/alerts", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == status
    assert fragment in response.json()["error"]
    assert await _alert_rows(server) == []


@pytest.mark.parametrize(
    ("content_type", "fragment"),
    [
        (None, "Content-Type is missing: send the notification as application/json"),
        ("text/plain", "Content-Type 'text/plain' is not accepted"),
        ("application/x-www-form-urlencoded", "'application/x-www-form-urlencoded' is not"),
        ("multipart/form-data; boundary=x", "'multipart/form-data' is not accepted"),
        ("application/jsonx", "webhooks take application/json only"),
    ],
)
async def test_only_json_is_accepted_so_no_web_page_can_post_alerts(
    server: RunningServer, content_type: str | None, fragment: str
) -> None:
    """Browsers send text/plain and form posts to any site without a preflight; JSON needs one."""
    body = json.dumps(notification(alert(fingerprint="csrf"))).encode()
    headers = {"content-type": content_type} if content_type else {}
    response = await server.client.post("/webhook/alerts", content=body, headers=headers)
    assert response.status_code == 415
    assert fragment in response.json()["error"]
    assert await _alert_rows(server) == []


@pytest.mark.parametrize("content_type", ["application/json; charset=utf-8", "Application/JSON"])
async def test_json_with_parameters_or_in_capitals_is_accepted(
    server: RunningServer, content_type: str
) -> None:
    body = json.dumps(notification(alert(fingerprint="json"))).encode()
    response = await server.client.post(
        "/webhook/alerts", content=body, headers={"content-type": content_type}
    )
    assert response.status_code == 202, response.text
    await server.settle()


async def test_unknown_path_is_404(server: RunningServer) -> None:
    response = await server.post_alert("/webhook/nope", notification())
    assert response.status_code == 404
    assert "/webhook/nope" in response.json()["error"]


async def test_bearer_authentication(server: RunningServer) -> None:
    payload = notification(alert(fingerprint="auth"))
    missing = await server.post_alert("/webhook/secured", payload)
    wrong = await server.post_alert(
        "/webhook/secured", payload, headers={"Authorization": "Bearer nope"}
    )
    right = await server.post_alert(
        "/webhook/secured", payload, headers={"Authorization": "Bearer s3cret-token-value"}
    )
    assert (missing.status_code, wrong.status_code, right.status_code) == (401, 401, 202)
    assert "s3cret" not in missing.text + wrong.text
    assert len(await _alert_rows(server)) == 1
    await server.settle()


async def test_oversized_bodies_are_413_with_or_without_content_length(
    server: RunningServer,
) -> None:
    headers = {"Authorization": "Bearer s3cret-token-value", "content-type": "application/json"}
    big = json.dumps(notification(alert(annotations={"description": "x" * 4096}))).encode()
    declared = await server.client.post("/webhook/secured", content=big, headers=headers)

    async def chunks() -> AsyncIterator[bytes]:
        yield big[:1000]
        yield big[1000:]

    streamed = await server.client.post("/webhook/secured", content=chunks(), headers=headers)
    assert declared.status_code == 413
    assert streamed.status_code == 413
    assert "2048" in declared.json()["error"]
    assert await _alert_rows(server) == []


async def test_default_body_limit_is_one_mebibyte(server: RunningServer) -> None:
    payload = notification(alert(annotations={"description": "y" * (1024 * 1024)}))
    response = await server.post_alert("/webhook/alerts", payload)
    assert response.status_code == 413
