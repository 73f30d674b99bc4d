"""kubernetes Sources in folder mode (``serve --resources DIR --kubeconfig FILE``) against the
kit's real API server: created, updated, deleted, entered and exited each reported once,
across a cut watch connection, a server restart, and a restart whose resourceVersion the API
server no longer has (410 Gone, relist and compare)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import yaml
from sqlalchemy import func, select, update

from punching_fist.errors import ConfigurationError
from punching_fist.operator.kubernetes_source import FolderKubernetesSources
from punching_fist.resources.registry import ResourceRegistry
from punching_fist.server.service import Service
from punching_fist.store.database import Database
from punching_fist.store.tables import kubernetes_watches, workflow_runs
from tests.harness.k8s import K8sApiServer
from tests.operator.support import new_namespace
from tests.support.process import ServerProcess
from tests.support.server import resources_from_yaml, running_server
from tests.support.tcp_proxy import TcpProxy

pytestmark = pytest.mark.integration

EVENTS = ("created", "updated", "deleted", "entered", "exited")


def _resources(namespace: str) -> str:
    sources = [
        f"""
apiVersion: punchingfist.io/v1alpha1
kind: Source
metadata: {{name: cm-{event}}}
spec:
  type: kubernetes
  config: {{resource: configmaps, event: {event}, labelSelector: watch=yes, namespace: {namespace}}}
  triggerWorkflow: seen
"""
        for event in EVENTS
    ]
    workflow = """
apiVersion: punchingfist.io/v1alpha1
kind: Workflow
metadata: {name: seen}
spec:
  steps:
    - name: say
      type: cli
      command: echo "{{ .source.data.event }} {{ .source.data.object.metadata.name }}"
"""
    return "---".join([*sources, workflow])


def _proxied_kubeconfig(server: K8sApiServer, port: int, target: Path) -> Path:
    """The kit's kubeconfig with its server reached through the proxy."""
    config = yaml.safe_load(server.kubeconfig.read_text())
    for cluster in config["clusters"]:
        cluster["cluster"]["server"] = f"https://127.0.0.1:{port}"
    target.write_text(yaml.safe_dump(config))
    return target


def _with_sources(kubeconfig: Path) -> Callable[[Service], None]:
    def configure(service: Service) -> None:
        service.extensions.append(
            FolderKubernetesSources(
                service.registry, service.trigger_run, service.database, kubeconfig
            )
        )

    return configure


class Cluster:
    def __init__(self, server: K8sApiServer, namespace: str) -> None:
        self.server = server
        self.namespace = namespace

    async def configmap(self, name: str, labels: dict[str, str], data: str = "1") -> None:
        document = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": self.namespace, "labels": labels},
            "data": {"v": data},
        }
        await asyncio.to_thread(
            self.server.kubectl,
            "apply",
            "--server-side",
            "--force-conflicts",
            "-f",
            "-",
            stdin=json.dumps(document),
        )

    async def delete(self, name: str) -> None:
        await asyncio.to_thread(
            self.server.kubectl, "-n", self.namespace, "delete", "configmap", name
        )


async def _seen(database_url: str) -> dict[str, list[str]]:
    database = Database(database_url)
    try:
        async with database.connect() as conn:
            rows = list(await conn.execute(select(workflow_runs.c.source_context)))
    finally:
        await database.close()
    found: dict[str, list[str]] = {event: [] for event in EVENTS}
    for (context,) in rows:
        found[context["data"]["event"]].append(context["data"]["object"]["metadata"]["name"])
    return {event: sorted(names) for event, names in found.items()}


async def _until(database_url: str, expected: dict[str, list[str]], timeout: float = 30) -> None:
    """Until the runs are ``expected``, then a moment more to catch any extra one."""
    deadline = time.monotonic() + timeout
    while await _seen(database_url) != expected and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    await asyncio.sleep(1.0)
    assert await _seen(database_url) == expected


