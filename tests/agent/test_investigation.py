"""An agent step end to end: alert in, tool calls against a kubectl stand-in, AgentResult out.

The LLM is a local HTTP server speaking the real OpenAI (or Anthropic) wire protocol; the
server under test is the real one, on loopback.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from punching_fist.secret_refs import EnvResolver, SecretResolver
from tests.agent.kit import (
    kubectl_stand_in,
    post_alert,
    run_detail,
    server_settings,
    step,
    workflow_yaml,
)
from tests.support.fake_llm import FakeLLM, Script, final, kubectl
from tests.support.payloads import alert, notification
from tests.support.server import resources_from_yaml, running_server

CRASHLOOP = Script(
    [
        kubectl("get pods -n shop"),
        kubectl("describe pod web-1 -n shop"),
        final(
            summary="web-1 is OOMKilled: its 256Mi limit is too low",
            problem_summary="web-1 restarts with exit code 137",
            root_cause="memory limit too low for the new version",
            findings=["Last State: OOMKilled", "Restart Count: 12"],
            recommendations=["raise the memory limit to 512Mi"],
            can_auto_fix=True,
            fix_command="kubectl set resources deployment/web -n shop --limits=memory=512Mi",
            confidence=0.9,
            escalation_notes="web restarts every few minutes",
        ),
    ]
)

RESPONSES = [
    (
        "get pods",
        "NAME    READY   STATUS             RESTARTS\nweb-1   0/1     CrashLoopBackOff   12\n",
        0,
    ),
    (
        "describe pod",
        "Name: web-1\nLast State: Terminated\n  Reason: OOMKilled\n  Exit Code: 137\n",
        0,
    ),
]


async def test_investigation_ends_with_the_models_agent_result(
    sqlite_url: str, tmp_path: Path
) -> None:
    stand_in = kubectl_stand_in(tmp_path, RESPONSES)
    with FakeLLM(CRASHLOOP) as llm:
        resources = resources_from_yaml(workflow_yaml(llm.url))
        async with running_server(resources, sqlite_url, **server_settings(stand_in)) as server:
            run_id = await post_alert(server)
            await server.settle()
            detail = await run_detail(server.client, run_id)

    assert detail["status"] == "succeeded"
    result = step(detail)["result"]
    assert step(detail)["status"] == "succeeded"
    assert result["summary"] == "web-1 is OOMKilled: its 256Mi limit is too low"
    assert result["can_auto_fix"] is True
    assert result["confidence"] == 0.9
    assert result["error_message"] is None
    assert set(result) == {
        "summary", "problem_summary", "root_cause", "findings", "recommendations",
        "actions_taken", "can_auto_fix", "fix_command", "confidence", "escalation_notes",
        "error_message", "inconclusive", "similar_incidents", "pastCauseHeld",
    }  # fmt: skip
    assert detail["outputs"]["summary"] == result["summary"]
    assert stand_in.invocations() == [
        ["get", "pods", "-n", "shop"],
        ["describe", "pod", "web-1", "-n", "shop"],
    ]
    # The model saw the real tool output in its next request.
    assert "CrashLoopBackOff" in llm.requests[1].text()
    assert "OOMKilled" in llm.requests[2].text()
    # The audit trail holds every LLM request and every tool call.
    kinds = [(e["kind"], e["name"]) for e in detail["audit"]]
    assert kinds.count(("llm", "test-model")) == 3
    tool_events = [e for e in detail["audit"] if e["kind"] == "tool"]
    assert [e["arguments"]["command"] for e in tool_events] == [
        "get pods -n shop",
        "describe pod web-1 -n shop",
    ]
    assert tool_events[0]["exit_code"] == 0
    assert "CrashLoopBackOff" in tool_events[0]["output"]
    assert all(e["duration_ms"] is not None for e in detail["audit"])
    llm_usage = [e["usage"] for e in detail["audit"] if e["kind"] == "llm"]
    assert all(u["input_tokens"] > 0 for u in llm_usage)
    # The sink received the result.
    delivered = json.loads(server.sink_output().strip().splitlines()[-1])
    assert "OOMKilled" in json.dumps(delivered)


async def test_system_prompt_names_only_the_tools_that_are_loaded(
    sqlite_url: str, tmp_path: Path
) -> None:
    stand_in = kubectl_stand_in(tmp_path, RESPONSES)
    with FakeLLM(Script([final(summary="nothing wrong")])) as llm:
        resources = resources_from_yaml(workflow_yaml(llm.url))
        async with running_server(resources, sqlite_url, **server_settings(stand_in)) as server:
            await post_alert(server)
            await server.settle()
    request = llm.requests[0]
    system = next(m["content"] for m in request.body["messages"] if m["role"] == "system")
    assert request.tool_names == ["kubectl", "final_answer"]
    assert "kubectl" in system
    for absent in ("promql", "curl", "debug-pod", "logs_tool"):
        assert absent not in system


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
async def test_openai_wire_protocol_streamed_and_not(
    sqlite_url: str, tmp_path: Path, stream: bool
) -> None:
    stand_in = kubectl_stand_in(tmp_path, RESPONSES)
    with FakeLLM(CRASHLOOP) as llm:
        resources = resources_from_yaml(workflow_yaml(llm.url))
        settings = server_settings(stand_in, agent_stream=stream)
        async with running_server(resources, sqlite_url, **settings) as server:
            run_id = await post_alert(server)
            await server.settle()
            detail = await run_detail(server.client, run_id)
    assert all(bool(r.body.get("stream")) is stream for r in llm.requests)
    assert step(detail)["result"]["fix_command"].startswith("kubectl set resources")
    assert stand_in.ran("describe pod web-1")
    usage = [e["usage"] for e in detail["audit"] if e["kind"] == "llm"]
    assert len(usage) == 3
    assert all(u["input_tokens"] > 0 for u in usage)


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
async def test_anthropic_messages_api_with_key_from_a_secret_reference(
    sqlite_url: str, tmp_path: Path, stream: bool
) -> None:
    key = "sk-ant-test-0123456789"
    stand_in = kubectl_stand_in(
        tmp_path, [("get pods", f"web-1 Running\nleaked token: {key}\n", 0)]
    )
    secrets = SecretResolver({"env": EnvResolver({"PF_TEST_ANTHROPIC": key})})
    script = Script([kubectl("get pods -n shop"), final(summary="all running", confidence=0.7)])
    with FakeLLM(script) as llm:
        resources = resources_from_yaml(
            workflow_yaml(llm.root, provider="claude", api_key="env://PF_TEST_ANTHROPIC")
        )
        settings = server_settings(stand_in, agent_stream=stream)
        async with running_server(resources, sqlite_url, secrets=secrets, **settings) as server:
            run_id = await post_alert(server)
            await server.settle()
            detail = await run_detail(server.client, run_id)
    assert [r.path for r in llm.requests] == ["/v1/messages", "/v1/messages"]
    headers = llm.requests[0].headers
    assert headers.get("x-api-key") == key or headers.get("authorization") == f"Bearer {key}"
    assert bool(llm.requests[0].body.get("stream")) is stream
    assert [t["name"] for t in llm.requests[0].body["tools"]] == ["kubectl", "final_answer"]
    assert step(detail)["result"]["summary"] == "all running"
    # The key a tool printed was redacted before the model and the audit trail saw it.
    assert "web-1 Running" in llm.requests[1].text()
    assert key not in llm.requests[1].text()
    assert key not in json.dumps(detail["audit"])
    assert "[redacted]" in json.dumps(detail["audit"])


async def test_a_servers_investigations_share_one_kubectl_cache_removed_at_stop(
    sqlite_url: str, tmp_path: Path
) -> None:
    stand_in = kubectl_stand_in(tmp_path)
    script = stand_in.directory / "kubectl"
    script.write_text('#!/bin/sh\necho "cache=$KUBECACHEDIR"\n')
    with FakeLLM(Script([kubectl("get pods -n shop"), final(summary="ok")])) as llm:
        resources = resources_from_yaml(workflow_yaml(llm.url))
        async with running_server(resources, sqlite_url, **server_settings(stand_in)) as server:
            runs = []
            for fingerprint in ("fp-1", "fp-2"):
                payload = notification(alert("PodCrashLooping", fingerprint=fingerprint))
                response = await server.post_alert("/hook", payload)
                runs.append(response.json()["alerts"][0]["runId"])
            await server.settle()
            details = [await run_detail(server.client, run_id) for run_id in runs]
    caches = {
        event["output"].strip()
        for detail in details
        for event in detail["audit"]
        if event["kind"] == "tool"
    }
    (cache,) = caches
    assert cache.startswith("cache=/")
    assert not Path(cache.removeprefix("cache=")).exists()
