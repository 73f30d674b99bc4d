"""Agent runtime benchmarks: prompt overhead, engine overhead per iteration, concurrency.

Run: ``.venv/bin/python bench/agent_overhead.py`` (``--only prompt|engine|concurrency``;
``--uvloop`` runs on uvloop, as ``punching-fist serve`` does).

* **Fixed prompt overhead**: the design's investigation workflow
  (``examples/design/resources/02-...yaml``: kubectl, promql, curl, debug-pod) runs against
  the fake OpenAI-compatible LLM; the system prompt and tool schemas of its first request, as
  the LLM server received them, are counted in cl100k_base tokens (``bpe-openai``; without it
  the count is characters / 4, and the output says so). Target: at most 2,500.
* **Engine overhead per iteration**: an investigation of ``--iterations`` kubectl calls and
  a final answer, through the real server. Overhead = the step's wall time minus the time
  spent inside LLM requests and tool calls (both from the audit trail), per LLM request.
  The LLM answers instantly; kubectl is a ``/bin/sh`` stand-in. Target: under 5 ms.
* **Concurrency**: one investigation alone, then ``--concurrency`` at once (distinct
  alerts), against a fake LLM that answers after ``--delay`` seconds. Target: total time at
  most 1.5x the single one.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.fake_llm import (  # noqa: E402
    FakeLLM,
    Script,
    _cl100k,
    count_tokens,
    fake_llm_process,
    final,
    kubectl,
)
from tests.support.payloads import alert, notification  # noqa: E402
from tests.support.server import resources_from_yaml, running_server  # noqa: E402

DESIGN = ROOT / "examples/design/resources/02-workflow-agent-alert-investigation.yaml"

STAND_IN = '#!/bin/sh\necho "NAME READY STATUS RESTARTS"\necho "web-1 0/1 CrashLoopBackOff 7"\n'

RESOURCES = """
apiVersion: punchingfist.io/v1alpha1
kind: Source
metadata: {name: am}
spec:
  type: webhook
  config: {path: /hook}
  triggerWorkflow: WORKFLOW
---
apiVersion: punchingfist.io/v1alpha1
kind: Sink
metadata: {name: out}
spec:
  type: stdout
  config: {format: json}
---
"""

SINK = """
apiVersion: punchingfist.io/v1alpha1
kind: Sink
metadata: {{name: {name}}}
spec: {{type: stdout}}
---
"""

BENCH_WORKFLOW = """
apiVersion: punchingfist.io/v1alpha1
kind: Workflow
metadata: {name: bench}
spec:
  runtime:
    llmConfig: {provider: local, endpoint: "URL", model: bench}
  steps:
    - name: investigate
      type: agent
      goal: "Investigate {{ .source.data.alert.alertname }} ({{ .source.data.alert.fingerprint }})"
      tools: [kubectl]
      maxIterations: 40
  sinks: [out]