async def _watching(database_url: str) -> None:
    database = Database(database_url)
    deadline = time.monotonic() + 30
    try:
        while time.monotonic() < deadline:
            async with database.connect() as conn:
                count = (
                    await conn.execute(select(func.count()).select_from(kubernetes_watches))
                ).scalar_one()
            if count == len(EVENTS):
                return
            await asyncio.sleep(0.1)
    finally:
        await database.close()
    raise AssertionError("the kubernetes sources did not take their baseline")


async def test_every_event_once_across_watch_and_server_restarts(
    k8s_apiserver: K8sApiServer, sqlite_url: str, tmp_path: Path
) -> None:
    assert k8s_apiserver.server is not None
    namespace = await asyncio.to_thread(new_namespace, k8s_apiserver, "kevents")
    cluster = Cluster(k8s_apiserver, namespace)
    resources = resources_from_yaml(_resources(namespace))
    await cluster.configmap("old", {"watch": "yes"})  # exists before: no created
    await cluster.configmap("plain", {})
    host, _, port = k8s_apiserver.server.removeprefix("https://").partition(":")
    proxy = TcpProxy(host, int(port))
    with proxy.running():
        kubeconfig = _proxied_kubeconfig(k8s_apiserver, proxy.port, tmp_path / "kubeconfig")
        expected: dict[str, list[str]] = {event: [] for event in EVENTS}
        async with running_server(resources, sqlite_url, configure=_with_sources(kubeconfig)):
            await _watching(sqlite_url)
            await cluster.configmap("a1", {"watch": "yes"})
            await cluster.configmap("unselected", {"watch": "no"})
            await cluster.configmap("plain", {"watch": "yes"})  # gains the label
            await cluster.configmap("old", {"watch": "no"})  # loses it
            await cluster.configmap("a1", {"watch": "yes"}, data="2")
            expected |= {
                "created": ["a1"],
                "updated": ["a1"],
                "entered": ["plain"],
                "exited": ["old"],
            }
            await _until(sqlite_url, expected)

            proxy.cut()  # the watches hang; what happens meanwhile comes on resuming
            await cluster.configmap("b1", {"watch": "yes"})
            await cluster.delete("a1")
            proxy.restore()  # their connections close: each watch resumes where it was
            expected |= {"created": ["a1", "b1"], "deleted": ["a1"]}
            await _until(sqlite_url, expected)

        # The server is down while c1 comes and b1 goes; it resumes from the saved state.
        await cluster.configmap("c1", {"watch": "yes"})
        await cluster.delete("b1")
        async with running_server(resources, sqlite_url, configure=_with_sources(kubeconfig)):
            expected |= {"created": ["a1", "b1", "c1"], "deleted": ["a1", "b1"]}
            await _until(sqlite_url, expected)

        # Down for longer than the API server keeps history: its resourceVersion is gone.
        database = Database(sqlite_url)
        async with database.transaction() as conn:
            await conn.execute(update(kubernetes_watches).values(resource_version="1"))
        await database.close()
        await cluster.configmap("d1", {"watch": "yes"})
        await cluster.delete("c1")
        await cluster.configmap("plain", {"watch": "yes"}, data="2")
        async with running_server(resources, sqlite_url, configure=_with_sources(kubeconfig)):
            expected |= {
                "created": ["a1", "b1", "c1", "d1"],
                "deleted": ["a1", "b1", "c1"],
                "updated": ["a1", "plain"],
            }
            await _until(sqlite_url, expected)


async def test_an_unreachable_cluster_is_an_error_at_start(sqlite_url: str, tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "x",
                "contexts": [{"name": "x", "context": {"cluster": "x", "user": "x"}}],
                "clusters": [{"name": "x", "cluster": {"server": "https://127.0.0.1:9"}}],
                "users": [{"name": "x", "user": {"token": "t"}}],
            }
        )
    )
    resources = resources_from_yaml(_resources("default"))

    async def trigger(**_: object) -> None:
        return None

    database = Database(sqlite_url)
    try:
        sources = FolderKubernetesSources(
            ResourceRegistry(resources), trigger, database, kubeconfig
        )
        with pytest.raises(ConfigurationError, match=r"Source/cm-created: the Kubernetes API"):
            await sources.start()
        missing = FolderKubernetesSources(
            ResourceRegistry(resources), trigger, database, tmp_path / "absent"
        )
        with pytest.raises(ConfigurationError, match="cannot read the kubeconfig"):
            await missing.start()
    finally:
        await database.close()


