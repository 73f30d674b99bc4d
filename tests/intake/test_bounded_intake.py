"""Bounded work per request, on SQLite and PostgreSQL, over real HTTP.

A notification's group fields are stored once and its runs refer to them; templates still
read ``.source.data.notification`` and ``.source.data.alert``. A request starts at most
``maxRunsPerRequest`` runs right away, the rest wait in the store, none is dropped. The run
queue's limits and backlog show on ``/metrics`` and ``/readyz?verbose``. Values the database
cannot hold are refused (422, naming the field) or cut with a note, never a 503 for ever,
and the notification's other alerts are stored.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.engine import Connection

from punching_fist.store.tables import alerts, notifications, workflow_runs
from tests.support.payloads import alert, notification
from tests.support.resources_yaml import webhook_source
from tests.support.server import RunningServer, resources_from_yaml, running_server

SOURCE = """
apiVersion: punchingfist.io/v1alpha1
kind: Source
metadata: {{name: am}}
spec:
  type: webhook
  config: {{path: /hook, maxRunsPerRequest: {max_runs}}}
  triggerWorkflow: wf
"""

LINE = (
    "{{ .source.data.notification.receiver }}|{{ .source.data.notification.groupKey }}|"
    "{{ .source.data.notification.commonLabels.team }}|{{ .source.data.alert.labels.n }}|"
    "{{ .source.data.alert.severity }}"
)

PIPELINE = f"""
---
apiVersion: punchingfist.io/v1alpha1
kind: Workflow
metadata: {{name: wf}}
spec:
  steps:
    - {{name: never, type: conditional, condition: "false", command: "true"}}
  sinks: [out]
---
apiVersion: punchingfist.io/v1alpha1
kind: Sink
metadata: {{name: out}}
spec:
  type: stdout
  config: {{format: text, template: "{LINE}"}}
