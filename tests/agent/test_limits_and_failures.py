"""Investigations that cannot finish still end with a (partial) AgentResult and reach sinks.

Limits (maxIterations, token budget, timeout), an unreachable or failing LLM, and answers
the runtime cannot use all end the step with a result whose ``error_message`` says what
happened; provider errors are retried per ``rigConfig.retryPolicy`` first.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from punching_fist.agent.toolset import REPEAT_NOTE
from punching_fist.secret_refs import EnvResolver, SecretResolver
from tests.agent.kit import (
    kubectl_stand_in,
    post_alert,
    run_detail,
    server_settings,
    step,
    workflow_yaml,
)
from tests.support.fake_llm import (
    FakeLLM,
    Script,
    ToolCall,
    Turn,
    call,
    fail,
    final,
    kubectl,
    say,
)
from tests.support.server import free_port, resources_from_yaml, running_server

FAST_RETRY = "      rigConfig:\n        retryPolicy: {maxAttempts: 3, initialDelaySeconds: 0.01}"


async def investigate(
    sqlite_url: str,
    tmp_path: Path,
    script: Script | None,
    *,
    endpoint: str | None = None,
    responses: list[tuple[str, str, int]] | None = None,
    delay: float = 0.0,
    **workflow: Any,
) -> tuple[dict[str, Any], str, FakeLLM | None]:
    """Run one alert through a one-agent-step workflow; (run detail, sink output, fake)."""
    stand_in = kubectl_stand_in(
        tmp_path, responses or [("get pods", "web-1 CrashLoopBackOff\n", 0)]
    )
    if script is None:
        assert endpoint is not None
        resources = resources_from_yaml(workflow_yaml(endpoint, **workflow))
        async with running_server(resources, sqlite_url, **server_settings(stand_in)) as server:
            run_id = await post_alert(server)
            await server.settle()
            return await run_detail(server.client, run_id), server.sink_output(), None
    with FakeLLM(script, delay=delay) as llm:
        resources = resources_from_yaml(workflow_yaml(llm.url, **workflow))
        async with running_server(resources, sqlite_url, **server_settings(stand_in)) as server:
            run_id = await post_alert(server)
            await server.settle()
            return await run_detail(server.client, run_id), server.sink_output(), llm


def assert_partial(detail: dict[str, Any], sink_output: str, reason: str) -> dict[str, Any]:
    assert detail["status"] == "succeeded"
    result: dict[str, Any] = step(detail)["result"]
    assert step(detail)["status"] == "succeeded"
    assert reason in result["error_message"]
    assert result["summary"].startswith("Automated investigation incomplete")
    assert result["can_auto_fix"] is False
    assert result["confidence"] == 0.0
    assert "Investigate manually" in result["escalation_notes"]
    # The workflow still delivered, with the escalation context.
    assert "Investigate manually" in sink_output
    return result


async def test_max_iterations_ends_with_partial_result_listing_what_was_seen(
    sqlite_url: str, tmp_path: Path
) -> None:
    script = Script([kubectl(f"get pods -n shop-{i}") for i in range(5)])
    detail, out, llm = await investigate(sqlite_url, tmp_path, script, max_iterations=3)
    result = assert_partial(detail, out, "maxIterations (3)")
    assert llm is not None
    assert len(llm.requests) == 3
    assert any("get pods -n shop-0" in f and "CrashLoopBackOff" in f for f in result["findings"])
    # On the last turn only the final answer is offered, and the model is told so.
    last = llm.requests[-1]
    assert last.tool_names == ["final_answer"]
    assert "last turn" in last.text()
    assert llm.requests[0].tool_names == ["kubectl", "final_answer"]


async def test_token_budget_ends_with_partial_result(sqlite_url: str, tmp_path: Path) -> None:
    script = Script(
        [kubectl("get pods -n shop"), kubectl("get events -n shop"), final(summary="x")]
    )
    detail, out, llm = await investigate(
        sqlite_url,
        tmp_path,
        script,
        step_extra="      rigConfig: {tokenBudget: 400}",
    )
    assert_partial(detail, out, "token budget (400 tokens)")
    assert llm is not None
    assert len(llm.requests) == 1


async def test_timeout_ends_with_partial_result(sqlite_url: str, tmp_path: Path) -> None:
    script = Script([kubectl("get pods -n shop"), final(summary="too late")])
    detail, out, _ = await investigate(
        sqlite_url, tmp_path, script, delay=2.0, timeout_minutes=0.015
    )
    assert_partial(detail, out, "timed out after timeoutMinutes (0.015)")


async def test_unreachable_llm_is_retried_then_the_alert_still_reaches_sinks(
    sqlite_url: str, tmp_path: Path
) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    detail, out, _ = await investigate(
        sqlite_url, tmp_path, None, endpoint=closed, step_extra=FAST_RETRY
    )
    assert_partial(detail, out, "the LLM could not be reached")
    failures = [e for e in detail["audit"] if e["kind"] == "llm"]
    assert len(failures) == 3  # maxAttempts
    assert all("request failed" in e["output"] for e in failures)
    assert "Investigate PodCrashLooping in shop" in json.dumps(step(detail)["result"])


async def test_rate_limits_and_server_errors_are_retried_per_policy(
    sqlite_url: str, tmp_path: Path
) -> None:
    script = Script(
        [kubectl("get pods -n shop"), final(summary="recovered after retries", confidence=0.8)],
        failures={0: fail(429, times=2, retry_after=0), 1: fail(500)},
    )
    detail, _, llm = await investigate(sqlite_url, tmp_path, script, step_extra=FAST_RETRY)
    assert llm is not None
    assert [r.status for r in llm.requests] == [429, 429, 200, 500, 200]
    assert step(detail)["result"]["summary"] == "recovered after retries"
    assert step(detail)["result"]["error_message"] is None
    codes = [e["exit_code"] for e in detail["audit"] if e["kind"] == "llm"]
    assert codes == [429, 429, None, 500, None]


async def test_retries_stop_after_max_attempts(sqlite_url: str, tmp_path: Path) -> None:
    script = Script([final(summary="never")], failures={0: fail(503, times=10)})
    detail, out, llm = await investigate(
        sqlite_url,
        tmp_path,
        script,
        step_extra="      rigConfig:\n        retryPolicy: {maxAttempts: 2, initialDelaySeconds: 0}",
    )
    assert_partial(detail, out, "the LLM could not be reached or kept failing")
    assert llm is not None
    assert len(llm.requests) == 2


async def test_non_retryable_errors_are_not_retried(sqlite_url: str, tmp_path: Path) -> None:
    script = Script([final(summary="never")], failures={0: fail(401, times=10)})
    detail, out, llm = await investigate(sqlite_url, tmp_path, script, step_extra=FAST_RETRY)
    assert_partial(detail, out, "kept failing")
    assert llm is not None
    assert len(llm.requests) == 1


async def test_invalid_final_answer_is_retried_once_then_partial(
    sqlite_url: str, tmp_path: Path
) -> None:
    script = Script([final(summary="sure", confidence=7), final(summary="sure", confidence=9)])
    detail, out, llm = await investigate(sqlite_url, tmp_path, script)
    assert_partial(detail, out, "the model's answer could not be used")
    assert llm is not None
    assert len(llm.requests) == 2
    assert "less than or equal to 1" in llm.requests[1].text()


async def test_unknown_tool_and_bad_arguments_get_corrective_messages(
    sqlite_url: str, tmp_path: Path
) -> None:
    script = Script(
        [
            call("kubectl_exec", command="get pods"),
            call("kubectl", cmd="get pods"),
            final(summary="corrected itself"),
        ]
    )
    detail, _, llm = await investigate(sqlite_url, tmp_path, script)
    assert step(detail)["result"]["summary"] == "corrected itself"
    assert llm is not None
    assert "Unknown tool name: 'kubectl_exec'" in llm.requests[1].text()
    assert "command" in llm.requests[2].text()
    assert "Field required" in llm.requests[2].text() or "missing" in llm.requests[2].text()


async def test_broken_json_arguments_get_a_corrective_message(
    sqlite_url: str, tmp_path: Path
) -> None:
    broken = Turn(tool_calls=(ToolCall("kubectl", {}),), raw_arguments='{"command": "get pods')
    script = Script([broken, kubectl("get pods -n shop"), final(summary="second try worked")])
    detail, _, llm = await investigate(sqlite_url, tmp_path, script)
    assert step(detail)["result"]["summary"] == "second try worked"
    assert llm is not None
    assert "Invalid JSON" in llm.requests[1].text() or "EOF" in llm.requests[1].text()
    assert (tmp_path / "bin" / "invocations.jsonl").read_text().count("\n") == 1


async def test_an_identical_repeated_call_is_answered_with_a_note_not_rerun(
    sqlite_url: str, tmp_path: Path
) -> None:
    stand_in_script = Script(
        [kubectl("get pods -n shop"), kubectl("get pods -n shop"), final(summary="done")]
    )
    detail, _, llm = await investigate(sqlite_url, tmp_path, stand_in_script)
    invocations = json.loads(
        "[" + ",".join((tmp_path / "bin" / "invocations.jsonl").read_text().splitlines()) + "]"
    )
    assert invocations == [["get", "pods", "-n", "shop"]]
    assert llm is not None
    assert REPEAT_NOTE in llm.requests[2].text()
    assert step(detail)["result"]["summary"] == "done"


async def test_plain_text_instead_of_a_final_answer_becomes_a_partial_result(
    sqlite_url: str, tmp_path: Path
) -> None:
    script = Script([say("Probably memory pressure."), say("Memory pressure, I think.")])
    detail, out, _ = await investigate(sqlite_url, tmp_path, script)
    result = assert_partial(detail, out, "could not be used")
    assert "Memory pressure, I think." in result["summary"]


async def test_huge_tool_output_is_capped_head_and_tail(sqlite_url: str, tmp_path: Path) -> None:
    huge = "HEAD-LINE\n" + "".join(f"pod-{i} Running\n" for i in range(20_000)) + "TAIL-LINE\n"
    script = Script([kubectl("get pods -A"), final(summary="ok")])
    _, _, llm = await investigate(sqlite_url, tmp_path, script, responses=[("get pods", huge, 0)])
    assert llm is not None
    tool_message = next(m for m in llm.requests[1].body["messages"] if m["role"] == "tool")[
        "content"
    ]
    assert len(tool_message) <= 8_200
    assert "HEAD-LINE" in tool_message
    assert "TAIL-LINE" in tool_message
    assert "cut from the middle" in tool_message


async def test_a_configuration_error_fails_the_step_but_not_the_run(
    sqlite_url: str, tmp_path: Path
) -> None:
    stand_in = kubectl_stand_in(tmp_path)
    text = workflow_yaml("x", provider="openai").replace('      endpoint: "x"\n', "")
    no_keys = SecretResolver({"env": EnvResolver({})})
    async with running_server(
        resources_from_yaml(text), sqlite_url, secrets=no_keys, **server_settings(stand_in)
    ) as server:
        run_id = await post_alert(server)
        await server.settle()
        detail = await run_detail(server.client, run_id)
        out = server.sink_output()
    assert step(detail)["status"] == "failed"
    assert "needs an API key: set OPENAI_API_KEY" in step(detail)["error"]
    assert "needs an API key" in step(detail)["result"]["error_message"]
    assert detail["status"] == "failed"
    assert "Investigate manually" in out