FOLDER = """
apiVersion: punchingfist.io/v1alpha1
kind: Source
metadata: {name: cm-created}
spec:
  type: kubernetes
  config: {resource: configmaps, event: created, labelSelector: watch=yes, namespace: NS}
  triggerWorkflow: seen
---
apiVersion: punchingfist.io/v1alpha1
kind: Source
metadata: {name: deploys}
spec:
  type: api
  config:
    endpoint: /api/v1/trigger
    authentication: {type: apikey, secretRef: env://PF_TEST_FOLDER_API_KEY}
  triggerWorkflow: seen
---
apiVersion: punchingfist.io/v1alpha1
kind: Workflow
metadata: {name: seen}
spec:
  steps:
    - name: say
      type: cli
      command: "true"
  sinks: [out]
---
apiVersion: punchingfist.io/v1alpha1
kind: Sink
metadata: {name: out}
spec:
  type: stdout
"""


def test_serve_with_a_folder_and_a_kubeconfig_runs_kubernetes_and_api_sources(
    k8s_apiserver: K8sApiServer, tmp_path: Path
) -> None:
    namespace = new_namespace(k8s_apiserver, "folder")
    folder = tmp_path / "resources"
    folder.mkdir()
    (folder / "all.yaml").write_text(FOLDER.replace("NS", namespace))
    server = ServerProcess(
        resources=folder,
        database_url=f"sqlite:///{tmp_path / 'pf.db'}",
        workdir=tmp_path,
        extra_args=["--kubeconfig", str(k8s_apiserver.kubeconfig)],
    )
    # Without the api Source's key the server refuses to start, saying why.
    with pytest.raises(RuntimeError):
        server.start(timeout=60)
    assert (
        "Source/deploys): spec.config.authentication.secretRef: env://PF_TEST_FOLDER_API_KEY"
        " is not set in this environment" in " ".join(server.stderr().split())
    )
    server.env = {"PF_TEST_FOLDER_API_KEY": "folder-key"}
    server.start(timeout=60)
    try:
        deadline = time.monotonic() + 30
        while "kubernetes source watching" not in server.stderr():
            assert time.monotonic() < deadline, server.stderr()
            time.sleep(0.1)
        k8s_apiserver.kubectl("-n", namespace, "create", "configmap", "fresh", "--from-literal=a=b")
        k8s_apiserver.kubectl("-n", namespace, "label", "configmap", "fresh", "watch=yes")
        k8s_apiserver.kubectl(
            "-n",
            namespace,
            "apply",
            "--server-side",
            "-f",
            "-",
            stdin=json.dumps(
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {"name": "born", "labels": {"watch": "yes"}},
                }
            ),
        )
        answer = httpx.post(
            f"{server.url}/api/v1/trigger",
            json={"object": {"metadata": {"name": "posted"}}},
            headers={"X-API-Key": "folder-key"},
        )
        assert answer.status_code == 202, answer.text
        deadline = time.monotonic() + 30
        while len(_delivered(server.stdout())) < 2:
            assert time.monotonic() < deadline, server.stdout() + server.stderr()
            time.sleep(0.2)
        time.sleep(1.0)
        delivered = _delivered(server.stdout())
    finally:
        server.stop()
    # "fresh" gained the label after it was created: entered, not created.
    assert sorted(delivered) == [("api", "posted"), ("kubernetes", "born")]


def _delivered(stdout: str) -> list[tuple[str, str]]:
    """The stdout sink's deliveries: the Source type and the object's name of each run."""
    runs = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    return [
        (run["source"]["type"], run["source"]["data"]["object"]["metadata"]["name"]) for run in runs
    ]
