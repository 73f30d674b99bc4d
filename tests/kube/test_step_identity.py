"""Each step's kubectl reaches the API server as the account the step names.

A server runs as it would in a pod: ``KUBERNETES_SERVICE_HOST``/``PORT`` and a mounted
service-account token, here for an authenticating proxy in front of the API server kit
(``tests/support/kube_proxy.py``), which records the user of every request and the account
it impersonates. Each step lists a different kind, so the recorded paths tell the steps apart.
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from punching_fist.agent.tools.kubectl import KubectlArguments, KubectlTool
from punching_fist.kube.credentials import KubeCredentials
from punching_fist.secret_refs import SecretResolver
from tests.harness.k8s import K8sApiServer
from tests.support.fake_llm import FakeLLM, Script, final, kubectl
from tests.support.kube_proxy import RecordingProxy, recording_proxy
from tests.support.payloads import alert, notification
from tests.support.process import spawn_serving
from tests.support.server import free_port
from tests.support.tools_helpers import context

OPERATOR = "system:serviceaccount:pf-system:pf-operator"
TOKEN = f"operator-token-{uuid.uuid4().hex}"


def account(name: str) -> str:
    return f"system:serviceaccount:pf-system:{name}"


@pytest.fixture
def shop(k8s_apiserver: K8sApiServer) -> Iterator[str]:
    namespace = f"shop-{uuid.uuid4().hex[:8]}"
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web-0", "namespace": namespace},
        "spec": {"containers": [{"name": "app", "image": "shop/web:1.4"}]},
    }
    namespace_doc = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
    k8s_apiserver.kubectl("apply", "-f", "-", stdin=yaml.safe_dump_all([namespace_doc, pod]))
    yield namespace
    k8s_apiserver.kubectl("delete", "pods", "--all", "-n", namespace)


@pytest.fixture
def proxy(k8s_apiserver: K8sApiServer, tmp_path: Path) -> Iterator[RecordingProxy]:
    with recording_proxy(k8s_apiserver, {TOKEN: OPERATOR}, tmp_path) as running:
        yield running


@pytest.fixture
def pod_environment(proxy: RecordingProxy, tmp_path: Path) -> dict[str, str]:
    """A pod's service-account mount (token, the proxy's CA, namespace) and environment."""
    mount = tmp_path / "serviceaccount"
    mount.mkdir()
    (mount / "token").write_text(TOKEN)
    (mount / "ca.crt").write_bytes(proxy.ca_file.read_bytes())
    (mount / "namespace").write_text("pf-system")
    return {
        "KUBERNETES_SERVICE_HOST": "127.0.0.1",
        "KUBERNETES_SERVICE_PORT": str(proxy.port),
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path / "home"),  # no ~/.kube/config: the pod's account it is
    }


def acting_as(proxy: RecordingProxy, fragment: str) -> set[tuple[str, str | None]]:
    seen = proxy.requests_to(fragment)
    assert seen, f"no request to {fragment}: {proxy.seen}"
    return {(s.user, s.impersonated) for s in seen}


@pytest.mark.integration
async def test_the_kubectl_tool_acts_as_the_steps_account(
    proxy: RecordingProxy, pod_environment: dict[str, str], shop: str, tmp_path: Path
) -> None:
    credentials = KubeCredentials.discover(
        pod_environment,
        service_account_dir=tmp_path / "serviceaccount",
        agent_service_account="punchingfist-agent",
    )
    tool = KubectlTool(secrets=SecretResolver(), credentials=credentials, cache_dir=tmp_path)
    named = await tool.call(
        KubectlArguments(command=f"get pods -n {shop}"),
        context(service_account="punchingfist-investigator"),
    )
    assert "web-0" in named.text, named.text
    assert acting_as(proxy, f"/namespaces/{shop}/pods") == {
        (OPERATOR, account("punchingfist-investigator"))
    }
    default = await tool.call(KubectlArguments(command=f"get events -n {shop}"), context())
    assert default.exit_code == 0, default.text
    assert acting_as(proxy, f"/namespaces/{shop}/events") == {
        (OPERATOR, account("punchingfist-agent"))
    }


WORKFLOW = """
apiVersion: punchingfist.io/v1alpha1
kind: Source
metadata: {{name: am}}
spec: {{type: webhook, config: {{path: /hook}}, triggerWorkflow: wf}}
---
apiVersion: punchingfist.io/v1alpha1
kind: Workflow
metadata: {{name: wf}}
spec:
  runtime:
    llmConfig: {{provider: local, endpoint: "{llm}", model: test-model}}
  steps:
    - name: remediator-cli
      type: cli
      serviceAccount: punchingfist-remediator
      command: kubectl get pods -n {shop} -o name
    - name: plain-cli
      type: cli
      command: kubectl get configmaps -n {shop}
    - name: default-agent
      type: agent
      goal: "Look at the services"
      tools: [kubectl]
      evidence: "off"
    - name: investigator-agent
      type: agent
      serviceAccount: punchingfist-investigator
      goal: "Look at the events"
      tools: [kubectl]
      evidence: "off"