"""


def stand_in(directory: Path) -> dict[str, Any]:
    (directory / "kubectl").write_text(STAND_IN)
    (directory / "kubectl").chmod(0o755)
    (directory / "kubeconfig").write_text("apiVersion: v1\nkind: Config\n")
    return {
        "tool_path": f"{directory}:/usr/bin:/bin",
        "kubeconfig": str(directory / "kubeconfig"),
        "run_concurrency": 256,
    }


def investigation(iterations: int) -> Script:
    turns = [kubectl(f"get pods -n shop-{i}") for i in range(iterations)]
    return Script([*turns, final(summary="web-1 crash loops", confidence=0.8)])


async def post(server: Any, fingerprint: str) -> str:
    payload = notification(
        alert("PodCrashLooping", fingerprint=fingerprint, labels={"service": "web"})
    )
    response = await server.post_alert("/hook", payload)
    response.raise_for_status()
    run_id: str = response.json()["alerts"][0]["runId"]
    return run_id


async def prompt_overhead(workdir: Path) -> None:
    design = DESIGN.read_text()
    with FakeLLM(Script([final(summary="ok")])) as llm:
        text = RESOURCES.replace("WORKFLOW", "agent-alert-investigation")
        for name in (
            "slack-investigation-results",
            "alertmanager-annotation",
            "pagerduty-escalation",
        ):
            text += SINK.format(name=name)
        text += design.replace("http://llm-service:8080", llm.root)
        db = f"sqlite+aiosqlite:///{workdir / 'prompt.db'}"
        async with running_server(resources_from_yaml(text), db, **stand_in(workdir)) as server:
            await post(server, "prompt")
            await server.settle()
    body = llm.requests[0].body
    system = [m for m in body["messages"] if m["role"] == "system"]
    system_tokens = count_tokens(json.dumps(system))
    tool_tokens = count_tokens(json.dumps(body["tools"]))
    counter = (
        "cl100k_base (bpe-openai)" if _cl100k() is not None else "characters/4 (approximation)"
    )
    print(
        f"fixed prompt overhead per LLM call: {system_tokens + tool_tokens} tokens "
        f"(system prompt {system_tokens} + tool schemas {tool_tokens}; "
        f"{len(body['tools'])} tools: {', '.join(t['function']['name'] for t in body['tools'])}; "
        f"counted as {counter}; target <= 2500)"
    )


def _seconds(start: str, end: str) -> float:
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


async def engine_overhead(workdir: Path, iterations: int, repeats: int) -> None:
    per_iteration: list[float] = []
    with fake_llm_process(investigation(iterations)) as llm_url:
        text = RESOURCES.replace("WORKFLOW", "bench") + BENCH_WORKFLOW.replace("URL", llm_url)
        db = f"sqlite+aiosqlite:///{workdir / 'engine.db'}"
        async with running_server(resources_from_yaml(text), db, **stand_in(workdir)) as server:
            for n in range(repeats + 1):
                run_id = await post(server, f"engine-{n}")
                await server.settle(timeout=120)
                detail = (await server.client.get(f"/api/v1/runs/{run_id}")).json()
                step = detail["steps"][0]
                assert step["result"]["error_message"] is None, step["result"]
                wall_ms = _seconds(step["started_at"], step["completed_at"]) * 1000
                llm_events = [e for e in detail["audit"] if e["kind"] == "llm"]
                inside = sum(
                    e["duration_ms"] or 0 for e in detail["audit"] if e["kind"] in ("llm", "tool")
                )
                if n > 0:  # the first run warms caches (imports, connections, prepared statements)
                    per_iteration.append((wall_ms - inside) / len(llm_events))
    print(
        f"engine overhead per agent iteration (excluding LLM and tool time): "
        f"median {statistics.median(per_iteration):.2f} ms, max {max(per_iteration):.2f} ms "
        f"over {repeats} investigations of {iterations + 1} LLM requests each (target < 5 ms)"
    )


CLI_WORKFLOW = """
apiVersion: punchingfist.io/v1alpha1
kind: Workflow
metadata: {name: bench}
spec:
  steps:
    - {name: only, type: cli, command: "true"}
  sinks: [out]
