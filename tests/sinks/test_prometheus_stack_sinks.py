"""The alertmanager and prometheus sinks against the real Alertmanager, Pushgateway, Prometheus."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.harness.prometheus_stack import PrometheusStack
from tests.sinks.support import FAST, delivery_of, fire, pipeline, serve

pytestmark = pytest.mark.integration


def am_sink(stack: PrometheusStack, action: str, extra: str = "") -> str:
    return f"""
apiVersion: punchingfist.io/v1alpha1
kind: Sink
metadata: {{name: am-{action}}}
spec:
  type: alertmanager
  config:
    endpoint: {stack.alertmanager_url}
    action: {action}
{extra}{FAST}
"""


async def silences_matching(stack: PrometheusStack, name: str, value: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient() as client:
        response = await client.get(f"{stack.alertmanager_url}/api/v2/silences")
    response.raise_for_status()
    return [
        s
        for s in response.json()
        if {"name": name, "value": value, "isRegex": False, "isEqual": True} in s["matchers"]
    ]


async def alerts_matching(stack: PrometheusStack, *filters: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient() as client:
        response = await client.get(
            f"{stack.alertmanager_url}/api/v2/alerts", params=[("filter", f) for f in filters]
        )
    response.raise_for_status()
    result: list[dict[str, Any]] = response.json()
    return result


async def test_silence_is_created_with_the_alerts_labels_and_updated_on_repeats(
    clean_prometheus_stack: PrometheusStack, tmp_path: Path
) -> None:
    stack = clean_prometheus_stack
    marker = uuid.uuid4().hex[:12]
    extra = """    duration: 45m
    comment: "Investigating {{ .source.data.alert.alertname }}: {{ .workflow.outputs.root_cause }}"
"""
    resources = pipeline(am_sink(stack, "silence", extra), ["am-silence"], on_resolved=True)
    async with serve(resources, tmp_path) as server:
        run_id = await fire(server, fingerprint=f"fp-{marker}", labels={"pf_case": marker})
        first = await delivery_of(server, run_id, "am-silence")
        [silence] = await silences_matching(stack, "pf_case", marker)

        assert first["status"] == "delivered", first
        assert silence["id"] == first["external_ref"] == first["response"]["silenceID"]
        assert silence["status"]["state"] == "active"
        assert silence["createdBy"] == "punching-fist"
        assert silence["comment"].startswith(
            "Investigating PodCrashLooping: OOMKilled: the memory limit of 128Mi is too low ["
        )
        names = {m["name"]: m["value"] for m in silence["matchers"]}
        assert names == {
            "alertname": "PodCrashLooping",
            "severity": "critical",
            "namespace": "shop",
            "pod": "checkout-7d9f",
            "pf_case": marker,
        }
        ends = datetime.fromisoformat(silence["endsAt"].replace("Z", "+00:00"))
        assert timedelta(minutes=44) < ends - datetime.now(UTC) <= timedelta(minutes=45)

        # A second result about the same alert extends that silence instead of adding one.
        second_run = await fire(
            server, fingerprint=f"fp-{marker}", labels={"pf_case": marker}, status="resolved"
        )
        second = await delivery_of(server, second_run, "am-silence")
    assert second["status"] == "delivered", second
    assert second["response"]["updated"] is True
    assert second["external_ref"] == silence["id"]
    after = await silences_matching(stack, "pf_case", marker)
    assert [s["id"] for s in after] == [silence["id"]]


async def test_resolve_ends_the_alert_in_alertmanager(
    clean_prometheus_stack: PrometheusStack, tmp_path: Path
) -> None:
    stack = clean_prometheus_stack
    marker = uuid.uuid4().hex[:12]
    labels = {
        "alertname": "PodCrashLooping",
        "severity": "critical",
        "namespace": "shop",
        "pod": "checkout-7d9f",
        "pf_case": marker,
    }
    starts = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    async with httpx.AsyncClient() as client:
        posted = await client.post(
            f"{stack.alertmanager_url}/api/v2/alerts",
            json=[{"labels": labels, "annotations": {"summary": "down"}, "startsAt": starts}],
        )
    posted.raise_for_status()
    assert await alerts_matching(stack, f'pf_case="{marker}"'), "the alert should be firing"

    resources = pipeline(am_sink(stack, "resolve"), ["am-resolve"])
    async with serve(resources, tmp_path) as server:
        run_id = await fire(server, fingerprint=f"fp-{marker}", labels={"pf_case": marker})
        delivery = await delivery_of(server, run_id, "am-resolve")
    assert delivery["status"] == "delivered", delivery

    async def gone() -> bool:
        return not await alerts_matching(stack, f'pf_case="{marker}"')

    await stack.wait_for_async(gone, timeout=10)


async def test_annotate_posts_a_sibling_alert_carrying_the_rendered_annotations(
    clean_prometheus_stack: PrometheusStack, tmp_path: Path
) -> None:
    stack = clean_prometheus_stack
    marker = uuid.uuid4().hex[:12]
    # The design's template, verbatim in shape: `key: "value"` lines.
    extra = """    template: |
      ai_triage: "{{ .workflow.outputs.root_cause }}"
      ai_severity: "{{ .workflow.outputs.severity }}"
      ai_timestamp: "{{ .workflow.completedAt }}"
