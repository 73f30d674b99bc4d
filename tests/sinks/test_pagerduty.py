"""The PagerDuty sink against a local Events API v2: dedup keys, actions, severities, errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from punching_fist.sinks.pagerduty import map_severity
from tests.sinks.support import FAST, PD_ROUTING_KEY, delivery_of, fire, pipeline, serve
from tests.support.fake_pagerduty import FakePagerDuty


def pd_sink(
    pd: FakePagerDuty, *, name: str = "pd", action: str = "trigger", extra: str = ""
) -> str:
    return f"""
apiVersion: punchingfist.io/v1alpha1
kind: Sink
metadata: {{name: {name}}}
spec:
  type: pagerduty
  config:
    routingKey: env://PD_KEY
    endpoint: {pd.url}
    action: {action}
{extra}{FAST}
"""


async def test_trigger_then_resolve_land_on_one_incident_by_dedup_key(
    pagerduty: FakePagerDuty, tmp_path: Path
) -> None:
    sinks = pd_sink(pagerduty) + "---" + pd_sink(pagerduty, name="pd-resolve", action="resolve")
    # perAlert: the dedup key of the alert (per incident: tests/sinks/test_incident_sinks.py).
    resources = pipeline(sinks, ["pd"], on_resolved=True, investigate="perAlert")
    # The resolving run goes to the resolve sink: swap the workflow's sink on the fly.
    async with serve(resources, tmp_path) as server:
        run_id = await fire(server, fingerprint="fp-pd")
        trigger = await delivery_of(server, run_id, "pd")
        workflow = resources.workflows["triage"]
        spec = workflow.spec.model_copy(update={"sinks": ["pd-resolve"]})
        server.service.registry.replace(
            type(resources)(
                sources=resources.sources,
                workflows={"triage": workflow.model_copy(update={"spec": spec})},
                sinks=resources.sinks,
            )
        )
        resolved_run = await fire(server, fingerprint="fp-pd", status="resolved")
        resolve = await delivery_of(server, resolved_run, "pd-resolve")

    assert trigger["status"] == resolve["status"] == "delivered"
    assert trigger["external_ref"] == resolve["external_ref"] == "punchingfist/alert:am:fp-pd"
    assert trigger["response"] == {
        "status": "success",
        "message": "Event processed",
        "action": "trigger",
        "dedup_key": "punchingfist/alert:am:fp-pd",
    }
    [incident] = pagerduty.incidents.values()
    assert incident.status == "resolved"
    event = pagerduty.events[0]
    assert event["payload"]["severity"] == "critical"
    assert event["payload"]["summary"] == (
        "[CRITICAL] PodCrashLooping: Pod checkout-7d9f is crash looping after a deploy"
    )
    assert event["payload"]["source"] == "checkout-7d9f"
    assert event["payload"]["group"] == "shop"
    assert event["payload"]["custom_details"]["root_cause"] == (
        "OOMKilled: the memory limit of 128Mi is too low"
    )
    assert event["payload"]["custom_details"]["confidence"] == 0.87
    assert event["links"] == [
        {"href": f"{server.url}/api/v1/runs/{run_id}", "text": "Punching Fist run"}
    ]
    assert pagerduty.events[1] == {
        "routing_key": PD_ROUTING_KEY,
        "event_action": "resolve",
        "dedup_key": "punchingfist/alert:am:fp-pd",
    }


async def test_custom_details_come_from_the_template(
    pagerduty: FakePagerDuty, tmp_path: Path
) -> None:
    extra = """    severity: warning
    template: |
      alert: "{{ .source.data.alert.alertname }}"
      cause: "{{ .workflow.outputs.root_cause }}"
      workflow: "{{ .workflow.name }}"
"""
    resources = pipeline(pd_sink(pagerduty, extra=extra), ["pd"])
    async with serve(resources, tmp_path) as server:
        await fire(server)
    [event] = pagerduty.events
    assert event["payload"]["severity"] == "warning"  # the sink's setting wins over the label
    assert event["payload"]["custom_details"] == {
        "alert": "PodCrashLooping",
        "cause": "OOMKilled: the memory limit of 128Mi is too low",
        "workflow": "triage",
    }


async def test_repeats_after_a_retry_are_deduplicated_by_pagerduty(
    pagerduty: FakePagerDuty, tmp_path: Path
) -> None:
    pagerduty.fail_next(2, 500, {"status": "error", "message": "internal error"})
    resources = pipeline(pd_sink(pagerduty), ["pd"])
    async with serve(resources, tmp_path) as server:
        run_id = await fire(server)
        delivery = await delivery_of(server, run_id, "pd")
    assert delivery["status"] == "delivered"
    assert delivery["attempts"] == 3
    assert [a["outcome"] for a in delivery["attempt_log"]] == ["failed", "failed", "delivered"]
    assert delivery["attempt_log"][0]["error"] == "pagerduty answered 500: internal error"
    assert len(pagerduty.incidents) == 1


async def test_throttling_honours_retry_after(pagerduty: FakePagerDuty, tmp_path: Path) -> None:
    pagerduty.throttle_next(1, retry_after=1)
    resources = pipeline(pd_sink(pagerduty), ["pd"])
    async with serve(resources, tmp_path) as server:
        run_id = await fire(server)
        delivery = await delivery_of(server, run_id, "pd")
    first, second = delivery["attempt_log"]
    assert first["error"].startswith("pagerduty answered 429: Requests for this service")
    from datetime import datetime

    waited = datetime.fromisoformat(second["startedAt"]) - datetime.fromisoformat(
        first["startedAt"]
    )
    assert waited.total_seconds() >= 1.0
    assert delivery["status"] == "delivered"


async def test_an_invalid_event_is_dead_lettered_with_pagerdutys_reasons(
    pagerduty: FakePagerDuty, tmp_path: Path
) -> None:
    pagerduty.routing_key = "another-key"  # ours is now wrong
    resources = pipeline(pd_sink(pagerduty), ["pd"])
    async with serve(resources, tmp_path) as server:
        run_id = await fire(server)
        delivery = await delivery_of(server, run_id, "pd")
    assert delivery["status"] == "failed"
    assert delivery["attempts"] == 1  # a 400 does not get better by retrying
    assert (
        delivery["error"] == "pagerduty answered 400: Event object is invalid; Invalid routing key"
    )
    assert PD_ROUTING_KEY not in str(delivery)


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        ("critical", "critical"),
        ("P1", "critical"),
        ("high", "error"),
        ("warning", "warning"),
        ("minor", "warning"),
        ("info", "info"),
        ("none", "info"),
        ("something-new", "error"),
    ],
)
def test_alert_severities_map_onto_pagerdutys_four(label: str, expected: str) -> None:
    assert map_severity(label) == expected
