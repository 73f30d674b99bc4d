"""From real Prometheus and Alertmanager to a finished run, and back to resolved."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import Row, select

from punching_fist.store.tables import alerts, workflow_runs
from tests.harness.prometheus_stack import TEST_ALERT, TEST_METRIC, PrometheusStack
from tests.support.server import RunningServer, resources_from_yaml, running_server

RESOURCES = """
apiVersion: punchingfist.io/v1alpha1
kind: Source
metadata: {name: alertmanager}
spec:
  type: webhook
  config:
    path: /webhook/alerts
    filters: {severity: [critical]}
  triggerWorkflow: triage
---
apiVersion: punchingfist.io/v1alpha1
kind: Workflow
metadata: {name: triage}
spec:
  steps:
    - name: initial-context
      type: cli
      command: |
        echo "Alert: {{ .source.data.alert.alertname }}"
        echo "Summary: {{ .source.data.alert.summary }}"
        echo "Labels: {{ .source.data.alert.labels | toJSON }}"
  outputs:
    - {name: context, value: "{{ .steps.initial-context.result.stdout }}"}
  sinks: [out]
---
apiVersion: punchingfist.io/v1alpha1
kind: Sink
metadata: {name: out}
spec:
  type: stdout
  config: {format: json}
"""


async def _rows(server: RunningServer, service: str) -> tuple[list[Row[Any]], list[Row[Any]]]:
    async with server.service.database.connect() as conn:
        alert_rows = list(
            (await conn.execute(select(alerts).where(alerts.c.alert_name == TEST_ALERT))).all()
        )
        mine = [row for row in alert_rows if row.labels.get("service") == service]
        ids = [row.id for row in mine]
        runs = list(
            (
                await conn.execute(select(workflow_runs).where(workflow_runs.c.alert_id.in_(ids)))
            ).all()
        )
    return mine, runs


@pytest.mark.integration
async def test_firing_alert_runs_once_despite_repeats_and_resolves(
    clean_prometheus_stack: PrometheusStack, database_url: str
) -> None:
    stack = clean_prometheus_stack
    service = f"checkout-{uuid.uuid4().hex[:8]}"
    job = f"e2e-{service}"
    async with running_server(resources_from_yaml(RESOURCES), database_url) as server:
        stack.set_webhook_target(f"{server.url}/webhook/alerts")
        stack.push_metric(job, TEST_METRIC, 1, {"service": service, "namespace": "shop"})

        async def fired() -> bool:
            rows, runs = await _rows(server, service)
            return bool(rows) and bool(runs)

        await stack.wait_for_async(fired, timeout=60)

        async def repeated() -> bool:
            rows, _ = await _rows(server, service)
            return bool(rows[0].occurrences >= 2)

        # Alertmanager re-sends the group every repeat_interval (5 s in the harness).
        await stack.wait_for_async(repeated, timeout=60)
        await server.settle()
        rows, runs = await _rows(server, service)
        assert len(rows) == 1
        assert len(runs) == 1
        assert runs[0].status == "succeeded"
        assert rows[0].fingerprint
        assert rows[0].severity == "critical"
        assert f'"service":"{service}"' in server.sink_output().replace(" ", "") or service in (
            server.sink_output()
        )

        stack.delete_metric_group(job)

        async def resolved() -> bool:
            rows, _ = await _rows(server, service)
            return bool(rows[0].status == "resolved")

        await stack.wait_for_async(resolved, timeout=60)
        rows, runs = await _rows(server, service)
        assert rows[0].resolved_at is not None
        assert not rows[0].active
        assert len(runs) == 1  # resolution does not start an investigation by default
        stack.set_webhook_target(None)
