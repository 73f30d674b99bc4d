"""Shared pieces of the sink tests: a pipeline around the sinks under test, and waiting."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any, TypeVar, overload

from sqlalchemy import select

from punching_fist.resources.loader import ResourceSet
from punching_fist.secret_refs import EnvResolver, SecretResolver
from punching_fist.server.service import Service
from punching_fist.store.tables import sink_deliveries
from tests.support.payloads import alert, notification
from tests.support.server import RunningServer, resources_from_yaml, running_server

T = TypeVar("T")

SLACK_TOKEN = "xoxb-1111-2222-SuperSecretSlackToken"
JIRA_TOKEN = "ATATT3xFfGF0-jira-secret-token-value"
JIRA_EMAIL = "oncall-bot@example.com"
PD_ROUTING_KEY = "R0UT1NGKEYSECRET0123456789abcdef"
SECRETS = {"SLACK_TOKEN": SLACK_TOKEN, "JIRA_TOKEN": JIRA_TOKEN, "PD_KEY": PD_ROUTING_KEY}

FAST = """
  delivery:
    timeoutSeconds: 5
    retry: {maxAttempts: 3, initialDelaySeconds: 0.05, maxDelaySeconds: 0.2, jitter: 0}
    circuitBreaker: {failureThreshold: 5, resetSeconds: 1}
"""


def serve(
    resources: ResourceSet, tmp_path: Path, *, database_url: str | None = None, **settings: Any
) -> AbstractAsyncContextManager[RunningServer]:
    """Our real server (on a file SQLite database in ``tmp_path`` by default), test secrets."""
    url = database_url or f"sqlite:///{tmp_path / 'pf.db'}"
    return running_server(resources, url, secrets=secrets(), **settings)


def secrets() -> SecretResolver:
    """Credentials the way production gets them (env://), from a private environment."""
    return SecretResolver({"env": EnvResolver(SECRETS)})


def pipeline(
    sinks_yaml: str,
    sink_refs: Iterable[str],
    *,
    on_resolved: bool = False,
    investigate: str = "perIncident",
) -> ResourceSet:
    """A webhook source at /hook, a workflow producing an investigation, and the sinks;
    ``investigate: perAlert`` keeps the sinks' threads, issues and dedup keys per alert."""
    return resources_from_yaml(
        pipeline_yaml(sinks_yaml, sink_refs, on_resolved=on_resolved, investigate=investigate)
    )


def pipeline_yaml(
    sinks_yaml: str,
    sink_refs: Iterable[str],
    *,
    on_resolved: bool = False,
    investigate: str = "perIncident",
) -> str:
    refs = ", ".join(sink_refs)
    return f"""
apiVersion: punchingfist.io/v1alpha1
kind: Source
metadata: {{name: am}}
spec:
  type: webhook
  config: {{path: /hook, triggerOnResolved: {str(on_resolved).lower()}}}
  triggerWorkflow: triage
---
apiVersion: punchingfist.io/v1alpha1
kind: Workflow
metadata: {{name: triage}}
spec:
  investigate: {investigate}
  steps:
    - {{name: look, type: cli, command: "echo looked at {{{{ .source.data.alert.alertname }}}}"}}
  outputs:
    - name: summary
      value: "Pod {{{{ .source.data.alert.labels.pod }}}} is crash looping after a deploy"
    - {{name: root_cause, value: "OOMKilled: the memory limit of 128Mi is too low"}}
    - name: recommendations
      value: |
        Raise the memory limit to 256Mi
        Watch the restart count for 10 minutes
    - {{name: confidence, value: "0.87"}}
    - {{name: auto_fixed, value: "false"}}
    - {{name: severity, value: "{{{{ .source.data.alert.severity }}}}"}}
  sinks: [{refs}]
---
{sinks_yaml}
"""


async def fire(
    server: RunningServer,
    *,
    fingerprint: str = "fp-1",
    status: str = "firing",
    labels: dict[str, str] | None = None,
    alertname: str = "PodCrashLooping",
    severity: str = "critical",
    group_key: str | None = None,
) -> str:
    """Post one alert, wait for its run to finish, and return the run id. Alerts of one
    ``group_key`` (and of one workload: the pod label) join one incident."""
    body = notification(
        alert(
            alertname,
            fingerprint=fingerprint,
            status=status,
            severity=severity,
            labels={"pod": "checkout-7d9f", **(labels or {})},
        )
    )
    if group_key is not None:
        body["groupKey"] = group_key
    response = await server.post_alert("/hook", body)
    assert response.status_code == 202, response.text
    run_id: str = response.json()["alerts"][0]["runId"]
    await server.settle(30)
    return run_id


async def run_detail(server: RunningServer, run_id: str) -> dict[str, Any]:
    response = await server.client.get(f"/api/v1/runs/{run_id}")
    assert response.status_code == 200
    detail: dict[str, Any] = response.json()
    return detail


async def delivery_of(server: RunningServer, run_id: str, sink: str) -> dict[str, Any]:
    detail = await run_detail(server, run_id)
    return next(d for d in detail["deliveries"] if d["sink_name"] == sink)


@overload
async def eventually(predicate: Callable[[], Awaitable[T]], timeout: float = 20.0) -> T: ...


@overload
async def eventually(predicate: Callable[[], T], timeout: float = 20.0) -> T: ...


async def eventually(predicate: Callable[[], Any], timeout: float = 20.0) -> Any:
    """Poll until ``predicate`` is truthy (it may be async); fail with its last value."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = predicate()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not reached in {timeout}s; last value {result!r}")
        await asyncio.sleep(0.05)


async def stored_rows_text(service: Service) -> str:
    """Every stored delivery row as text: what a secret must never appear in."""
    async with service.database.connect() as conn:
        rows = (await conn.execute(select(sink_deliveries))).mappings().all()
    return json.dumps([dict(row) for row in rows], default=str)