"""


@pytest.mark.integration
async def test_every_kind_of_step_reaches_the_api_server_as_its_account(
    proxy: RecordingProxy, pod_environment: dict[str, str], shop: str, tmp_path: Path
) -> None:
    scripts = [
        Script([kubectl(f"get services -n {shop}"), final(summary="ok")], match="services"),
        Script([kubectl(f"get events -n {shop}"), final(summary="ok")], match="events"),
    ]
    with FakeLLM(scripts) as llm:
        resources = tmp_path / "resources"
        resources.mkdir()
        (resources / "wf.yaml").write_text(WORKFLOW.format(llm=llm.url, shop=shop))
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        server = spawn_serving(
            [
                "serve", "--resources", str(resources), "--port", str(port),
                "--db", f"sqlite:///{tmp_path / 'pf.db'}",
                "--service-account-dir", str(tmp_path / "serviceaccount"),
                "--agent-service-account", "punchingfist-agent",
            ],
            env=pod_environment,
            stdout=tmp_path / "out",
            stderr=tmp_path / "err",
            ready_url=f"{url}/readyz",
            timeout=60,
        )  # fmt: skip
        try:
            async with httpx.AsyncClient(base_url=url, timeout=30) as client:
                posted = await client.post("/hook", json=notification(alert()))
                assert posted.status_code == 202, posted.text
                run_id = posted.json()["alerts"][0]["runId"]
                detail = await _finished(client, run_id)
        finally:
            server.terminate()
            server.wait(30)

    steps = {step["name"]: step for step in detail["steps"]}
    assert steps["remediator-cli"]["result"]["stdout"] == "pod/web-0\n", steps
    assert acting_as(proxy, f"/namespaces/{shop}/pods") == {
        (OPERATOR, account("punchingfist-remediator"))
    }
    # Without an account a cli step has the address but no credentials: anonymous, refused,
    # never the operator through kubectl's fall-back to the pod's mounted token.
    assert steps["plain-cli"]["status"] == "failed"
    assert "Forbidden" in steps["plain-cli"]["result"]["stderr"]
    assert acting_as(proxy, f"/namespaces/{shop}/configmaps") == {("system:anonymous", None)}
    assert all(seen.impersonated for seen in proxy.seen if seen.user == OPERATOR)
    assert acting_as(proxy, f"/namespaces/{shop}/services") == {
        (OPERATOR, account("punchingfist-agent"))
    }
    assert acting_as(proxy, f"/namespaces/{shop}/events") == {
        (OPERATOR, account("punchingfist-investigator"))
    }


async def _finished(client: httpx.AsyncClient, run_id: str) -> dict[str, Any]:
    for _ in range(600):
        detail: dict[str, Any] = (await client.get(f"/api/v1/runs/{run_id}")).json()
        if detail["status"] in ("succeeded", "failed"):
            return detail
        await asyncio.sleep(0.1)
    raise AssertionError(f"run did not finish: {json.dumps(detail)[:2000]}")
