"""The design's four investigation scenarios, end to end, with tools answering from real processes.

An Alertmanager notification goes into the real server; the agent's ``kubectl`` runs the
real kubectl binary against the Kubernetes API server kit (objects created as data: pods
never run there), ``promql`` queries a real Prometheus fed through the Pushgateway, ``curl``
makes real HTTP requests, and container logs (which the kit does not serve) come from a
script tool. Only the LLM is a fake, replaying each scenario's reasoning; every fact it
"sees" is asserted to have come from those real tools, and each run ends at the stdout sink.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.agent.kit import step, wait_for_status
from tests.harness.k8s import K8sApiServer
from tests.harness.prometheus_stack import PrometheusStack
from tests.support.fake_llm import FakeLLM, Recorded, Script, call, final, kubectl
from tests.support.payloads import alert, notification
from tests.support.server import free_port, resources_from_yaml, running_server

pytestmark = pytest.mark.integration

RESOURCES = """
apiVersion: punchingfist.io/v1alpha1
kind: Source
metadata: {name: alertmanager}
spec:
  type: webhook
  config: {path: /hook}
  triggerWorkflow: investigate
---
apiVersion: punchingfist.io/v1alpha1
kind: Sink
metadata: {name: console}
spec:
  type: stdout
  config:
    format: text
    template: "{{ .workflow.outputs.summary }} | fix: {{ .workflow.outputs.fix }} | fixed: {{ .workflow.outputs.auto_fixed }}"
---
apiVersion: punchingfist.io/v1alpha1
kind: Workflow
metadata: {name: investigate}
spec:
  runtime:
    llmConfig: {provider: local, endpoint: "LLM_URL", model: scenario}
    environment:
      PROMETHEUS_URL: "PROM_URL"
  steps:
    - name: investigation
      type: agent
      goal: |
        I need to investigate this alert: {{ .source.data.alert.summary }}
        - Alert name: {{ .source.data.alert.alertname }}
        - Affected service: {{ .source.data.alert.labels.service }}
        - Namespace: {{ .source.data.alert.labels.namespace }}
      tools:
        - kubectl
        - name: promql
          endpoint: "{{ .env.PROMETHEUS_URL }}"
        - name: curl
          allowedHosts: ["127.0.0.1"]
        - name: pod-logs
          description: "Print the recent logs of a pod's container: <pod> <namespace>"
          command: "LOGS_SCRIPT"
      maxIterations: 12
    - name: resolution-attempt
      type: conditional
      condition: "{{ .steps.investigation.result.can_auto_fix }}"
      agent:
        goal: |
          Based on my investigation, I can attempt to fix this automatically.
          Issue: {{ .steps.investigation.result.problem_summary }}
          Proposed fix: {{ .steps.investigation.result.fix_command }}
        tools: [kubectl]
        maxIterations: 4
        approvalRequired: true
  outputs:
    - {name: summary, value: "{{ .steps.investigation.result.summary }}"}
    - {name: fix, value: "{{ .steps.investigation.result.fix_command }}"}
    - {name: auto_fixed, value: "{{ .steps.resolution-attempt.success | default false }}"}
  sinks: [console]
"""

LOGS = """#!/bin/sh
# The kit serves no container logs; this stands in for `kubectl logs` with canned output.
case "$1" in
  my-app-*) echo "Exception in thread main java.lang.OutOfMemoryError: Java heap space" ;;
  payment-*) echo "ERROR db: Connection timeout to database postgres:5432 after 5000ms" ;;
  *) echo "no logs for $1" ;;
esac
"""


@pytest.fixture
def namespace(k8s_apiserver: K8sApiServer) -> Iterator[str]:
    name = f"sc-{uuid.uuid4().hex[:8]}"
    k8s_apiserver.kubectl("create", "namespace", name)
    yield name
    # The kit cannot delete namespaces; the objects go, the (unique) namespace stays.
    k8s_apiserver.kubectl("delete", "pods,services,events", "--all", "-n", name, "--wait=false")


def apply(k8s: K8sApiServer, manifest: str) -> None:
    k8s.kubectl("apply", "-f", "-", stdin=manifest)


def set_status(k8s: K8sApiServer, kind: str, name: str, namespace: str, status: Any) -> None:
    k8s.kubectl(
        "patch", kind, name, "-n", namespace, "--subresource=status", "--type=merge",
        "-p", json.dumps({"status": status}),
    )  # fmt: skip


def pod(name: str, namespace: str, app: str, *, port: int = 8080, memory: str = "512Mi") -> str:
    return f"""