"""
    resources = pipeline(am_sink(stack, "annotate", extra), ["am-annotate"])
    async with serve(resources, tmp_path) as server:
        run_id = await fire(server, fingerprint=f"fp-{marker}", labels={"pf_case": marker})
        delivery = await delivery_of(server, run_id, "am-annotate")
    assert delivery["status"] == "delivered", delivery

    [sibling] = await alerts_matching(stack, f'pf_case="{marker}"', 'punchingfist_triage="true"')
    assert sibling["labels"] == {
        "alertname": "PodCrashLooping",
        "severity": "critical",
        "namespace": "shop",
        "pod": "checkout-7d9f",
        "pf_case": marker,
        "punchingfist_triage": "true",
    }
    annotations = sibling["annotations"]
    assert annotations["ai_triage"] == "OOMKilled: the memory limit of 128Mi is too low"
    assert annotations["ai_severity"] == "critical"
    assert datetime.fromisoformat(annotations["ai_timestamp"]) <= datetime.now(UTC)
    assert sibling["status"]["state"] == "active"
    assert sibling["generatorURL"] == f"{server.url}/api/v1/runs/{run_id}"


async def test_run_metrics_pushed_to_the_pushgateway_reach_prometheus(
    clean_prometheus_stack: PrometheusStack, tmp_path: Path
) -> None:
    stack = clean_prometheus_stack
    job = f"pf-results-{uuid.uuid4().hex[:8]}"
    sink = f"""
apiVersion: punchingfist.io/v1alpha1
kind: Sink
metadata: {{name: metrics}}
spec:
  type: prometheus
  config:
    pushgateway: {stack.pushgateway_url}
    job: {job}
    groupingKey: {{workflow: "{{{{ .workflow.name }}}}", alertname: "{{{{ .source.data.alert.alertname }}}}"}}
    labels: {{severity: "{{{{ .source.data.alert.severity }}}}"}}
    metrics:
      - name: pf_sink_test_restarts
        value: "{{{{ .source.data.alert.labels.restarts }}}}"
        help: Restarts seen by the alert.
        labels: {{pod: "{{{{ .source.data.alert.labels.pod }}}}"}}
      - {{name: pf_sink_test_not_a_number, value: "{{{{ .workflow.outputs.summary }}}}"}}
{FAST}
"""
    resources = pipeline(sink, ["metrics"])
    async with serve(resources, tmp_path) as server:
        run_id = await fire(server, labels={"restarts": "7"})
        delivery = await delivery_of(server, run_id, "metrics")
    assert delivery["status"] == "delivered", delivery
    assert delivery["response"]["skipped"] == ["pf_sink_test_not_a_number"]

    def value(query: str) -> float | None:
        samples = stack.query(query)
        return float(samples[0]["value"][1]) if samples else None

    selector = f'job="{job}",workflow="triage",alertname="PodCrashLooping",severity="critical"'
    success = await stack.wait_for_async(
        lambda: value(f"punchingfist_workflow_success{{{selector}}}") is not None, timeout=20
    )
    assert success
    assert value(f"punchingfist_workflow_success{{{selector}}}") == 1.0
    assert value(f"punchingfist_workflow_confidence{{{selector}}}") == pytest.approx(0.87)
    assert value(f"punchingfist_workflow_auto_fixed{{{selector}}}") == 0.0
    assert value(f'punchingfist_workflow_status{{{selector},status="succeeded"}}') == 1.0
    duration = value(f"punchingfist_workflow_duration_seconds{{{selector}}}")
    assert duration is not None
    assert 0 < duration < 30
    restarts = f'pf_sink_test_restarts{{job="{job}",pod="checkout-7d9f"}}'
    assert value(restarts) == 7.0