"""


async def burst(server: Any, prefix: str, count: int) -> tuple[float, float, list[str]]:
    """Post ``count`` alerts at once; (wall seconds, this process's CPU seconds, run ids)."""
    cpu = time.process_time()
    started = time.perf_counter()
    run_ids = await asyncio.gather(*(post(server, f"{prefix}-{i}") for i in range(count)))
    await server.settle(timeout=600)
    return time.perf_counter() - started, time.process_time() - cpu, list(run_ids)


async def engine_in_process(workdir: Path, iterations: int, repeats: int) -> None:
    """Engine overhead without HTTP or processes: an instant in-process model and tool.

    Load on the machine inflates wall-clock figures; CPU time of this process per iteration
    is the steadier measure of what the runtime (pydantic-ai, our toolset, audit) costs.
    """
    from pydantic import BaseModel
    from pydantic_ai.messages import ModelMessage, ModelResponse, ToolCallPart
    from pydantic_ai.models.function import AgentInfo, FunctionModel
    from sqlalchemy import insert

    from punching_fist.agent.base import AgentRequest
    from punching_fist.agent.runtime import AgentRuntime, AgentRuntimeDeps
    from punching_fist.agent.tools.base import SafetyCheck, ToolContext, ToolOutput
    from punching_fist.resources.workflow import AgentStep
    from punching_fist.secret_refs import SecretResolver
    from punching_fist.store.approvals import ApprovalStore
    from punching_fist.store.audit import AuditLog
    from punching_fist.store.database import Database
    from punching_fist.store.tables import workflow_runs

    class Args(BaseModel):
        command: str

    class Instant:
        name = "kubectl"
        description = "Run kubectl."
        arguments: type[BaseModel] = Args
        read_only = True

        def check(self, arguments: BaseModel, context: ToolContext) -> SafetyCheck:
            return SafetyCheck(verdict="allow")

        async def call(self, arguments: BaseModel, context: ToolContext) -> ToolOutput:
            return ToolOutput(text="web-1 0/1 CrashLoopBackOff 7", exit_code=0)

    def answer(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        done = sum(1 for m in messages if isinstance(m, ModelResponse))
        if done < iterations:
            return ModelResponse(
                parts=[ToolCallPart("kubectl", {"command": f"get pods -n s{done}"})]
            )
        return ModelResponse(parts=[ToolCallPart("final_answer", {"summary": "done"})])

    resources = resources_from_yaml(
        RESOURCES.replace("WORKFLOW", "bench") + BENCH_WORKFLOW.replace("URL", "http://unused")
    )
    workflow = resources.workflows["bench"]
    step = workflow.spec.steps[0]
    assert isinstance(step, AgentStep)
    database = Database(f"sqlite+aiosqlite:///{workdir / 'in-process.db'}")
    await database.migrate()
    audit = AuditLog(database)
    audit.start()
    runtime = AgentRuntime(
        AgentRuntimeDeps(
            resources=lambda: resources,
            secrets=SecretResolver(),
            audit=audit,
            approvals=ApprovalStore(database),
            tools=lambda request, context: [Instant()],
            providers={"local": lambda inputs: FunctionModel(answer)},
        )
    )

    async def one() -> None:
        run_id = uuid.uuid4()
        async with database.transaction() as conn:
            await conn.execute(
                insert(workflow_runs).values(
                    id=run_id, workflow_name="bench", status="running", source_context={}
                )
            )
        outcome = await runtime.investigate(
            AgentRequest(
                run_id=run_id,
                step_name="investigate",
                settings=step,
                goal="Investigate",
                workflow=workflow,
                context={"env": {}},
            )
        )
        assert outcome.result is not None
        assert outcome.result["error_message"] is None, outcome.result

    try:
        for _ in range(3):
            await one()
        cpu = time.process_time()
        started = time.perf_counter()
        for _ in range(repeats * 4):
            await one()
        wall = time.perf_counter() - started
        cpu = time.process_time() - cpu
    finally:
        await runtime.stop()
        await audit.stop()
        await database.close()
    per = (iterations + 1) * repeats * 4
    print(
        f"  in process (instant model and tool, no HTTP): {cpu * 1000 / per:.2f} ms CPU,"
        f" {wall * 1000 / per:.2f} ms wall per iteration"
    )


async def concurrency(workdir: Path, count: int, delay: float) -> None:
    with fake_llm_process(investigation(2), delay=delay) as llm_url:
        text = RESOURCES.replace("WORKFLOW", "bench") + BENCH_WORKFLOW.replace("URL", llm_url)
        db = f"sqlite+aiosqlite:///{workdir / 'concurrency.db'}"
        async with running_server(resources_from_yaml(text), db, **stand_in(workdir)) as server:
            await burst(server, "warm-up", 1)
            single, _, _ = await burst(server, "single", 1)
            many, cpu, run_ids = await burst(server, "many", count)
            results = [
                (await server.client.get(f"/api/v1/runs/{run_id}")).json()["steps"][0]["result"]
                for run_id in run_ids
            ]
    complete = sum(1 for r in results if r and r.get("error_message") is None)
    print(
        f"{count} concurrent investigations (3 LLM calls + 2 kubectl calls each, LLM answers"
        f" after {delay:g} s): {many:.2f} s vs one alone {single:.2f} s = {many / single:.2f}x"
        f" ({complete}/{count} complete; target <= 1.5x); server CPU"
        f" {cpu * 1000 / count:.1f} ms per investigation"
    )
    # The same burst through a workflow without an agent: what the engine itself costs.
    text = RESOURCES.replace("WORKFLOW", "bench") + CLI_WORKFLOW
    db = f"sqlite+aiosqlite:///{workdir / 'baseline.db'}"
    async with running_server(resources_from_yaml(text), db, **stand_in(workdir)) as server:
        await burst(server, "warm-up", 1)
        base, base_cpu, _ = await burst(server, "many", count)
    print(
        f"  baseline: {count} runs of a one-`cli`-step workflow take {base:.2f} s,"
        f" server CPU {base_cpu * 1000 / count:.1f} ms per run (intake, claim, step, sink, finish)"
    )


async def served(workdir: Path, count: int, delay: float) -> None:
    """The deployed shape: ``punching-fist serve`` in its own process, as in production.

    The alerts come from this process over loopback (as Alertmanager's would), the LLM from a
    third. Time runs from the first POST to the last run's ``completed_at``; CPU is the
    server process's own (user + system, from /proc), so the load generator is not counted.
    """
    from tests.support.process import ServerProcess

    with fake_llm_process(investigation(2), delay=delay) as llm_url:
        resources = workdir / "served"
        resources.mkdir(exist_ok=True)
        text = RESOURCES.replace("WORKFLOW", "bench") + BENCH_WORKFLOW.replace("URL", llm_url)
        (resources / "bench.yaml").write_text(text)
        tools = stand_in(workdir)
        server = ServerProcess(
            resources=resources,
            database_url=f"sqlite:///{workdir / 'served.db'}",
            workdir=workdir,
            extra_args=[
                "--concurrency",
                str(max(count, 16)),
                "--tool-path",
                tools["tool_path"],
                "--kubeconfig",
                tools["kubeconfig"],
                "--log-level",
                "warning",
            ],
        )
        server.start()
        try:
            # aiohttp: a load generator several times lighter than httpx, so the 200
            # notifications leave about as fast as Alertmanager would send them.
            connector = aiohttp.TCPConnector(limit=0)
            async with aiohttp.ClientSession(server.url, connector=connector) as client:
                # The first burst meets a cold server (no pooled connections to the LLM yet);
                # the one measured against the target comes after it, as on a server that
                # has been up for a while.
                await _served_burst(client, server, "warm-up", 1)
                first, _, _ = await _served_burst(client, server, "single-cold", 1)
                cold, cold_cpu, _ = await _served_burst(client, server, "cold", count)
                single, _, _ = await _served_burst(client, server, "single", 1)
                many, cpu, complete = await _served_burst(client, server, "many", count)
        finally:
            server.stop()
    print(
        f"  served (server in its own process): {count} concurrent investigations {many:.2f} s"
        f" vs one alone {single:.2f} s = {many / single:.2f}x ({complete}/{count} complete;"
        f" target <= 1.5x); server CPU {cpu * 1000 / count:.1f} ms per investigation;"
        f" first burst after start {cold:.2f} s = {cold / first:.2f}x,"
        f" {cold_cpu * 1000 / count:.1f} ms"
    )


async def _served_burst(
    client: Any, server: Any, prefix: str, count: int
) -> tuple[float, float, int]:
    """Post ``count`` alerts at once and wait for their runs.

    Returns the seconds from the first POST to the last run's finish, the server's CPU
    seconds until then, and how many investigations completed. While waiting it asks only
    for a count (cheap); run details are read afterwards.
    """
    cpu = _process_cpu(server)
    started = datetime.now(UTC)

    async def one(n: int) -> str:
        payload = notification(
            alert("PodCrashLooping", fingerprint=f"{prefix}-{n}", labels={"service": "web"})
        )
        async with client.post("/hook", data=json.dumps(payload), headers=JSON) as response:
            response.raise_for_status()
            run_id: str = (await response.json())["alerts"][0]["runId"]
        return run_id

    async def get(path: str, **params: Any) -> Any:
        async with client.get(path, params=params) as response:
            return await response.json()

    async def finished() -> int:
        answer = await get("/api/v1/runs", workflow="bench", status="succeeded", limit=1)
        total: int = answer["total"]
        return total

    before = await finished()
    run_ids = await asyncio.gather(*(one(n) for n in range(count)))
    for _ in range(2400):  # at most 10 minutes; a count query, yet not free for the server
        if await finished() >= before + count:
            break
        await asyncio.sleep(0.25)
    cpu = _process_cpu(server) - cpu
    details = [await get(f"/api/v1/runs/{run_id}") for run_id in run_ids]
    last = max(datetime.fromisoformat(d["completed_at"]) for d in details if d["completed_at"])
    complete = sum(
        1
        for d in details
        if d["steps"] and (d["steps"][0]["result"] or {}).get("error_message") is None
    )
    return (last - started).total_seconds(), cpu, complete


JSON = {"content-type": "application/json"}


def _process_cpu(server: Any) -> float:
    fields = Path(f"/proc/{server.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def runtime_only(workdir: Path, count: int, delay: float) -> None:
    """The same burst straight into the agent runtime: no intake, runs, steps or sinks."""
    from sqlalchemy import insert

    from punching_fist.agent.base import AgentRequest
    from punching_fist.config import Settings
    from punching_fist.engine.queue import RunQueue
    from punching_fist.resources.workflow import AgentStep
    from punching_fist.secret_refs import SecretResolver
    from punching_fist.server.agent import build_agent_services
    from punching_fist.store.database import Database
    from punching_fist.store.tables import workflow_runs

    with fake_llm_process(investigation(2), delay=delay) as llm_url:
        resources = resources_from_yaml(
            RESOURCES.replace("WORKFLOW", "bench") + BENCH_WORKFLOW.replace("URL", llm_url)
        )
        workflow = resources.workflows["bench"]
        step = workflow.spec.steps[0]
        assert isinstance(step, AgentStep)
        database = Database(f"sqlite+aiosqlite:///{workdir / 'runtime.db'}")
        await database.migrate()
        settings = Settings(database_url=database.url, **stand_in(workdir))
        services = build_agent_services(
            settings, database, lambda: resources, SecretResolver(), queue=RunQueue()
        )
        await services.start()

        async def one(name: str) -> float:
            run_id = uuid.uuid4()
            async with database.transaction() as conn:
                await conn.execute(
                    insert(workflow_runs).values(
                        id=run_id, workflow_name="bench", status="running", source_context={}
                    )
                )
            started = time.perf_counter()
            outcome = await services.runtime.investigate(
                AgentRequest(
                    run_id=run_id,
                    step_name="investigate",
                    settings=step,
                    goal=f"Investigate PodCrashLooping ({name})",
                    workflow=workflow,
                    context={"env": {}},
                )
            )
            assert outcome.result is not None
            assert outcome.result["error_message"] is None, outcome.result
            return time.perf_counter() - started

        try:
            await one("warm-up")
            single = await one("single")
            cpu = time.process_time()
            started = time.perf_counter()
            await asyncio.gather(*(one(f"many-{i}") for i in range(count)))
            many = time.perf_counter() - started
            cpu = time.process_time() - cpu
        finally:
            await services.stop()
            await database.close()
    print(
        f"  runtime only: {count} concurrent investigations {many:.2f} s vs one alone"
        f" {single:.2f} s = {many / single:.2f}x; CPU {cpu * 1000 / count:.1f} ms per investigation"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=["prompt", "engine", "concurrency", "served"])
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--delay", type=float, default=0.5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pf-agent-bench-") as tmp:
        workdir = Path(tmp)
        if args.only in (None, "prompt"):
            await prompt_overhead(workdir)
        if args.only in (None, "engine"):
            await engine_overhead(workdir, args.iterations, args.repeats)
            await engine_in_process(workdir, args.iterations, args.repeats)
        if args.only in (None, "concurrency"):
            await concurrency(workdir, args.concurrency, args.delay)
            await runtime_only(workdir, args.concurrency, args.delay)
        if args.only in (None, "concurrency", "served"):
            await served(workdir, args.concurrency, args.delay)


if __name__ == "__main__":
    if "--uvloop" in sys.argv:  # as ``punching-fist serve`` runs
        sys.argv.remove("--uvloop")
        import uvloop

        uvloop.run(main())
    else:
        asyncio.run(main())
