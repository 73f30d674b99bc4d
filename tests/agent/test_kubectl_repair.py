"""Small-model slips in read commands: repaired, or answered with kubectl's error and a hint.

The stand-in kubectl records what really ran, so "repaired" is an observation of the argv
the binary got, and "never sent to a person" is a step that never waits.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from punching_fist.agent.tools.kubectl_policy import classify_kubectl
from punching_fist.agent.tools.kubectl_repair import repair
from tests.agent.kit import (
    kubectl_stand_in,
    post_alert,
    run_detail,
    server_settings,
    step,
    workflow_yaml,
)
from tests.support.fake_llm import FakeLLM, Script, final, kubectl
from tests.support.server import resources_from_yaml, running_server


@pytest.mark.parametrize(
    ("command", "fixed"),
    [
        ("describe pod shop/web-0", "describe pod web-0 -n shop"),
        ("kubectl describe pods shop/web-0 -n shop", "describe pods web-0 -n shop"),
        ("get pod shop/web-0 -o wide", "get pod web-0 -o wide -n shop"),
        ("logs shop/web-0 --previous", "logs web-0 --previous -n shop"),
        ("logs --namespace=shop shop/web-0", "logs --namespace=shop web-0"),
    ],
)
def test_a_namespace_name_reference_is_rewritten(command: str, fixed: str) -> None:
    repaired = repair(command)
    assert repaired is not None
    assert repaired.command == fixed
    assert "-n" in repaired.note


@pytest.mark.parametrize(
    "command",
    [
        "describe pod/web-0 -n shop",  # TYPE/NAME is kubectl's own form
        "logs deployment/web -n shop",
        "logs pod/web-0",
        "get pods -n shop",
        "describe pod shop/web-0 -n other",  # two namespaces: kubectl's error speaks
        "delete pod shop/web-0",  # only reads are repaired
        "describe pod Shop/Web_0",  # not Kubernetes names
    ],
)
def test_everything_else_is_left_as_written(command: str) -> None:
    assert repair(command) is None


def test_an_unknown_flag_on_a_read_is_refused_with_a_hint_not_sent_for_approval() -> None:
    decision = classify_kubectl("get pod web-0 -n default --events")
    assert decision.kind == "refuse"
    assert "unknown flag: --events" in decision.reason
    assert "get events -n NAMESPACE" in decision.reason
    # Writes with unknown flags still go to a person (in a step that allows approvals).
    assert classify_kubectl("delete pod web-0 --bogus").kind == "approval"


async def test_slips_are_repaired_or_explained_and_the_step_never_waits(
    sqlite_url: str, tmp_path: Path
) -> None:
    describe = ("describe pod web-0 -n shop", "Name: web-0\n  Reason: OOMKilled\n", 0)
    stand_in = kubectl_stand_in(tmp_path, [describe])
    script = Script(
        [
            kubectl("describe pod shop/web-0"),
            kubectl("get pod web-0 -n shop --events"),
            final(findings=["OOMKilled"], root_cause="OOMKilled", summary="s", inconclusive=False),
        ]
    )
    with FakeLLM(script) as llm:
        # approvalRequired: even a step that may pause never sends these to a person.
        text = workflow_yaml(llm.url, step_extra="      approvalRequired: true")
        async with running_server(
            resources_from_yaml(text), sqlite_url, **server_settings(stand_in)
        ) as server:
            run_id = await post_alert(server, pod="web-0")
            await server.settle()
            detail = await run_detail(server.client, run_id)
    assert stand_in.invocations() == [["describe", "pod", "web-0", "-n", "shop"]]
    assert step(detail)["status"] == "succeeded"
    second = llm.requests[1].text()
    assert "OOMKilled" in second
    assert "kubectl takes the namespace from -n" in second
    assert "unknown flag: --events" in llm.requests[2].text()
