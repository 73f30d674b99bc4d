"""Memory through a served instance, the OpenAI-compatible stand-in and a kubectl stand-in.

A first alert's investigation finds a distinctive root cause; a second alert of the same
alertname and workload (another pod) sends that cause to the model in its first request and
lists it in ``similar_incidents``. A resolved-and-refired alert within the cache's TTL is
answered from the first investigation with no LLM request, unless its fresh evidence differs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.agent.kit import (
    KubectlStandIn,
    kubectl_stand_in,
    run_detail,
    server_settings,
    step,
    workflow_yaml,
)
from tests.support.fake_llm import FakeLLM, Script, final
from tests.support.payloads import alert, notification
from tests.support.server import RunningServer, resources_from_yaml, running_server

FIRST_POD = "checkout-7d9f8b6c5-x2x4q"
SECOND_POD = "checkout-7d9f8b6c5-m9zq2"
CAUSE = "checkout cannot reach redis-cache:6379: connection refused since the Service lost its endpoints"
LOG = "Error: dial tcp redis-cache:6379: connect: connection refused"


def responses(pod: str, log: str = LOG) -> list[tuple[str, str, int]]:
    describe = (
        f"Name: {pod}\nNamespace: shop\nState: Waiting\n  Reason: CrashLoopBackOff\n"
        "Last State: Terminated\n  Reason: Error\n  Exit Code: 1\nRestart Count: 7\n"
        f"Events:\n  Warning  BackOff  42s (x7 over 5m)  kubelet  Back-off restarting failed"
        f" container app in pod {pod}\n"
    )
    return [
        (f"describe pod {pod}", describe, 0),
        (f"logs {pod}", f"2026-12-07T10:00:0{len(pod) % 9}Z {log}\n", 0),
        ("get events", "No resources found in shop namespace.\n", 0),
    ]


def set_responses(stand_in: KubectlStandIn, rows: list[tuple[str, str, int]]) -> None:
    (stand_in.directory / "responses.json").write_text(json.dumps(rows))


SCRIPTS = [
    Script(
        [
            final(
                findings=[LOG],
                root_cause=CAUSE,
                summary="checkout crash-loops: redis-cache refuses connections",
                fix_command="kubectl rollout undo deployment/redis-cache -n shop",
                confidence=0.9,
            )
        ],
        match=FIRST_POD,
    ),
    Script(
        [
            final(
                findings=[LOG],
                root_cause="checkout cannot reach redis-cache:6379, connection refused: the"
                " Service has no endpoints",
                summary="the same redis-cache outage",
                confidence=0.8,
            )
        ],
        match=SECOND_POD,
    ),
]


async def fire(server: RunningServer, pod: str, *, status: str = "firing") -> str | None:
    payload = alert(
        "KubePodCrashLooping",
        status=status,
        fingerprint=f"fp-{pod}",
        labels={"pod": pod, "container": "app"},
    )
    response = await server.post_alert("/hook", notification(payload))
    assert response.status_code == 202, response.text
    await server.settle()
    run_id = response.json()["alerts"][0].get("runId")
    return str(run_id) if run_id else None


def memory_workflow(llm_url: str, step_extra: str = "") -> str:
    """Evidence on; every alert investigated (``perAlert``), not once per incident: by
    default the second pod's alert would join the first one's incident and its run would
    point at that investigation instead of starting one."""
    text = workflow_yaml(llm_url, evidence="auto", step_extra=step_extra)
    return text.replace("\n  steps:\n", "\n  investigate: perAlert\n  steps:\n", 1)


def first_user_message(request: Any) -> str:
    return str(next(m["content"] for m in request.body["messages"] if m["role"] == "user"))


async def test_a_second_pod_of_the_workload_is_told_the_first_ones_cause(
    sqlite_url: str, tmp_path: Path
) -> None:
    stand_in = kubectl_stand_in(tmp_path, responses(FIRST_POD) + responses(SECOND_POD))
    with FakeLLM(SCRIPTS) as llm:
        resources = resources_from_yaml(memory_workflow(llm.url))
        async with running_server(resources, sqlite_url, **server_settings(stand_in)) as server:
            first = await fire(server, FIRST_POD)
            second = await fire(server, SECOND_POD)
            assert first is not None
            assert second is not None
            first_result = step(await run_detail(server.client, first))["result"]
            second_result = step(await run_detail(server.client, second))["result"]
            listed = (await server.client.get("/api/v1/knowledge")).json()

    assert len(llm.requests) == 2
    assert first_result["root_cause"] == CAUSE
    assert first_result["similar_incidents"] == []
    assert first_result["pastCauseHeld"] is None
    assert CAUSE not in first_user_message(llm.requests[0])
    # The second investigation's very first request carries the first one's cause, as data.
    opening = first_user_message(llm.requests[1])
    assert "Similar past incidents (data" in opening
    assert CAUSE in opening
    assert opening.index("Similar past incidents") < opening.index("Evidence already gathered")
    [similar] = second_result["similar_incidents"]
    assert similar["rootCause"] == CAUSE
    assert similar["fix"] == "kubectl rollout undo deployment/redis-cache -n shop"
    assert similar["outcome"] == "diagnosed"
    assert similar["score"] == 1.0
    assert second_result["pastCauseHeld"] is True
    assert "cachedFrom" not in second_result
    assert listed["total"] == 2
    assert {e["workload"] for e in listed["items"]} == {"checkout"}
    assert {e["runId"] for e in listed["items"]} == {first, second}


async def test_a_refired_alert_reuses_the_result_unless_the_evidence_changed(
    sqlite_url: str, tmp_path: Path
) -> None:
    stand_in = kubectl_stand_in(tmp_path, responses(FIRST_POD))
    with FakeLLM(SCRIPTS) as llm:
        resources = resources_from_yaml(memory_workflow(llm.url))
        async with running_server(resources, sqlite_url, **server_settings(stand_in)) as server:
            first = await fire(server, FIRST_POD)
            assert len(llm.requests) == 1
            await fire(server, FIRST_POD, status="resolved")
            # Refired: the same failure, seen later (other ages, counts and timestamps).
            set_responses(
                stand_in,
                [
                    (cmd, out.replace("42s (x7 over 5m)", "3s (x9 over 8m)"), code)
                    for cmd, out, code in responses(FIRST_POD)
                ],
            )
            again = await fire(server, FIRST_POD)
            assert again is not None
            assert again != first
            reused = step(await run_detail(server.client, again))["result"]
            assert len(llm.requests) == 1  # no LLM request at all
            entries = (await server.client.get("/api/v1/knowledge")).json()

            await fire(server, FIRST_POD, status="resolved")
            set_responses(stand_in, responses(FIRST_POD, log="Error: disk quota exceeded"))
            third = await fire(server, FIRST_POD)
            assert third is not None
            fresh = step(await run_detail(server.client, third))["result"]
            metrics = (await server.client.get("/metrics")).text

    assert reused["cachedFrom"] == first
    assert reused["root_cause"] == CAUSE
    assert entries["total"] == 1
    assert entries["items"][0]["reused"] == 1
    # Other evidence: investigated again, with the first investigation as a similar one.
    assert len(llm.requests) == 2
    assert "cachedFrom" not in fresh
    assert fresh["similar_incidents"][0]["rootCause"] == CAUSE
    assert 'punchingfist_response_cache_total{result="reused"} 1.0' in metrics
    assert 'punchingfist_response_cache_total{result="evidence_changed"} 1.0' in metrics
    assert 'punchingfist_knowledge_entries_written_total{outcome="diagnosed"} 2.0' in metrics


async def test_feedback_on_the_incident_reaches_its_entry_and_the_next_prompt(
    sqlite_url: str, tmp_path: Path
) -> None:
    stand_in = kubectl_stand_in(tmp_path, responses(FIRST_POD) + responses(SECOND_POD))
    with FakeLLM(SCRIPTS) as llm:
        resources = resources_from_yaml(memory_workflow(llm.url))
        async with running_server(resources, sqlite_url, **server_settings(stand_in)) as server:
            await fire(server, FIRST_POD)
            [entry] = (await server.client.get("/api/v1/knowledge")).json()["items"]
            assert entry["incidentId"] is not None
            answer = await server.client.post(
                f"/api/v1/incidents/{entry['incidentId']}/feedback",
                json={
                    "rootCauseCorrect": False,
                    "resolution": "restarted the NetworkPolicy controller",
                    "notes": "redis was fine",
                },
            )
            assert answer.status_code == 201, answer.text
            changed = (await server.client.get(f"/api/v1/knowledge/{entry['id']}")).json()
            await fire(server, SECOND_POD)

    assert changed["correct"] == "no"
    assert changed["feedbackBy"] == "anonymous"  # the open API's caller
    assert changed["resolution"] == "restarted the NetworkPolicy controller"
    assert changed["notes"] == "redis was fine"
    opening = first_user_message(llm.requests[1])
    assert "[marked wrong by anonymous]" in opening
    assert "resolved by: restarted the NetworkPolicy controller" in opening


SECOND_STEP = """\
    - name: double-check
      type: agent
      goal: "Double-check the cause"
      tools: [kubectl]
      evidence: auto
"""


async def test_a_runs_later_step_neither_reuses_nor_recalls_its_earlier_one(
    sqlite_url: str, tmp_path: Path
) -> None:
    stand_in = kubectl_stand_in(tmp_path, responses(FIRST_POD))
    checked = Script([final(findings=[LOG], root_cause=CAUSE, summary="checked")], match="Double")
    with FakeLLM([checked, *SCRIPTS]) as llm:
        resources = resources_from_yaml(memory_workflow(llm.url, SECOND_STEP))
        async with running_server(resources, sqlite_url, **server_settings(stand_in)) as server:
            run_id = await fire(server, FIRST_POD)
            assert run_id is not None
            detail = await run_detail(server.client, run_id)
            entries = (await server.client.get("/api/v1/knowledge")).json()

    # Same signature, same evidence, within the TTL: still asked, as another step asks
    # another question; and a run's own earlier step is no past incident.
    assert len(llm.requests) == 2
    second = step(detail, "double-check")["result"]
    assert "cachedFrom" not in second
    assert second["similar_incidents"] == []
    assert "Similar past incidents" not in first_user_message(llm.requests[1])
    assert sorted(e["step"] for e in entries["items"]) == ["double-check", "investigate"]
