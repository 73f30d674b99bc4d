"""What small local models get wrong, and how the agent answers each, visible in the audit trail.

A 1.5B model repeats calls, invents tool names and arguments, and returns final answers
that do not validate. Each case is scripted on the fake OpenAI-compatible server (the same
wire format llama-server speaks) and checked twice: what the model was told next, and what
``GET /api/v1/runs/{id}`` shows in the run's audit trail.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from punching_fist.agent.result import AgentResult
from punching_fist.agent.toolset import REPEAT_NOTE
from tests.agent.kit import kubectl_stand_in, post_alert, run_detail, server_settings, workflow_yaml
from tests.support.fake_llm import FakeLLM, Script, call, final, kubectl
from tests.support.server import resources_from_yaml, running_server


async def run_script(
    tmp_path: Path, sqlite_url: str, script: Script
) -> tuple[dict[str, Any], FakeLLM, list[list[str]]]:
    """One alert through a one-agent-step workflow; (run detail, fake LLM, kubectl argvs)."""
    stand_in = kubectl_stand_in(tmp_path, [("get pods", "web-1   0/1   CrashLoopBackOff\n", 0)])
    with FakeLLM(script) as llm:
        resources = resources_from_yaml(workflow_yaml(llm.url))
        async with running_server(resources, sqlite_url, **server_settings(stand_in)) as server:
            run_id = await post_alert(server)
            await server.settle()
            detail = await run_detail(server.client, run_id)
    return detail, llm, stand_in.invocations()


def rows(detail: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [event for event in detail["audit"] if event["kind"] == kind]


def result_of(detail: dict[str, Any]) -> AgentResult:
    agent_step = next(s for s in detail["steps"] if s["name"] == "investigate")
    return AgentResult.model_validate(agent_step["result"])


async def test_a_repeated_identical_call_gets_a_note_instead_of_running_again(
    tmp_path: Path, sqlite_url: str
) -> None:
    script = Script(
        [kubectl("get pods -n shop"), kubectl("get pods -n shop"), final(summary="done")]
    )
    detail, llm, ran = await run_script(tmp_path, sqlite_url, script)

    assert ran == [["get", "pods", "-n", "shop"]]
    assert REPEAT_NOTE in llm.requests[2].text()
    first, repeat = rows(detail, "tool")
    assert first["exit_code"] == 0
    assert repeat["arguments"]["verdict"] == "repeat"
    assert repeat["output"] == REPEAT_NOTE
    assert result_of(detail).summary == "done"


async def test_an_unknown_tool_gets_a_corrective_message(tmp_path: Path, sqlite_url: str) -> None:
    script = Script([call("get_pod_logs", pod="web-1"), final(summary="recovered")])
    detail, llm, ran = await run_script(tmp_path, sqlite_url, script)

    assert ran == []
    told = llm.requests[1].text()
    assert "Unknown tool name: 'get_pod_logs'" in told
    assert "kubectl" in told  # the correction names the tools that exist
    (correction,) = rows(detail, "correction")
    assert correction["name"] == "get_pod_logs"
    assert "Unknown tool name" in correction["output"]
    assert result_of(detail).summary == "recovered"


async def test_arguments_that_do_not_exist_get_a_corrective_message(
    tmp_path: Path, sqlite_url: str
) -> None:
    script = Script(
        [call("kubectl", cmd="get pods -n shop"), kubectl("get pods -n shop"), final(summary="ok")]
    )
    detail, llm, ran = await run_script(tmp_path, sqlite_url, script)

    assert ran == [["get", "pods", "-n", "shop"]]  # only the corrected call ran
    assert "command" in llm.requests[1].text()
    (correction,) = rows(detail, "correction")
    assert correction["name"] == "kubectl"
    assert "command" in correction["output"]
    assert [row["arguments"]["command"] for row in rows(detail, "tool")] == ["get pods -n shop"]


async def test_an_invalid_final_answer_is_retried_once(tmp_path: Path, sqlite_url: str) -> None:
    script = Script(
        [
            final(summary="memory", confidence=7),
            final(summary="OOM", root_cause="OOMKilled", confidence=0.8),
        ]
    )
    detail, llm, _ = await run_script(tmp_path, sqlite_url, script)

    assert "less than or equal to 1" in llm.requests[1].text()
    (correction,) = rows(detail, "correction")
    assert correction["name"] == "final_answer"
    result = result_of(detail)
    assert result.error_message is None
    assert (result.summary, result.confidence) == ("OOM", 0.8)


async def test_a_second_invalid_final_answer_ends_with_a_partial_result(
    tmp_path: Path, sqlite_url: str
) -> None:
    script = Script(
        [
            kubectl("get pods -n shop"),
            final(summary="memory", confidence=7),
            final(summary="memory", findings="not a list"),
            final(summary="never asked for"),
        ]
    )
    detail, llm, _ = await run_script(tmp_path, sqlite_url, script)

    assert len(llm.requests) == 3  # one retry, no more
    assert len(rows(detail, "llm")) == 3
    assert [c["name"] for c in rows(detail, "correction")] == ["final_answer"]
    result = result_of(detail)
    assert result.error_message is not None
    assert "could not be used" in result.error_message
    assert result.can_auto_fix is False
    assert any("CrashLoopBackOff" in finding for finding in result.findings)
    assert detail["status"] == "succeeded"  # the partial result still reached the sink
