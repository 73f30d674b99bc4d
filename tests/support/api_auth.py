"""A server whose API needs tokens: one per role, from a private environment (``env://``)."""

from __future__ import annotations

import uuid
from contextlib import AbstractAsyncContextManager
from datetime import timedelta
from typing import Any

from punching_fist.secret_refs import EnvResolver, SecretResolver
from punching_fist.store.approval_rows import NewApproval
from punching_fist.store.approvals import ApprovalStore
from punching_fist.store.tables import utcnow
from tests.support.payloads import alert, notification
from tests.support.resources_yaml import webhook_source
from tests.support.server import RunningServer, resources_from_yaml, running_server

VIEWER = "pf-viewer-7Qm2xY9aB4cD6eF8"
APPROVER = "pf-approver-gH1jK3lM5nP7qR9s"
ADMIN = "pf-admin-tV2wX4yZ6aB8cD0eF2gH"
TOKENS = {"viewer": VIEWER, "approver": APPROVER, "admin": ADMIN}
ENVIRONMENT = {"PF_VIEWER": VIEWER, "PF_APPROVER": APPROVER, "PF_ADMIN": ADMIN}

PIPELINE = (
    webhook_source()
    + """
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
)

OPERATOR_CONFIG = """
---
apiVersion: punchingfist.io/v1alpha1
kind: OperatorConfig
metadata: {name: config}
spec:
  api:
    metricsAuth: %s
    tokens:
      - {name: dashboard, secretRef: env://PF_VIEWER, role: viewer}
      - {name: sre-lead, secretRef: env://PF_APPROVER, role: approver}
      - {name: platform-admin, secretRef: env://PF_ADMIN, role: admin}
"""


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def secrets() -> SecretResolver:
    return SecretResolver({"env": EnvResolver(ENVIRONMENT)})


def serve(
    database_url: str, *, tokens: bool = True, metrics_auth: bool = False, **settings: Any
) -> AbstractAsyncContextManager[RunningServer]:
    """The pipeline, with the three tokens configured unless ``tokens`` is false."""
    text = PIPELINE + (OPERATOR_CONFIG % str(metrics_auth).lower() if tokens else "")
    return running_server(resources_from_yaml(text), database_url, secrets=secrets(), **settings)


async def fire(server: RunningServer, headers: dict[str, str] | None = None) -> str:
    """One alert in, its run finished; the run's id."""
    response = await server.post_alert("/hook", notification(alert()), headers=headers)
    assert response.status_code == 202, response.text
    await server.settle()
    run_id: str = response.json()["alerts"][0]["runId"]
    return run_id


async def request_approval(server: RunningServer, run_id: str) -> uuid.UUID:
    """An agent's pending request to run a write, as the agent would store it."""
    [approval_id] = await ApprovalStore(server.service.database).create_batch(
        run_id=uuid.UUID(run_id),
        step_name="s",
        requests=[
            NewApproval(
                action={"tool": "kubectl", "command": "delete pod web-0 -n shop"},
                reason="the pod is wedged",
                risk="medium",
            )
        ],
        state={"conversation": []},
        expires_at=utcnow() + timedelta(hours=1),
    )
    return approval_id