"""


def resources(*, max_runs: int = 100, extra: str = "") -> Any:
    return resources_from_yaml(SOURCE.format(max_runs=max_runs) + PIPELINE + extra)


def group(count: int, *, prefix: str = "fp", **labels: str) -> dict[str, Any]:
    """A notification of ``count`` firing alerts, each with its own ``n`` label."""
    body = notification(
        *(
            alert("Probe", fingerprint=f"{prefix}-{n}", labels={"n": str(n), **labels})
            for n in range(count)
        )
    )
    body["commonLabels"] = {"alertname": "Probe", "team": "storage"}
    body["groupKey"] = '{}:{alertname="Probe"}'
    return body


async def scalar(server: RunningServer, query: Any) -> Any:
    async with server.service.database.connect() as conn:
        return (await conn.execute(query)).scalar_one()


async def test_a_notification_is_stored_once_and_its_runs_read_it_back(
    database_url: str,
) -> None:
    async with running_server(resources(max_runs=40), database_url) as server:
        response = await server.post_alert("/hook", group(250))  # two slices of 200
        assert response.status_code == 202, response.text
        body = response.json()
        assert [a["outcome"] for a in body["alerts"]] == ["new"] * 250

        async with server.service.database.connect() as conn:
            stored = (await conn.execute(select(notifications))).all()
            runs = (await conn.execute(select(workflow_runs))).all()
        assert len(stored) == 1
        assert stored[0].alert_count == 250
        assert stored[0].data == {
            "version": "4",
            "groupKey": '{}:{alertname="Probe"}',
            "truncatedAlerts": 0,
            "status": "firing",
            "receiver": "punchingfist",
            "groupLabels": {"alertname": "Probe"},
            "commonLabels": {"alertname": "Probe", "team": "storage"},
            "commonAnnotations": {},
            "externalURL": "http://alertmanager:9093",
        }
        assert len(runs) == 250
        assert {run.notification_id for run in runs} == {stored[0].id}
        # Each run keeps its own alert, not the notification's other 249.
        assert all(set(run.source_context["data"]) == {"alert"} for run in runs)
        assert {run.source_context["data"]["alert"]["labels"]["n"] for run in runs} == {
            str(n) for n in range(250)
        }
        # 40 runs went to the queue at once, 210 waited in the store; all of them ran.
        assert server.service.dispatcher.queue.state().deferred == 210

        await server.settle(60)
        lines = server.sink_output().splitlines()
        assert sorted(lines) == sorted(
            f'punchingfist|{{}}:{{alertname="Probe"}}|storage|{n}|critical' for n in range(250)
        )
        run_id = body["alerts"][7]["runId"]
        detail = (await server.client.get(f"/api/v1/runs/{run_id}")).json()
        data = detail["source_context"]["data"]
        assert data["notification"]["receiver"] == "punchingfist"
        assert "alerts" not in data["notification"]
        assert data["alert"]["labels"]["n"] == "7"
        succeeded = select(func.count()).where(workflow_runs.c.status == "succeeded")
        assert await scalar(server, succeeded) == 250


async def test_values_the_database_cannot_hold_are_refused_alone_by_name(
    database_url: str,
) -> None:
    long_severity = "critical-page-the-oncall-now"  # 28 characters, the column holds 20
    payload = notification(
        alert("Fine", fingerprint="ok-1"),
        alert("Nul", fingerprint="nul", labels={"pod": "web\x00-1"}),
        alert("Long", fingerprint="x" * 256),
        alert("Loud", fingerprint="loud", severity=long_severity),
        alert("Fine", fingerprint="ok-2"),
        {"status": "firing", "labels": {"alertname": 5}},
    )
    async with running_server(resources(), database_url) as server:
        response = await server.post_alert("/hook", payload)
        assert response.status_code == 422, response.text
        body = response.json()
        assert body["status"] == "partial"
        outcomes = [a["outcome"] for a in body["alerts"]]
        assert outcomes == ["new", "rejected", "rejected", "new", "new", "rejected"]
        assert body["alerts"][1]["errors"] == [
            "alerts[1].labels.pod: contains a NUL character, which the store cannot hold"
        ]
        assert body["alerts"][2]["errors"] == ["alerts[2].fingerprint: longer than 255 characters"]
        assert body["alerts"][5]["errors"] == [
            "alerts[5].labels.alertname: Input should be a valid string"
        ]
        assert body["alerts"][3]["notes"] == [
            "alerts[3].labels.severity: longer than 20 characters; the alert's severity"
            " column keeps the first 20, its labels the whole value"
        ]
        assert body["error"].startswith("3 of 6 alerts refused, the others stored: alerts[1]")

        async with server.service.database.connect() as conn:
            rows = {r.fingerprint: r for r in (await conn.execute(select(alerts))).all()}
        assert set(rows) == {"ok-1", "ok-2", "loud"}
        assert rows["loud"].severity == long_severity[:20]
        assert rows["loud"].labels["severity"] == long_severity
        await server.settle()
        assert f"|{long_severity}" in server.sink_output()  # templates see the whole value

        # Sent again, as Alertmanager would at its next group interval: the stored ones are
        # repeats, the refused ones refused again, never a 503 to retry for ever.
        again = await server.post_alert("/hook", payload)
        assert again.status_code == 422
        assert [a["outcome"] for a in again.json()["alerts"]] == [
            "repeat",
            "rejected",
            "rejected",
            "repeat",
            "repeat",
            "rejected",
        ]
        metrics = (await server.client.get("/metrics")).text
        assert 'punchingfist_alerts_processed_total{outcome="rejected",source="am"} 6.0' in metrics


async def test_a_notification_whose_group_cannot_be_stored_is_refused_whole(
    database_url: str,
) -> None:
    payload = group(3)
    payload["commonLabels"]["team"] = "sto\x00rage"
    async with running_server(resources(), database_url) as server:
        response = await server.post_alert("/hook", payload)
        assert response.status_code == 422
        assert response.json()["error"] == (
            "the notification cannot be stored: commonLabels.team: contains a NUL character,"
            " which the store cannot hold"
        )
        assert await scalar(server, select(func.count()).select_from(alerts)) == 0


LIMITED = """
---
apiVersion: punchingfist.io/v1alpha1
kind: OperatorConfig
metadata: {name: limits}
spec:
  limits: {maxQueuedRuns: 4, maxQueuedRunsPerWorkflow: 2}