apiVersion: v1
kind: Pod
metadata: {{name: {name}, namespace: {namespace}, labels: {{app: {app}}}}}
spec:
  containers:
  - name: app
    image: {app}:2.0
    ports: [{{containerPort: {port}}}]
    resources: {{limits: {{memory: {memory}}}}}
"""


def tool_outputs(llm: FakeLLM) -> str:
    """Everything the tools answered, as the LLM received it."""
    last: Recorded = llm.requests[-1]
    return "\n".join(
        str(m.get("content")) for m in last.body["messages"] if m.get("role") == "tool"
    )


async def run_scenario(
    tmp_path: Path,
    k8s: K8sApiServer,
    prometheus: PrometheusStack,
    scripts: list[Script],
    labels: dict[str, str],
    *,
    approve: bool = False,
) -> tuple[dict[str, Any], str, FakeLLM]:
    logs = tmp_path / "pod-logs.sh"
    logs.write_text(LOGS)
    logs.chmod(0o755)
    database = f"sqlite+aiosqlite:///{tmp_path / 'pf.db'}"
    with FakeLLM(scripts) as llm:
        text = (
            RESOURCES.replace("LLM_URL", llm.url)
            .replace("PROM_URL", prometheus.prometheus_url)
            .replace("LOGS_SCRIPT", str(logs))
        )
        async with running_server(
            resources_from_yaml(text), database, kubeconfig=str(k8s.kubeconfig)
        ) as server:
            payload = notification(alert(labels["alertname"], labels=labels))
            response = await server.post_alert("/hook", payload)
            assert response.status_code == 202, response.text
            run_id = response.json()["alerts"][0]["runId"]
            await server.settle(timeout=60)
            if approve:
                await wait_for_status(server.client, run_id, "waiting_approval")
                (approval,) = (await server.client.get("/api/v1/approvals")).json()["items"]
                await server.client.post(
                    f"/api/v1/approvals/{approval['id']}", json={"approved": True}
                )
                await server.settle(timeout=60)
            detail = await wait_for_status(server.client, run_id, "succeeded", timeout=60)
            return detail, server.sink_output(), llm


async def test_pod_crash_loop_oom(
    tmp_path: Path,
    k8s_apiserver: K8sApiServer,
    clean_prometheus_stack: PrometheusStack,
    namespace: str,
) -> None:
    prom = clean_prometheus_stack
    name = "my-app-7d4b9"
    apply(k8s_apiserver, pod(name, namespace, "my-app", memory="512Mi"))
    set_status(
        k8s_apiserver,
        "pod",
        name,
        namespace,
        {
            "phase": "Running",
            "containerStatuses": [
                {
                    "name": "app",
                    "ready": False,
                    "restartCount": 14,
                    "image": "my-app:2.0",
                    "imageID": "",
                    "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                    "lastState": {"terminated": {"reason": "OOMKilled", "exitCode": 137}},
                }
            ],
        },
    )
    prom.push_metric(
        "scenario-oom",
        "container_memory_usage_bytes",
        536_870_912,
        {"pod": name, "namespace": namespace},
    )
    await prom.wait_for_async(lambda: prom.query(f'container_memory_usage_bytes{{pod="{name}"}}'))
    script = Script(
        [
            kubectl(f"describe pod {name} -n {namespace}"),
            call("pod-logs", arguments=f"{name} {namespace}"),
            call("promql", query=f'container_memory_usage_bytes{{pod="{name}"}}'),
            final(
                summary=f"{name} is OOMKilled at its 512Mi limit",
                problem_summary="container exceeds its memory limit and is killed (exit 137)",
                root_cause="the new version needs more heap than the 512Mi limit allows",
                findings=["Last State: OOMKilled, exit code 137", "Java heap space", "512Mi used"],
                recommendations=["raise the memory limit to 1Gi"],
                can_auto_fix=False,
                fix_command=f"kubectl set resources deployment/my-app -n {namespace} --limits=memory=1Gi",
                confidence=0.9,
            ),
        ]
    )
    labels = {"alertname": "PodCrashLooping", "namespace": namespace, "service": "my-app"}
    detail, out, llm = await run_scenario(tmp_path, k8s_apiserver, prom, [script], labels)
    seen = tool_outputs(llm)
    assert "OOMKilled" in seen  # kubectl describe, from the API server
    assert "137" in seen
    assert "OutOfMemoryError: Java heap space" in seen  # the logs script
    assert "5.36871e+08" in seen  # Prometheus, via the Pushgateway
    assert step(detail, "resolution-attempt")["status"] == "skipped"
    assert f"{name} is OOMKilled at its 512Mi limit | fix: kubectl set resources" in out


async def test_api_response_time(
    tmp_path: Path,
    k8s_apiserver: K8sApiServer,
    clean_prometheus_stack: PrometheusStack,
    namespace: str,
) -> None:
    prom = clean_prometheus_stack
    apply(k8s_apiserver, pod("payment-5c9f", namespace, "payment-service"))
    apply(k8s_apiserver, pod("postgres-0", namespace, "postgres", port=5432))
    set_status(k8s_apiserver, "pod", "postgres-0", namespace, {"phase": "Running"})
    prom.push_metric(
        "scenario-latency",
        "http_request_duration_seconds_p95",
        2.0,
        {"service": "payment-service", "namespace": namespace},
    )
    prom.push_metric(
        "scenario-latency-db",
        "postgres_query_duration_seconds_avg",
        1.7,
        {"namespace": namespace},
    )
    await prom.wait_for_async(lambda: prom.query("postgres_query_duration_seconds_avg"))
    script = Script(
        [
            call("promql", query='http_request_duration_seconds_p95{service="payment-service"}'),
            call("pod-logs", arguments=f"payment-5c9f {namespace}"),
            kubectl(f"get pods -l app=postgres -n {namespace}"),
            call("promql", query="postgres_query_duration_seconds_avg"),
            final(
                summary="payment-service is slow because its database queries are slow",
                root_cause="postgres-0 query duration rose to 1.7s on average",
                recommendations=["scale or tune the database"],
                can_auto_fix=False,
                confidence=0.7,
            ),
        ]
    )
    labels = {
        "alertname": "HighAPIResponseTime",
        "namespace": namespace,
        "service": "payment-service",
    }
    detail, out, llm = await run_scenario(tmp_path, k8s_apiserver, prom, [script], labels)
    seen = tool_outputs(llm)
    assert 'service="payment-service"} 2' in seen  # Prometheus: p95 is 2 s
    assert "Connection timeout to database" in seen
    assert "postgres-0" in seen
    assert "1.7" in seen
    assert "payment-service is slow because its database queries are slow" in out
    assert step(detail, "investigation")["result"]["root_cause"].startswith("postgres-0")


async def test_service_port_mismatch_is_fixed_after_approval(
    tmp_path: Path,
    k8s_apiserver: K8sApiServer,
    clean_prometheus_stack: PrometheusStack,
    namespace: str,
) -> None:
    apply(k8s_apiserver, pod("user-auth-0", namespace, "user-auth", port=3000))
    set_status(k8s_apiserver, "pod", "user-auth-0", namespace, {"phase": "Running"})
    apply(
        k8s_apiserver,
        f"""
