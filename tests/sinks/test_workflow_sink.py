"""The workflow sink: chained runs with the parent's outputs as source data, loops refused."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import select

from punching_fist.resources.loader import ResourceSet
from punching_fist.store.tables import workflow_runs
from tests.sinks.support import delivery_of, fire, run_detail, serve
from tests.support.server import RunningServer, resources_from_yaml

RESOURCES = """
apiVersion: punchingfist.io/v1alpha1
kind: Source
metadata: {name: am}
spec:
  type: webhook
  config: {path: /hook}
  triggerWorkflow: triage
---
apiVersion: punchingfist.io/v1alpha1
kind: Workflow
metadata: {name: triage}
spec:
  steps: [{name: look, type: cli, command: "echo looking"}]
  outputs:
    - {name: severity, value: "{{ .source.data.alert.severity }}"}
    - {name: root_cause, value: "disk full on {{ .source.data.alert.labels.pod }}"}
  sinks: [escalate]
---
apiVersion: punchingfist.io/v1alpha1
kind: Workflow
metadata: {name: escalation}
spec:
  steps:
    - name: page
      type: cli
      command: echo "paging for {{ .source.data.root_cause }} (parent {{ .source.data.parent.workflow }})"
  outputs:
    - {name: said, value: "{{ .steps.page.result.stdout | trim }}"}
  sinks: [out, ESCALATION_SINKS]
---
apiVersion: punchingfist.io/v1alpha1
kind: Sink
metadata: {name: escalate}
spec:
  type: workflow
  config:
    workflowName: escalation
    triggerCondition: TRIGGER
---
apiVersion: punchingfist.io/v1alpha1
kind: Sink
metadata: {name: back-to-triage}
spec:
  type: workflow
  config: {workflowName: triage}
---
apiVersion: punchingfist.io/v1alpha1
kind: Sink
metadata: {name: out}
spec:
  type: stdout
  config: {format: json}
"""


def resources(
    trigger: str = "\"severity == 'critical'\"", escalation_sinks: str = "out"
) -> ResourceSet:
    text = RESOURCES.replace("TRIGGER", trigger).replace(
        "[out, ESCALATION_SINKS]", f"[{escalation_sinks}]"
    )
    return resources_from_yaml(text)


async def runs(server: RunningServer) -> list[dict[str, object]]:
    async with server.service.database.connect() as conn:
        rows = (await conn.execute(select(workflow_runs))).mappings().all()
    return [dict(row) for row in rows]


async def test_a_critical_result_starts_the_escalation_with_its_outputs_as_source_data(
    tmp_path: Path,
) -> None:
    async with serve(resources(), tmp_path) as server:
        run_id = await fire(server, labels={"pod": "db-0"})
        await server.settle()
        delivery = await delivery_of(server, run_id, "escalate")
        child_id = delivery["response"]["runId"]
        child = await run_detail(server, child_id)
        parent = await run_detail(server, run_id)
        out = server.sink_output()

    assert delivery["status"] == "delivered"
    assert delivery["response"] == {"runId": child_id, "workflow": "escalation", "created": True}
    assert child["parent_run_id"] == run_id
    assert child["workflow_name"] == "escalation"
    assert child["status"] == "succeeded"
    data = child["source_context"]["data"]
    assert data["root_cause"] == "disk full on db-0"
    assert data["outputs"] == {"severity": "critical", "root_cause": "disk full on db-0"}
    assert data["parent"]["runId"] == run_id
    assert data["alert"]["alertname"] == "PodCrashLooping"
    assert child["outputs"] == {"said": "paging for disk full on db-0 (parent triage)"}
    # The child's own sinks belong to the parent's incident: same correlation key.
    [child_delivery] = child["deliveries"]
    incident = parent["source_context"]["incident"]["id"]
    assert (
        child_delivery["correlation_key"] == delivery["correlation_key"] == f"incident:{incident}"
    )
    assert json.loads(out)["workflow"]["name"] == "escalation"


async def test_the_condition_false_skips_without_starting_anything(tmp_path: Path) -> None:
    async with serve(resources(), tmp_path) as server:
        run_id = await fire(server, severity="warning")
        delivery = await delivery_of(server, run_id, "escalate")
        all_runs = await runs(server)
    assert delivery["status"] == "skipped"
    assert delivery["error"] == "triggerCondition is false"
    assert len(all_runs) == 1


async def test_a_go_template_condition_works_too(tmp_path: Path) -> None:
    template = '\'{{ and (eq .workflow.outputs.severity "critical") (ne .source.data.alert.labels.pod "test") }}\''
    async with serve(resources(trigger=template), tmp_path) as server:
        critical = await fire(server, fingerprint="fp-1", labels={"pod": "db-0"})
        test_pod = await fire(server, fingerprint="fp-2", labels={"pod": "test"})
        started = await delivery_of(server, critical, "escalate")
        skipped = await delivery_of(server, test_pod, "escalate")
    assert started["status"] == "delivered"
    assert skipped["status"] == "skipped"


async def test_a_chain_that_would_loop_is_refused(tmp_path: Path) -> None:
    setup = resources(trigger="\"severity == 'critical'\"", escalation_sinks="out, back-to-triage")
    async with serve(setup, tmp_path) as server:
        run_id = await fire(server)
        await server.settle()
        child_id = (await delivery_of(server, run_id, "escalate"))["response"]["runId"]
        back = await delivery_of(server, child_id, "back-to-triage")
        all_runs = await runs(server)
    assert back["status"] == "failed"
    assert back["attempts"] == 1
    assert back["error"] == (
        "refused to start workflow 'triage': it would loop (triage → escalation → triage)"
    )
    assert sorted(str(r["workflow_name"]) for r in all_runs) == ["escalation", "triage"]


async def test_re_sending_finds_the_child_it_already_started(tmp_path: Path) -> None:
    async with serve(resources(), tmp_path) as server:
        run_id = await fire(server)
        await server.settle()
        delivery = await delivery_of(server, run_id, "escalate")
        retried = await server.client.post(f"/api/v1/deliveries/{delivery['id']}/retry")
        await server.settle()
        all_runs = await runs(server)
    assert retried.json()["response"] == {
        "runId": delivery["response"]["runId"],
        "workflow": "escalation",
        "created": False,
    }
    assert len(all_runs) == 2