"""

GATED = (
    webhook_source()
    + """
apiVersion: punchingfist.io/v1alpha1
kind: Workflow
metadata: {{name: wf}}
spec:
  steps:
    - name: wait
      type: cli
      command: 'while [ ! -e {gate} ]; do sleep 0.02; done'
  sinks: []
"""
)


def metric(exposition: str, name: str) -> float:
    for line in exposition.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not exposed")


async def test_a_full_run_queue_keeps_runs_in_the_store_and_says_so(
    database_url: str, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    declared = resources_from_yaml(GATED.format(gate=gate) + LIMITED)
    async with running_server(declared, database_url, run_concurrency=1) as server:
        response = await server.post_alert("/hook", group(10))
        assert response.status_code == 202  # alerts stored: the queue being full is no error
        queue = server.service.dispatcher.queue
        for _ in range(500):  # the one worker takes a run, the dispatcher refills its place
            state = queue.state()
            if (state.running, state.queued) == (1, 2):
                break
            await asyncio.sleep(0.01)
        assert (state.queued, dict(state.by_workflow)) == (2, {"wf": 2})  # its share of 4
        assert state.backlog

        exposition = (await server.client.get("/metrics")).text
        assert metric(exposition, "punchingfist_run_queue_queued") == 2
        assert 'punchingfist_run_queue_limit{scope="overall"} 4.0' in exposition
        assert 'punchingfist_run_queue_limit{scope="workflow"} 2.0' in exposition
        assert 'punchingfist_run_queue_queued_by_workflow{workflow="wf"} 2.0' in exposition
        assert metric(exposition, "punchingfist_run_queue_backlog") == 1
        assert metric(exposition, "punchingfist_runs_deferred_total") >= 7

        ready = await server.client.get("/readyz")
        assert (ready.status_code, ready.text) == (200, "ok")
        verbose = (await server.client.get("/readyz", params={"verbose": ""})).text
        assert "[+]run-queue ok: 2 of 4 waiting for a worker, 1 running" in verbose
        assert "9 runs stored pending, 7 of them waiting in the store" in verbose

        gate.touch()
        await server.settle(60)
        succeeded = select(func.count()).where(workflow_runs.c.status == "succeeded")
        assert await scalar(server, succeeded) == 10
        assert not queue.state().backlog
        exposition = (await server.client.get("/metrics")).text
        assert metric(exposition, "punchingfist_run_queue_backlog") == 0


async def test_an_unavailable_store_is_a_503_with_retry_after(sqlite_url: str) -> None:
    async with running_server(resources(), sqlite_url) as server:
        async with server.service.database.transaction() as conn:
            await conn.execute(text("DROP TABLE notifications"))  # the store breaks
        response = await server.post_alert("/hook", group(1, prefix=uuid.uuid4().hex))
        assert response.status_code == 503
        assert response.headers["retry-after"] == "1"
        assert json.loads(response.text) == {
            "error": "could not store the alerts: the database is unavailable"
        }


def _limit_pages(conn: Connection, pages: int | None) -> int:
    """On the store's writer connection: cap the database at ``pages`` (None: its size now)."""
    if pages is None:
        pages = int(conn.exec_driver_sql("PRAGMA page_count").scalar_one())
    return int(conn.exec_driver_sql(f"PRAGMA max_page_count = {pages}").scalar_one())


async def test_a_full_store_is_a_503_with_retry_after_and_then_recovers(sqlite_url: str) -> None:
    async with running_server(resources(), sqlite_url) as server:
        database = server.service.database
        await database.run_transaction(_limit_pages, None)
        response = await server.post_alert("/hook", group(400, prefix="full"))
        assert response.status_code == 503
        assert response.headers["retry-after"] == "30"
        assert response.json() == {"error": "could not store the alerts: the database is full"}

        await database.run_transaction(_limit_pages, 1_000_000)
        response = await server.post_alert("/hook", group(400, prefix="full"))
        assert response.status_code == 202  # the sender's retry: everything is stored now
        assert await scalar(server, select(func.count()).select_from(alerts)) == 400
        await server.settle(60)
