"""The real bundled model investigates the quick start's OOM crash loop, end to end.

An Alertmanager notification (``examples/quickstart/sample-alert.json``) is POSTed to a
running server that serves ``examples/quickstart`` unchanged; its agent step uses
``provider: local`` with no endpoint, so the server starts llama-server with the bundled
Qwen2.5-Coder 1.5B on first use. kubectl is answered by the quick start's stand-in
executable (recorded ``describe pod``: OOMKilled, exit 137, limit 512Mi; recorded
``logs --previous``: java.lang.OutOfMemoryError). Prose varies between builds, so the test
asserts structure: a valid AgentResult, a root cause about memory, evidence from the tools,
limits respected, the stdout sink printing it, and llama-server gone after shutdown.

Never skipped for want of a model: a cache without one is filled by the installer first.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from punching_fist.agent.result import AgentResult
from punching_fist.cli import load_resources
from punching_fist.local_model.cache import LocalModelPaths
from punching_fist.local_model.installer import install
from punching_fist.resources.workflow import AgentStep
from tests.support.server import running_server

pytestmark = [pytest.mark.llm, pytest.mark.timeout(1800)]

ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = ROOT / "examples" / "quickstart"
MEMORY = re.compile(r"memory|\bOOM|heap", re.IGNORECASE)  # "Java heap space" is the OOM


def quickstart_settings() -> dict[str, Any]:
    """What ``make run`` passes to ``serve``: kubectl answered from recorded output."""
    return {
        "tool_path": f"{QUICKSTART / 'bin'}:/usr/local/bin:/usr/bin:/bin",
        "kubeconfig": str(QUICKSTART / "recorded" / "kubeconfig"),
    }


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()[0] != "Z"


async def test_bundled_model_finds_the_oom_kill_behind_the_crash_loop(sqlite_url: str) -> None:
    status = await install(LocalModelPaths.from_settings())  # a no-op on a warm cache
    assert status.ready, status
    resources = load_resources(QUICKSTART)
    (agent_step,) = [s for s in resources.workflows["pod-triage"].spec.steps if s.type == "agent"]
    assert isinstance(agent_step, AgentStep)
    notification = json.loads((QUICKSTART / "sample-alert.json").read_text())

    async with running_server(resources, sqlite_url, **quickstart_settings()) as server:
        assert server.service.local_model.supervisor is None  # nothing before first use
        response = await server.post_alert("/webhook/alerts", notification)
        assert response.status_code == 202, response.text
        run_id = response.json()["alerts"][0]["runId"]
        await server.settle(timeout=600)
        detail = (await server.client.get(f"/api/v1/runs/{run_id}")).json()
        supervisor = server.service.local_model.supervisor
        assert supervisor is not None
        pid = supervisor.pid
        out = server.sink_output()
    for event in detail["audit"]:  # shown by `pytest -s`: what the model did, and how fast
        print(event["kind"], event["duration_ms"], event["usage"], (event["output"] or "")[:120])
    print(out)

    # llama-server stopped with the service.
    assert pid is not None
    assert not alive(pid)

    step = next(s for s in detail["steps"] if s["name"] == "investigate")
    assert step["status"] == "succeeded", step
    result = AgentResult.model_validate(step["result"])
    assert result.error_message is None, result
    assert MEMORY.search(result.root_cause), result.root_cause
    assert 0 <= result.confidence <= 1

    audit = detail["audit"]
    llm_calls = [e for e in audit if e["kind"] == "llm"]
    tool_calls = [e for e in audit if e["kind"] == "tool"]
    assert 1 <= len(llm_calls) <= agent_step.max_iterations
    assert tool_calls, "the model concluded without looking"
    evidence = "\n".join(e["output"] or "" for e in tool_calls)
    assert re.search(r"OOMKilled|OutOfMemoryError", evidence), evidence

    assert detail["status"] == "succeeded"
    assert "Root cause: " + result.root_cause.splitlines()[0] in out
    assert "Workflow pod-triage finished (succeeded)" in out
