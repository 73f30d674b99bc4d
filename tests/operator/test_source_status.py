"""Honest Source status: Ready only for a Source that runs. Every Source type has a part that
runs it (a served app answers or watches for each), and a kubernetes Source whose resource the
API server does not serve is reported not Ready, saying why, by the controller against the
kit's API server."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from punching_fist.operator.checks import ResourceChecker
from punching_fist.operator.controller import Controller, ControllerSettings
from punching_fist.operator.crds import KINDS
from punching_fist.operator.kubernetes_source import (
    FolderKubernetesSources,
    KubernetesSourceRunner,
    kubeconfig_client,
)
from punching_fist.resources.registry import ResourceRegistry
from punching_fist.resources.source import SOURCE_CONFIGS
from punching_fist.secret_refs import SecretResolver
from punching_fist.server.service import Service
from punching_fist.store.database import Database
from tests.harness.k8s import K8sApiServer
from tests.operator.support import get_object, install_crds, new_namespace
from tests.support.server import resources_from_yaml, running_server

pytestmark = pytest.mark.integration

HEAD = "apiVersion: punchingfist.io/v1alpha1\nkind: Source\n"
WORKFLOW = """
apiVersion: punchingfist.io/v1alpha1
kind: Workflow
metadata: {name: wf}
spec:
  steps: [{name: s, type: cli, command: "true"}]
"""
EVERY_TYPE = {
    "webhook": "{path: /hooks/every}",
    "api": "{endpoint: /api/v1/trigger, authentication: {type: apikey, secretRef: env://K}}",
    "schedule": '{cron: "0 3 * * *"}',
    "kubernetes": "{resource: configmaps, namespace: default}",
    "chat": "{trigger: mention}",
}


async def _answers(service: Service, client: Any) -> dict[str, bool]:
    """Per Source type, whether the served app runs its Sources."""
    webhook = await client.post("/hooks/every", json={})
    api = await client.post("/api/v1/trigger", json={})
    chat = await client.post("/slack/events", json={})
    extension = next(e for e in service.extensions if isinstance(e, FolderKubernetesSources))
    assert service.schedules is not None
    return {
        "webhook": webhook.status_code != 404,
        "api": api.status_code == 401,  # listening, and asking for its key
        "schedule": service.schedules.scheduled == {"every-schedule"},
        "kubernetes": extension.watching == {"every-kubernetes"},
        "chat": chat.status_code != 404,
    }


async def test_every_source_type_runs_in_a_served_app(
    k8s_apiserver: K8sApiServer, sqlite_url: str
) -> None:
    assert set(EVERY_TYPE) == set(SOURCE_CONFIGS)  # a new type needs its runner here
    documents = [
        f"{HEAD}metadata: {{name: every-{kind}}}\n"
        f"spec: {{type: {kind}, config: {config}, triggerWorkflow: wf}}\n"
        for kind, config in EVERY_TYPE.items()
    ]
    resources = resources_from_yaml("---\n".join([*documents, WORKFLOW]))

    def configure(service: Service) -> None:
        service.extensions.append(
            FolderKubernetesSources(
                service.registry, service.trigger_run, service.database, k8s_apiserver.kubeconfig
            )
        )

    async with running_server(resources, sqlite_url, configure=configure) as server:
        answers = await _answers(server.service, server.client)
    assert answers == dict.fromkeys(EVERY_TYPE, True)


async def test_a_kubernetes_source_that_cannot_watch_is_not_ready_and_says_why(
    k8s_apiserver: K8sApiServer, sqlite_url: str, tmp_path: Path
) -> None:
    await asyncio.to_thread(install_crds, k8s_apiserver)
    namespace = await asyncio.to_thread(new_namespace, k8s_apiserver, "status")
    text = (
        f"{HEAD}metadata: {{name: gizmos, namespace: {namespace}}}\n"
        "spec: {type: kubernetes, config: {resource: gizmos}, triggerWorkflow: wf}\n"
        f"---\n{HEAD}metadata: {{name: maps, namespace: {namespace}}}\n"
        "spec: {type: kubernetes, config: {resource: configmaps}, triggerWorkflow: wf}\n"
        f"---{WORKFLOW}".replace(
            "metadata: {name: wf}", f"metadata: {{name: wf, namespace: {namespace}}}"
        )
    )
    await asyncio.to_thread(k8s_apiserver.kubectl, "apply", "-n", namespace, "-f", "-", stdin=text)
    registry = ResourceRegistry(resources_from_yaml(text))
    client = kubeconfig_client(k8s_apiserver.kubeconfig)
    database = Database(sqlite_url)
    await database.migrate()

    async def trigger(**_: object) -> None:
        return None

    runner = KubernetesSourceRunner(client, registry, trigger, retry_delay=0.05)
    checker = ResourceChecker(SecretResolver(), runner.problem)
    controller = Controller(
        client=client,
        database=database,
        registry=registry,
        checker=checker,
        settings=ControllerSettings(
            namespaces=(namespace,),
            peering_name="test",
            priority=0,
            peering_lifetime=60,
            status_interval=60,
        ),
    )
    source_kind = next(kind for kind in KINDS if kind.kind == "Source")
    runner.start()
    try:
        deadline = time.monotonic() + 30
        while runner.problem("gizmos") is None and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        for name in ("gizmos", "maps"):
            body = await asyncio.to_thread(get_object, k8s_apiserver, "sources", name, namespace)
            await controller.write_status(source_kind, body)
        statuses = {
            name: (await asyncio.to_thread(get_object, k8s_apiserver, "sources", name, namespace))[
                "status"
            ]
            for name in ("gizmos", "maps")
        }
    finally:
        await runner.stop()
        await client.close()
        await database.close()
    assert runner.problem("maps") is None
    gizmos, maps = statuses["gizmos"], statuses["maps"]
    assert gizmos["ready"] is False
    (condition,) = gizmos["conditions"]
    assert condition["status"] == "False"
    assert condition["message"] == (
        "NotRunning: not watching: spec.config.resource: the API server has no resource 'gizmos'"
    )
    assert maps["ready"] is True
    assert maps["conditions"][0]["status"] == "True"