apiVersion: v1
kind: Service
metadata: {{name: user-auth-service, namespace: {namespace}}}
spec:
  selector: {{app: user-auth}}
  ports: [{{port: 8080, targetPort: 8080}}]
""",
    )
    health = f"http://127.0.0.1:{free_port()}/health"  # nothing listens: like the wrong port
    patch = '{"spec":{"ports":[{"port":8080,"targetPort":3000}]}}'
    fix = f"patch svc user-auth-service -n {namespace} --type=merge -p '{patch}'"
    investigation = Script(
        match="I need to investigate",
        turns=[
            kubectl(f"get svc user-auth-service -n {namespace}"),
            kubectl(f"get pods -l app=user-auth -n {namespace} -o wide"),
            call("curl", url=health),
            kubectl(f"describe svc user-auth-service -n {namespace}"),
            kubectl(f"get pod user-auth-0 -n {namespace} -o yaml"),
            final(
                summary="user-auth-service targets port 8080 but the pods listen on 3000",
                problem_summary="service targetPort 8080 does not match containerPort 3000",
                root_cause="wrong targetPort in the service",
                can_auto_fix=True,
                fix_command=f"kubectl {fix}",
                confidence=0.9,
            ),
        ],
    )
    resolution = Script(
        match="Based on my investigation",
        turns=[
            kubectl(fix),
            kubectl(f"get svc user-auth-service -n {namespace} -o yaml"),
            final(summary="targetPort set to 3000", confidence=0.9),
        ],
    )
    labels = {"alertname": "ServiceUnavailable", "namespace": namespace, "service": "user-auth"}
    detail, out, llm = await run_scenario(
        tmp_path,
        k8s_apiserver,
        clean_prometheus_stack,
        [investigation, resolution],
        labels,
        approve=True,
    )
    seen = "\n".join(
        str(m.get("content"))
        for r in llm.requests
        for m in r.body["messages"]
        if m.get("role") == "tool"
    )
    assert "TargetPort:        8080" in seen  # describe svc, from the API server
    assert "containerPort: 3000" in seen
    assert "Connection refused" in seen or "connect" in seen.lower()  # curl, a real socket
    # The approved patch really changed the Service in the API server.
    ports = json.loads(
        k8s_apiserver.kubectl("get", "svc", "user-auth-service", "-n", namespace, "-o", "json")
    )["spec"]["ports"]
    assert ports[0]["targetPort"] == 3000
    assert step(detail, "resolution-attempt")["status"] == "succeeded"
    assert detail["outputs"]["auto_fixed"] is True
    assert "fixed: true" in out


async def test_multiple_services_share_a_saturated_redis(
    tmp_path: Path,
    k8s_apiserver: K8sApiServer,
    clean_prometheus_stack: PrometheusStack,
    namespace: str,
) -> None:
    prom = clean_prometheus_stack
    for service in ("cart", "checkout", "search"):
        apply(k8s_apiserver, pod(f"{service}-0", namespace, service))
        prom.push_metric(
            f"scenario-redis-{service}",
            "service_error_ratio",
            0.3,
            {"service": service, "namespace": namespace, "dependency": "redis"},
        )
    apply(k8s_apiserver, pod("redis-0", namespace, "redis", port=6379, memory="2Gi"))
    prom.push_metric(
        "scenario-redis",
        "redis_memory_used_ratio",
        0.95,
        {"namespace": namespace, "pod": "redis-0"},
    )
    await prom.wait_for_async(lambda: prom.query("redis_memory_used_ratio"))
    await prom.wait_for_async(lambda: len(prom.query("service_error_ratio")) == 3)
    script = Script(
        [
            kubectl(f"get pods -n {namespace}"),
            call("promql", query="service_error_ratio"),
            call("promql", query="redis_memory_used_ratio"),
            final(
                summary="cart, checkout and search fail together: their shared Redis is at 95% memory",
                root_cause="redis-0 memory usage at 95%",
                recommendations=["increase Redis memory limit or enable cache eviction"],
                can_auto_fix=False,
                confidence=0.75,
            ),
        ]
    )
    labels = {"alertname": "MultipleServicesDegraded", "namespace": namespace, "service": "cart"}
    _detail, out, llm = await run_scenario(tmp_path, k8s_apiserver, prom, [script], labels)
    seen = tool_outputs(llm)
    for pod_name in ("cart-0", "checkout-0", "search-0", "redis-0"):
        assert pod_name in seen
    assert seen.count('dependency="redis"') == 3
    assert "0.95" in seen
    assert "shared Redis is at 95% memory" in out
